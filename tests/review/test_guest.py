"""The guest's side of a review link: what the page shows, what it never does, and the attacks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from playground.gallery.models import Collection, CollectionEntry
from playground.review import links
from playground.review.guest import GONE, NO_DOWNLOADS, UNLOCK_COOKIE
from playground.review.links import ShareLink
from tests import factories
from tests.review.links_world import BODY, download, page, play, share, stored_video, unlock

pytestmark = pytest.mark.django_db

PASSWORD = "rainy-harbour-42"


@pytest.fixture
def alice(db: None) -> User:
    return factories.member("alice")


@pytest.fixture
def guest() -> Client:
    return Client()


def gone_page(guest: Client) -> tuple[int, bytes]:
    """What a link that never was answers: every dead link must answer exactly this."""
    answer = guest.get(page("x" * 43), REMOTE_ADDR="198.51.100.200")
    return answer.status_code, answer.content


# --- What the guest sees ------------------------------------------------------------------------


def test_the_guest_page_plays_the_video_and_hides_the_prompt_and_maker_by_default(alice, guest):
    video = stored_video(alice, prompt="A secret storyboard about the launch")
    _, token = share(alice, video)
    answer = guest.get(page(token))
    assert answer.status_code == 200
    text = answer.content.decode()
    assert play(token, video.pk) in text
    assert "secret storyboard" not in text
    assert "alice" not in text
    assert download(token, video.pk) not in text  # downloads are off unless chosen
    assert '<meta name="robots" content="noindex, nofollow">' in text
    assert answer["Referrer-Policy"] == "no-referrer"
    assert answer["X-Robots-Tag"] == "noindex, nofollow"
    assert answer["Cache-Control"] == "private, no-store"


def test_the_prompt_and_maker_are_shown_when_chosen_as_text_never_as_markup(guest):
    mallory = factories.member("<script>alert('maker')</script>")
    video = stored_video(mallory, prompt="<script>alert('prompt')</script> a boat")
    _, token = share(mallory, video, show_prompt=True, show_maker=True)
    text = guest.get(page(token)).content.decode()
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;prompt&#x27;)&lt;/script&gt; a boat" in text
    assert "&lt;script&gt;alert(&#x27;maker&#x27;)&lt;/script&gt;" in text


def test_the_guest_page_does_no_session_work_and_sets_no_cookie(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video)
    guest.get(page(token))  # warm the lazy imports and the content-type cache
    with CaptureQueriesContext(connection) as anonymous:
        answer = guest.get(page(token))
    assert answer.status_code == 200 and not answer.cookies
    # A team member's browser carries a session cookie: it is not even read on a guest address.
    member = Client()
    member.force_login(alice)
    with CaptureQueriesContext(connection) as signed_in:
        answer = member.get(page(token))
    assert answer.status_code == 200 and not answer.cookies
    for queries in (anonymous, signed_in):
        sql = [q["sql"] for q in queries.captured_queries]
        # The address's count of dead links, the link (with its video and maker), the view count.
        assert len(sql) == 3, sql
        assert not any("django_session" in s or "mfa_authenticator" in s for s in sql), sql


def test_views_and_last_visit_are_counted_on_page_loads_only(alice, guest):
    video = stored_video(alice)
    link, token = share(alice, video)
    guest.get(page(token))
    guest.get(page(token))
    guest.head(page(token))
    guest.get(play(token, video.pk), HTTP_RANGE="bytes=0-99")
    link.refresh_from_db()
    assert link.views == 2 and link.last_visit_at is not None


def test_the_video_streams_with_ranges_for_seeking(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video)
    whole = guest.get(play(token, video.pk))
    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == BODY
    ranged = guest.get(play(token, video.pk), HTTP_RANGE="bytes=1000-1999")
    assert ranged.status_code == 206
    assert ranged["Content-Range"] == f"bytes 1000-1999/{len(BODY)}"
    assert b"".join(ranged.streaming_content) == BODY[1000:2000]
    assert ranged["X-Robots-Tag"] == "noindex, nofollow"
    assert ranged["Referrer-Policy"] == "no-referrer"
    assert ranged["Cache-Control"] == "private, no-store"
    assert not ranged.cookies


def test_without_downloads_the_download_address_refuses_but_the_player_streams(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video)
    refused = guest.get(download(token, video.pk))
    assert refused.status_code == 403
    assert NO_DOWNLOADS in refused.content.decode()
    assert "Content-Disposition" not in refused
    assert guest.get(play(token, video.pk)).status_code == 200


def test_with_downloads_the_file_is_named_without_the_prompt_unless_it_is_shown(alice, guest):
    video = stored_video(alice, prompt="Confidential product reveal")
    _, hidden = share(alice, video, allow_download=True)
    answer = guest.get(download(hidden, video.pk))
    assert answer.status_code == 200
    assert download(hidden, video.pk) in guest.get(page(hidden)).content.decode()
    assert "confidential" not in answer["Content-Disposition"].lower()
    assert answer["Content-Disposition"].startswith("attachment")
    _, shown = share(alice, video, allow_download=True, show_prompt=True)
    assert "confidential" in guest.get(download(shown, video.pk))["Content-Disposition"].lower()


def test_a_collection_link_shows_its_ready_videos_in_order_and_nothing_else(alice, guest):
    first, second, outside = stored_video(alice), stored_video(alice), stored_video(alice)
    collection = Collection.objects.create(name="For the client", created_by=alice)
    CollectionEntry.objects.create(collection=collection, generation=second, position=1)
    CollectionEntry.objects.create(collection=collection, generation=first, position=2)
    _, token = links.make(by=alice, collection=collection, days=3)
    text = guest.get(page(token)).content.decode()
    assert text.index(play(token, second.pk)) < text.index(play(token, first.pk))
    assert play(token, outside.pk) not in text
    assert "For the client" not in text
    assert guest.get(play(token, first.pk)).status_code == 200
    status, body = gone_page(guest)
    answer = guest.get(play(token, outside.pk))
    assert (answer.status_code, answer.content) == (status, body)
    # Taken out of the collection: no longer reachable through the link.
    CollectionEntry.objects.filter(generation=first).delete()
    assert guest.get(play(token, first.pk)).status_code == 404


# --- Attacks ------------------------------------------------------------------------------------


def test_changing_the_id_never_reaches_another_links_video(alice, guest):
    mine, theirs = stored_video(alice), stored_video(alice)
    _, token = share(alice, mine, allow_download=True)
    _, other_token = share(alice, theirs, allow_download=True)
    status, body = gone_page(guest)
    for address in (play(token, theirs.pk), download(token, theirs.pk), play(token, 999999)):
        answer = guest.get(address)
        assert (answer.status_code, answer.content) == (status, body), address
    assert guest.get(play(other_token, theirs.pk)).status_code == 200


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_an_expired_link_is_the_plain_page_from_the_second_it_expires(alice, guest, settings, zone):
    settings.TIME_ZONE = zone
    made = datetime(2027, 1, 31, 23, 30, tzinfo=ZoneInfo(zone))  # a month's last half hour there
    with time_machine.travel(made, tick=False) as clock:
        video = stored_video(alice)
        link, token = share(alice, video, days=1)
        assert link.expires_at == datetime(2027, 2, 1, 23, 30, tzinfo=ZoneInfo(zone))
        assert "1 February 2027, 23:30" in guest.get(page(token)).content.decode()
        clock.move_to(made + timedelta(days=1, seconds=-1))
        assert guest.get(page(token)).status_code == 200
        clock.move_to(made + timedelta(days=1))
        status, body = gone_page(guest)
        for address in (page(token), play(token, video.pk)):
            answer = guest.get(address)
            assert (answer.status_code, answer.content) == (status, body)
    assert status == 404 and GONE in body.decode()


def test_unknown_expired_revoked_and_deactivated_links_answer_alike(alice, guest):
    video = stored_video(alice, prompt="What the link held")
    revoked, revoked_token = share(alice, video)
    links.revoke(revoked)
    expired, expired_token = share(alice, video)
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=expired.created_at)
    bob = factories.member("bob")
    _, deactivated_token = share(bob, video)
    User.objects.filter(pk=bob.pk).update(is_active=False)
    answers = {
        guest.get(page(token)).content
        for token in (revoked_token, expired_token, deactivated_token, "y" * 43, "short")
    }
    status, body = gone_page(guest)
    assert answers == {body} and status == 404
    assert b"What the link held" not in body and b"Video #" not in body


def test_a_revoked_link_stops_at_once_even_mid_playback(alice, guest):
    video = stored_video(alice)
    link, token = share(alice, video)
    assert guest.get(play(token, video.pk), HTTP_RANGE="bytes=0-99").status_code == 206
    links.revoke(link)
    assert guest.get(play(token, video.pk), HTTP_RANGE="bytes=100-199").status_code == 404
    assert guest.get(page(token)).status_code == 404


def test_a_password_link_asks_and_the_right_password_opens_it_for_that_link_alone(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video, password=PASSWORD)
    _, other = share(alice, video, password=PASSWORD)
    form = guest.get(page(token))
    assert form.status_code == 200 and "This link needs a password" in form.content.decode()
    assert play(token, video.pk) not in form.content.decode()
    assert guest.get(play(token, video.pk)).status_code == 404
    wrong = guest.post(unlock(token), {"password": "not-it-at-all"})
    assert wrong.status_code == 403 and "That password is not right" in wrong.content.decode()
    right = guest.post(unlock(token), {"password": PASSWORD})
    assert right.status_code == 302 and right["Location"] == page(token)
    cookie = right.cookies[UNLOCK_COOKIE]
    assert cookie["path"] == page(token) and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 2 * 3600
    assert guest.get(play(token, video.pk)).status_code == 200
    page_now = guest.get(page(token))
    assert play(token, video.pk) in page_now.content.decode() and not page_now.cookies
    # The cookie, sent to another link with the same password, opens nothing there.
    guest.cookies[UNLOCK_COOKIE]["path"] = "/"
    assert "This link needs a password" in guest.get(page(other)).content.decode()


def test_brute_forcing_a_password_is_stopped_at_the_eleventh_try_until_the_window_passes(alice, guest):
    with time_machine.travel(datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("UTC")), tick=False) as clock:
        _, token = share(alice, stored_video(alice), password=PASSWORD)
        for n in range(links.WRONG_PASSWORDS_PER_LINK_AND_ADDRESS):
            assert guest.post(unlock(token), {"password": f"guess-{n:04}"}).status_code == 403
        refused = guest.post(unlock(token), {"password": PASSWORD})
        assert refused.status_code == 429
        text = refused.content.decode()
        assert "Too many wrong passwords for this link: at most 10 tries in 15 minutes" in text
        assert UNLOCK_COOKIE not in refused.cookies
        # Another address is counted apart.
        assert guest.post(unlock(token), {"password": PASSWORD}, REMOTE_ADDR="203.0.113.9").status_code == 302
        clock.shift(timedelta(minutes=14))
        assert guest.post(unlock(token), {"password": PASSWORD}).status_code == 429
        clock.shift(timedelta(minutes=1, seconds=1))
        assert guest.post(unlock(token), {"password": PASSWORD}).status_code == 302


def test_wrong_passwords_from_many_addresses_lock_the_link_at_fifty(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video, password=PASSWORD)
    for n in range(links.WRONG_PASSWORDS_PER_LINK):
        address = f"198.51.100.{n // 10 + 1}"
        assert guest.post(unlock(token), {"password": "wrong-guess"}, REMOTE_ADDR=address).status_code == 403
    refused = guest.post(unlock(token), {"password": PASSWORD}, REMOTE_ADDR="192.0.2.77")
    assert refused.status_code == 429
    assert "at most 50 tries in 15 minutes" in refused.content.decode()


def test_guessing_tokens_is_rate_limited_per_address_and_reveals_nothing(alice, guest):
    video = stored_video(alice)
    _, real = share(alice, video)
    for n in range(links.DEAD_LINKS_PER_ADDRESS):
        assert guest.get(page(f"{n:043d}")).status_code == 404
    stopped = guest.get(page("z" * 43))
    assert stopped.status_code == 429
    assert "at most 30 in 15 minutes" in stopped.content.decode()
    # Past the limit, a working link from the same address gets the very same answer.
    same = guest.get(page(real))
    assert (same.status_code, same.content) == (429, stopped.content)
    assert guest.get(page(real), REMOTE_ADDR="203.0.113.50").status_code == 200
    assert links.ShareTry.objects.count() == links.DEAD_LINKS_PER_ADDRESS  # the counting is bounded


def test_the_token_never_reaches_a_log_line(alice, guest, caplog):
    caplog.set_level(logging.DEBUG)
    video = stored_video(alice)
    link, token = share(alice, video)
    guest.get(page(token))
    guest.get(f"{page(token)}no-such-page")  # Django's own 404, logged with the path
    guest.post(page(token))  # 405, logged with the path
    links.revoke(link)
    guest.get(page(token))
    assert caplog.records, "the refused requests should have been logged"
    assert token not in caplog.text
    assert "/s/…" in caplog.text


def test_the_password_form_works_under_no_referrer_where_browsers_send_a_null_origin(alice):
    # Chromium posts a form from a no-referrer page with "Origin: null"; a CSRF origin check would
    # refuse every guest (tests/browser/test_browser_sharing.py found it). The form sets no cookie.
    video = stored_video(alice)
    _, token = share(alice, video, password=PASSWORD)
    browser = Client(enforce_csrf_checks=True)
    form = browser.get(page(token))
    assert form.status_code == 200 and not form.cookies
    right = browser.post(unlock(token), {"password": PASSWORD}, HTTP_ORIGIN="null")
    assert right.status_code == 302 and UNLOCK_COOKIE in right.cookies


def test_right_passwords_are_not_counted_so_many_guests_may_open_one_link(alice):
    _, token = share(alice, stored_video(alice), password=PASSWORD)
    for n in range(links.WRONG_PASSWORDS_PER_LINK + 5):
        answer = Client().post(unlock(token), {"password": PASSWORD}, REMOTE_ADDR=f"198.51.100.{n + 1}")
        assert answer.status_code == 302, n
    assert not links.ShareTry.objects.exists()


def test_a_collection_link_plays_at_most_its_first_sixty_videos(alice, guest):
    collection = Collection.objects.create(name="Everything", created_by=alice)
    videos = [stored_video(alice) for _ in range(links.GUEST_VIDEOS_MAX + 1)]
    CollectionEntry.objects.bulk_create(
        CollectionEntry(collection=collection, generation=v, position=i) for i, v in enumerate(videos)
    )
    _, token = links.make(by=alice, collection=collection, days=1)
    text = guest.get(page(token)).content.decode()
    assert text.count("<video") == links.GUEST_VIDEOS_MAX == 60
    assert play(token, videos[-1].pk) not in text


def test_deleting_a_video_ends_its_links(alice, guest):
    video = stored_video(alice)
    _, token = share(alice, video)
    video.delete()
    assert not ShareLink.objects.exists()
    assert guest.get(page(token)).status_code == 404
