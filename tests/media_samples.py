"""Real sound files and short videos for the reference checks, encoded with PyAV (no numpy)."""

from __future__ import annotations

import io
import math
from array import array
from typing import Any

import av
from PIL import Image

# FFmpeg's muxer and codec per kind of file.
AUDIO_FORMATS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "libmp3lame"),
    "flac": ("flac", "flac"),
    "ogg": ("ogg", "libopus"),
    "m4a": ("ipod", "aac"),
}


def sound(seconds: float, *, kind: str = "wav", loud: bool = True, rate: int = 48_000) -> bytes:
    """A 440 Hz tone (or silence) of `seconds`."""
    container_format, codec = AUDIO_FORMATS[kind]
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        total = int(seconds * rate)
        chunk = 960
        pts = 0
        while pts < total:
            n = min(chunk, total - pts)
            values = array(
                "h",
                (
                    int(12000 * math.sin(2 * math.pi * 440 * (pts + i) / rate)) if loud else 0
                    for i in range(n)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(values.tobytes())
            frame.sample_rate = rate
            frame.pts = pts
            for packet in stream.encode(frame):
                container.mux(packet)
            pts += n
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def video(seconds: float, *, kind: str = "mp4", size: tuple[int, int] = (160, 90), fps: int = 8) -> bytes:
    """A short real video of `seconds`."""
    container_format, codec = {
        "mp4": ("mp4", "libx264"),
        "webm": ("webm", "libvpx"),
        "mov": ("mov", "libx264"),
    }[kind]
    out = io.BytesIO()
    frames = max(1, int(seconds * fps))
    with av.open(out, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            shade = int(255 * index / frames)
            frame = av.VideoFrame.from_image(Image.new("RGB", size, (shade, 90, 255 - shade)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
