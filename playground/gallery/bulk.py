"""Actions on many videos at once, from the gallery's or a collection's select mode.

Each action is one POST to its own URL and runs in one transaction, so it happens to every
selected video or to none. It answers with one exact sentence of what it did ("Starred 12
videos; 3 were already starred."). Videos deleted by someone else since the page was shown are
left out and counted, not treated as an error. Rights are checked here, on the server: deleting
a video that is neither yours nor allowed by staff refuses the whole request with 403.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from playground.gallery.collections import CollectionFull, add_videos, remove_videos
from playground.gallery.models import Collection, Star
from playground.generations import references
from playground.generations.models import Generation
from playground.lib import videofiles
from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.ids import parse_id

# A selection is made page by page in the browser; this bounds what one request may touch.
MAX_SELECTION = 500


def videos(n: int) -> str:
    return f"{n} video" if n == 1 else f"{n} videos"


def were(n: int) -> str:
    return "was" if n == 1 else "were"


class Selection(forms.Form):
    ids = forms.CharField(required=False)  # the checkboxes' values, read with getlist in clean
    next = forms.CharField(required=False, max_length=2000)

    def __init__(self, data: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.raw_ids: list[str] = data.getlist("ids") if data is not None else []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        read = [parse_id(value) for value in self.raw_ids]
        if None in read:
            raise forms.ValidationError("The selection was not understood; reload the page and try again.")
        ids = list(dict.fromkeys(pk for pk in read if pk is not None))
        if not ids:
            raise forms.ValidationError("Select at least one video first.")
        if len(ids) > MAX_SELECTION:
            raise forms.ValidationError(
                f"{len(ids)} videos are selected; one action can take at most {MAX_SELECTION}. "
                "Select fewer and do it in parts."
            )
        cleaned["ids"] = ids
        return cleaned


def _selection(request: AuthenticatedHttpRequest) -> tuple[Selection, str]:
    form = Selection(request.POST)
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=False)
    back = wanted if wanted.startswith("/") and safe else "/gallery/"
    return form, back


def _refuse(request: AuthenticatedHttpRequest, form: Selection, back: str) -> HttpResponse:
    for error in form.non_field_errors():
        messages.error(request, str(error))
    return redirect(back)


@require_POST
def star(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, back = _selection(request)
    if not form.is_valid():
        return _refuse(request, form, back)
    ids: list[int] = form.cleaned_data["ids"]
    with transaction.atomic():
        existing = set(Generation.objects.filter(pk__in=ids).values_list("pk", flat=True))
        already = set(
            Star.objects.filter(user=request.user.pk, generation__in=existing).values_list(
                "generation_id", flat=True
            )
        )
        Star.objects.bulk_create(
            [Star(user=request.user, generation_id=pk) for pk in existing - already],
            ignore_conflicts=True,
        )
    sentence = f"Starred {videos(len(existing - already))}"
    if already:
        sentence += f"; {len(already)} {were(len(already))} already starred"
    messages.success(request, sentence + _gone(len(ids) - len(existing)) + ".")
    return redirect(back)


def _gone(n: int) -> str:
    return f"; {n} {were(n)} deleted by someone meanwhile" if n else ""


def _collection(request: AuthenticatedHttpRequest) -> Collection:
    pk = parse_id(request.POST.get("collection", ""))
    if pk is None:
        raise Http404("Choose a collection.")
    return get_object_or_404(Collection, pk=pk)


@require_POST
def add_to_collection(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, back = _selection(request)
    if not form.is_valid():
        return _refuse(request, form, back)
    collection = _collection(request)
    ids: list[int] = form.cleaned_data["ids"]
    try:
        with transaction.atomic():
            existing = list(Generation.objects.filter(pk__in=ids).values_list("pk", flat=True))
            # Kept in the order posted, which is the order they join in: select.js posts the order
            # the boxes were ticked in; without the script the browser sends the order shown.
            order = {pk: i for i, pk in enumerate(ids)}
            added, already = add_videos(collection, sorted(existing, key=order.__getitem__), request.user)
    except CollectionFull as exc:
        messages.error(request, str(exc))
        return redirect(back)
    # Say where they went, with a way there: new entries always go after the collection's last one.
    where = format_html('<a href="{}">“{}”</a>', collection.get_absolute_url(), collection.name)
    if added:
        sentence = format_html("Added {} to the end of {}", videos(added), where)
    else:
        sentence = format_html("Nothing was added to {}", where)
    rest = f"; {already} {were(already)} already in it" if already else ""
    messages.success(request, format_html("{}{}{}.", sentence, rest, _gone(len(ids) - len(existing))))
    return redirect(back)


@require_POST
def remove_from_collection(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, back = _selection(request)
    if not form.is_valid():
        return _refuse(request, form, back)
    collection = _collection(request)
    with transaction.atomic():
        removed, absent = remove_videos(collection, form.cleaned_data["ids"])
    sentence = f"Removed {videos(removed)} from “{collection.name}”"
    if absent:
        sentence += f"; {absent} {were(absent)} not in it"
    messages.success(request, sentence + ". The videos themselves are kept.")
    return redirect(back)


def whose(rows: list[Generation], user: User, *, sentence: bool = False) -> str:
    """Who made the videos, yours first: "3 yours, 2 by bob" (or "3 are yours and 2 are by bob")."""
    counts = Counter(
        ""
        if g.created_by_id == user.pk
        else (g.created_by.get_username() if g.created_by else "a former member")
        for g in rows
    )
    groups = sorted(counts.items(), key=lambda item: (item[0] != "", -item[1], item[0]))
    if not sentence:
        return ", ".join(f"{n} yours" if not name else f"{n} by {name}" for name, n in groups)
    parts = [
        f"{n} {'is' if n == 1 else 'are'} " + ("yours" if not name else f"by {name}") for name, n in groups
    ]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


@require_POST
def delete(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Without `confirm`: the one confirmation page. With it: delete them all, or none (403)."""
    form, back = _selection(request)
    if not form.is_valid():
        return _refuse(request, form, back)
    ids: list[int] = form.cleaned_data["ids"]
    rows = list(Generation.objects.filter(pk__in=ids).select_related("created_by"))
    allowed = [g for g in rows if g.can_be_deleted_by(request.user)]
    kept = [g for g in rows if not g.can_be_deleted_by(request.user)]
    if request.POST.get("confirm") != "yes":
        context = {
            "allowed": allowed,
            "kept": kept,
            "whose": whose(allowed, request.user, sentence=True),
            "kept_whose": whose(kept, request.user),
            "active": sum(g.is_active for g in allowed),
            "back": back,
            "gone": len(ids) - len(rows),
        }
        return render(request, "playground/bulk_delete.html", context)
    if kept:
        raise PermissionDenied(
            f"{videos(len(kept))} of these {were(len(kept))} made by someone else; only their maker "
            "or an admin can delete them. Nothing was deleted."
        )
    files: list[str] = []
    with transaction.atomic():
        for g in rows:
            files += [g.first_frame.name, g.video.name, g.poster.name]
        files += references.file_names([g.pk for g in rows])
        Generation.objects.filter(pk__in=[g.pk for g in rows]).delete()
    # As for a single delete: files after the rows, so a crash leaves orphans, never dangling rows.
    transaction.on_commit(lambda: videofiles.delete_files(*files))
    sentence = f"Deleted {videos(len(rows))}" + (f" ({whose(rows, request.user)})" if rows else "")
    messages.success(request, sentence + _gone(len(ids) - len(rows)) + ".")
    return redirect(back)


@require_POST
def download(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    from playground.gallery import zipdownload

    form, back = _selection(request)
    if not form.is_valid():
        return _refuse(request, form, back)
    ids: list[int] = form.cleaned_data["ids"]
    found = (
        Generation.objects.filter(pk__in=ids, state="ready").exclude(video="").select_related("created_by")
    )
    # The order on the page (the checkboxes' order), so a collection's zip follows the team's order.
    order = {pk: i for i, pk in enumerate(ids)}
    rows = sorted(found, key=lambda g: order[g.pk])
    if not rows:
        messages.error(request, "None of the selected videos is ready to download.")
        return redirect(back)
    try:
        return zipdownload.zip_response(request, rows)
    except zipdownload.TooBusy as exc:
        # 503 with Retry-After, so scripts and proxies know to come back; a person sees the sentence.
        busy: HttpResponse
        if request.htmx:
            busy = HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
        else:
            busy = render(
                request, "playground/zip_busy.html", {"sentence": str(exc), "back": back}, status=503
            )
        busy["Retry-After"] = str(zipdownload.RETRY_AFTER_SECONDS)
        return busy
