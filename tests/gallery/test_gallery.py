"""The team gallery: cards, search, filters, paging, live cards, and its query count."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.gallery.filters import PAGE_SIZE
from playground.gallery.models import Star
from playground.generations.models import Generation, State
from playground.review.models import Comment, ReviewStatus
from tests.factories import generation

URL = reverse("gallery")
HTMX = {"HX-Request": "true"}


def make(
    user: Any, prompt: str = "A quiet harbour at dawn", *, minutes_ago: float = 0, **fields: Any
) -> Generation:
    fields.setdefault("model", "video-01")
    fields.setdefault("state", State.READY)
    if fields["state"] == State.READY:
        fields.setdefault("video", "videos/x.mp4")
        fields.setdefault("poster", "posters/x.jpg")
        fields.setdefault("duration", 6.0)
    return generation(
        created_by=user, prompt=prompt, created_at=timezone.now() - timedelta(minutes=minutes_ago), **fields
    )


def card_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="card-(\d+)"', html)]


def get(client: Client, **params: Any) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode().replace("\xa0", " ")


def test_it_redirects_anonymous_visitors_to_sign_in(client: Client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_empty_gallery_invites_the_first_video(signed_in: Client):
    assert "No videos yet — make the first one." in get(signed_in)


def test_cards_show_the_whole_team_newest_first_with_their_facts(signed_in: Client, user, other_user):
    old = make(user, "Old lighthouse in fog", minutes_ago=90)
    new = make(other_user, "New snow falling on a tram", minutes_ago=5, model="video-01-live2d", duration=6.0)
    html = get(signed_in)
    assert card_ids(html) == [new.pk, old.pk]
    assert "New snow falling on a tram" in html
    assert "video-01-live2d" in html
    assert "bob" in html
    assert "alice" in html
    assert "5 minutes ago" in html
    assert "an hour ago" in html
    assert "6 s" in html
    assert reverse("media", args=["posters/x.jpg"]) in html
    assert f'href="{reverse("generation", args=[new.pk])}"' in html


def test_in_progress_cards_share_one_poll_and_a_failed_card_says_why(signed_in: Client, user):
    running = make(user, "Still going", state=State.RUNNING, upstream_status="generating")
    queued = make(user, "Waiting", state=State.QUEUED)
    failed = make(
        user, "Broken", state=State.FAILED, failure_reason="The API key was refused by the AI/ML API."
    )
    html = get(signed_in)
    assert html.count('hx-trigger="every') == 1  # one poll for the page, not one per card
    assert f'hx-get="{reverse("gallery_cards")}"' in html
    running_card = html[html.index(f'id="card-{running.pk}"') :]
    assert f'name="active" value="{running.pk}"' in running_card[:300]
    assert f'name="active" value="{queued.pk}"' in html
    assert "Generating" in running_card
    assert "The API key was refused by the AI/ML API." in html
    failed_card = html[html.index(f'id="card-{failed.pk}"') :]
    assert 'name="active"' not in failed_card[:300]


def test_the_shared_poll_turns_in_progress_cards_into_ready_ones(signed_in: Client, user):
    gen = make(user, "Becoming ready", state=State.RUNNING, upstream_status="generating")
    other = make(user, "Still going", state=State.RUNNING, upstream_status="generating")
    poll = f"{reverse('gallery_cards')}?active={gen.pk}&active={other.pk}"
    before = signed_in.get(poll, headers=HTMX).content.decode()
    assert before.count('hx-swap-oob="true"') == 3  # two cards and the poller itself
    assert 'hx-trigger="every 3s"' in before and "<video" not in before
    Generation.objects.filter(pk__in=[gen.pk, other.pk]).update(
        state=State.READY, video="videos/done.mp4", poster="posters/done.jpg", duration=6.0
    )
    after = signed_in.get(poll, headers=HTMX).content.decode()
    assert "hx-trigger" not in after  # nothing left in progress: the poll stops
    assert reverse("media", args=["posters/done.jpg"]) in after
    assert f'data-src="{reverse("media", args=["videos/done.mp4"])}"' in after
    assert f'<li class="card-item" id="card-{gen.pk}" hx-swap-oob="true">' in after


@pytest.fixture
def team(user, other_user):
    """Six generations across two people, two models and three states."""
    rows = {
        "fox": make(user, "A red fox in the snow", minutes_ago=1),
        "fox_live": make(other_user, "A fox puppet waves", minutes_ago=2, model="video-01-live2d"),
        "boat": make(other_user, "A paper boat in the rain", minutes_ago=3),
        "fox_failed": make(user, "Fox at night", minutes_ago=4, state=State.FAILED, failure_reason="No."),
        "tram": make(user, "A tram at night", minutes_ago=5, state=State.RUNNING),
        "snow_boat": make(other_user, "Snow on a boat deck", minutes_ago=6, model="video-01-live2d"),
    }
    Star.objects.create(user=user, generation=rows["boat"])
    Star.objects.create(user=user, generation=rows["fox_live"])
    Star.objects.create(user=other_user, generation=rows["tram"])  # someone else's star
    return rows


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["fox", "fox_live", "boat", "fox_failed", "tram", "snow_boat"]),
        ({"q": "fox"}, ["fox", "fox_live", "fox_failed"]),
        ({"q": "FOX snow"}, ["fox"]),
        ({"q": "boat"}, ["boat", "snow_boat"]),
        ({"q": "zebra"}, []),
        ({"model": "video-01-live2d"}, ["fox_live", "snow_boat"]),
        ({"creator": "mine"}, ["fox", "fox_failed", "tram"]),
        ({"creator": "bob"}, ["fox_live", "boat", "snow_boat"]),
        ({"state": "ready"}, ["fox", "fox_live", "boat", "snow_boat"]),
        ({"state": "active"}, ["tram"]),
        ({"state": "failed"}, ["fox_failed"]),
        ({"starred": "1"}, ["fox_live", "boat"]),
        ({"q": "fox", "creator": "mine"}, ["fox", "fox_failed"]),
        ({"q": "fox", "state": "ready", "model": "video-01"}, ["fox"]),
        ({"starred": "1", "model": "video-01"}, ["boat"]),
        ({"creator": "bob", "model": "video-01-live2d", "q": "snow"}, ["snow_boat"]),
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else None,
)
def test_search_and_filters_alone_and_combined(signed_in: Client, team, params, expected):
    assert card_ids(get(signed_in, **params)) == [team[name].pk for name in expected]


def test_no_match_says_so_and_offers_everything(signed_in: Client, team):
    html = get(signed_in, q="zebra")
    assert "No videos match these filters." in html
    assert "No videos yet" not in html


def test_filters_are_kept_in_the_form_so_the_url_is_the_state(signed_in: Client, team):
    html = get(signed_in, q="fox", model="video-01", state="ready", starred="1", creator="mine")
    assert 'value="fox"' in html
    assert re.search(r'<option value="video-01" selected>', html)
    assert re.search(r'<option value="ready" selected>', html)
    assert re.search(r'<option value="mine" selected>', html)
    assert re.search(r'name="starred"[^>]*checked|checked[^>]*name="starred"', html)


def test_with_htmx_only_the_results_come_back(signed_in: Client, team):
    response = signed_in.get(URL, {"q": "fox"}, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "<header" not in html
    assert 'role="search"' not in html
    assert card_ids(html) == [team["fox"].pk, team["fox_live"].pk, team["fox_failed"].pk]
    assert "HX-Request" in response["Vary"]


def test_filtering_with_htmx_puts_the_tidy_filters_in_the_address_bar(signed_in: Client, team):
    response = signed_in.get(
        URL,
        {"q": "fox", "model": "", "creator": "", "state": "", "starred": "on"},
        headers={**HTMX, "HX-Trigger": "filters"},
    )
    assert response["HX-Push-Url"] == "/gallery/?q=fox&starred=1"
    more = signed_in.get(URL, {"before": team["boat"].pk}, headers=HTMX)
    assert "HX-Push-Url" not in more  # "Load more" leaves the address alone


def test_a_history_restore_gets_the_whole_page(signed_in: Client, team):
    html = signed_in.get(
        URL, {"q": "fox"}, headers={**HTMX, "HX-History-Restore-Request": "true"}
    ).content.decode()
    assert "<header" in html


# --- Paging ---------------------------------------------------------------------------------


def test_exactly_one_page_has_no_load_more(signed_in: Client, user):
    for i in range(PAGE_SIZE):
        make(user, f"Clip {i}", minutes_ago=i)
    html = get(signed_in)
    assert len(card_ids(html)) == PAGE_SIZE
    assert "Load more" not in html


def test_load_more_walks_every_video_once_in_order(signed_in: Client, user):
    made = [make(user, f"Clip {i}", minutes_ago=i) for i in range(PAGE_SIZE * 2 + 1)]
    # Two rows with the same timestamp must still each appear exactly once.
    Generation.objects.filter(pk=made[30].pk).update(created_at=made[29].created_at)
    seen: list[int] = []
    params: dict[str, Any] = {}
    pages = 0
    while pages < 10:
        html = get(signed_in, **params)
        seen += card_ids(html)
        pages += 1
        found = re.search(r'href="/gallery/\?before=(\d+)"', html)
        if not found:
            break
        params = {"before": found.group(1)}
    assert pages == 3
    expected = list(Generation.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert seen == expected


def test_load_more_keeps_the_filters(signed_in: Client, user, other_user):
    for i in range(PAGE_SIZE + 3):
        make(user, f"Fox {i}", minutes_ago=i)
        make(other_user, f"Fox by bob {i}", minutes_ago=i + 0.5)
    html = get(signed_in, q="fox", creator="mine")
    link = re.search(r'href="/gallery/\?([^"]+)"', html)
    assert link is not None
    query = link.group(1).replace("&amp;", "&")
    assert "q=fox" in query
    assert "creator=mine" in query
    assert "before=" in query
    second = signed_in.get(f"{URL}?{query}").content.decode()
    ids = card_ids(second)
    assert len(ids) == 3
    assert set(Generation.objects.filter(pk__in=ids).values_list("created_by__username", flat=True)) == {
        "alice"
    }
    assert "Back to the newest" in second


def test_the_htmx_load_more_returns_the_next_cards(signed_in: Client, user):
    for i in range(PAGE_SIZE + 2):
        make(user, f"Clip {i}", minutes_ago=i)
    first = get(signed_in)
    before = re.search(r"before=(\d+)", first)
    assert before is not None
    html = signed_in.get(URL, {"before": before.group(1)}, headers=HTMX).content.decode()
    assert len(card_ids(html)) == 2


def _poller(html: str) -> str:
    """The page's one poll element (#card-poll) as the response has it."""
    found = re.search(r'<div id="card-poll"[^>]*>', html)
    assert found is not None
    return found.group(0)


def test_load_more_starts_the_poll_again_for_in_progress_cards_it_brings(signed_in: Client, user):
    older = make(
        user, "Still rendering", minutes_ago=PAGE_SIZE + 5, state=State.RUNNING, upstream_status="generating"
    )
    for i in range(PAGE_SIZE):
        make(user, f"Clip {i}", minutes_ago=i)
    first = get(signed_in)
    assert "hx-trigger" not in _poller(first)  # nothing in progress on the first page: no poll
    link = re.search(r'<li class="load-more">.*?Load more', first, re.DOTALL)
    assert link is not None
    assert 'hx-select-oob="#card-poll"' in link.group(0)
    assert 'hx-include=".card-grid [name=active]"' in link.group(0)
    before = re.search(r"before=(\d+)", first)
    assert before is not None
    more = signed_in.get(URL, {"before": before.group(1)}, headers=HTMX).content.decode()
    assert card_ids(more) == [older.pk]
    assert 'hx-trigger="every 3s"' in _poller(more)  # the poll comes back with the running card


def test_load_more_of_finished_cards_keeps_the_poll_the_page_still_needs(signed_in: Client, user):
    running = make(user, "Running, on the first page", state=State.RUNNING, upstream_status="generating")
    done = make(user, "Finished long ago", minutes_ago=60)
    query = {"before": str(running.pk), "active": str(running.pk)}
    more = signed_in.get(URL, query, headers=HTMX).content.decode()
    assert card_ids(more) == [done.pk]
    assert 'hx-trigger="every 3s"' in _poller(more)
    # Once the first page's card is finished too, the next "Load more" lets the poll stop.
    Generation.objects.filter(pk=running.pk).update(state=State.READY, video="videos/y.mp4")
    again = signed_in.get(URL, query, headers=HTMX).content.decode()
    assert "hx-trigger" not in _poller(again)


def test_load_more_after_the_last_card_was_deleted_still_continues(signed_in: Client, user):
    total = PAGE_SIZE + 5
    # Made oldest first, as in life: ids grow with time.
    newest_first = [make(user, f"Clip {i}", minutes_ago=total - i) for i in range(total)][::-1]
    anchor = newest_first[PAGE_SIZE - 1].pk
    newest_first[PAGE_SIZE - 1].delete()
    assert card_ids(get(signed_in, before=anchor)) == [g.pk for g in newest_first[PAGE_SIZE:]]


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "99999999"])
def test_a_bad_or_stale_cursor_never_errors(signed_in: Client, user, bad):
    make(user)
    response = signed_in.get(URL, {"before": bad})
    assert response.status_code == 200


@pytest.mark.parametrize("rows", [1, 200])
def test_a_gallery_page_takes_the_same_queries_at_1_and_200_videos(
    signed_in: Client, user, other_user, rows, django_assert_num_queries, django_assert_max_num_queries
):
    for i in range(rows):
        gen = make(user if i % 2 else other_user, f"Clip {i}", minutes_ago=i)
        if i % 3 == 0:
            Star.objects.create(user=user, generation=gen)
        if i % 4 == 0:  # comments and a review status: counted and read in the same query as the cards
            Comment.objects.create(generation=gen, author=user, at_ms=0, text="Hm")
            ReviewStatus.objects.create(generation=gen, status="approved", author=user)
    # session, user, the member list for "Made by", the collection list, the page of cards.
    with django_assert_num_queries(5):
        html = get(signed_in)
    # A search adds one look at the newest rows when they hold less than a page of matches.
    with django_assert_max_num_queries(6):
        get(signed_in, q="clip", starred="1", creator="mine", state="ready", model="video-01")
    with django_assert_max_num_queries(6):
        get(signed_in, q="clip", review="approved", unresolved="1", state="ready")
    assert len(card_ids(html)) == min(rows, PAGE_SIZE)
