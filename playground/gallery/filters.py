"""The team gallery's filters and paging.

Pages are "keyset" pages: the next page is everything older than the last card shown
(created_at, then id), which an index answers directly however deep the page is, unlike an
OFFSET that must walk past every skipped row. The filters live in the URL, so a filtered view
can be shared and the back button works.

A value a filter cannot take (a hand-edited address) leaves that one filter out, keeps the
others, and the page says so in a sentence (`problems`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import QueryDict

from playground.gallery.models import Collection
from playground.generations.models import ACTIVE_STATES, MODEL_CHOICES, Generation, GenerationQuerySet, State
from playground.lib.ids import IdField, parse_id
from playground.review import comments as review_comments
from playground.review import status as review_status
from playground.review.models import Status

PAGE_SIZE = 24
POLL_MAX = 200  # in-progress cards one poll may ask about (a page shows 24 at a time)
MAX_SEARCH_WORDS = 8
# A search first tries the newest rows this many deep (gallery._page_from_the_newest).
SEARCH_WINDOW = 2000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TRIGRAM = 3
# SQLite's full-text index of prompts (migration 0003); the words are always a bound parameter.
FTS_MATCH = "SELECT rowid FROM playground_generation_fts WHERE playground_generation_fts MATCH %s"

SOUND_FILTERS = {"yes": True, "no": False}

STATE_FILTERS = {
    "ready": [State.READY],
    "active": list(ACTIVE_STATES),
    "failed": [State.FAILED],
    "cancelled": [State.CANCELLED],
}


class GalleryFilters(forms.Form):
    q = forms.CharField(label="Search prompts", required=False, max_length=200)
    model = forms.ChoiceField(label="Model", required=False, choices=[("", "Any model"), *MODEL_CHOICES])
    creator = forms.CharField(label="Made by", required=False, max_length=150)
    state = forms.ChoiceField(
        label="State",
        required=False,
        choices=[
            ("", "Any state"),
            ("ready", "Ready"),
            ("active", "In progress"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
    )
    sound = forms.ChoiceField(
        label="Sound",
        required=False,
        choices=[("", "With or without sound"), ("yes", "With sound"), ("no", "Without sound")],
        error_messages={
            "invalid_choice": 'The sound filter takes "yes" (videos with sound) or "no" (videos '
            "without), so the value in this address was left out."
        },
    )
    review = forms.ChoiceField(
        label="Review", required=False, choices=[("", "Any review status"), *Status.choices]
    )
    starred = forms.BooleanField(label="Starred", required=False)
    unresolved = forms.BooleanField(label="Unresolved comments", required=False)
    collection = forms.TypedChoiceField(label="Collection", required=False, coerce=int, empty_value=None)
    before = IdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        # A small team: every member can be picked. "Mine" comes first.
        members = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["creator"].widget = forms.Select(
            choices=[("", "Anyone"), ("mine", "Mine")]
            + [(u.get_username(), u.get_username()) for u in members]
        )
        # Read once: the Collection filter and the select bar's "Add to collection" share it.
        self.collections = list(Collection.objects.order_by("name", "id"))
        picker = cast(forms.TypedChoiceField, self.fields["collection"])
        picker.choices = [("", "Any collection")] + [(c.pk, c.name) for c in self.collections]

    @property
    def valid_data(self) -> dict[str, Any]:
        """Every filter whose value is good; one that is not is left out, and `problems` says so."""
        self.is_valid()
        return self.cleaned_data

    @property
    def problems(self) -> list[str]:
        return [str(message) for errors in self.errors.values() for message in errors]

    @property
    def words(self) -> list[str]:
        data = self.valid_data
        return (data.get("q") or "").split()[:MAX_SEARCH_WORDS]

    def filtered(self) -> GenerationQuerySet:
        """The matching generations, newest first (not yet cut to a page)."""
        return search(self._unsearched(), self.words)

    def _unsearched(self) -> GenerationQuerySet:
        """Every filter but the words, newest first."""
        data = self.valid_data
        rows = with_review(Generation.objects.with_stars_for(self.user)).order_by("-created_at", "-id")
        if data.get("model"):
            rows = rows.filter(model=data["model"])
        creator = data.get("creator")
        if creator == "mine":
            rows = rows.filter(created_by=self.user.pk)
        elif creator:
            rows = rows.filter(created_by__username=creator)
        if data.get("state") in STATE_FILTERS:
            rows = rows.filter(state__in=STATE_FILTERS[data["state"]])
        if data.get("sound") in SOUND_FILTERS:
            # "IN (1)" rather than Django's bare boolean column, which SQLite cannot look up in an index.
            rows = rows.filter(has_sound__in=[SOUND_FILTERS[data["sound"]]])
        if data.get("starred"):
            rows = rows.filter(**{"starred": True})  # the annotation from with_stars_for
        if data.get("review"):
            rows = review_status.filter_status(rows, data["review"])
        if data.get("unresolved"):
            rows = review_comments.with_open_threads(rows)
        if data.get("collection"):
            rows = rows.filter(collection_entries__collection=data["collection"])
        if data.get("before"):
            rows = self._older_than(rows, data["before"])
        return rows

    @staticmethod
    def _older_than(rows: GenerationQuerySet, pk: int) -> GenerationQuerySet:
        """Everything after the card `pk` in gallery order (newest first, then highest id)."""
        anchor = Generation.objects.filter(pk=pk).values_list("created_at", flat=True).first()
        if anchor is None:
            # The card was deleted since the page was shown; ids follow creation closely enough.
            return rows.filter(pk__lt=pk)
        # "created_at <= anchor" alone bounds an index range scan; the OR then settles ties.
        return rows.filter(created_at__lte=anchor).filter(Q(created_at__lt=anchor) | Q(pk__lt=pk))

    def page(self) -> GalleryPage:
        # One row more than a page tells whether there is a next page without counting.
        rows = self._page_from_the_newest() or list(self.filtered()[: PAGE_SIZE + 1])
        return GalleryPage(cards=rows[:PAGE_SIZE], has_more=len(rows) > PAGE_SIZE, filters=self)

    def _page_from_the_newest(self) -> list[Generation] | None:
        """A search's page from the newest SEARCH_WINDOW rows alone, when they hold a whole page.

        The prompt index hands back every row with the words, then the engine orders them all to
        keep the newest page: for a word in most prompts, nearly the whole table. Reading the
        newest rows in gallery order and testing their prompts stops as soon as a page is found.
        The window is a prefix of the gallery's order, so a page found in it is the same page the
        index would give; with fewer matches in it (a rare word), None, and the index answers.
        """
        words = self.words
        if not words or (connection.vendor == "sqlite" and not all(word.isascii() for word in words)):
            # SQLite's LIKE folds the case of ASCII letters only; the index folds every letter.
            return None
        unsearched = self._unsearched()
        # The window's edge as a bound on the gallery's own index, so the engine walks that index
        # newest first, testing prompts, and stops at a page (fewer rows than the window: no edge).
        edge = unsearched.order_by("-created_at", "-id").values("created_at")[
            SEARCH_WINDOW - 1 : SEARCH_WINDOW
        ]
        near = unsearched.filter(created_at__gte=Coalesce(Subquery(edge), Value(EARLIEST)))
        for word in words:
            near = near.filter(prompt__icontains=word)
        rows = list(near[: PAGE_SIZE + 1])
        return rows if len(rows) > PAGE_SIZE else None

    def query_string(self, **changes: Any) -> str:
        """These filters as a URL query, with `changes` applied (None drops a key)."""
        data = self.valid_data
        params = {k: v for k, v in data.items() if v not in (None, "", False)}
        params.update(changes)
        params = {k: ("1" if v is True else v) for k, v in params.items() if v not in (None, "", False)}
        return urlencode(params)

    @property
    def newest_query(self) -> str:
        """The same filters from the first page."""
        return self.query_string(before=None)

    @property
    def is_filtered(self) -> bool:
        data = self.valid_data
        return any(
            data.get(k)
            for k in (
                "q",
                "model",
                "creator",
                "state",
                "sound",
                "review",
                "starred",
                "unresolved",
                "collection",
            )
        )


def with_review(rows: GenerationQuerySet) -> GenerationQuerySet:
    """Cards with their review status, comment count and unresolved threads, in the same query."""
    return review_comments.with_comment_counts(review_status.with_status(rows))


def search(rows: GenerationQuerySet, words: list[str]) -> GenerationQuerySet:
    """Rows whose prompt contains every word (anywhere, any case), using the engine's index.

    Both engines index trigrams (migration 0003), so a word of three characters or more narrows
    the search to matching rows before anything is read, instead of testing every prompt.
    Shorter words cannot use trigrams and are tested on the rows the longer words left.
    """
    if not words:
        return rows
    if connection.vendor == "sqlite":
        indexed = [word for word in words if len(word) >= TRIGRAM]
        if indexed:
            # FTS5 phrases in double quotes are taken literally (a quote inside is doubled).
            match = " ".join('"' + word.replace('"', '""') + '"' for word in indexed)
            rows = rows.filter(pk__in=RawSQL(FTS_MATCH, [match]))  # noqa: S611
        words = [word for word in words if len(word) < TRIGRAM]
    # PostgreSQL: icontains compares UPPER(prompt), which is the trigram index's own expression.
    for word in words:
        rows = rows.filter(prompt__icontains=word)
    return rows


@dataclass(frozen=True)
class GalleryPage:
    cards: list[Generation]
    has_more: bool
    filters: GalleryFilters

    @property
    def next_query(self) -> str:
        return self.filters.query_string(before=self.cards[-1].pk) if self.cards else ""

    @property
    def is_first(self) -> bool:
        return not self.filters.valid_data.get("before")


def polled_ids(query: QueryDict) -> list[int]:
    """The in-progress cards a page names (its hidden `active` fields), at most POLL_MAX of them."""
    return [pk for value in query.getlist("active")[:POLL_MAX] if (pk := parse_id(value)) is not None]


def page_polls(cards: list[Generation], query: QueryDict) -> bool:
    """Whether the page's one poll should run after these cards arrive.

    A "Load more" request names the in-progress cards already on the page, so a page whose
    poll had stopped starts it again for newly loaded in-progress cards, and one whose
    new cards are all finished keeps the poll its earlier cards still need.
    """
    if any(g.is_active for g in cards):
        return True
    ids = polled_ids(query)
    return bool(ids) and Generation.objects.active().filter(pk__in=ids).exists()
