from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.middleware import HtmxDetails

from playground.forms import GenerateForm
from playground.media import serve_stored_file
from playground.models import Generation, State, WorkerHeartbeat


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def site_context(request: HttpRequest) -> dict[str, Any]:
    return {"demo_mode": settings.DEMO_MODE}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("generate")


@require_http_methods(["GET", "POST"])
def generate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        existing = _same_submission(request)
        if existing:
            return redirect(existing)
        form = GenerateForm(
            request.POST, request.FILES, upload_too_large=getattr(request, "upload_too_large", None)
        )
        if form.is_valid():
            return redirect(form.save(request.user))
    else:
        form = GenerateForm(initial={"submission_token": uuid.uuid4()})
    return render(request, "playground/generate.html", {"form": form})


def _same_submission(request: HttpRequest) -> Generation | None:
    try:
        token = uuid.UUID(request.POST.get("submission_token", ""))
    except ValueError:
        return None
    return Generation.objects.filter(submission_token=token, created_by=request.user.pk).first()


@require_GET
def generation(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation.objects.select_related("created_by"), pk=pk)
    context = {
        "generation": gen,
        "worker_missing": gen.state == State.QUEUED and not WorkerHeartbeat.someone_alive(),
    }
    template = "playground/generation.html#status" if request.htmx else "playground/generation.html"
    return render(request, template, context)


@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    gen = get_object_or_404(Generation, pk=pk, state=State.READY)
    words = slugify(" ".join(gen.prompt.split()[:6]))[:60] or "video"
    filename = f"{gen.created_at:%Y-%m-%d}_{gen.model}_{words}.mp4"
    return serve_stored_file(request, gen.video.name, download_as=filename)


@require_GET
def media(request: HttpRequest, name: str) -> HttpResponseBase:
    return serve_stored_file(request, name)
