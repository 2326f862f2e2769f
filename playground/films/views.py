"""Pages for a sequence: its clips back to back, and the one-MP4 export the worker makes."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from playground.films import sequences
from playground.films.sequences import ExportState, SequenceExport
from playground.generations.models import Generation
from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.media import serve_stored_file


@require_GET
def sequence(request: HttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation, pk=pk)
    clips = sequences.chain_of(gen)
    context = {
        "generation": gen,
        "clips": clips,
        "total": sum(clip.duration or 0 for clip in clips),
        "max_clips": sequences.MAX_CLIPS,
    }
    return render(request, "playground/sequence.html", context)


@require_POST
def start_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation, pk=pk)
    clips = sequences.chain_of(gen)
    if not clips:
        return redirect("sequence", pk=pk)
    try:
        return redirect(sequences.start_export(clips, request.user))
    except sequences.TooManyExports as exc:
        messages.error(request, str(exc))
        return redirect("sequence", pk=pk)


@require_GET
@vary_on_headers("HX-Request")
def export(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(SequenceExport, pk=pk)
    template = "playground/film.html#status" if getattr(request, "htmx", False) else "playground/film.html"
    return render(request, template, {"film": job})


@require_safe  # HEAD as GET without a body, as every download (serve_stored_file answers it)
def export_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = get_object_or_404(SequenceExport, pk=pk, state=ExportState.READY)
    return serve_stored_file(
        request, job.video.name, download_as=f"{job.created_at:%Y-%m-%d}_film-{job.pk}.mp4"
    )
