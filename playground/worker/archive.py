"""Keeping finished videos: stream the upstream's MP4 into our storage, check it, make a poster.

The upstream link is signed and expires, so the worker copies the file while the link is
fresh. The download goes to a temporary file first and only a file that PyAV can open and
decode reaches storage, so a cut-off or bogus download is never shown to anyone.
"""

from __future__ import annotations

import io
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from playground.upstream.aimlapi import Client

POSTER_LONG_SIDE = 1280


class NotAVideo(Exception):
    """The downloaded file is not a video we can play."""


@dataclass(frozen=True)
class Inspection:
    duration: float | None
    width: int
    height: int
    poster_jpeg: bytes


@dataclass(frozen=True)
class StoredVideo:
    video: str
    poster: str
    duration: float | None
    size: int


def inspect_video(path: str | Path) -> Inspection:
    """Open the file with PyAV, decode its first picture and read its duration."""
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
    except NotAVideo:
        raise
    except (av.FFmpegError, OSError, ValueError, StopIteration) as exc:
        raise NotAVideo(f"PyAV could not read the file: {exc}") from exc
    width, height = image.size
    image.thumbnail((POSTER_LONG_SIDE, POSTER_LONG_SIDE))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=85)
    return Inspection(duration=duration, width=width, height=height, poster_jpeg=buffer.getvalue())


def storage_stem() -> str:
    """A fresh, unguessable file name stem under a year/month folder."""
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


def fetch_and_store(
    client: Client, url: str, *, on_chunk: Callable[[int], None] | None = None
) -> StoredVideo:
    """Download `url` into storage as a checked MP4 with a poster. Raises the client's errors or NotAVideo."""
    tmp_dir = Path(settings.VAR_DIR) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".mp4", dir=tmp_dir) as tmp:
        size = client.download(url, tmp, max_bytes=settings.VIDEO_MAX_BYTES, on_chunk=on_chunk)
        tmp.flush()
        info = inspect_video(tmp.name)
        tmp.seek(0)
        stem = storage_stem()
        video_name = default_storage.save(f"videos/{stem}.mp4", File(tmp))
    try:
        poster_name = default_storage.save(f"posters/{stem}.jpg", ContentFile(info.poster_jpeg))
    except Exception:
        default_storage.delete(video_name)
        raise
    return StoredVideo(video=video_name, poster=poster_name, duration=info.duration, size=size)


def delete_files(*names: str) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
