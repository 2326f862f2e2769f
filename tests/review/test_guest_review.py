"""A guest's comments and review status through a review link: the name, the rules, what is seen,
the attacks (other links' ids, forged forms, too many posts), and what the team sees."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from playground.gallery.models import Collection
from playground.notify.webhooks import Webhook, WebhookDelivery
from playground.review import comments, guest_review, links, notices, status
from playground.review.links import ShareLink, ShareTry
from playground.review.models import Comment, ReviewStatus, Status
from playground.team.models import AuditEvent, ReviewRule, Role, TeamPolicy
from playground.team.roles import set_role
from tests import factories
from tests.review.links_world import page, share, stored_video, unlock

pytestmark = pytest.mark.django_db

PASSWORD = "quiet-harbour-17"


@pytest.fixture
def alice(db: None) -> User:
    return factories.member("alice")


def add_url(token: str, pk: int) -> str:
    return reverse("guest_comment_add", args=[token, pk])


def status_url(token: str, pk: int) -> str:
    return reverse("guest_status", args=[token, pk])


def resolve_url(token: str, comment: int) -> str:
    return reverse("guest_comment_resolve", args=[token, comment])


def named(token: str, name: str = "Ada", client: Client | None = None) -> tuple[Client, str]:
    """A browser that gave its name on the link, and the form token its page carries."""
    client = client or Client()
    answer = client.post(reverse("guest_name", args=[token]), {"name": name})
    assert answer.status_code == 302, answer.content
    return client, form_token(client, token)


def form_token(client: Client, token: str) -> str:
    text = client.get(page(token)).content.decode()
    found = re.search(r'name="form_token" value="([0-9a-f]{64})"', text)
    assert found, text
    return found.group(1)


def comment(
    client: Client, token: str, pk: int, form: str, address: str = "127.0.0.1", **fields: str
) -> HttpResponse:
    data = {"form_token": form, "at": "0:01.0", "text": "Hi", **fields}
    return client.post(add_url(token, pk), data, REMOTE_ADDR=address)  # type: ignore[return-value]


def gone_body() -> bytes:
    return Client().get(page("x" * 43), REMOTE_ADDR="198.51.100.250").content


# --- The sharer's choices -------------------------------------------------------------------


def test_both_choices_are_off_by_default_and_the_list_shows_them(alice):
    video = stored_video(alice)
    member = Client()
    member.force_login(alice)
    new = f"{reverse('share_create')}?video={video.pk}"
    form = member.get(new).content.decode()
    assert "Guests may comment" in form and "Guests may set the review status" in form
    member.post(new, {"days": "7"})
    member.post(new, {"days": "7", "guest_comments": "on", "guest_approval": "on"})
    off, on = ShareLink.objects.order_by("pk")
    assert not off.guest_comments and not off.guest_approval
    assert on.guest_comments and on.guest_approval
    listing = member.get(reverse("share_list")).content.decode()
    assert "<td>Comment, set status</td>" in listing and "<td>Watch only</td>" in listing
    summaries = list(AuditEvent.objects.order_by("pk").values_list("summary", flat=True))
    assert "guests may comment, guests may set the review status" in summaries[-1]
    assert "guests may" not in summaries[-2]


def test_a_collections_form_does_not_offer_guest_comments(alice):
    collection = Collection.objects.create(name="Cuts", created_by=alice)
    member = Client()
    member.force_login(alice)
    form = member.get(f"{reverse('share_create')}?collection={collection.pk}").content.decode()
    assert "Guests may comment" not in form


# --- A guest comments -------------------------------------------------------------------------


def test_a_guest_gives_a_name_kept_in_a_signed_cookie_on_the_links_path_then_comments(alice):
    video = stored_video(alice)
    link, token = share(alice, video, guest_comments=True)
    guest = Client()
    before = guest.get(page(token)).content.decode()
    assert 'name="name"' in before and 'id="comment-form"' not in before
    refused = guest.post(add_url(token, video.pk), {"at": "0:01.0", "text": "Too early"})
    assert refused.status_code == 403 and guest_review.NAME_FIRST in refused.content.decode()
    assert "Too early" in refused.content.decode()  # kept, nothing lost
    answer = guest.post(reverse("guest_name", args=[token]), {"name": "  Ada   Lovelace "})
    cookie = answer.cookies[guest_review.COOKIE]
    assert cookie["path"] == f"/s/{token}/" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert "Ada" not in cookie.value or "." in cookie.value  # signed, not a bare name
    assert "sessionid" not in answer.cookies
    form = form_token(guest, token)
    done = comment(guest, token, video.pk, form, at="0:01.5", text="The logo is late here")
    assert done.status_code == 302
    saved = Comment.objects.get()
    assert (saved.guest_name, saved.share_link_id, saved.author_id, saved.at_ms) == (
        "Ada Lovelace",
        link.pk,
        None,
        1500,
    )
    assert done["Location"] == f"/s/{token}/#comment-{saved.pk}"
    text = guest.get(page(token)).content.decode()
    assert "Ada Lovelace (guest)" in text and "The logo is late here" in text
    assert 'id="marker-strip"' in text and "js/review.js" in text


@pytest.mark.parametrize(
    ("name", "sentence"),
    [
        ("", "Give a name"),
        ("   ", "Give a name"),
        ("x" * 61, "at most 60 characters; this one has 61"),
        ("Ada\x07", "plain text"),
    ],
)
def test_a_name_must_be_one_to_sixty_characters_of_plain_text(alice, name, sentence):
    _, token = share(alice, stored_video(alice), guest_comments=True)
    answer = Client().post(reverse("guest_name", args=[token]), {"name": name})
    assert answer.status_code == 400 and sentence in answer.content.decode()
    assert guest_review.COOKIE not in answer.cookies


def test_a_sixty_character_name_is_taken(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token, "n" * 60)
    assert comment(guest, token, video.pk, form).status_code == 302
    assert Comment.objects.get().guest_name == "n" * 60


def test_script_in_names_and_comments_is_shown_as_text(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token, "<script>alert(1)</script>")
    comment(guest, token, video.pk, form, text="<img src=x onerror=alert(2)>")
    for text in (
        guest.get(page(token)).content.decode(),
        _team_page(alice, video.pk),
    ):
        assert "<script>alert(1)" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; (guest)" in text
        assert "&lt;img src=x onerror=alert(2)&gt;" in text


def test_the_same_limits_as_the_teams_comments_and_nothing_typed_is_lost(alice):
    video = stored_video(alice)  # 2.0 s long
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    long = comment(guest, token, video.pk, form, text="a" * 2001)
    assert long.status_code == 400 and "at most 2,000 characters; this one has 2,001" in long.content.decode()
    outside = comment(guest, token, video.pk, form, at="0:05.0", text="After the end")
    assert outside.status_code == 400 and "outside this video" in outside.content.decode()
    assert "After the end" in outside.content.decode()
    assert comment(guest, token, video.pk, form, text="a" * 2000).status_code == 302
    assert Comment.objects.count() == 1


def test_a_link_without_comments_refuses_them_and_shows_no_form(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_approval=True)
    guest, form = named(token)
    assert 'id="comment-form"' not in guest.get(page(token)).content.decode()
    refused = comment(guest, token, video.pk, form)
    assert refused.status_code == 403 and guest_review.NO_COMMENTS in refused.content.decode()
    assert not Comment.objects.exists()


def test_a_plain_link_keeps_its_page_and_takes_no_name(alice):
    video = stored_video(alice)
    _, token = share(alice, video)
    assert 'name="name"' not in Client().get(page(token)).content.decode()
    answer = Client().post(reverse("guest_name", args=[token]), {"name": "Ada"})
    assert answer.status_code == 403 and guest_review.COOKIE not in answer.cookies


# --- What a guest sees ----------------------------------------------------------------------


def test_a_guest_sees_this_links_threads_with_the_teams_replies_and_nothing_else(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    other, _ = share(alice, video, guest_comments=True)
    guest, form = named(token)
    comment(guest, token, video.pk, form, text="Through this link")
    mine = Comment.objects.get()
    comments.add_comment(video, user=alice, at_ms=0, text="Answered by alice", parent=mine)
    comments.add_comment(video, user=alice, at_ms=500, text="Internal team note")
    comments.add_comment(
        video, guest_name="Bo", share_link_id=other.pk, at_ms=600, text="Another link's note"
    )
    text = guest.get(page(token)).content.decode()
    assert "Through this link" in text and "Answered by alice" in text
    assert "Internal team note" not in text and "Another link" not in text
    assert "(1 thread, 1 unresolved)" in text
    marks = json.loads(re.search(r'data-markers="([^"]+)"', text).group(1).replace("&quot;", '"'))
    assert sum(mark[1] for mark in marks["marks"]) == 1


def test_a_guest_replies_and_resolves_a_thread_of_the_link(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    comment(guest, token, video.pk, form, at="0:01.2", text="First")
    thread = Comment.objects.get()
    assert comment(guest, token, video.pk, form, parent=str(thread.pk), text="And more").status_code == 302
    reply = Comment.objects.get(parent=thread)
    assert reply.at_ms == 1200 and reply.guest_name == "Ada"
    done = guest.post(resolve_url(token, thread.pk), {"form_token": form, "resolved": "1"})
    assert done.status_code == 302
    thread.refresh_from_db()
    assert thread.resolved and thread.resolved_by_name == "Ada (guest)"


def test_more_comments_is_a_page_of_the_links_next_threads(alice):
    video = stored_video(alice)
    link, token = share(alice, video, guest_comments=True)
    Comment.objects.bulk_create(
        Comment(generation=video, guest_name="Ada", share_link_id=link.pk, at_ms=i, text=f"note {i:03d}")
        for i in range(comments.THREADS_PER_PAGE + 5)
    )
    guest, _ = named(token)
    first = guest.get(page(token)).content.decode()
    assert "note 049" in first and "note 050" not in first
    more = re.search(r'href="(/s/[^"]+/comments/\?after=\d+)"', first)
    assert more
    rest = guest.get(more.group(1)).content.decode()
    assert "note 050" in rest and "note 054" in rest and "note 049" not in rest


def test_the_guest_page_stays_bounded_and_never_touches_the_session(alice):
    video = stored_video(alice)
    link, token = share(alice, video, guest_comments=True, guest_approval=True)
    guest, _ = named(token)
    counts = []
    for n in (3, 300):
        Comment.objects.all().delete()
        rows = [
            Comment(generation=video, guest_name="Ada", share_link_id=link.pk, at_ms=i % 2000, text="x")
            for i in range(n)
        ]
        Comment.objects.bulk_create(rows)
        guest.get(page(token))
        with CaptureQueriesContext(connection) as queries:
            assert guest.get(page(token)).status_code == 200
        sql = [q["sql"] for q in queries.captured_queries]
        assert not any("django_session" in s or "mfa_authenticator" in s for s in sql), sql
        counts.append(len(sql))
    assert counts == [8, 8], counts  # docs/sharing.md: three, and five for the Review section


# --- Attacks --------------------------------------------------------------------------------


def test_another_links_video_or_thread_is_the_plain_404(alice):
    video = stored_video(alice)
    elsewhere = stored_video(alice)
    _, token = share(alice, video, guest_comments=True, guest_approval=True)
    other, _ = share(alice, elsewhere, guest_comments=True)
    guest, form = named(token)
    team_thread = comments.add_comment(video, user=alice, at_ms=100, text="Team only")
    their = comments.add_comment(elsewhere, guest_name="Bo", share_link_id=other.pk, at_ms=100, text="x")
    attempts = [
        comment(guest, token, elsewhere.pk, form),
        comment(guest, token, video.pk, form, parent=str(team_thread.pk)),
        comment(guest, token, video.pk, form, parent=str(their.pk)),
        guest.post(resolve_url(token, team_thread.pk), {"form_token": form, "resolved": "1"}),
        guest.post(resolve_url(token, their.pk), {"form_token": form, "resolved": "1"}),
        guest.post(status_url(token, elsewhere.pk), {"form_token": form, "status": "approved"}),
    ]
    for answer in attempts:
        assert answer.status_code == 404
        assert answer.content == gone_body()  # type: ignore[attr-defined]
    assert Comment.objects.count() == 2 and not ReviewStatus.objects.exists()
    assert not Comment.objects.get(pk=team_thread.pk).resolved


def test_expired_revoked_and_locked_links_take_nothing(alice):
    video = stored_video(alice)
    link, token = share(alice, video, guest_comments=True, password=PASSWORD)
    guest = Client()
    assert guest.post(reverse("guest_name", args=[token]), {"name": "Ada"}).content == gone_body()
    guest.post(unlock(token), {"password": PASSWORD})
    guest, form = named(token, client=guest)
    assert comment(guest, token, video.pk, form).status_code == 302
    stranger = Client()
    stranger.cookies[guest_review.COOKIE] = guest.cookies[
        guest_review.COOKIE
    ].value  # the name, not the password
    assert comment(stranger, token, video.pk, form).content == gone_body()
    links.revoke(link)
    assert comment(guest, token, video.pk, form).content == gone_body()
    _, old = share(alice, video, guest_comments=True)
    ShareLink.objects.filter(pk=ShareLink.objects.latest("pk").pk).update(
        expires_at=timezone.now() - timedelta(1)
    )
    assert Client().post(reverse("guest_name", args=[old]), {"name": "Ada"}).content == gone_body()
    assert Comment.objects.count() == 1


def test_a_forged_or_stale_form_is_refused(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    _, other_token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    for bad in ("", "0" * 64, form_token(named(other_token)[0], other_token)):
        answer = comment(guest, token, video.pk, bad)
        assert answer.status_code == 403 and guest_review.STALE_FORM in answer.content.decode()
    named(token, "Ada again", client=guest)  # a new name makes the old page's forms stale
    assert comment(guest, token, video.pk, form).status_code == 403
    assert not Comment.objects.exists()


def test_guest_writes_are_limited_per_link_and_address(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    limit = guest_review.WRITES_PER_LINK_AND_ADDRESS
    for _ in range(limit):
        assert comment(guest, token, video.pk, form, address="203.0.113.5").status_code == 302
    refused = comment(guest, token, video.pk, form, text="One more", address="203.0.113.5")
    assert refused.status_code == 429
    assert f"at most {limit} comments, replies or changes in 15 minutes" in refused.content.decode()
    assert "One more" in refused.content.decode()
    assert Comment.objects.count() == limit
    assert comment(guest, token, video.pk, form, address="203.0.113.6").status_code == 302
    assert ShareTry.objects.count() <= limit + 2


# --- The review status ------------------------------------------------------------------------


def test_a_guest_approves_when_the_link_allows_and_the_team_sees_it_in_the_history(alice):
    Webhook.objects.create(url="https://hooks.example.com/x", secret="s" * 32, events="review")
    video = stored_video(alice)
    link, token = share(alice, video, guest_approval=True)
    guest, form = named(token, "Ada")
    answer = guest.post(status_url(token, video.pk), {"form_token": form, "status": "approved"})
    assert answer.status_code == 302
    body = json.loads(WebhookDelivery.objects.get(event="review.status_changed").body)
    assert (body["status"], body["by"], body["guest"]) == ("approved", "Ada (guest)", True)
    assert status.current(video) == Status.APPROVED
    row = ReviewStatus.objects.get()
    assert (row.guest_name, row.share_link_id, row.author_id) == ("Ada", link.pk, None)
    assert "Approved · Ada (guest)" in _team_page(alice, video.pk)
    for value in ("not_chosen", "unreviewed", "bogus"):
        refused = guest.post(status_url(token, video.pk), {"form_token": form, "status": value})
        assert refused.status_code == 400 and guest_review.NOT_A_GUEST_STATUS in refused.content.decode()
    assert status.current(video) == Status.APPROVED


def test_the_status_is_refused_without_the_links_leave_or_the_teams(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    refused = guest.post(status_url(token, video.pk), {"form_token": form, "status": "approved"})
    assert refused.status_code == 403 and guest_review.NO_STATUS in refused.content.decode()
    _, allowed = share(alice, video, guest_approval=True)
    guest2, form2 = named(allowed)  # the page offered the status then
    team = TeamPolicy.current()
    team.review_status_by = ReviewRule.ADMINS
    team.save()
    page_text = guest2.get(page(allowed)).content.decode()
    assert "only its admins set a review status" in page_text and 'name="status"' not in page_text
    refused = guest2.post(status_url(allowed, video.pk), {"form_token": form2, "status": "approved"})
    assert refused.status_code == 403 and escape(guest_review.TEAM_ADMINS_ONLY) in refused.content.decode()
    assert not ReviewStatus.objects.exists()


# --- What the team sees -----------------------------------------------------------------------


def _team_page(user: User, pk: int) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("generation", args=[pk])).content.decode()


def test_the_team_sees_the_guest_comment_marked_with_the_link_and_events_fire(alice):
    Webhook.objects.create(url="https://hooks.example.com/x", secret="s" * 32, events="review")
    video = stored_video(alice)
    link, token = share(alice, video, guest_comments=True, label="For the client")
    guest, form = named(token, "Ada")
    assert notices.new_for(alice.pk) == []  # the maker's notices start counting
    comment(guest, token, video.pk, form, text="Looks good")
    [notice] = notices.new_for(alice.pk)
    assert notice["title"].startswith(f"Ada (guest) commented on video #{video.pk}")
    own = _team_page(alice, video.pk)
    assert "Ada (guest)" in own and f"via review link #{link.pk} “For the client”" in own
    bob = factories.member("bob")
    theirs = _team_page(bob, video.pk)
    assert f"via review link #{link.pk}" in theirs and "For the client" not in theirs
    body = json.loads(WebhookDelivery.objects.get(event="comment.created").body)
    assert body["comment"]["author"] == "Ada (guest)" and body["comment"]["guest"] is True


def test_an_admin_may_delete_a_guests_comment(alice):
    video = stored_video(alice)
    _, token = share(alice, video, guest_comments=True)
    guest, form = named(token)
    comment(guest, token, video.pk, form)
    sam = factories.staff("sam")
    set_role(sam, Role.ADMIN)
    assert comments.may_change(Comment.objects.get(), sam)
    assert not comments.may_change(Comment.objects.get(), alice)
