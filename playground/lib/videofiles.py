"""Video files in storage: checking that a file is a playable video (PyAV), its poster, fresh
unguessable names, and deleting stored files. Used by the worker's archiving, films, Continue,
the gallery's deletes and the demo data alike.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

POSTER_LONG_SIDE = 1280


class NotAVideo(Exception):
    """The downloaded file is not a video we can play."""


@dataclass(frozen=True)
class Inspection:
    duration: float | None
    width: int
    height: int
    poster_jpeg: bytes
    has_sound: bool = False  # the file has an audio track a player can play


def _has_sound(container: av.container.InputContainer) -> bool:
    return any(stream.codec_context.channels > 0 for stream in container.streams.audio)


def inspect_video(path: str | Path) -> Inspection:
    """Open the file with PyAV, decode its first picture, read its duration and whether it has sound."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NotAVideo("The file has no video stream.")
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
            if frame is None:
                raise NotAVideo("The file's video stream has no pictures.")
            duration: float | None = None
            if container.duration:
                duration = container.duration / av.time_base
            elif stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
            has_sound = _has_sound(container)
    except NotAVideo:
        raise
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        raise NotAVideo(f"PyAV could not read the file: {exc}") from exc
    width, height = image.size
    image.thumbnail((POSTER_LONG_SIDE, POSTER_LONG_SIDE))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return Inspection(
        duration=duration, width=width, height=height, poster_jpeg=buffer.getvalue(), has_sound=has_sound
    )


def storage_stem() -> str:
    """A fresh, unguessable file name stem under a year/month folder."""
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


def delete_files(*names: str) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
