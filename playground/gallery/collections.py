"""Collections: the team's named, ordered sets of videos, and the pages that show and change them.

A collection belongs to the team: every member sees it and may add or remove videos; only its
maker or staff rename or delete it, and deleting it removes the entries, never a video. The order
is the entries' `position`; every change of order locks the collection's row first, so two people
dragging at once take turns instead of writing interleaved positions. A collection holds at most
MAX_VIDEOS videos, which bounds what one reorder rewrites.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from playground.gallery.filters import GalleryFilters, page_polls
from playground.gallery.models import Collection, CollectionEntry
from playground.generations.models import Generation
from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.ids import parse_id

MAX_VIDEOS = 1000
PAGE_SIZE = 48


def videos_in_order(collection: Collection, rows: QuerySet[Generation] | None = None) -> QuerySet[Generation]:
    """The collection's videos (of `rows`, default all) in the team's order, each with its `position`.

    This is the one definition of a collection's order; anything that plays or exports a
    collection in sequence should start from it.
    """
    rows = Generation.objects.all() if rows is None else rows
    return (
        rows.filter(collection_entries__collection=collection)
        .annotate(position=F("collection_entries__position"))
        .order_by("position", "collection_entries__id")
    )


def add_videos(collection: Collection, ids: list[int], user: User) -> tuple[int, int]:
    """Append the videos to the end, in the order given; (added, already there)."""
    with transaction.atomic():
        Collection.objects.select_for_update().filter(pk=collection.pk).first()
        present = set(collection.entries.filter(generation__in=ids).values_list("generation_id", flat=True))
        new = [pk for pk in dict.fromkeys(ids) if pk not in present]
        size = collection.entries.count()
        if size + len(new) > MAX_VIDEOS:
            raise CollectionFull(
                f"“{collection.name}” holds {size} videos; adding {len(new)} more would pass "
                f"the limit of {MAX_VIDEOS} videos in one collection."
            )
        top = collection.entries.aggregate(m=Max("position"))["m"]
        start = -1 if top is None else top
        CollectionEntry.objects.bulk_create(
            CollectionEntry(collection=collection, generation_id=pk, position=start + 1 + i, added_by=user)
            for i, pk in enumerate(new)
        )
        return len(new), len(present)


def remove_videos(collection: Collection, ids: list[int]) -> tuple[int, int]:
    """(removed, not in it)."""
    removed, _ = collection.entries.filter(generation__in=ids).delete()
    return removed, len(set(ids)) - removed


class CollectionFull(Exception):
    pass


def move(
    collection: Collection,
    pk: int,
    *,
    direction: str = "",
    before: int | None = None,
    after: int | None = None,
) -> int | None:
    """Move video `pk` one place earlier/later, or just before `before` / after `after` (else to the end).

    Returns its new index (0-based), or None when the video is not in the collection.
    Positions are rewritten as 0..n-1, so gaps left by removals close up.
    """
    with transaction.atomic():
        Collection.objects.select_for_update().filter(pk=collection.pk).first()
        entries = list(collection.entries.order_by("position", "id"))
        order = [e.generation_id for e in entries]
        if pk not in order:
            return None
        index = order.index(pk)
        order.pop(index)
        if direction == "earlier":
            index = max(0, index - 1)
        elif direction == "later":
            index = min(len(order), index + 1)
        elif before in order:
            index = order.index(before)
        elif after in order:
            index = order.index(after) + 1
        else:
            index = len(order)
        order.insert(index, pk)
        new_position = {gen: i for i, gen in enumerate(order)}
        changed = [e for e in entries if e.position != new_position[e.generation_id]]
        for e in changed:
            e.position = new_position[e.generation_id]
        CollectionEntry.objects.bulk_update(changed, ["position"], batch_size=500)
        return index


# --- Forms ---------------------------------------------------------------------------------


class CollectionForm(forms.ModelForm[Collection]):
    class Meta:
        model = Collection
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"description": "Optional: what the collection is for."}

    def clean_name(self) -> str:
        name: str = " ".join(self.cleaned_data["name"].split())
        clash = Collection.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).first()
        if clash:
            raise forms.ValidationError(
                f"There is already a collection called “{clash.name}”. Pick another name."
            )
        return name


class CollectionFilters(GalleryFilters):
    """The gallery's filters inside one collection: same fields, the collection's order and paging."""

    after = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, collection: Collection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_collection = collection
        del self.fields["collection"]
        del self.fields["before"]

    def filtered(self) -> Any:
        ordered = videos_in_order(self.in_collection, super().filtered())
        data = self.valid_data
        if data.get("after") is not None:
            # `position` is the annotation videos_in_order adds (on the same join).
            ordered = ordered.filter(**{"position__gt": data["after"]})
        return ordered

    def page(self) -> CollectionPage:  # type: ignore[override]
        rows = list(self.filtered()[: PAGE_SIZE + 1])
        return CollectionPage(cards=rows[:PAGE_SIZE], has_more=len(rows) > PAGE_SIZE, filters=self)

    @property
    def newest_query(self) -> str:
        return self.query_string(after=None)


class CollectionPage:
    def __init__(self, cards: list[Generation], has_more: bool, filters: CollectionFilters) -> None:
        self.cards = cards
        self.has_more = has_more
        self.filters = filters

    @property
    def next_query(self) -> str:
        last: Any = self.cards[-1] if self.cards else None
        return self.filters.query_string(after=last.position) if last else ""

    @property
    def is_first(self) -> bool:
        return self.filters.valid_data.get("after") is None


# --- Views ---------------------------------------------------------------------------------


@require_GET
def collection_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _list_page(request, CollectionForm())


@require_POST
def collection_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = CollectionForm(request.POST)
    if form.is_valid():
        form.instance.created_by = request.user
        try:
            with transaction.atomic():
                collection = form.save()
        except IntegrityError:
            form.add_error("name", "There is already a collection with this name. Pick another name.")
        else:
            messages.success(request, f"Made the collection “{collection.name}”.")
            return redirect(collection)
    return _list_page(request, form, status=400)


def _list_page(request: AuthenticatedHttpRequest, form: CollectionForm, status: int = 200) -> HttpResponse:
    rows = Collection.objects.select_related("created_by").annotate(size=Count("entries"))
    return render(request, "playground/collections.html", {"collections": rows, "form": form}, status=status)


@require_GET
@vary_on_headers("HX-Request")
def collection_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    collection = get_object_or_404(Collection.objects.select_related("created_by"), pk=pk)
    filters = CollectionFilters(request.GET, user=request.user, collection=collection)
    context = _page_context(request, collection, filters)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "playground/collection.html#results", context)
    return render(request, "playground/collection.html", context)


def _page_context(
    request: AuthenticatedHttpRequest, collection: Collection, filters: CollectionFilters
) -> dict[str, Any]:
    page = filters.page()
    return {
        "collection": collection,
        "filters": filters,
        "page": page,
        "polling": page_polls(page.cards, request.GET),
        "in_collection": collection,
        "can_change": collection.can_be_changed_by(request.user),
        "collections": filters.collections,
        "size": collection.entries.count(),
    }


@require_http_methods(["GET", "POST"])
def collection_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    collection = get_object_or_404(Collection, pk=pk)
    if not collection.can_be_changed_by(request.user):
        raise PermissionDenied("Only the person who made this collection, or an admin, can rename it.")
    form = CollectionForm(request.POST or None, instance=collection)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            form.add_error("name", "There is already a collection with this name. Pick another name.")
        else:
            messages.success(request, f"Saved the collection “{collection.name}”.")
            return redirect(collection)
    return render(request, "playground/collection_edit.html", {"collection": collection, "form": form})


@require_http_methods(["GET", "POST"])
def collection_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    collection = get_object_or_404(Collection, pk=pk)
    if not collection.can_be_changed_by(request.user):
        raise PermissionDenied("Only the person who made this collection, or an admin, can delete it.")
    size = collection.entries.count()
    if request.method == "POST":
        collection.delete()
        messages.success(
            request,
            f"Deleted the collection “{collection.name}”. Its {_videos(size)} are still in the gallery.",
        )
        return redirect("collections")
    return render(request, "playground/collection_delete.html", {"collection": collection, "size": size})


@require_POST
def collection_move(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Keyboard buttons send a direction; dropping a dragged card sends the card it lands before or after."""
    collection = get_object_or_404(Collection, pk=pk)
    video = parse_id(request.POST.get("video", ""))
    if video is None:
        return HttpResponse("Say which video to move.", status=400, content_type="text/plain")
    near = {name: parse_id(request.POST[name]) for name in ("before", "after") if request.POST.get(name)}
    if None in near.values():
        return HttpResponse("Say which video to put it next to.", status=400, content_type="text/plain")
    direction = request.POST.get("direction", "")
    index = move(collection, video, direction=direction, before=near.get("before"), after=near.get("after"))
    if index is None:
        return HttpResponse("That video is not in this collection.", status=404, content_type="text/plain")
    total = collection.entries.count()
    note = f"Moved to place {index + 1} of {total}."
    if request.htmx:
        filters = CollectionFilters(request.GET, user=request.user, collection=collection)
        context = _page_context(request, collection, filters) | {
            "moved": video,
            "direction": direction,
            "note": note,
        }
        return render(request, "playground/collection.html#results", context)
    messages.success(request, note)
    return redirect(f"{reverse('collection', args=[pk])}#card-{video}")


def _videos(n: int) -> str:
    return f"{n} video" if n == 1 else f"{n} videos"
