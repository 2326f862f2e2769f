"""Real MP4 clips for tests, encoded with PyAV, and ready generations that hold them."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from django.core.files import File
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from playground.generations.models import Generation
from tests import factories
from tests.sound import RATE, tone_frame

_from_image: Callable[[Image.Image], av.VideoFrame] = av.VideoFrame.from_image


def picture(size: tuple[int, int], index: int, frames: int, seed: int = 0) -> Image.Image:
    """Frame `index`: a colour that drifts with time and a block that moves, so every frame differs."""
    width, height = size
    t = index / max(1, frames - 1)
    image = Image.new("RGB", size, (int(40 + 180 * t), (90 + 37 * seed) % 256, int(200 - 150 * t)))
    draw = ImageDraw.Draw(image)
    x = int((width - width // 4) * t)
    draw.rectangle([x, height // 3, x + width // 4, height // 3 * 2], fill=(250, 250, 240))
    return image


def write_clip(
    path: Path,
    *,
    size: tuple[int, int] = (1280, 720),
    frames: int = 24,
    fps: int = 24,
    codec: str = "libx264",
    seed: int = 0,
    tone_hz: float | None = None,
    audio_rate: int = RATE,
) -> Path:
    """A clip of `frames` pictures; with `tone_hz`, an AAC track of that tone as long as the picture."""
    with av.open(str(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        stream: Any = out.add_stream(
            codec, rate=fps, options={"preset": "ultrafast"} if codec == "libx264" else {}
        )
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        audio: Any = out.add_stream("aac", rate=audio_rate, layout="mono") if tone_hz else None
        for index in range(frames):
            frame = _from_image(picture(size, index, frames, seed))
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
            if audio is not None and tone_hz:
                start, end = index * audio_rate // fps, (index + 1) * audio_rate // fps
                for packet in audio.encode(tone_frame(tone_hz, start, end, rate=audio_rate)):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if audio is not None:
            for packet in audio.encode(None):
                out.mux(packet)
    return path


def decoded_frames(source: Any) -> list[Image.Image]:
    """Every picture of a video, decoded from the start (independent of the app's own reading)."""
    with av.open(source) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def ready_generation(user: Any, clip: Path, **fields: Any) -> Generation:
    with clip.open("rb") as f:
        name = default_storage.save(f"videos/test/{clip.name}", File(f))
    fields.setdefault("model", "video-01")
    fields.setdefault("prompt", "A lighthouse keeper climbs the stairs at dusk")
    with av.open(str(clip)) as container:
        duration = container.duration / av.time_base if container.duration else None
    return factories.ready(user, video=name, duration=duration, **fields)
