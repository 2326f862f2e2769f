"""The pages of a generation: Generate, a video's own page and its status fragment, delete and download."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from playground.gallery.models import Collection
from playground.generations import apicode, details, poll, presets, references
from playground.generations.forms import GenerateForm, continue_initial, remix_initial
from playground.generations.models import Generation, State
from playground.generations.pages import generate_page
from playground.lib import videofiles
from playground.lib.http import AuthenticatedHttpRequest, wants_fragment
from playground.lib.ids import query_id
from playground.lib.media import serve_stored_file
from playground.lib.models import WorkerHeartbeat
from playground.notify import notifications
from playground.pictures import uploads
from playground.pictures.staging import Staging
from playground.review import comments as review_comments
from playground.review import status as review_status
from playground.review import views as review_views


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
        remixed: Generation | None = None
        if source_pk := query_id(request, "remix"):
            remixed = get_object_or_404(Generation, pk=source_pk)
            initial |= remix_initial(remixed)
        if preset_pk := query_id(request, "preset"):
            initial |= presets.preset_initial(get_object_or_404(presets.team_presets(), pk=preset_pk))
        if continue_pk := query_id(request, "continue"):
            initial |= continue_initial(get_object_or_404(Generation, pk=continue_pk, state=State.READY))
        form = GenerateForm(initial=initial, user=request.user, staging=staging)
        if remixed is not None:
            # The same take settings: its references come with it, each a kept file of this person's.
            for sentence in form.carry_references(remixed):
                messages.warning(request, sentence)
        if "continue_from" in initial:
            return generate_page(request, form, continue_problems=form.check_continued(staging))
    token = form["staged_first_frame"].value() if form.is_bound else ""
    last_token = form["staged_last_frame"].value() if form.is_bound else ""
    return generate_page(
        request,
        form,
        chosen=staging.chosen(token) if token else None,
        last_chosen=staging.chosen(last_token) if last_token else None,
    )


def _landing(gen: Generation) -> str:
    """Where a submit lands: the batch page for several takes, the video's own page for one."""
    if gen.batch_id is not None and gen.batch and gen.batch.size > 1:
        return gen.batch.get_absolute_url()
    return gen.get_absolute_url()


def _same_submission(request: AuthenticatedHttpRequest) -> Generation | None:
    try:
        token = uuid.UUID(request.POST.get("submission_token", ""))
    except ValueError:
        return None
    return Generation.objects.filter(submission_token=token, created_by=request.user.pk).first()


@require_GET
@vary_on_headers("HX-Request")
def generation(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    fragment = wants_fragment(request)
    # The status fragment is polled every 2 s by everyone watching: it needs the row alone.
    rows = Generation.objects.all() if fragment else Generation.objects.with_stars_for(request.user)
    gen = get_object_or_404(rows, pk=pk)
    context: dict[str, Any] = {
        "generation": gen,
        "worker_missing": gen.state == State.QUEUED and not WorkerHeartbeat.someone_alive(),
        # While the job runs, the page polls with a token the next polls are answered by without
        # the session (generations/poll.py); an ordinary poll (a token expired) hands out a new one.
        "page_url": gen.get_absolute_url(),
        "poll_url": poll.issue(request, gen) if gen.is_active else gen.get_absolute_url(),
    }
    if fragment:
        context["fragment"] = True
        return render(request, "playground/generation.html#status", context)
    context |= {
        "can_delete": gen.can_be_deleted_by(request.user),
        "takes": _other_takes(gen),
        "api_code": apicode.for_generation(gen),
        "request_lines": details.lines(gen),
        "in_collections": list(Collection.objects.filter(entries__generation=gen).order_by("name")),
        "collections": list(Collection.objects.order_by("name", "id")),
        "in_sequence": gen.continues_id is not None or gen.continuations.exists(),
        "notify_on": notifications.wants_notifications(request.user),
    }
    if gen.state == State.READY:
        context |= review_views.page_context(gen, request)
    return render(request, "playground/generation.html", context)


def _other_takes(gen: Generation) -> list[Generation]:
    if not gen.first_frame_sha256:
        return []
    # Each take with its review status and comment count beside it (in the same query).
    rows = Generation.objects.filter(first_frame_sha256=gen.first_frame_sha256, state=State.READY)
    others = (
        review_comments.with_comment_counts(review_status.with_status(rows))
        .exclude(pk=gen.pk)
        .select_related("created_by")
        .order_by("-created_at")[:3]
    )
    return list(others)


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
            *references.file_names([gen.pk]),
        )
        gen.delete()
        # Files go after the row: a crash in between leaves an orphan file for `orphans`
        # to find, never a row pointing at a missing file.
        transaction.on_commit(lambda: videofiles.delete_files(*files))
        messages.success(request, f"Video #{pk} was deleted.")
        return redirect("gallery")
    return render(request, "playground/delete.html", {"generation": gen})


@require_safe
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    gen = get_object_or_404(Generation, pk=pk, state=State.READY)
    return serve_stored_file(request, gen.video.name, download_as=gen.download_name)
