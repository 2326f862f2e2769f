"""The Generate page's picture actions: check a picture before sending, apply a one-click fix, leave a
batch's picture out, and show a staged picture or a fix's preview to its owner.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from playground import pictures
from playground.generations.forms import GenerateForm, initial_from_post
from playground.generations.pages import generate_page
from playground.lib import linkfetch
from playground.lib.http import AuthenticatedHttpRequest
from playground.pictures import batch_pictures, fixing, uploads
from playground.pictures.staging import REFERENCE_PICTURES_MAX, Staging


@require_POST
def apply_fix(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A one-click fix was chosen: make it, then show the form again with the fixed picture.

    Its own URL: the "Use this" buttons post here (formaction= without JavaScript, hx-post with).
    The last frame's fix buttons carry their own name, so its choice also works without JavaScript.
    """
    staging = Staging(request.user)
    for names in (batch_pictures.BATCH, batch_pictures.REFERENCES):
        if names.fix in request.POST:
            items = batch_pictures.with_fix(
                staging, request.POST.getlist(names.field), request.POST[names.fix], _most(names)
            )
            return _batch_answer(request, batch_pictures.named(items, names), names)
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
    _say_too_large(request)
    if request.htmx:
        return render(
            request,
            "playground/generate.html#chosen",
            # oob: the choice's hidden input also goes to the top of the form (generate.html's #kept-choices).
            {"chosen": chosen, "problem": problem, "slot": slot, "oob": True},
        )
    form = GenerateForm(initial=initial_from_post(request.POST), user=request.user)
    if slot == "last_frame":
        return generate_page(request, form, last_chosen=chosen, last_problem=problem)
    return generate_page(request, form, chosen=chosen, problem=problem)


@require_POST
def remove_picture(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Leave one picture out of a batch (or of the reference pictures) the page came back with;
    the others stay as they were."""
    names = (
        batch_pictures.REFERENCES
        if batch_pictures.REFERENCES.remove in request.POST
        else batch_pictures.BATCH
    )
    items = batch_pictures.without(
        Staging(request.user),
        request.POST.getlist(names.field),
        request.POST.get(names.remove, ""),
        _most(names),
    )
    return _batch_answer(request, batch_pictures.named(items, names), names, removed=True)


def _most(names: batch_pictures.ListNames) -> int | None:
    """How many pictures the list may hold: the reference pictures' most, or a batch's."""
    return REFERENCE_PICTURES_MAX if names is batch_pictures.REFERENCES else None


def _batch_answer(
    request: AuthenticatedHttpRequest,
    items: list[batch_pictures.Item],
    names: batch_pictures.ListNames,
    *,
    removed: bool = False,
) -> HttpResponse:
    """The list alone for htmx, else the whole form again with it (nothing is checked yet)."""
    _say_too_large(request)
    if request.htmx:
        # oob: the list's hidden inputs also go to the top of the form (generate.html's #kept-choices).
        context = {"batch": items, "batch_removed": removed, "names": names, "oob": True}
        return render(request, "playground/generate.html#batch", context)
    form = GenerateForm(initial=initial_from_post(request.POST), user=request.user)
    if names is batch_pictures.REFERENCES:
        return generate_page(request, form, references=items, references_removed=removed)
    return generate_page(request, form, batch=items, batch_removed=removed)


def _say_too_large(request: HttpRequest) -> None:
    """Without JavaScript these buttons send the whole form, its files too: when reading stopped
    (too much, see uploads.py), the page says so above the form; the files are not kept."""
    if stopped := uploads.too_large(request):
        messages.error(request, stopped.sentence())


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
        if stopped := uploads.too_large(request):
            raise pictures.ImageRejected(
                stopped.sentence() if stopped.request_limit else pictures.TOO_LARGE_TO_FIX
            )
        if upload:
            data = upload.read(pictures.MAX_INPUT_BYTES + 1)
        elif link:
            data = linkfetch.fetch_image(link, max_bytes=pictures.MAX_BYTES)
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
