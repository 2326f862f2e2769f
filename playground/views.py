from __future__ import annotations

import mimetypes
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from playground import batches, pictures, presets
from playground.forms import GenerateForm, continue_initial, initial_from_post, remix_initial
from playground.gallery.collections import CollectionFilters
from playground.gallery.filters import GalleryFilters, page_polls, polled_ids
from playground.lib import ids, linkfetch, videofiles
from playground.lib.http import AuthenticatedHttpRequest, HtmxHttpRequest
from playground.lib.media import serve_stored_file
from playground.models import Collection, Generation, Star, State, WorkerHeartbeat, allowance_for
from playground.money import budgets
from playground.money.usage import month_usage
from playground.notify import notifications
from playground.pictures import batch_pictures, fixing, uploads
from playground.pictures.staging import Staging
from playground.upstream import apicode, catalogue


def site_context(request: HttpRequest) -> dict[str, Any]:
    return {"demo_mode": settings.DEMO_MODE}


def _wants_fragment(request: HtmxHttpRequest) -> bool:
    # A history restore asks for the whole page even though htmx sent it.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("gallery")


@require_http_methods(["GET", "POST"])
def generate(request: AuthenticatedHttpRequest) -> HttpResponse:
    staging = Staging(request.user)
    if request.method == "POST":
        existing = _same_submission(request)
        if existing:
            return redirect(_landing(existing))
        form = GenerateForm(
            request.POST,
            request.FILES,
            user=request.user,
            staging=staging,
            upload_too_large=uploads.too_large(request),
        )
        if form.is_valid() and (gen := form.save()):
            return redirect(_landing(gen))
        form.offer_fixes()
    else:
        initial: dict[str, Any] = {"submission_token": uuid.uuid4()}
        if source_pk := _query_id(request, "remix"):
            initial |= remix_initial(get_object_or_404(Generation, pk=source_pk))
        if preset_pk := _query_id(request, "preset"):
            initial |= presets.preset_initial(get_object_or_404(presets.team_presets(), pk=preset_pk))
        if continue_pk := _query_id(request, "continue"):
            initial |= continue_initial(get_object_or_404(Generation, pk=continue_pk, state=State.READY))
        form = GenerateForm(initial=initial, user=request.user)
        if "continue_from" in initial:
            return _generate_page(request, form, continue_problems=form.check_continued(staging))
    token = form["staged_first_frame"].value() if form.is_bound else ""
    last_token = form["staged_last_frame"].value() if form.is_bound else ""
    return _generate_page(
        request,
        form,
        chosen=staging.chosen(token) if token else None,
        last_chosen=staging.chosen(last_token) if last_token else None,
    )


def _query_id(request: HttpRequest, name: str) -> int | None:
    """The id a query names (None when it names none); one that is not an id is not found."""
    value = request.GET.get(name, "")
    if not value:
        return None
    found = ids.parse_id(value)
    if found is None:
        raise Http404(f"No such {name}.")
    return found


def _landing(gen: Generation) -> str:
    """Where a submit lands: the batch page for several takes, the video's own page for one."""
    if gen.batch_id is not None and gen.batch and gen.batch.size > 1:
        return gen.batch.get_absolute_url()
    return gen.get_absolute_url()


def _generate_page(request: AuthenticatedHttpRequest, form: GenerateForm, **extra: Any) -> HttpResponse:
    allowance = allowance_for(request.user)
    batch = extra.pop("batch", form.batch)
    context = {
        "form": form,
        "reused": form.reused_generation(),
        "reused_last": form.reused_last_generation(),
        "continued": form.continued_generation(),
        "allowance": allowance,
        "plan": batches.plan_words(
            form.planned_model(), form.planned_count(None if batch is None else len(batch)), allowance
        ),
        "batch": batch,
        "budget": budgets.person_budget(request.user),
        "estimates": budgets.estimates(),
        "offer": form.offer,
        "last_offer": form.last_offer,
        # Which fields each model takes, for the page's script (catalogue.py is the one source).
        "models": catalogue.browser_data(),
        "chosen_model": form.chosen_model(),
        # The browser checks the same limits before uploading; the server stays the judge.
        "rules": fixing.browser_rules(),
        "presets": presets.team_presets(),
        **extra,
    }
    return render(request, "playground/generate.html", context)


@require_POST
def apply_fix(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A one-click fix was chosen: make it, then show the form again with the fixed picture.

    Its own URL: the "Use this" buttons post here (formaction= without JavaScript, hx-post with).
    The last frame's fix buttons carry their own name, so its choice also works without JavaScript.
    """
    staging = Staging(request.user)
    if "apply_batch_fix" in request.POST:
        batch = batch_pictures.with_fix(
            staging, request.POST.getlist("batch_picture"), request.POST["apply_batch_fix"]
        )
        return _batch_answer(request, batch)
    slot = "last_frame" if request.POST.get("apply_last_fix") else "first_frame"
    staged_id, _, key = request.POST.get(
        "apply_last_fix" if slot == "last_frame" else "apply_fix", ""
    ).partition(":")
    chosen = None
    problem = ""
    try:
        chosen = staging.choose(staged_id, key)
    except pictures.ImageRejected as exc:
        problem = " ".join(exc.messages)
    if request.htmx:
        return render(
            request, "playground/generate.html#chosen", {"chosen": chosen, "problem": problem, "slot": slot}
        )
    form = GenerateForm(initial=initial_from_post(request.POST), user=request.user)
    if slot == "last_frame":
        return _generate_page(request, form, last_chosen=chosen, last_problem=problem)
    return _generate_page(request, form, chosen=chosen, problem=problem)


@require_POST
def remove_picture(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Leave one picture out of a batch the page came back with; the others stay as they were."""
    batch = batch_pictures.without(
        Staging(request.user), request.POST.getlist("batch_picture"), request.POST.get("remove_picture", "")
    )
    return _batch_answer(request, batch, removed=True)


def _batch_answer(
    request: AuthenticatedHttpRequest, batch: list[batch_pictures.Item], *, removed: bool = False
) -> HttpResponse:
    """The batch's list alone for htmx, else the whole form again with it (nothing is checked yet)."""
    if request.htmx:
        context = {"batch": batch, "batch_removed": removed}
        return render(request, "playground/generate.html#batch", context)
    form = GenerateForm(initial=initial_from_post(request.POST), user=request.user)
    return _generate_page(request, form, batch=batch, batch_removed=removed)


def _slot(request: HttpRequest) -> str:
    """Which picture a check is for: the last frame when that is what was sent."""
    return (
        "last_frame" if "last_frame" in request.FILES or "last_frame_link" in request.POST else "first_frame"
    )


@require_POST
@uploads.fix_upload_limit
def check_frame(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Check a picked file or a link on the server and offer fixes, before the form is sent."""
    staging = Staging(request.user)
    slot = _slot(request)
    upload = request.FILES.get(slot)
    link = request.POST.get("image_link" if slot == "first_frame" else "last_frame_link", "").strip()
    context: dict[str, Any] = {"messages_": [], "offer": None, "fine": None, "slot": slot}
    try:
        if uploads.too_large(request):
            raise pictures.ImageRejected(pictures.TOO_LARGE_TO_FIX)
        if upload:
            data = upload.read(pictures.MAX_INPUT_BYTES + 1)
        elif link:
            data = linkfetch.fetch_image(link)
        else:
            raise pictures.ImageRejected("Choose a picture or give a link first.")
        try:
            context["fine"] = pictures.check_image(data)
        except pictures.ImageRejected as exc:
            context["messages_"] = exc.messages
            try:
                context["offer"] = staging.offer(data, exc.messages)
            except fixing.FixerBusy as busy:
                context["messages_"] = exc.messages + busy.messages
                context["busy"] = True
    except pictures.ImageRejected as exc:
        context["messages_"] = exc.messages
    except linkfetch.LinkRejected as exc:
        context["messages_"] = [exc.message]
    return render(request, "playground/generate.html#checked", context)


@require_GET
def staged_image(request: AuthenticatedHttpRequest, staged_id: str, name: str) -> HttpResponseBase:
    """A staged picture or a fix's preview, for the person who staged it only."""
    staging = Staging(request.user)
    if not staging.owns(staged_id):
        raise Http404("No such picture.")
    if name.startswith("preview-"):
        try:
            data = staging.preview(staged_id, name.removeprefix("preview-").removesuffix(".jpg"))
        except fixing.FixerBusy:
            return HttpResponse("Busy, try again in a moment.", status=503, headers={"Retry-After": "5"})
        except pictures.ImageRejected as exc:
            raise Http404("No such fix.") from exc
        response: HttpResponseBase = HttpResponse(data, content_type="image/jpeg")
    else:
        try:
            stored = default_storage.open(staging.stored_name(staged_id, name), "rb")
        except (FileNotFoundError, OSError, ValueError) as exc:
            raise Http404("No such picture.") from exc
        kind = staging.original_type(staged_id) if name == "original" else mimetypes.guess_type(name)[0]
        response = FileResponse(stored, content_type=kind or "application/octet-stream")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _same_submission(request: AuthenticatedHttpRequest) -> Generation | None:
    try:
        token = uuid.UUID(request.POST.get("submission_token", ""))
    except ValueError:
        return None
    return Generation.objects.filter(submission_token=token, created_by=request.user.pk).first()


@require_GET
@vary_on_headers("HX-Request")
def gallery(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = GalleryFilters(request.GET, user=request.user)
    page = filters.page()
    context = {"filters": filters, "page": page, "polling": page_polls(page.cards, request.GET)}
    if not _wants_fragment(request):
        return render(request, "playground/gallery.html", context)
    response = render(request, "playground/gallery.html#results", context)
    if request.htmx.trigger == "filters":
        # The address bar gets the tidy form of the filters (no empty fields), ready to share;
        # the same address again (a control left without changing anything) adds no Back step.
        address = f"{reverse('gallery')}?{filters.query_string()}".rstrip("?")
        push_url(response, False if address == request.htmx.current_url_abs_path else address)
    return response


@require_GET
def gallery_cards(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The page's one poll: the in-progress cards it names, swapped in out of band.

    A collection's page names its collection (and its filters), so the cards come back with
    that page's own tools (the order buttons) rather than the gallery's.
    """
    cards = list(Generation.objects.with_stars_for(request.user).filter(pk__in=polled_ids(request.GET)))
    context: dict[str, Any] = {"cards": cards, "polled": True, "polling": any(g.is_active for g in cards)}
    if collection_pk := _query_id(request, "collection"):
        collection = get_object_or_404(Collection, pk=collection_pk)
        filters = CollectionFilters(request.GET, user=request.user, collection=collection)
        context |= {"in_collection": collection, "filters": filters}
    return render(request, "playground/gallery.html#polled", context)


@require_GET
def gallery_card(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation.objects.with_stars_for(request.user), pk=pk)
    return render(request, "playground/gallery.html#card", {"generation": gen})


@require_GET
@vary_on_headers("HX-Request")
def generation(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    fragment = _wants_fragment(request)
    # The status fragment is polled every 2 s by everyone watching: it needs the row alone.
    rows = Generation.objects.all() if fragment else Generation.objects.with_stars_for(request.user)
    gen = get_object_or_404(rows, pk=pk)
    context: dict[str, Any] = {
        "generation": gen,
        "worker_missing": gen.state == State.QUEUED and not WorkerHeartbeat.someone_alive(),
    }
    if fragment:
        context["fragment"] = True
        return render(request, "playground/generation.html#status", context)
    context |= {
        "can_delete": gen.can_be_deleted_by(request.user),
        "takes": _other_takes(gen),
        "api_code": apicode.for_generation(gen),
        "in_collections": list(Collection.objects.filter(entries__generation=gen).order_by("name")),
        "collections": list(Collection.objects.order_by("name", "id")),
        "in_sequence": gen.continues_id is not None or gen.continuations.exists(),
        "notify_on": notifications.wants_notifications(request.user),
    }
    return render(request, "playground/generation.html", context)


def _other_takes(gen: Generation) -> list[Generation]:
    if not gen.first_frame_sha256:
        return []
    others = (
        Generation.objects.filter(first_frame_sha256=gen.first_frame_sha256, state=State.READY)
        .exclude(pk=gen.pk)
        .select_related("created_by")
        .order_by("-created_at")[:3]
    )
    return list(others)


@require_POST
def star(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation, pk=pk)
    with transaction.atomic():
        deleted, _ = Star.objects.filter(user=request.user.pk, generation=gen).delete()
        if not deleted:
            Star.objects.get_or_create(user=request.user, generation=gen)
    gen.starred = not deleted  # type: ignore[attr-defined]
    if request.htmx:
        return render(request, "playground/generation.html#star", {"generation": gen})
    return redirect(gen)


@require_http_methods(["GET", "POST"])
def delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation.objects.select_related("created_by"), pk=pk)
    if not gen.can_be_deleted_by(request.user):
        raise PermissionDenied("Only the person who made this video, or an admin, can delete it.")
    if request.method == "POST":
        files = (
            gen.first_frame.name,
            gen.end_frame.name,
            gen.video.name,
            gen.poster.name,
            gen.last_frame.name,
        )
        gen.delete()
        # Files go after the row: a crash in between leaves an orphan file for `orphans`
        # to find, never a row pointing at a missing file.
        transaction.on_commit(lambda: videofiles.delete_files(*files))
        messages.success(request, f"Video #{pk} was deleted.")
        return redirect("gallery")
    return render(request, "playground/delete.html", {"generation": gen})


@require_GET
def usage(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = {
        "months": [month_usage(0), month_usage(1)],
        "allowance": allowance_for(request.user),
        "budget": budgets.person_budget(request.user),
        "team_budget": budgets.team_budget(),
    }
    return render(request, "playground/usage.html", context)


@require_safe
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    gen = get_object_or_404(Generation, pk=pk, state=State.READY)
    return serve_stored_file(request, gen.video.name, download_as=gen.download_name)


@require_safe
def media(request: HttpRequest, name: str) -> HttpResponseBase:
    return serve_stored_file(request, name)
