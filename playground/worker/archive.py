"""Keeping finished videos: stream the upstream's MP4 into our storage, check it, make a poster.

The file is stored as it came, byte for byte, so an audio track is kept with the picture; whether
there is one is read from the file (not from the model), so the gallery's mark tells the truth.

The upstream link is signed and expires, so the worker copies the file while the link is
fresh. The download goes to a temporary file first and only a file that PyAV can open and
decode reaches storage, so a cut-off or bogus download is never shown to anyone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.lib.videofiles import inspect_video, storage_stem
from playground.upstream.aimlapi import Client


@dataclass(frozen=True)
class StoredVideo:
    video: str
    poster: str
    duration: float | None
    size: int
    has_sound: bool = False


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
    return StoredVideo(
        video=video_name, poster=poster_name, duration=info.duration, size=size, has_sound=info.has_sound
    )
