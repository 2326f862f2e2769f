"""Sound in the gallery and on a video's page: the mark, the filter, muted previews, and the
video's own player with sound on and its sound control."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from playground.generations.models import State
from tests.gallery.test_gallery import card_ids, get, make


@pytest.fixture
def videos(user: Any) -> dict[str, Any]:
    return {
        "bells": make(user, "Church bells over a valley", has_sound=True, minutes_ago=3),
        "quiet": make(user, "A quiet harbour at dawn", minutes_ago=2),
        "live": make(user, "A puppet sings", model="video-01-live2d", has_sound=True, minutes_ago=1),
        "queued": make(user, "Rain on a tin roof", state=State.QUEUED),
    }


def marked(html: str) -> list[int]:
    """The cards that carry the has-sound mark."""
    cards = re.split(r'(?=<li class="card-item" id="card-)', html)
    return [
        int(m.group(1))
        for card in cards
        if (m := re.match(r'<li class="card-item" id="card-(\d+)"', card)) and "sound-badge" in card
    ]


def test_cards_of_videos_with_sound_carry_the_mark_and_others_do_not(signed_in: Client, videos):
    html = get(signed_in)
    assert marked(html) == [videos["live"].pk, videos["bells"].pk]
    assert html.count("Has sound</span>") == 2


def test_every_card_preview_is_muted(signed_in: Client, videos):
    html = get(signed_in)
    previews = re.findall(r"<video[^>]*hover-preview[^>]*>", html)
    assert len(previews) == 3
    assert all(" muted" in tag for tag in previews)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sound": "yes"}, ["live", "bells"]),
        ({"sound": "no"}, ["queued", "quiet"]),
        ({"sound": "yes", "model": "video-01"}, ["bells"]),
        ({"sound": ""}, ["queued", "live", "quiet", "bells"]),
    ],
)
def test_the_sound_filter_alone_and_with_others(signed_in: Client, videos, params, expected):
    assert card_ids(get(signed_in, **params)) == [videos[name].pk for name in expected]


def test_the_filter_keeps_its_choice_in_the_address_and_the_form(signed_in: Client, videos):
    response = signed_in.get(
        reverse("gallery"), {"sound": "yes"}, headers={"HX-Request": "true", "HX-Trigger": "filters"}
    )
    assert response["HX-Push-Url"] == "/gallery/?sound=yes"
    html = get(signed_in, sound="yes")
    assert re.search(r'<option value="yes" selected>With sound</option>', html)


@pytest.mark.parametrize("value", ["banana", "1", "YES", "x" * 5000, "yes\x00"])
def test_a_value_the_filter_cannot_take_is_left_out_with_a_sentence(signed_in: Client, videos, value):
    html = get(signed_in, sound=value, model="video-01")
    assert 'The sound filter takes "yes" (videos with sound) or "no"' in html.replace("&quot;", '"')
    # The other filters still apply; only the bad one is left out.
    assert card_ids(html) == [videos["queued"].pk, videos["quiet"].pk, videos["bells"].pk]


def test_a_videos_page_plays_with_sound_and_shows_a_sound_control(signed_in: Client, videos):
    html = signed_in.get(reverse("generation", args=[videos["bells"].pk])).content.decode()
    [player] = re.findall(r'<video class="player"[^>]*>', html)
    assert "muted" not in player
    assert " controls" in player
    assert re.search(r'<button type="button" class="button sound-toggle" aria-pressed="true"', html)
    assert "video with sound" in html


def test_a_silent_videos_page_offers_no_sound_control(signed_in: Client, videos):
    html = signed_in.get(reverse("generation", args=[videos["quiet"].pk])).content.decode()
    assert "sound-toggle" not in html
    assert "with sound" not in html


@pytest.mark.parametrize("query", ["sound=yes", "sound=no"])
def test_the_sound_filter_reads_its_own_index_in_gallery_order(user: Any, videos, query):
    from django.db import connection
    from django.http import QueryDict

    from playground.gallery.filters import PAGE_SIZE, GalleryFilters

    rows = GalleryFilters(QueryDict(query), user=user).filtered()[: PAGE_SIZE + 1]
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(("EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ") + sql, params)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "gen_sound_newest_idx" in plan, plan


def test_a_collection_page_has_the_same_filter_and_sentence(signed_in: Client, user: Any, videos):
    from playground.gallery.models import Collection, CollectionEntry

    harbour = Collection.objects.create(name="Harbour", created_by=user)
    for position, name in enumerate(["bells", "quiet"]):
        CollectionEntry.objects.create(collection=harbour, generation=videos[name], position=position)
    url = reverse("collection", args=[harbour.pk])
    html = signed_in.get(url, {"sound": "yes"}).content.decode()
    assert card_ids(html) == [videos["bells"].pk]
    assert 'name="sound"' in html
    html = signed_in.get(url, {"sound": "maybe"}).content.decode().replace("&quot;", '"')
    assert 'The sound filter takes "yes"' in html
    assert card_ids(html) == [videos["bells"].pk, videos["quiet"].pk]
