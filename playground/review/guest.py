"""The guest's pages of a review link, /s/<token>/…: open to people not signed in, never a Django user.

A guest page does no session work: GuestMiddleware (before the session middleware) hides the session
cookie of any /s/… request, so neither a session row nor a user row is read, whoever's browser it
is; pages are rendered without the request's context processors, and no cookie is set except the
password's and the guest's name (guest_review.py). That keeps the page about as cheap as the
link's own row (bench/guest_page.py).

An unknown, expired or revoked link (or one whose sharer was deactivated) gets the same plain page
with the same status (404) and never a hint of what it held, and counts against the address's
allowance of links that do not work (links.DEAD_LINKS_PER_ADDRESS in links.TRY_WINDOW); past it,
every guest address from that address is refused, working or not, so the answer says nothing.

A link with a password shows a form; wrong passwords count per link and address and per link
(links.py), and past either limit even the right one is refused until the window passes. The right
one sets a signed cookie (not a session) scoped to the link's path, for UNLOCK_SECONDS, keyed to
the link's token hash and password hash, so it opens that link alone.

Every answer under /s/ carries no-referrer and noindex (headers set by GuestMiddleware, and meta
tags), and no-store: after a revoke a reload asks again. Media are served as the team's are
(lib/media.py: Range, or nginx's X-Accel-Redirect behind nginx), after the link, the password and
the video's place in the link are checked; a video id from elsewhere is the same plain 404.

On a single video's link that allows them, a guest comments, replies, resolves and sets the
review status (the views at the foot of this module; the rules in guest_review.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template import loader
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from playground.lib.clientip import client_ip
from playground.lib.ids import parse_id, query_id
from playground.lib.media import serve_stored_file
from playground.review import comments, guest_review, links, status
from playground.review.comments import Refused
from playground.review.guest_logs import GUEST_PREFIX
from playground.review.links import ShareLink

UNLOCK_COOKIE = "guest_pass"
UNLOCK_SECONDS = 2 * 3600
_SALT = "playground.review.guest-unlock"

GONE = "This link has expired or been turned off."
NO_DOWNLOADS = "The person who shared this link did not allow downloads. You can still watch here."
WRONG_PASSWORD = "That password is not right. Check it with the person who shared the link."  # noqa: S105 (a sentence)


class GuestMiddleware:
    """On guest addresses, the session cookie (and the messages cookie) is not read at all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(GUEST_PREFIX):
            return self.get_response(request)
        request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)
        request.COOKIES.pop("messages", None)
        response = self.get_response(request)
        # On every answer under /s/, the views' own and Django's (405, a CSRF refusal) alike.
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        response["Cache-Control"] = "private, no-store"
        return response


def _guest_headers(response: HttpResponseBase) -> HttpResponseBase:
    # Django's request log would name the path of a 4xx answer; the path holds the token.
    response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log.log_response's flag
    return response


def _plain(template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    """A page rendered without the request: no context processor, so no session or user is read."""
    response = HttpResponse(loader.render_to_string(template, context), status=status)
    _guest_headers(response)
    return response


def gone() -> HttpResponse:
    return _plain("review/guest_gone.html", {"sentence": GONE}, status=404)


def _open(request: HttpRequest, token: str) -> tuple[ShareLink | None, HttpResponse | None]:
    """The working link, or the refusal to send: too many dead links from here, or this one is dead."""
    address = client_ip(request)
    limits = links.dead_link_limits(address)
    reached = links.over(limits)
    if reached is not None:
        sentence = links.TOO_MANY_DEAD_LINKS.format(limit=reached.limit, minutes=links.window_minutes())
        return None, _plain("review/guest_gone.html", {"sentence": sentence}, status=429)
    link = links.find(token)
    if link is None:
        links.count_failure(limits)
        return None, gone()
    return link, None


def _unlocked(request: HttpRequest, link: ShareLink) -> bool:
    if not link.has_password:
        return True
    value = request.get_signed_cookie(UNLOCK_COOKIE, default=None, salt=_salt(link), max_age=UNLOCK_SECONDS)
    return value == "1"


def _salt(link: ShareLink) -> str:
    return f"{_SALT}:{link.token_hash}:{link.password_hash}"


def _password_page(token: str, error: str = "", status: int = 200) -> HttpResponse:
    return _plain("review/guest_password.html", {"token": token, "error": error}, status=status)


@login_not_required
@require_safe
def page(request: HttpRequest, token: str) -> HttpResponse:
    link, refusal = _open(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    if not _unlocked(request, link):
        return _password_page(token)
    if request.method == "GET":
        link.count_visit()
    videos = link.videos()
    context: dict[str, Any] = {
        "token": token,
        "link": link,
        "videos": videos,
        "is_collection": link.collection_id is not None,
    }
    if videos and link.generation_id is not None and (link.guest_comments or link.guest_approval):
        context |= {
            "guest_section": True,
            **guest_review.section(link, token, videos[0], guest_review.who(request, link)),
        }
    return _plain("review/guest.html", context)


# Without CSRF: under no-referrer a browser posts this form with "Origin: null", which Django's
# check refuses. Nothing here acts for anyone: a forged post can only give a browser the cookie
# of a link whose token and password the forger already holds, or spend the forger's own tries.
@csrf_exempt
@login_not_required
@require_POST
def unlock(request: HttpRequest, token: str) -> HttpResponse:
    link, refusal = _open(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    if not link.has_password:
        return _guest_headers(redirect("guest_page", token=token))  # type: ignore[return-value]
    counted = links.attempt(links.password_limits(link, client_ip(request)))
    if counted.refused_by is not None:
        limit = counted.refused_by.limit
        sentence = links.TOO_MANY_PASSWORDS.format(limit=limit, minutes=links.window_minutes())
        return _password_page(token, sentence, status=429)
    if not link.password_matches(request.POST.get("password", "")):
        return _password_page(token, WRONG_PASSWORD, status=403)
    counted.succeeded()
    response = redirect("guest_page", token=token)
    response.set_signed_cookie(
        UNLOCK_COOKIE,
        "1",
        salt=_salt(link),
        max_age=UNLOCK_SECONDS,
        path=f"{GUEST_PREFIX}{token}/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    _guest_headers(response)
    return response


def _media(request: HttpRequest, token: str, pk: int, kind: str) -> HttpResponseBase:
    link, refusal = _open(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    if not _unlocked(request, link):
        return gone()
    video = link.holds(pk)
    if video is None:
        return gone()
    if kind == "download" and not link.allow_download:
        return _plain("review/guest_gone.html", {"sentence": NO_DOWNLOADS}, status=403)
    name = video.poster.name if kind == "poster" else video.video.name
    try:
        if kind == "download":
            # The usual file name holds the prompt's first words: only when the sharer shows the prompt.
            as_name = video.download_name if link.show_prompt else f"{video.created_at:%Y-%m-%d}_video.mp4"
            response = serve_stored_file(request, name, download_as=as_name)
        else:
            response = serve_stored_file(request, name)
    except Http404:
        return gone()
    return _guest_headers(response)


@login_not_required
@require_safe
def play(request: HttpRequest, token: str, pk: int) -> HttpResponseBase:
    return _media(request, token, pk, "video")


@login_not_required
@require_safe
def poster(request: HttpRequest, token: str, pk: int) -> HttpResponseBase:
    return _media(request, token, pk, "poster")


@login_not_required
@require_safe
def download(request: HttpRequest, token: str, pk: int) -> HttpResponseBase:
    return _media(request, token, pk, "download")


# --- What a guest adds (review/guest_review.py holds the rules) ---------------------------------
# These forms are CSRF-exempt for the reason given above the password form (no referrer, so
# "Origin: null"); every write instead carries guest_review's form token, bound to the link and to
# the guest's own cookie, which another site can neither read nor make.


def _writable(request: HttpRequest, token: str) -> tuple[ShareLink | None, HttpResponse | None]:
    """The working link, unlocked; otherwise the same plain page as any dead link."""
    link, refusal = _open(request, token)
    if refusal is not None or link is None:
        return None, refusal or gone()
    if not _unlocked(request, link):
        return None, gone()
    return link, None


def _refused(token: str, refusal: Refused, text: str = "") -> HttpResponse:
    context = {"sentence": refusal.sentence, "text": text, "back": reverse("guest_page", args=[token])}
    return _plain("review/guest_refused.html", context, status=refusal.status)


def _back(token: str, anchor: str) -> HttpResponse:
    response = redirect(f"{reverse('guest_page', args=[token])}#{anchor}")
    _guest_headers(response)
    return response


@csrf_exempt
@login_not_required
@require_POST
def name(request: HttpRequest, token: str) -> HttpResponse:
    typed = request.POST.get("name", "")
    link, refusal = _writable(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    try:
        if link.generation_id is None or not (link.guest_comments or link.guest_approval):
            raise Refused(guest_review.NO_COMMENTS, status=403)
        given = guest_review.clean_name(typed)
    except Refused as refused:
        return _refused(token, refused, typed)
    response = _back(token, "review")
    guest_review.remember(response, link, token, given)
    return response


@csrf_exempt
@login_not_required
@require_POST
def comment_add(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    text = request.POST.get("text", "")
    link, refusal = _writable(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    video = link.holds(pk)
    if video is None:
        return gone()
    try:
        guest_review.check_may_comment(link)
        guest = guest_review.check_writer(request, link)
        at_ms = comments.parse_moment(request.POST.get("at", ""))
        parent = None
        if request.POST.get("parent"):
            parent = guest_review.thread_of(link, parse_id(request.POST.get("parent")))
            if parent is None or parent.generation_id != video.pk:
                return gone()
        guest_review.count_write(link, client_ip(request))
        comment = comments.add_comment(
            video, guest_name=guest.name, share_link_id=link.pk, at_ms=at_ms, text=text, parent=parent
        )
    except Refused as refused:
        return _refused(token, refused, text)
    return _back(token, f"comment-{comment.pk}")


@csrf_exempt
@login_not_required
@require_POST
def comment_resolve(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    link, refusal = _writable(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    thread = guest_review.thread_of(link, pk)
    if thread is None:
        return gone()
    try:
        guest_review.check_may_comment(link)
        guest = guest_review.check_writer(request, link)
        guest_review.count_write(link, client_ip(request))
        comments.resolve_thread(
            thread,
            resolved=request.POST.get("resolved") == "1",
            guest_name=guest.name,
            share_link_id=link.pk,
        )
    except Refused as refused:
        return _refused(token, refused)
    return _back(token, f"comment-{thread.pk}")


@csrf_exempt
@login_not_required
@require_POST
def set_status(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    link, refusal = _writable(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    video = link.holds(pk)
    if video is None:
        return gone()
    try:
        guest_review.check_may_set_status(link)
        guest = guest_review.check_writer(request, link)
        chosen = request.POST.get("status", "")
        if chosen not in guest_review.GUEST_STATUSES:
            raise Refused(guest_review.NOT_A_GUEST_STATUS)
        guest_review.count_write(link, client_ip(request))
        status.set_status(video, chosen, guest_name=guest.name, share_link_id=link.pk)
    except Refused as refused:
        return _refused(token, refused)
    return _back(token, "review")


@login_not_required
@require_safe
def comment_list(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    """The next page of the link's threads ("More comments"), a page of its own."""
    link, refusal = _writable(request, token)
    if refusal is not None or link is None:
        return refusal or gone()
    video = link.holds(pk)
    if video is None or not link.guest_comments:
        return gone()
    who = guest_review.who(request, link)
    context = {
        "token": token,
        **guest_review.section(link, token, video, who, after=query_id(request, "after")),
    }
    return _plain("review/guest_comments.html", context)
