"""What a guest may add on a single video's review link: comments at a moment, replies, resolving,
and the review status (approved or needs changes), each only when the sharer allowed it.

Who the guest is: a name they give (1 to NAME_MAX characters of plain text), kept with a random
key in a signed cookie scoped to the link's own path (/s/<token>/) for NAME_SECONDS, keyed to the
link's token hash, so it names the guest on that link alone. Never a Django session or user.

What a guest sees: the threads started through this same link, with every reply in them (the
team's answers too); not the team's own threads, nor another link's. A client reviewing a cut
sees the conversation they are part of, not the team's internal notes.

Forms: the guest pages send no referrer, so a browser posts them with "Origin: null", which
Django's CSRF check refuses. Instead each write carries a form token: an HMAC of the guest
cookie's random key, keyed to the link. Another site can neither read that cookie nor make the
token, and the cookie is SameSite=Lax, so a cross-site post does not even carry it. The name
form carries none (like the password form, guest.py): it acts for nobody, it only names the
browser that sends it.

Bounds: the same as the team's (comments.py: 2,000 characters, a moment within the video, 50
replies a thread, 50 threads a page with "More comments"), and at most WRITES_PER_LINK_AND_ADDRESS
writes (comments, replies, resolves, status changes) per link and address in links.TRY_WINDOW,
counted in ShareTry rows.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponseBase
from django.utils.crypto import constant_time_compare, salted_hmac

from playground.generations.models import Generation
from playground.review import comments, links, status, threads
from playground.review.comments import Refused
from playground.review.guest_logs import GUEST_PREFIX
from playground.review.links import ShareLink
from playground.review.models import Comment, Status
from playground.team.models import ReviewRule, TeamPolicy

COOKIE = "guest_who"
NAME_MAX = 60
NAME_SECONDS = 30 * 24 * 3600
WRITES_PER_LINK_AND_ADDRESS = 30
_SALT = "playground.review.guest-who"

# What a guest may set: a client's verdict (never "not chosen", which is the team's choice of takes).
GUEST_STATUSES = (Status.APPROVED, Status.NEEDS_CHANGES)

NO_COMMENTS = "The person who shared this link did not allow comments: it is for watching."
NO_STATUS = "The person who shared this link did not let guests set the review status."
TEAM_ADMINS_ONLY = (
    "The team has set that only its admins set a review status, so it can't be set from a review link."
)
NAME_FIRST = "Give your name first: what you add here carries the name you give."
STALE_FORM = (
    "This form is out of date (your name was changed or forgotten): reload the page and send it again."
)
TOO_MANY = (
    "Too much was sent from your address through this link: at most {limit} comments, replies or "
    "changes in {minutes} minutes. Wait a few minutes and send it again."
)
NOT_A_GUEST_STATUS = "A guest can mark the video approved or needs changes."


@dataclass(frozen=True)
class Guest:
    name: str
    key: str


def clean_name(text: str) -> str:
    """The name as kept: spaces collapsed; 1 to NAME_MAX characters, no control characters."""
    name = " ".join(text.split())
    if not name:
        raise Refused("Give a name: what you add here carries the name you give.")
    if len(name) > NAME_MAX:
        raise Refused(f"A name can be at most {NAME_MAX} characters; this one has {len(name)}.")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise Refused("A name is plain text: it can't hold control characters.")
    return name


def _salt(link: ShareLink) -> str:
    return f"{_SALT}:{link.token_hash}"


def who(request: HttpRequest, link: ShareLink) -> Guest | None:
    value = request.COOKIES.get(COOKIE)
    if not value:
        return None
    try:
        found = signing.loads(value, salt=_salt(link), max_age=NAME_SECONDS)
        return Guest(name=clean_name(str(found["n"])), key=str(found["k"]))
    except (signing.BadSignature, KeyError, TypeError, Refused):
        return None


def remember(response: HttpResponseBase, link: ShareLink, token: str, name: str) -> None:
    """Names this browser on this link (a new random key each time: older forms go stale)."""
    value = signing.dumps({"n": name, "k": secrets.token_urlsafe(16)}, salt=_salt(link), compress=True)
    response.set_cookie(
        COOKIE,
        value,
        max_age=NAME_SECONDS,
        path=f"{GUEST_PREFIX}{token}/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def form_token(link: ShareLink, guest: Guest) -> str:
    return salted_hmac(f"{_SALT}:form:{link.token_hash}", guest.key, algorithm="sha256").hexdigest()


def check_writer(request: HttpRequest, link: ShareLink) -> Guest:
    """The named guest whose own page sent this form; Refused otherwise (nothing is counted)."""
    guest = who(request, link)
    if guest is None:
        raise Refused(NAME_FIRST, status=403)
    if not constant_time_compare(request.POST.get("form_token", ""), form_token(link, guest)):
        raise Refused(STALE_FORM, status=403)
    return guest


def count_write(link: ShareLink, address: str | None) -> None:
    """Counts one write against the link and address; Refused past the limit."""
    limit = links.Limit(f"gw:{link.pk}:{address or '-'}", WRITES_PER_LINK_AND_ADDRESS)
    counted = links.attempt([limit])
    if counted.refused_by is not None:
        raise Refused(TOO_MANY.format(limit=limit.limit, minutes=links.window_minutes()), status=429)


def check_may_comment(link: ShareLink) -> None:
    if not link.guest_comments:
        raise Refused(NO_COMMENTS, status=403)


def team_lets_guests_set_status() -> bool:
    return bool(TeamPolicy.current().review_status_by != ReviewRule.ADMINS)


def check_may_set_status(link: ShareLink) -> None:
    if not link.guest_approval:
        raise Refused(NO_STATUS, status=403)
    if not team_lets_guests_set_status():
        raise Refused(TEAM_ADMINS_ONLY, status=403)


def thread_of(link: ShareLink, pk: int | None) -> Comment | None:
    """The thread of comment `pk` if the guest sees it: started through this link, on the link's
    video (still ready). A thread's share_link_id is enough: a link's threads are on its video."""
    if pk is None:
        return None
    comment = Comment.objects.filter(pk=pk).first()
    if comment is None:
        return None
    thread = comment if comment.parent_id is None else Comment.objects.filter(pk=comment.parent_id).first()
    if thread is None or thread.share_link_id != link.pk or thread.generation_id != link.generation_id:
        return None
    return thread


def section(
    link: ShareLink, token: str, video: Generation, guest: Guest | None, *, after: int | None = None
) -> dict[str, Any]:
    """The guest page's review part for one video (its queries bounded: markers, one page of
    threads, their replies, the status and the team's rule)."""
    context: dict[str, Any] = {
        "guest": guest,
        "name_max": NAME_MAX,
        "form_token": form_token(link, guest) if guest else "",
        "review_status": status.current(video),
    }
    if link.guest_approval:
        context["may_set_status"] = team_lets_guests_set_status()
        context["guest_statuses"] = GUEST_STATUSES
    if link.guest_comments:
        marks = comments.link_markers(video, link.pk)
        page = comments.threads_page(video, after=after, marks=marks, share_link_id=link.pk)
        for thread in page.threads:
            for comment in [thread, *thread.thread_replies]:  # type: ignore[attr-defined]
                comment.html = comments.linked(comment.text)
                comment.moment = comments.moment_words(comment.at_ms)
        urls = threads.GuestAddresses(token, video.pk)
        context |= {
            "review_page": page,
            # Before a name is given the forms carry no token: sending one asks for the name.
            "review_threads": threads.render(page, video.pk, context["form_token"], urls),
            "review_markers_json": json.dumps(marks, separators=(",", ":")),
            "comment_limit": comments.MAX_TEXT,
            "comment_limit_words": f"{comments.MAX_TEXT:,}",
        }
    return context
