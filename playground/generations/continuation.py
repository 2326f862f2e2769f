"""Continue from the last frame: a ready video's final picture becomes the next one's first frame.

The last frame is read with PyAV (seek near the end, decode forward, keep the last picture),
saved once as a JPEG next to the video and remembered on the row, so a second Continue costs
nothing. It then goes through the Generate form like any picture: the same checks, and the
usual one-click fixes when it breaks a rule (a small or very wide video makes such a frame).
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, Any

import av
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from playground.lib.videofiles import NotAVideo as NotAVideo
from playground.lib.videofiles import storage_stem

if TYPE_CHECKING:
    from playground.generations.models import Generation

JPEG_QUALITY = 95
# Seek this many seconds before the end and decode forward: past the last keyframe in practice,
# and never more than a few dozen pictures decoded, one held at a time.
TAIL_SECONDS = 2.0


def last_frame_jpeg(source: str | IO[bytes]) -> bytes:
    """The video's final picture as a JPEG."""
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise NotAVideo("The file has no video stream.")
            stream = container.streams.video[0]
            last = _last_frame(container, stream, from_tail=True) or _last_frame(
                container, stream, from_tail=False
            )
            if last is None:
                raise NotAVideo("The file's video stream has no pictures.")
            image: Image.Image = last.to_image()
    except NotAVideo:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise NotAVideo(f"PyAV could not read the file: {exc}") from exc
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _last_frame(container: Any, stream: Any, *, from_tail: bool) -> Any:
    """The last decoded picture: from a point near the end, or (from_tail=False) from the start."""
    if from_tail:
        if not container.duration or container.duration <= TAIL_SECONDS * av.time_base:
            return None
        container.seek(int(container.duration - TAIL_SECONDS * av.time_base), backward=True)
    else:
        container.seek(0)
    last = None
    for frame in container.decode(stream):
        last = frame
    return last


def last_frame_of(gen: Generation) -> str:
    """The storage name of `gen`'s last-frame JPEG, made now if it wasn't yet."""
    from playground.generations.models import Generation

    if gen.last_frame:
        return str(gen.last_frame.name)
    with default_storage.open(gen.video.name, "rb") as video:
        data = last_frame_jpeg(video)
    name = default_storage.save(f"last-frames/{storage_stem()}.jpg", ContentFile(data))
    # Two Continue clicks at once both made one; the first to record it wins, the other is removed.
    if Generation.objects.filter(pk=gen.pk, last_frame="").update(last_frame=name):
        gen.last_frame.name = name
        return name
    default_storage.delete(name)
    gen.refresh_from_db(fields=["last_frame"])
    return str(gen.last_frame.name)
