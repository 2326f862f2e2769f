"""The preset pages: save the Generate form as a preset, edit or delete one (its maker or staff)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from playground.generations.forms import GenerateForm, initial_from_post
from playground.generations.models import Generation, Preset
from playground.generations.pages import generate_page
from playground.generations.presets import PresetForm
from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.ids import parse_id


def _reused(post: Any) -> Generation | None:
    if post.get("drop_reused_first_frame"):
        return None
    # Not an id is treated as an id of nothing: the preset is saved without a picture.
    pk = parse_id(post.get("reuse_first_frame", ""))
    return None if pk is None else Generation.objects.filter(pk=pk).exclude(first_frame="").first()


@require_POST
def save(request: AuthenticatedHttpRequest) -> HttpResponse:
    """ "Save as preset" on the Generate form: the form's own fields plus a preset name."""
    data = request.POST.copy()
    data["name"] = request.POST.get("preset_name", "")
    data["keep_first_frame"] = request.POST.get("preset_keep_first_frame", "")
    frame_from = _reused(request.POST)
    form = PresetForm(data, frame_from=frame_from)
    if form.is_valid():
        form.instance.created_by = request.user
        preset = form.save()
        note = f"Saved the preset “{preset.name}” for the team."
        # The button posts the form URL-encoded: a chosen file's bytes are never sent, only its name.
        if frame_from is None and (request.POST.get("first_frame") or request.POST.get("image_link")):
            note += (
                " It keeps the words but not the picture you chose: a preset can keep a first frame "
                "once a video has been made with it (Remix that video, then save)."
            )
        messages.success(request, note)
        return redirect(f"{reverse('generate')}?preset={preset.pk}")

    initial = initial_from_post(request.POST) | {"reuse_first_frame": frame_from.pk if frame_from else None}
    generate_form = GenerateForm(initial=initial, user=request.user)
    return generate_page(request, generate_form, preset_form=form, preset_name=data["name"])


@require_http_methods(["GET", "POST"])
def edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    preset = get_object_or_404(Preset.objects.select_related("first_frame_from"), pk=pk)
    if not preset.can_be_changed_by(request.user):
        raise PermissionDenied("Only the person who saved this preset, or an admin, can change it.")
    initial = {"keep_first_frame": preset.first_frame_from_id is not None}
    form = PresetForm(request.POST or None, instance=preset, initial=initial)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Saved the preset “{preset.name}”.")
        return redirect("generate")
    return render(request, "playground/preset_edit.html", {"preset": preset, "form": form})


@require_http_methods(["GET", "POST"])
def delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    preset = get_object_or_404(Preset, pk=pk)
    if not preset.can_be_changed_by(request.user):
        raise PermissionDenied("Only the person who saved this preset, or an admin, can delete it.")
    if request.method == "POST":
        preset.delete()
        messages.success(request, f"Deleted the preset “{preset.name}”.")
        return redirect("generate")
    return render(request, "playground/preset_delete.html", {"preset": preset})
