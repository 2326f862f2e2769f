"""Collections: making, filling, ordering, filtering, rights, and the gallery's query count."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from playground.gallery.collections import MAX_VIDEOS, add_videos, move, videos_in_order
from playground.gallery.models import Collection, CollectionEntry, Star
from playground.generations.models import Generation, State
from tests.gallery.test_gallery import card_ids, get, make


@pytest.fixture
def harbour(user) -> Collection:
    return Collection.objects.create(name="Harbour", created_by=user)


def order(collection: Collection) -> list[int]:
    return list(videos_in_order(collection).values_list("pk", flat=True))


def fill(collection: Collection, rows: list[Generation], user: Any) -> None:
    add_videos(collection, [g.pk for g in rows], user)


def test_a_member_makes_a_collection_and_everyone_sees_it(signed_in: Client, client, other_user):
    response = signed_in.post(
        reverse("collection_create"), {"name": "  Spring   launch ", "description": "Ads"}
    )
    made = Collection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("collection", args=[made.pk])
    assert made.name == "Spring launch"
    client.force_login(other_user)
    listing = client.get(reverse("collections")).content.decode()
    assert "Spring launch" in listing
    assert "0 videos" in listing


def test_a_second_collection_of_the_same_name_is_refused_with_the_name(signed_in: Client, harbour):
    response = signed_in.post(reverse("collection_create"), {"name": "HARBOUR"})
    assert response.status_code == 400
    assert "There is already a collection called “Harbour”" in response.content.decode()
    assert Collection.objects.count() == 1


def test_an_empty_name_is_refused(signed_in: Client):
    response = signed_in.post(reverse("collection_create"), {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_only_the_maker_or_staff_rename_or_delete(client: Client, user, other_user, harbour):
    client.force_login(other_user)
    assert client.get(reverse("collection_edit", args=[harbour.pk])).status_code == 403
    assert client.post(reverse("collection_edit", args=[harbour.pk]), {"name": "Mine now"}).status_code == 403
    assert client.post(reverse("collection_delete", args=[harbour.pk])).status_code == 403
    assert Collection.objects.get().name == "Harbour"
    # ...but they may still add to it: the collection is the team's.
    gen = make(other_user)
    response = client.post(reverse("bulk_add"), {"ids": [gen.pk], "collection": harbour.pk})
    assert response.status_code == 302
    assert order(harbour) == [gen.pk]
    staff = get_user_model().objects.create_user("admin", is_staff=True)
    client.force_login(staff)
    response = client.post(reverse("collection_edit", args=[harbour.pk]), {"name": "Harbour films"})
    assert response.status_code == 302
    assert Collection.objects.get().name == "Harbour films"


def test_deleting_a_collection_keeps_its_videos(signed_in: Client, user, harbour):
    rows = [make(user, f"Clip {i}") for i in range(3)]
    fill(harbour, rows, user)
    page = signed_in.get(reverse("collection_delete", args=[harbour.pk])).content.decode()
    assert "Its 3 videos stay in the gallery" in page
    response = signed_in.post(reverse("collection_delete", args=[harbour.pk]), follow=True)
    assert "Its 3 videos are still in the gallery." in response.content.decode()
    assert Collection.objects.count() == 0
    assert CollectionEntry.objects.count() == 0
    assert Generation.objects.count() == 3


def test_deleting_a_video_takes_it_out_of_its_collections_only(signed_in: Client, user, harbour):
    a, b = make(user, "A"), make(user, "B")
    fill(harbour, [a, b], user)
    signed_in.post(reverse("delete", args=[a.pk]))
    assert order(harbour) == [b.pk]


def test_videos_in_order_follows_the_teams_order_not_dates(user, harbour):
    old, mid, new = make(user, minutes_ago=30), make(user, minutes_ago=20), make(user, minutes_ago=10)
    fill(harbour, [mid, new, old], user)
    assert order(harbour) == [mid.pk, new.pk, old.pk]
    assert move(harbour, old.pk, direction="earlier") == 1
    assert order(harbour) == [mid.pk, old.pk, new.pk]
    assert move(harbour, mid.pk, direction="later") == 1
    assert order(harbour) == [old.pk, mid.pk, new.pk]
    assert move(harbour, old.pk, direction="earlier") == 0  # already first: stays
    assert move(harbour, new.pk, before=old.pk) == 0
    assert order(harbour) == [new.pk, old.pk, mid.pk]
    assert move(harbour, new.pk, after=old.pk) == 1
    assert order(harbour) == [old.pk, new.pk, mid.pk]
    assert move(harbour, new.pk) == 2  # no target: to the end
    assert order(harbour) == [old.pk, mid.pk, new.pk]
    assert list(harbour.entries.order_by("position").values_list("position", flat=True)) == [0, 1, 2]
    other = make(user)
    assert move(harbour, other.pk, direction="later") is None


def test_a_move_by_a_forged_request_for_a_video_not_in_it_is_404(signed_in: Client, user, harbour):
    gen = make(user)
    url = reverse("collection_move", args=[harbour.pk])
    assert signed_in.post(url, {"video": gen.pk, "direction": "later"}).status_code == 404
    assert signed_in.post(url, {"video": "x"}).status_code == 400
    assert signed_in.post(reverse("collection_move", args=[999]), {"video": gen.pk}).status_code == 404


def test_moving_by_htmx_returns_the_new_order_and_says_where_it_went(signed_in: Client, user, harbour):
    a, b, c = make(user, "Alpha"), make(user, "Bravo"), make(user, "Charlie")
    fill(harbour, [a, b, c], user)
    response = signed_in.post(
        reverse("collection_move", args=[harbour.pk]),
        {"video": c.pk, "direction": "earlier"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert card_ids(html) == [a.pk, c.pk, b.pk]
    assert "Moved to place 2 of 3." in html
    assert html.count("data-autofocus") == 1


def test_the_collection_page_has_the_gallerys_filters(signed_in: Client, user, other_user, harbour):
    fox = make(user, "A red fox", minutes_ago=5)
    boat = make(other_user, "A paper boat", minutes_ago=1)
    live = make(other_user, "A fox puppet", model="video-01-live2d", minutes_ago=3)
    outside = make(user, "A fox outside the collection")
    fill(harbour, [fox, boat, live], user)
    Star.objects.create(user=user, generation=boat)
    url = reverse("collection", args=[harbour.pk])
    assert card_ids(signed_in.get(url).content.decode()) == [fox.pk, boat.pk, live.pk]
    assert card_ids(signed_in.get(url, {"q": "fox"}).content.decode()) == [fox.pk, live.pk]
    assert card_ids(signed_in.get(url, {"creator": "bob"}).content.decode()) == [boat.pk, live.pk]
    assert card_ids(signed_in.get(url, {"model": "video-01-live2d"}).content.decode()) == [live.pk]
    assert card_ids(signed_in.get(url, {"starred": "1"}).content.decode()) == [boat.pk]
    assert outside.pk not in card_ids(signed_in.get(url).content.decode())


def test_the_collection_page_pages_in_the_teams_order(signed_in: Client, user, harbour, monkeypatch):
    monkeypatch.setattr("playground.gallery.collections.PAGE_SIZE", 2)
    rows = [make(user, f"Clip {i}", minutes_ago=i) for i in range(5)]
    fill(harbour, list(reversed(rows)), user)
    url = reverse("collection", args=[harbour.pk])
    first = signed_in.get(url).content.decode()
    assert card_ids(first) == [rows[4].pk, rows[3].pk]
    second = signed_in.get(url, {"after": 1}).content.decode()
    assert card_ids(second) == [rows[2].pk, rows[1].pk]
    assert "?after=3" in second


def test_in_progress_cards_of_a_collection_update_with_the_collections_own_tools(
    signed_in: Client, user, harbour
):
    running = make(user, "Lighthouse, still rendering", state=State.RUNNING, upstream_status="generating")
    fill(harbour, [running, make(user, "Pier")], user)
    page = signed_in.get(reverse("collection", args=[harbour.pk])).content.decode()
    poll_url = f"{reverse('gallery_cards')}?collection={harbour.pk}"
    assert f'hx-get="{poll_url}' in page and 'hx-trigger="every 3s"' in page
    Generation.objects.filter(pk=running.pk).update(
        state=State.READY, video="videos/l.mp4", poster="posters/l.jpg"
    )
    polled = signed_in.get(reverse("gallery_cards"), {"collection": harbour.pk, "active": running.pk})
    html = polled.content.decode()
    assert f'id="card-{running.pk}" draggable="true"' in html  # the collection's card, order tools and all
    assert reverse("collection_move", args=[harbour.pk]) in html
    assert "hx-trigger" not in html  # nothing left in progress: the poll stops


def test_the_gallery_filters_by_collection(signed_in: Client, user, harbour):
    inside, outside = make(user, "Inside", minutes_ago=2), make(user, "Outside", minutes_ago=1)
    fill(harbour, [inside], user)
    assert card_ids(get(signed_in)) == [outside.pk, inside.pk]
    html = get(signed_in, collection=harbour.pk)
    assert card_ids(html) == [inside.pk]
    assert f'<option value="{harbour.pk}" selected>Harbour</option>' in html


def test_a_video_shows_which_collections_hold_it(signed_in: Client, user, harbour):
    gen = make(user)
    other = Collection.objects.create(name="Ads", created_by=user)
    Collection.objects.create(name="Unrelated", created_by=user)
    fill(harbour, [gen], user)
    fill(other, [gen], user)
    html = signed_in.get(reverse("generation", args=[gen.pk])).content.decode()
    held = html[
        html.index('class="in-collections"') : html.index("</ul>", html.index('class="in-collections"'))
    ]
    assert "Ads" in held
    assert "Harbour" in held
    assert "Unrelated" not in held


def test_a_collection_is_bounded(user, harbour, monkeypatch):
    monkeypatch.setattr("playground.gallery.collections.MAX_VIDEOS", 2)
    rows = [make(user) for _ in range(3)]
    from playground.gallery.collections import CollectionFull

    with pytest.raises(CollectionFull, match="adding 3 more would pass the limit of 2 videos"):
        fill(harbour, rows, user)
    assert MAX_VIDEOS == 1000


@pytest.mark.parametrize("rows", [1, 30])
def test_the_gallery_with_collections_costs_the_same_queries_at_any_size(
    signed_in: Client, user, other_user, rows, django_assert_num_queries, django_assert_max_num_queries
):
    collections = [Collection.objects.create(name=f"Set {i}", created_by=user) for i in range(rows % 7 + 1)]
    for i in range(rows):
        gen = make(user if i % 2 else other_user, f"Clip {i}", minutes_ago=i)
        add_videos(collections[i % len(collections)], [gen.pk], user)
    # session, user, the member list, the collection list, the page of cards.
    with django_assert_num_queries(5):
        html = get(signed_in)
    # A search adds one look at the newest rows when they hold less than a page of matches.
    with django_assert_max_num_queries(6):
        get(signed_in, collection=collections[0].pk, q="clip", starred="1")
    assert "Add to collection" in html


@pytest.mark.parametrize("rows", [1, 30])
def test_the_collection_page_costs_the_same_queries_at_any_size(
    signed_in: Client, user, rows, harbour, django_assert_num_queries
):
    fill(harbour, [make(user, f"Clip {i}", minutes_ago=i) for i in range(rows)], user)
    # session, user, the collection, members, collections, the page of cards, the count.
    with django_assert_num_queries(7):
        signed_in.get(reverse("collection", args=[harbour.pk]))


@pytest.mark.django_db(transaction=True)
def test_adds_and_moves_at_once_keep_every_position_distinct(user):
    """Each change locks the collection's row first (IMMEDIATE transactions on SQLite), so people
    adding and dragging at the same moment take turns instead of sharing positions."""
    import threading

    from django.db import connection

    harbour = Collection.objects.create(name="Harbour", created_by=user)
    rows = [make(user, f"Clip {i}") for i in range(124)]
    add_videos(harbour, [g.pk for g in rows[:4]], user)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(batch: list[Generation], mover: Generation) -> None:
        try:
            start.wait()
            for gen in batch:
                add_videos(harbour, [gen.pk], user)
                if gen.pk % 5 == 0:
                    move(harbour, mover.pk, direction="later")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(rows[4 + 30 * i : 34 + 30 * i], rows[i])) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    positions = list(harbour.entries.values_list("position", flat=True))
    assert len(positions) == 124
    assert len(set(positions)) == 124
