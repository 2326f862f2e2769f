"""The gallery's prompt search on its trigram indexes (SQLite FTS5, PostgreSQL pg_trgm).

The indexes must not change what a search finds: every word must appear somewhere in the prompt,
in any case, as a whole word or a part of one, and punctuation means itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from playground.gallery.filters import PAGE_SIZE, GalleryFilters, search
from playground.generations.models import Generation
from tests.gallery.test_gallery import card_ids, get, make


@pytest.fixture
def prompts(user: Any) -> dict[str, Generation]:
    rows = {
        "lighthouse": make(user, "An old LIGHTHOUSE glows at dusk", minutes_ago=1),
        "fox": make(user, "A red fox trots through fresh snow", minutes_ago=2),
        "punctuation": make(user, 'Tom\'s "big" day: 100% speed_run (take #2)', minutes_ago=3),
        "cafe": make(user, "Un café à Paris, la nuit", minutes_ago=4),
        "ox": make(user, "An ox pulls a cart", minutes_ago=5),
    }
    return rows


def found(client: Client, rows: dict[str, Generation], q: str) -> list[str]:
    names = {gen.pk: name for name, gen in rows.items()}
    return [names[pk] for pk in card_ids(get(client, q=q))]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("lighthouse", ["lighthouse"]),
        ("Lighthouse DUSK", ["lighthouse"]),
        ("dusk lighthouse", ["lighthouse"]),  # any order
        ("lighthouse snow", []),  # every word must appear
        ("ligh", ["lighthouse"]),  # the start of a word
        ("thous", ["lighthouse"]),  # the middle of a word
        ("ox", ["fox", "ox"]),  # short words match inside longer ones too
        ("fox ox", ["fox"]),
        ("red ox", ["fox"]),
        ("café", ["cafe"]),
        ("Tom's", ["punctuation"]),
        ('"big"', ["punctuation"]),
        ("100%", ["punctuation"]),
        ("10%0", []),  # % is a character, not a wildcard
        ("speed_run", ["punctuation"]),
        ("speedXrun", []),  # so is _
        ("(take", ["punctuation"]),
        ("#2)", ["punctuation"]),
        ("fox OR snow", []),  # search words, not query syntax
        ("fox*", []),
        ('NEAR("fox"', []),
        ("glows", ["lighthouse"]),
        ("zebra", []),
    ],
)
def test_each_word_must_appear_in_any_case_anywhere(signed_in: Client, prompts, q, expected):
    assert found(signed_in, prompts, q) == expected


def test_an_edited_prompt_is_found_by_its_new_words_only(signed_in: Client, prompts):
    fox = prompts["fox"]
    fox.prompt = "A grey wolf howls at the moon"
    fox.save()
    assert found(signed_in, prompts, "wolf") == ["fox"]
    assert found(signed_in, prompts, "trots") == []
    Generation.objects.filter(pk=fox.pk).update(prompt="A lighthouse keeper's cat")
    assert found(signed_in, prompts, "lighthouse") == ["lighthouse", "fox"]
    assert found(signed_in, prompts, "wolf") == []


def test_a_deleted_video_is_no_longer_found(signed_in: Client, prompts):
    prompts["lighthouse"].delete()
    assert found(signed_in, prompts, "lighthouse") == []
    assert found(signed_in, prompts, "ox") == ["fox", "ox"]


def test_rows_made_in_bulk_are_found(signed_in: Client, user, prompts):
    Generation.objects.bulk_create(
        [Generation(created_by=user, model="video-01", prompt=f"Bulk koi pond number {i}") for i in range(3)]
    )
    assert Generation.objects.filter(pk__in=search(Generation.objects.all(), ["koi", "POND"])).count() == 3


def test_a_search_pages_through_every_match_once(signed_in: Client, user):
    made = [make(user, f"Lantern festival {i}", minutes_ago=i) for i in range(30)]
    make(user, "Nothing to see", minutes_ago=0.5)
    first = get(signed_in, q="lantern")
    seen = card_ids(first)
    second = get(signed_in, q="lantern", before=seen[-1])
    seen += card_ids(second)
    assert seen == [gen.pk for gen in made]


def test_a_search_costs_no_more_queries_than_the_first_page(signed_in: Client, prompts):
    get(signed_in)  # warm-up
    with CaptureQueriesContext(connection) as plain:
        get(signed_in)
    with CaptureQueriesContext(connection) as searched:
        get(signed_in, q="lighthouse at dusk")
    # A word in fewer than a page of the newest rows costs one look at them before the index.
    assert len(searched) == len(plain) + 1 <= 7


def lantern_rows(user: Any, count: int, *, every: int) -> list[Generation]:
    """`count` videos, newest first, one in `every` with "lantern" in its prompt (in mixed case)."""
    rows = [
        make(
            user,
            f"A paper LANTERN drifts, take {i}" if i % every == 0 else f"A quiet harbour, take {i}",
            minutes_ago=i,
            model="video-01" if i % 3 else "video-01-live2d",
        )
        for i in range(count)
    ]
    return rows


def page_through(client: Client, **params: Any) -> list[int]:
    seen: list[int] = []
    while True:
        html = get(client, **params, **({"before": seen[-1]} if seen else {}))
        seen += card_ids(html)
        if "Load more" not in html:
            return seen


@pytest.mark.parametrize(
    "params", [{"q": "lantern"}, {"q": "Lantern DRIFTS"}, {"q": "lantern", "model": "video-01"}]
)
def test_a_common_word_pages_from_the_newest_rows_and_finds_what_the_index_finds(
    signed_in: Client, user, settings, params
):
    rows = lantern_rows(user, 150, every=2)
    words = params["q"].lower().split()
    expected = [
        gen.pk
        for gen in rows
        if all(w in gen.prompt.lower() for w in words) and (gen.model == params.get("model", gen.model))
    ]
    assert page_through(signed_in, **params) == expected  # every match once, newest first
    assert len(expected) > 2 * PAGE_SIZE


def test_the_newest_rows_answer_a_common_word_and_the_index_a_rare_one(user):
    lantern_rows(user, 150, every=2)
    make(user, "A lone yak on the ridge", minutes_ago=500)
    common = GalleryFilters({"q": "lantern"}, user=user)
    rare = GalleryFilters({"q": "yak"}, user=user)
    assert common.is_valid() and rare.is_valid()
    from_window = common._page_from_the_newest()
    assert from_window is not None
    assert [gen.pk for gen in from_window] == [gen.pk for gen in common.filtered()[: PAGE_SIZE + 1]]
    assert rare._page_from_the_newest() is None  # one match: the index finds it
    assert [gen.prompt for gen in rare.page().cards] == ["A lone yak on the ridge"]


def test_a_window_shorter_than_the_matches_hands_over_to_the_index(signed_in: Client, user, monkeypatch):
    # Matches spread thinner than a page per window: each page comes from the index, same order.
    monkeypatch.setattr("playground.gallery.filters.SEARCH_WINDOW", 10)
    rows = lantern_rows(user, 120, every=4)
    assert page_through(signed_in, q="lantern") == [gen.pk for gen in rows if "LANTERN" in gen.prompt]


@pytest.mark.sqlite_only
def test_sqlite_keeps_the_full_text_index_in_step_with_the_prompts(prompts):
    prompts["fox"].prompt = "Changed"
    prompts["fox"].save()
    prompts["ox"].delete()
    with connection.cursor() as cursor:
        # FTS5 raises if the index and the prompts disagree in any way.
        cursor.execute(
            "INSERT INTO playground_generation_fts(playground_generation_fts, rank) "
            "VALUES ('integrity-check', 1)"
        )
        cursor.execute(
            "EXPLAIN QUERY PLAN " + str(search(Generation.objects.all(), ["lighthouse"]).query),
        )
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "VIRTUAL TABLE INDEX" in plan


@pytest.mark.postgresql_only
def test_postgresql_answers_a_search_from_the_trigram_index(prompts):
    sql, params = search(Generation.objects.order_by(), ["lighthouse"]).query.sql_with_params()
    with connection.cursor() as cursor:
        # Five rows are cheaper to read than an index; forbid that to see the index can be used.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "gen_prompt_trgm_idx" in plan
