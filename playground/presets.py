"""Shared prompt presets: a saved Generate form (name, model, prompt, enhance, first frame).

A preset's first frame is the first frame of an earlier video, and using the preset fills the
form through Remix's own path (`reuse_first_frame`), so the picture is checked and attached the
same way and never uploaded again. A picture chosen fresh on the form has no stored home until a
video is made from it, so a preset saved then keeps the words and says it left the picture out.
Every member sees and uses every preset; only its maker or staff edit or delete it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.ids import parse_id
from playground.models import MODEL_CHOICES, Generation, Preset
from playground.upstream.videomodels import clean_prompt


class PresetForm(forms.ModelForm[Preset]):
    keep_first_frame = forms.BooleanField(label="Keep the first frame", required=False, initial=True)

    class Meta:
        model = Preset
        fields = ["name", "model", "prompt", "enhance_prompt"]
        labels = {"name": "Preset name", "enhance_prompt": "Enhance prompt"}
        widgets = {"prompt": forms.Textarea(attrs={"rows": 5}), "model": forms.Select(choices=MODEL_CHOICES)}
        error_messages = {"name": {"required": "Give the preset a name, so the team can find it."}}

    def __init__(self, *args: Any, frame_from: Generation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frame_from = frame_from if frame_from is not None else self.instance.first_frame_from
        if self.frame_from is None:
            del self.fields["keep_first_frame"]  # nothing to keep

    def clean_prompt(self) -> str:
        return clean_prompt(self.cleaned_data["prompt"])

    def save(self, commit: bool = True) -> Preset:
        keep = self.cleaned_data.get("keep_first_frame") and self.frame_from is not None
        self.instance.first_frame_from = self.frame_from if keep else None
        return super().save(commit)


def team_presets() -> QuerySet[Preset]:
    return Preset.objects.select_related("created_by", "first_frame_from")


def preset_initial(preset: Preset) -> dict[str, Any]:
    """The Generate form's starting values from a preset (its picture goes the way Remix's does)."""
    frame = preset.first_frame_from
    return {
        "model": preset.model,
        "prompt": preset.prompt,
        "enhance_prompt": preset.enhance_prompt,
        "reuse_first_frame": frame.pk if frame is not None and frame.first_frame else None,
    }


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
    from playground.forms import GenerateForm, initial_from_post
    from playground.views import _generate_page

    initial = initial_from_post(request.POST) | {"reuse_first_frame": frame_from.pk if frame_from else None}
    generate_form = GenerateForm(initial=initial, user=request.user)
    return _generate_page(request, generate_form, preset_form=form, preset_name=data["name"])


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
