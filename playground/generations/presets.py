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
from django.db.models import QuerySet

from playground.generations.models import MODEL_CHOICES, Generation, Preset
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
