"""The video models this app offers, with what is true of each whatever endpoint serves it.

One home for the names: the Generation field's choices, the form's radios and their sentences,
the gallery filter and the client's "needs a first frame" guard all read them from here.
Which URL and JSON field each model uses is the upstream's business and stays in aimlapi.py.
The stand-in (demo/upstream.py) keeps its own copy on purpose: it plays the service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

# The upstream's own limit on a prompt (both models); the form and its counter use this number.
PROMPT_MAX_CHARS = 2000


class VideoModel(models.TextChoices):
    VIDEO_01 = "video-01", "video-01"
    VIDEO_01_LIVE2D = "video-01-live2d", "video-01-live2d"


@dataclass(frozen=True)
class Traits:
    description: str  # the sentence beside the model's radio button
    needs_first_frame: bool


TRAITS: dict[VideoModel, Traits] = {
    VideoModel.VIDEO_01: Traits(
        "A cinematic 6-second clip from your prompt. A first-frame image is optional.",
        needs_first_frame=False,
    ),
    VideoModel.VIDEO_01_LIVE2D: Traits(
        "Brings a still picture to life, Live2D style. Needs a first-frame image.",
        needs_first_frame=True,
    ),
}
DEFAULT_MODEL = VideoModel.VIDEO_01


def needs_first_frame(model: str) -> bool:
    return model in VideoModel.values and TRAITS[VideoModel(model)].needs_first_frame
