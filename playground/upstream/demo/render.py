"""Render a short, real H.264 MP4 for the demo stand-in.

The output has to survive everything a real upstream video goes through (download, PyAV
probing, poster extraction, playback in Chromium), so it is a genuine libx264/yuv420p MP4
with the index at the front, not a placeholder file. For a model whose videos have sound it
carries an AAC track too: a steady tone whose pitch comes from the clip (``tone_for``), so a
test can tell by ear (by its frequency) which clip a stretch of a film's sound came from.
"""

import array
import hashlib
import io
import math
import os
import uuid
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps

# The stubs leave VideoFrame.from_image unannotated; one typed name keeps the untyped call in one place.
_frame_from_image: Callable[[Image.Image], av.VideoFrame] = av.VideoFrame.from_image

# Pan and zoom over a first frame: the last frame shows 1/ZOOM of the picture.
_ZOOM = 1.15
_BACKDROP_ASPECT = (16, 9)

AUDIO_RATE = 48_000
# Tones sit on a 20 Hz grid from 300 Hz to 1280 Hz: far enough apart for a test to tell apart.
_TONE_LOW, _TONE_STEP, _TONE_STEPS = 300, 20, 50
_TONE_LEVEL = 0.3  # of full scale: clearly there, never clipping


def tone_for(key: str) -> float:
    """The pitch of the clip named `key` (any stable text, such as the job's token), in Hz."""
    digest = hashlib.sha256(key.encode()).digest()
    return float(_TONE_LOW + _TONE_STEP * (int.from_bytes(digest[:4], "big") % _TONE_STEPS))


def render_video(
    dest: Path,
    *,
    prompt: str,
    first_frame: bytes | None,
    last_frame: bytes | None = None,
    seconds: float = 4.0,
    fps: int = 24,
    long_side: int = 640,
    aspect: tuple[int, int] = _BACKDROP_ASPECT,
    tone_hz: float | None = None,
) -> float:
    """Write the video to ``dest`` (via a temporary name) and return its duration in seconds.

    With a first frame the video has its shape; without one, ``aspect``'s. A last frame is
    faded in over the second half, so the video ends on it. With ``tone_hz`` the video has a
    mono AAC track of that tone, as long as the picture; without, it has no audio track.
    """
    frame_count = max(1, round(seconds * fps))
    if first_frame is not None:
        source = _load_first_frame(first_frame, long_side)
        size = _even_size(source.size, long_side)
        draw_frame = _ken_burns(source, size, frame_count)
        if last_frame is not None:
            draw_frame = _fade_to(draw_frame, _load_first_frame(last_frame, long_side), size, frame_count)
        overlay = _caption_band(prompt, size)
    else:
        size = _even_size(aspect, long_side)
        draw_frame = _moving_backdrop(size, frame_count)
        overlay = _centred_text(prompt, size)

    # A crash mid-render must never leave a half-written file under the final name.
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        _encode(tmp, size, fps, frame_count, draw_frame, overlay, tone_hz)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return frame_count / fps


def _encode(
    path: Path,
    size: tuple[int, int],
    fps: int,
    frame_count: int,
    draw_frame: Callable[[int], Image.Image],
    overlay: Image.Image | None,
    tone_hz: float | None,
) -> None:
    time_base = Fraction(1, fps)
    with av.open(
        str(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}
    ) as container:
        # veryfast keeps a 4 s 640 px clip around a second; CRF 26 is plenty for flat demo images.
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "26"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if tone_hz else None
        for index in range(frame_count):
            image = draw_frame(index)
            if overlay is not None:
                image.paste(overlay, (0, 0), overlay)
            frame = _frame_from_image(image)
            frame.pts = index
            frame.time_base = time_base
            container.mux(stream.encode(frame))
            if sound is not None and tone_hz:
                # The sound that goes with this picture, written beside it so the file interleaves.
                start = index * AUDIO_RATE // fps
                end = (index + 1) * AUDIO_RATE // fps
                container.mux(sound.encode(_tone(tone_hz, start, end, frame_count * AUDIO_RATE // fps)))
        container.mux(stream.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))


def _tone(hz: float, start: int, end: int, total: int) -> av.AudioFrame:
    """Samples start..end-1 of a sine at `hz`, faded in and out over 10 ms so it does not click."""
    fade = AUDIO_RATE // 100
    peak = _TONE_LEVEL * 32767
    samples = array.array(
        "h",
        (
            int(peak * min(1.0, n / fade, (total - n) / fade) * math.sin(2 * math.pi * hz * n / AUDIO_RATE))
            for n in range(start, end)
        ),
    )
    frame = av.AudioFrame(format="s16", layout="mono", samples=end - start)
    frame.sample_rate = AUDIO_RATE
    frame.planes[0].update(samples.tobytes())
    frame.pts = start
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


def _even_size(aspect: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale to the long side; H.264 in yuv420p needs both sides even."""
    width, height = aspect
    scale = long_side / max(width, height)
    return (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))


def _load_first_frame(data: bytes, long_side: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        # draft() lets the JPEG decoder skip detail we would throw away, so a huge photo stays cheap.
        opened.draft("RGB", (long_side * 2, long_side * 2))
        image = ImageOps.exif_transpose(opened).convert("RGB")
    # Keep a little more than the output size: the zoom crops into it.
    image.thumbnail((math.ceil(long_side * _ZOOM), math.ceil(long_side * _ZOOM)), Image.Resampling.LANCZOS)
    return image


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _ken_burns(source: Image.Image, size: tuple[int, int], frame_count: int) -> Callable[[int], Image.Image]:
    src_w, src_h = source.size

    def draw(index: int) -> Image.Image:
        t = _ease(index / max(1, frame_count - 1))
        zoom = 1 + (_ZOOM - 1) * t
        crop_w, crop_h = src_w / zoom, src_h / zoom
        # Drift from the upper left towards the lower right of the spare room the zoom leaves.
        left = (src_w - crop_w) * (0.2 + 0.6 * t)
        top = (src_h - crop_h) * (0.2 + 0.6 * t)
        box = (left, top, left + crop_w, top + crop_h)
        return source.resize(size, Image.Resampling.BILINEAR, box=box)

    return draw


def _fade_to(
    draw_first: Callable[[int], Image.Image], last: Image.Image, size: tuple[int, int], frame_count: int
) -> Callable[[int], Image.Image]:
    # The last frame is shown whole at the output's shape, so the video really ends on it.
    end = ImageOps.fit(last, size, Image.Resampling.BILINEAR)
    half = frame_count / 2

    def draw(index: int) -> Image.Image:
        image = draw_first(index)
        if index < half:
            return image
        weight = min(1.0, (index - half + 1) / max(1.0, frame_count - half))
        return Image.blend(image, end, weight)

    return draw


def _moving_backdrop(size: tuple[int, int], frame_count: int) -> Callable[[int], Image.Image]:
    width, height = size
    # One period of colour is exactly one frame wide, so sliding a window over two periods loops seamlessly.
    row = bytearray()
    for x in range(2 * width):
        angle = 2 * math.pi * x / width
        row += bytes(
            (
                int(110 + 70 * math.sin(angle)),
                int(80 + 60 * math.sin(angle + 2.1)),
                int(150 + 80 * math.sin(angle + 4.2)),
            )
        )
    strip = Image.frombytes("RGB", (2 * width, 1), bytes(row)).resize((2 * width, height))
    darker_below = Image.linear_gradient("L").resize((2 * width, height)).point(lambda v: v * 6 // 10)
    backdrop = Image.composite(Image.new("RGB", strip.size, (12, 12, 32)), strip, darker_below)

    def draw(index: int) -> Image.Image:
        offset = (index * width // max(1, frame_count)) % width
        return backdrop.crop((offset, 0, offset + width, height))

    return draw


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int, max_lines: int
) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    truncated = len(lines) > max_lines
    lines = [_fit(line, font, max_width) for line in lines[:max_lines]]
    if truncated:
        lines[-1] = _fit(lines[-1] + "…", font, max_width)
    return lines


def _fit(line: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int) -> str:
    """Cut a single over-long word (or line) so it ends in an ellipsis within the width."""
    if font.getlength(line) <= max_width:
        return line
    while line and font.getlength(line + "…") > max_width:
        line = line[:-1]
    return line + "…"


def _centred_text(prompt: str, size: tuple[int, int]) -> Image.Image | None:
    width, height = size
    font_size = max(10, height // 12)
    font = _font(font_size)
    lines = _wrap(prompt, font, int(width * 0.85), max_lines=5)
    if not lines:
        return None
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    line_height = round(font_size * 1.3)
    top = (height - line_height * len(lines)) // 2
    stroke = max(1, font_size // 12)
    for number, line in enumerate(lines):
        draw.text(
            (width // 2, top + number * line_height),
            line,
            font=font,
            anchor="ma",
            fill=(255, 255, 255, 255),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 255),
        )
    return overlay


def _caption_band(prompt: str, size: tuple[int, int]) -> Image.Image | None:
    width, height = size
    font_size = max(9, min(width, height) // 18)
    font = _font(font_size)
    lines = _wrap(prompt, font, int(width * 0.92), max_lines=2)
    if not lines:
        return None
    line_height = round(font_size * 1.3)
    band_height = line_height * len(lines) + font_size // 2
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((0, height - band_height, width, height), fill=(0, 0, 0, 140))
    for number, line in enumerate(lines):
        draw.text(
            (width // 2, height - band_height + font_size // 4 + number * line_height),
            line,
            font=font,
            anchor="ma",
            fill=(255, 255, 255, 255),
        )
    return overlay
