"""The video models as one Django ``TextChoices``, for fields, radios and filters.

Everything about a model (route, field names, options, defaults, its sentence) lives in
catalogue.py, which has no Django in it so the stand-in can read it too. This module only gives
those ids a ``TextChoices`` and the few traits older code reads by name; a model added to the
catalogue but not here (or the other way round) stops the app at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models

from playground.upstream import catalogue

# The longest prompt any model takes: the bound on what a submit (or a preset) may store. Each
# model's own limit (catalogue.ModelSpec.prompt_max) is checked beside it by catalogue.refusals().
PROMPT_MAX_CHARS = max(model.prompt_max for model in catalogue.MODELS)


def clean_prompt(raw: str) -> str:
    """The prompt as counted and stored: browsers send new lines as CRLF, which count as one
    character, as the page's counter counts them. Raises ValidationError past PROMPT_MAX_CHARS."""
    prompt = raw.replace("\r\n", "\n")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise ValidationError(
            f"The prompt is {len(prompt):,} characters long. "
            f"It may be at most {PROMPT_MAX_CHARS:,} characters."
        )
    return prompt


class VideoModel(models.TextChoices):
    VIDEO_01 = "video-01", "video-01"
    VIDEO_01_LIVE2D = "video-01-live2d", "video-01-live2d"
    HAILUO_02 = "minimax/hailuo-02", "minimax/hailuo-02"
    HAILUO_2_3 = "minimax/hailuo-2.3", "minimax/hailuo-2.3"
    HAILUO_2_3_FAST = "minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"
    H3 = "minimax/h3", "minimax/h3"
    H3_MAX = "minimax/h3-max", "minimax/h3-max"


if tuple(VideoModel.values) != catalogue.IDS:
    raise RuntimeError(
        f"videomodels.VideoModel {VideoModel.values} and catalogue.MODELS {list(catalogue.IDS)} differ."
    )


@dataclass(frozen=True)
class Traits:
    description: str  # the sentence beside the model's radio button
    needs_first_frame: bool


TRAITS: dict[VideoModel, Traits] = {
    VideoModel(model.id): Traits(model.description, needs_first_frame=model.first_frame == "required")
    for model in catalogue.MODELS
}
DEFAULT_MODEL = VideoModel.VIDEO_01


def needs_first_frame(model: str) -> bool:
    return model in VideoModel.values and TRAITS[VideoModel(model)].needs_first_frame
