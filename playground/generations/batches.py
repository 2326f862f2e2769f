"""A batch: one submit of the Generate page, pictures x takes videos, made whole or not at all.

Whether a batch may start, and starting it, is money/starts.py's: the form and retry() both go
through starts.start. Here: retrying a batch's failed takes with what each take asked for.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.generations import references
from playground.generations.models import Batch, Generation
from playground.generations.references import Reference
from playground.lib.videofiles import storage_stem
from playground.money import starts


def retry(user: User, failed: list[Generation]) -> Batch | str:
    """A new batch with one fresh take for each failed one; the refusal sentence if it doesn't fit."""
    first = failed[0]

    def make() -> Batch:
        batch = Batch.objects.create(
            created_by=user, model=first.model, prompt=first.prompt, pictures=len(failed), takes_per_picture=1
        )
        for take in failed:
            made = Generation.objects.create(
                created_by=user,
                batch=batch,
                model=take.model,
                prompt=take.prompt,
                enhance_prompt=take.enhance_prompt,
                first_frame=_copy(take.first_frame.name),
                first_frame_sha256=take.first_frame_sha256,
                first_frame_type=take.first_frame_type,
                first_frame_width=take.first_frame_width,
                first_frame_height=take.first_frame_height,
                source_link=take.source_link,
                # The take's last frame and options come along, so the retry makes the same video.
                end_frame=_copy(take.end_frame.name),
                end_frame_sha256=take.end_frame_sha256,
                end_frame_type=take.end_frame_type,
                end_frame_width=take.end_frame_width,
                end_frame_height=take.end_frame_height,
                end_frame_link=take.end_frame_link,
                resolution=take.resolution,
                duration_seconds=take.duration_seconds,
                ratio=take.ratio,
            )
            for ref in Reference.objects.filter(generation=take):
                Reference.objects.create(
                    generation=made,
                    kind=ref.kind,
                    position=ref.position,
                    file=references.copy(ref.file.name),
                    mime=ref.mime,
                    sha256=ref.sha256,
                    link=ref.link,
                )
        return batch

    try:
        return starts.start(user, first.model, len(failed), make)
    except starts.Refused as refused:
        return refused.sentence


def _copy(name: str) -> str:
    """A take's own copy of a stored frame (each take deletes only its own files)."""
    if not name:
        return ""
    with default_storage.open(name, "rb") as f:
        return default_storage.save(
            f"first-frames/{storage_stem()}{Path(name).suffix}", ContentFile(f.read())
        )
