"""One-click fixes for a first frame that breaks a rule: the picture is redrawn on the server.

(Over 500 lines because reading GIF and WebP structure safely, planning each fix with its
sentence, and bounding memory and concurrency belong together; JPEG and PNG are read by the
check's own walks in images.py, with this module's sentences and part cap.)

A fixed picture is always new pixels in a new file (JPEG, or PNG for PNGs with transparency or few
colours), with no metadata but a colour profile, and it goes through images.check_image like any
upload. Only the fixed file is ever used; the original bytes are not sent on.

Fixing means decoding, so hostile bytes meet Pillow here. The same order as images.py: size,
format from the magic bytes, then our own small walk over the file's structure (size,
orientation, colour profile), then the pixel cap, and only then Pillow, which is handed a rebuilt
file holding just what the decoder needs:
- JPEG without APPn/COM segments (Pillow keeps them all and parses EXIF and MPF blocks with a reader
  that a crafted 64 KB block can make allocate ~300 MB); so EXIF orientation is read here, by hand,
  and Image.exif_transpose (which calls that reader) is never used.
- PNG with only IHDR, PLTE, tRNS, IDAT and IEND: Pillow's chunk loop costs ~4.5 µs a chunk in
  Python, so 64 MB of empty chunks took 24 s; ours is capped at _MAX_PARTS.
- GIF as its first frame only: Pillow's extension-block loop is quadratic (400,000 empty comment
  blocks, 1.2 MB, took 1.8 s; 60 MB did not finish in 10 minutes).
- WebP whole (libwebp parses it in C), after our walk has checked the canvas size, because
  libwebp allocates the canvas as soon as the file is opened.
BMP, TIFF, AVIF, HEIC and the rest are refused: TIFF carries the same tag reader and dozens of
codecs, and people who meet the first-frame rules bring JPEG, PNG, WebP (saved from the web) or
GIF; the others are rare enough not to be worth the decoders' attack surface.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from django.conf import settings
from PIL import Image, ImageCms, ImageFilter

from playground import images

# Raw uploads up to this size can be fixed (the view reads them with images.read_capped and this
# limit). It must cover a 40 MB PNG straight from a screenshot or an export, with room to spare.
MAX_INPUT_BYTES = 64 * 1024 * 1024

# A baseline (sequential) JPEG can be decoded by libjpeg at 1/2, 1/4 or 1/8 scale holding only the
# scaled pixels and a few rows, so big phone photos (48, 50 and 64 MP) can be shrunk without ever
# holding more than images.MAX_PIXELS. Progressive JPEGs keep every coefficient (~3 bytes a pixel)
# whatever the scale, so they get no such allowance. Three times the cap stays below Pillow's own
# decompression-bomb warning (89.5 MP), which we leave on.
MAX_JPEG_PIXELS = 3 * images.MAX_PIXELS

_QUALITY = 92
_MIN_QUALITY = 60
_PREVIEW_QUALITY = 85
_BAND_ROWS = 256
_TARGET_SHORT_SIDE = images.MIN_SHORT_SIDE + 1

# Real files have a few dozen JPEG segments or PNG chunks before the pixels (PNG encoders write
# IDAT in 8-64 KB pieces: at most ~8,200 of them in 64 MB), and real GIFs use 255-byte sub-blocks
# (~263,000 in 64 MB). Walking is Python, so these caps bound its time (~0.3 s at worst).
_MAX_PARTS = 65_536
_MAX_GIF_SUB_BLOCKS = 1 << 20

# Pillow refuses PNG colour profiles that inflate past 1 MiB, and so does images.check_image; a
# larger profile is dropped rather than the picture refused.
_ICC_LIMIT = 1024 * 1024

_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def browser_rules() -> dict[str, object]:
    """The limits the Generate page checks before uploading, so its script retypes no number.

    "fixable" says what this module can read and redraw; "shrinkable_pixels" is the largest
    baseline JPEG Shrink takes (other formats over images.MAX_PIXELS get no fix, so the page must
    not promise one).
    """
    return {
        "max_bytes": images.MAX_BYTES,
        "min_short_side": images.MIN_SHORT_SIDE,
        "max_pixels": images.MAX_PIXELS,
        "fix_max_bytes": MAX_INPUT_BYTES,
        "shrinkable_pixels": MAX_JPEG_PIXELS,
        "fixable": ["jpeg", "png", "a WebP image", "a GIF image"],
    }


@dataclass(frozen=True)
class Fix:
    key: str  # "crop", "borders", "enlarge", "shrink", "compress" or "convert"
    label: str  # the button's text
    explanation: str  # one plain sentence, with the numbers


_LABELS = {
    "crop": "Crop to fit",
    "borders": "Add borders",
    "enlarge": "Enlarge",
    "shrink": "Shrink",
    "compress": "Compress",
    "convert": "Convert to JPEG",
}
# The only fix names a form, a URL or a stored file name may carry.
KEYS = frozenset(_LABELS)
DOES_NOT_APPLY = "That fix does not apply to this image."


# --- How many at once, and giving the memory back ------------------------------------------


class FixerBusy(images.ImageRejected):
    """Every fixing slot of this process stayed taken for PICTURE_FIX_WAIT_SECONDS."""


_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _libc_trim() -> Callable[[], None]:
    # glibc keeps freed blocks below its (growing, up to 32 MB) mmap threshold in the heap, so
    # Pillow's 16 MB image blocks stayed resident after each fix: 0.8 GB became 3.1 GB and
    # stayed. malloc_trim(0) hands them back; elsewhere (musl, macOS) there is nothing to do.
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return (lambda: trim(0) and None) if trim is not None else (lambda: None)


_trim = _libc_trim()


@contextmanager
def _slot() -> Iterator[None]:
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(settings.PICTURE_FIXES_AT_ONCE)
        slots = _slots
    if not slots.acquire(timeout=settings.PICTURE_FIX_WAIT_SECONDS):
        raise FixerBusy("The picture fixer is busy with other pictures. Try again in a moment.")
    try:
        yield
    finally:
        slots.release()
        _trim()


def _one_slot(work: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `work` (which decodes a whole picture) in one of the process's fixing slots."""

    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _slot():
            return work(*args, **kwargs)

    run.__doc__, run.__name__ = work.__doc__, work.__name__
    return run


@dataclass(frozen=True)
class Diagnosis:
    mime: str  # of the picture as given
    width: int  # as displayed
    height: int
    fixes: list[Fix]


_MIMES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


@_one_slot
def diagnose_picture(data: bytes, *, refused: bool = False) -> Diagnosis | None:
    """diagnose(data) with what was learnt on the way; None when no fix applies.

    refused: images.check_image has already refused these bytes, so it is not run again."""
    try:
        source, _, plans = _assess(data, verify_only=True, refused=refused)
    except FixerBusy:
        raise
    except images.ImageRejected:
        return None
    width, height = source.displayed
    return Diagnosis(_MIMES[source.kind], width, height, [plan.fix for plan in plans])


def diagnose(data: bytes) -> list[Fix]:
    """The fixes that turn these bytes into a first frame that passes every rule.

    Empty when the picture already passes, or when it can't be fixed (not an image we read,
    damaged, hostile, or refused for a reason no fix changes). Decodes the picture once (a JPEG at
    1/8 scale), so a file that only looks like an image is never offered a fix.
    """
    try:
        found = diagnose_picture(data)
    except FixerBusy:
        return []
    return found.fixes if found else []


@_one_slot
def apply_fix(data: bytes, key: str) -> images.CheckedImage:
    """Run one fix from diagnose(data) and check the result like any upload.

    Raises images.ImageRejected with a plain sentence when the bytes can't be fixed or the fix
    does not apply to them.
    """
    return _apply(data, key, refused=False, preview_side=None)[0]


@_one_slot
def apply_fix_with_preview(
    data: bytes, key: str, *, long_side: int = 480
) -> tuple[images.CheckedImage, bytes]:
    """apply_fix for bytes check_image already refused, with preview()'s JPEG of the result made
    from the same decode (no second check of the original, no decode of the fixed file)."""
    fixed, small = _apply(data, key, refused=True, preview_side=long_side)
    assert small is not None
    return fixed, small


def _apply(
    data: bytes, key: str, *, refused: bool, preview_side: int | None
) -> tuple[images.CheckedImage, bytes | None]:
    source, picture, plans = _assess(data, verify_only=False, refused=refused)
    plan = next((plan for plan in plans if plan.fix.key == key), None)
    if plan is None:
        raise images.ImageRejected(DOES_NOT_APPLY)
    keep_png, icc = _keeps_png(source, picture, key), picture.icc
    held = [picture.image]
    del picture, source  # from here `held` is the decoded picture's only reference
    result = _render(plan, held)
    small = None
    if preview_side is not None:
        thumb = _flatten(
            result.resize(_fit(result.size, preview_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        )
        small = _jpeg(thumb, _PREVIEW_QUALITY, None)
    return images.check_image(_encode(result, png=keep_png, icc=icc)), small


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


@_one_slot
def preview(data: bytes, *, long_side: int = 480) -> bytes:
    """A small JPEG of the picture (a fixed one, or any image we can read), for showing it."""
    if not 16 <= long_side <= 4096:
        raise ValueError("long_side must be between 16 and 4096")
    source = _inspect(data)
    picture = _decode(source, fit_long_side=long_side)
    image = _flatten(picture.image)
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return _jpeg(image, _PREVIEW_QUALITY, None)


# --- What is wrong, and the plans that fix it --------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    fix: Fix
    size: tuple[int, int]  # the fixed picture's size
    box: tuple[int, int, int, int] | None = None  # crop: the part of the decoded picture kept
    canvas: tuple[int, int] | None = None  # borders: the padded size, before any scaling


def _assess(
    data: bytes, *, verify_only: bool, refused: bool = False
) -> tuple[_Source, _Picture, list[_Plan]]:
    """refused: the caller already had images.check_image refuse these bytes (no second check)."""
    source = _inspect(data)
    refusal: images.ImageRejected | None = None
    if not refused and source.kind in ("JPEG", "PNG") and source.scale == 1 and len(data) <= images.MAX_BYTES:
        try:
            images.check_image(data)
        except images.ImageRejected as exc:
            refusal = exc.with_traceback(None)  # its traceback would hold this frame and the picture
        else:
            raise images.ImageRejected("This image already meets every rule, so there is nothing to fix.")
    keys = _fix_keys(source, len(data))
    if not keys:
        # images.check_image refused it for something no fix changes (damage, hidden text, ...).
        raise refusal or images.ImageRejected("This image can't be fixed.")
    picture = _decode(source, verify_only=verify_only)
    return source, picture, [_plan(key, source, picture, len(data)) for key in keys]


def _fix_keys(source: _Source, size: int) -> list[str]:
    """One problem at a time, biggest first: each fix also mends every smaller one."""
    width, height = source.size
    if not images.ratio_allowed(width, height):
        return ["crop", "borders"]
    if min(width, height) <= images.MIN_SHORT_SIDE:
        return ["enlarge"]
    if source.scale > 1:
        return ["shrink"]
    if source.kind not in ("JPEG", "PNG"):
        return ["convert"]
    if size > images.MAX_BYTES:
        return ["compress"]
    return []


def _plan(key: str, source: _Source, picture: _Picture, size: int) -> _Plan:
    width, height = source.size
    steps: list[str] = []
    if source.scale > 1:
        stored = f"{source.displayed[0]}×{source.displayed[1]}"
        steps.append(f"Shrink it from {stored} to {width}×{height}")
    ending = _ending(source, picture, key)

    if key == "crop":
        cut_w, cut_h = _cropped(width, height)
        left, top = (width - cut_w) // 2, (height - cut_h) // 2
        if cut_w < width:
            sides = _sides(left, width - cut_w - left, "from the left", "from the right", "left and right")
        else:
            sides = _sides(top, height - cut_h - top, "from the top", "from the bottom", "top and bottom")
        final = _within_rules(cut_w, cut_h)
        steps.append(f"cut {sides} to make it {cut_w}×{cut_h}")
        steps += _scaling(cut_w, cut_h, final)
        box = (left, top, left + cut_w, top + cut_h)
        return _Plan(_fix(key, steps, ending), final, box=box)

    if key == "borders":
        pad_w, pad_h = _padded(width, height)
        if pad_h > height:
            top = (pad_h - height) // 2
            sides = _sides(top, pad_h - height - top, "above", "below", "above and below")
        else:
            left = (pad_w - width) // 2
            sides = _sides(left, pad_w - width - left, "on the left", "on the right", "on the left and right")
        final = _within_rules(pad_w, pad_h)
        steps.append(f"add {sides.replace(' px ', ' px of blurred border ', 1)} to make it {pad_w}×{pad_h}")
        steps += _scaling(pad_w, pad_h, final)
        return _Plan(_fix(key, steps, ending), final, canvas=(pad_w, pad_h))

    if key == "enlarge":
        final = _within_rules(width, height)
        steps.append(
            f"enlarge it from {width}×{height} to {final[0]}×{final[1]} "
            f"so the shorter side is over {images.MIN_SHORT_SIDE} px"
        )
        return _Plan(_fix(key, steps, ending), final)

    if key == "shrink":
        steps[-1] += f" to stay within {_megapixels(images.MAX_PIXELS)} megapixels"
        return _Plan(_fix(key, steps, ending), (width, height))

    if key == "compress":
        limit = images.megabytes(images.MAX_BYTES)
        steps.append(
            f"save it again as a JPEG at the best quality that fits in {limit} MB "
            f"(it is {images.megabytes(size)} MB now)"
        )
        return _Plan(_fix(key, steps, _transparency_note(picture)), (width, height))

    frame = "the first frame of this animated" if picture.animated else "this"
    steps.append(f"save {frame} {_NAMES[source.kind]} image as a {width}×{height} JPEG")
    return _Plan(_fix(key, steps, _transparency_note(picture)), (width, height))


def _fix(key: str, steps: list[str], ending: str) -> Fix:
    sentence = ", then ".join(steps) + ending
    return Fix(key=key, label=_LABELS[key], explanation=sentence[0].upper() + sentence[1:] + ".")


def _sides(first: int, second: int, first_side: str, second_side: str, both: str) -> str:
    if first == second:
        return f"{first} px {both}"
    if first == 0:
        return f"{second} px {second_side}"
    return f"{first} px {first_side} and {second} px {second_side}"


def _scaling(width: int, height: int, final: tuple[int, int]) -> list[str]:
    if final == (width, height):
        return []
    if final[0] > width:
        return [f"enlarge it to {final[0]}×{final[1]} so the shorter side is over {images.MIN_SHORT_SIDE} px"]
    return [f"shrink it to {final[0]}×{final[1]} to stay within {_megapixels(images.MAX_PIXELS)} megapixels"]


def _ending(source: _Source, picture: _Picture, key: str) -> str:
    if _keeps_png(source, picture, key) or source.kind == "JPEG":
        return ""
    return ", and save it as a JPEG" + _transparency_note(picture)


def _transparency_note(picture: _Picture) -> str:
    return " (its see-through parts become white)" if picture.alpha else ""


def _keeps_png(source: _Source, picture: _Picture, key: str) -> bool:
    """PNGs with transparency or few colours (logos, drawings) stay PNG; everything else is JPEG."""
    return source.kind == "PNG" and key != "compress" and (picture.alpha or picture.palette)


# --- Sizes -------------------------------------------------------------------------------------


def _cropped(width: int, height: int) -> tuple[int, int]:
    """The largest centre crop with an allowed ratio: only the long side is cut."""
    if 2 * width >= 5 * height:
        return (5 * height - 1) // 2, height
    if 2 * height >= 5 * width:
        return width, (5 * width - 1) // 2
    return width, height


def _padded(width: int, height: int) -> tuple[int, int]:
    """The smallest canvas with an allowed ratio: only the short side grows."""
    if 2 * width >= 5 * height:
        return width, 2 * width // 5 + 1
    if 2 * height >= 5 * width:
        return 2 * height // 5 + 1, height
    return width, height


def _within_rules(width: int, height: int) -> tuple[int, int]:
    """An allowed-ratio size scaled, if need be, to a shorter side just over the minimum, or to
    at most MAX_PIXELS. The ratio moves by well under a pixel and stays strictly inside."""
    short, long = min(width, height), max(width, height)
    if short <= images.MIN_SHORT_SIDE:
        new_short = _TARGET_SHORT_SIDE
        new_long = (2 * long * new_short + short) // (2 * short)  # rounded to the nearest pixel
    elif width * height > images.MAX_PIXELS:
        factor = math.sqrt(images.MAX_PIXELS / (width * height))
        new_short, new_long = max(1, int(short * factor)), max(1, int(long * factor))
        while new_short * new_long > images.MAX_PIXELS:
            new_long -= 1
    else:
        return width, height
    new_long = max(new_short, min(new_long, (5 * new_short - 1) // 2))
    return (new_long, new_short) if width >= height else (new_short, new_long)


def _shrunk(width: int, height: int, factor: float) -> tuple[int, int]:
    """width×height times factor (< 1), keeping the ratio strictly allowed and the short side over
    the minimum."""
    short, long = min(width, height), max(width, height)
    new_short = max(_TARGET_SHORT_SIDE, int(short * factor))
    new_long = max(new_short, min(int(long * factor), (5 * new_short - 1) // 2))
    return (new_long, new_short) if width >= height else (new_short, new_long)


def _megapixels(pixels: int) -> str:
    tenths = -(-pixels // 100_000)
    return f"{tenths // 10:,}" if tenths % 10 == 0 else f"{tenths // 10:,}.{tenths % 10}"


# --- Reading the file's structure --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    kind: str  # "JPEG", "PNG", "WEBP" or "GIF"
    width: int  # as stored, before orientation
    height: int
    orientation: int  # EXIF, 1-8
    scale: int  # libjpeg DCT scaling (1, 2, 4 or 8) that keeps the decoded pixels within the cap
    pillow_data: bytes  # the rebuilt file Pillow is given
    icc: bytes | None = None
    palette: bool = False
    animated: bool = False

    @property
    def displayed(self) -> tuple[int, int]:
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)

    @property
    def size(self) -> tuple[int, int]:
        """The size we work at: displayed, after any DCT scaling."""
        width, height = self.displayed
        return -(-width // self.scale), -(-height // self.scale)


def _damaged(kind: str) -> images.ImageRejected:
    return images.ImageRejected(f"This {_NAMES[kind]} file is damaged or incomplete, so we can't fix it.")


def _unusual(kind: str) -> images.ImageRejected:
    return images.ImageRejected(
        f"This {_NAMES[kind]} file is built in an unusual way (it has too many parts), so we can't fix it."
    )


_REFUSALS = images.Refusals(
    damaged=_damaged,
    uncommon_jpeg="This JPEG uses an uncommon kind of compression (lossless, hierarchical or arithmetic "
    "coding), so we can't fix it. Save it again as a standard JPEG.",
    max_parts=_MAX_PARTS,
    too_many_parts=_unusual,
)


def _inspect(data: bytes) -> _Source:
    if len(data) > MAX_INPUT_BYTES:
        raise images.ImageRejected(
            f"This file is {images.megabytes(len(data))} MB. "
            f"The largest file we can fix is {images.megabytes(MAX_INPUT_BYTES)} MB."
        )
    if not data:
        raise images.ImageRejected(images.EMPTY)
    if data.startswith(images.JPEG_SIGNATURE):
        source = _inspect_jpeg(data)
    elif data.startswith(images.PNG_SIGNATURE):
        source = _inspect_png(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        source = _inspect_gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        source = _inspect_webp(data)
    else:
        raise images.ImageRejected("This file is not a JPEG, PNG, WebP or GIF image, so we can't fix it.")
    return source


def _pixel_scale(width: int, height: int, *, scalable: bool) -> int:
    if width * height <= images.MAX_PIXELS:
        return 1
    if scalable and width * height <= MAX_JPEG_PIXELS:
        for scale in (2, 4, 8):
            if -(-width // scale) * -(-height // scale) <= images.MAX_PIXELS:
                return scale
    limit = images.MAX_PIXELS if not scalable else MAX_JPEG_PIXELS
    raise images.ImageRejected(
        f"This image is {width}×{height} pixels ({_megapixels(width * height)} megapixels). "
        f"The largest we can fix is {_megapixels(limit)} megapixels."
    )


def _inspect_jpeg(data: bytes) -> _Source:
    header = images.read_jpeg_header(data, _REFUSALS)
    return _Source(
        kind="JPEG",
        width=header.width,
        height=header.height,
        orientation=header.orientation,
        scale=_pixel_scale(header.width, header.height, scalable=not header.progressive),
        pillow_data=header.head + data[header.scan_start :],
        icc=_jpeg_icc(header.icc_segments),
    )


def _jpeg_icc(segments: list[memoryview]) -> bytes | None:
    """The colour profile split over APP2 segments, when every part is there within _ICC_LIMIT."""
    parts: dict[int, bytes] = {}
    count = size = 0
    for body in segments:
        if len(body) <= 14:
            continue
        count = count or body[13]
        if body[13] == count and body[12] not in parts and size + len(body) <= _ICC_LIMIT:
            parts[body[12]] = bytes(body[14:])
            size += len(body) - 14
    if count and set(parts) == set(range(1, count + 1)):
        return b"".join(parts[i] for i in range(1, count + 1))
    return None


def _inspect_png(data: bytes) -> _Source:
    header = images.read_png_header(data, _REFUSALS)
    # The first colour profile that inflates whole within _ICC_LIMIT.
    profiles = (_inflate_icc(stream) for stream, is_text in header.compressed_text if not is_text)
    return _Source(
        kind="PNG",
        width=header.width,
        height=header.height,
        orientation=header.orientation,
        scale=_pixel_scale(header.width, header.height, scalable=False),
        pillow_data=b"".join(header.decoder_parts),
        icc=next((profile for profile in profiles if profile is not None), None),
        palette=header.color_type == 3 or (header.color_type == 0 and header.bit_depth < 8),
    )


def _inflate_icc(stream: memoryview) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(stream, _ICC_LIMIT + 1)
    except zlib.error:
        return None
    return profile if inflater.eof and len(profile) <= _ICC_LIMIT else None


def _inspect_gif(data: bytes) -> _Source:
    if len(data) < 13:
        raise _damaged("GIF")
    screen_w, screen_h, flags = struct.unpack_from("<HHB", data, 6)
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    walk = _GifWalk(data, start)
    control = b""
    while (intro := walk.next_block()) == b"!":
        block = walk.pos
        walk.skip_extension()
        if data[block + 1 : block + 2] == b"\xf9":
            control = data[block : walk.pos]  # the first frame's transparency
    if intro != b",":
        raise _damaged("GIF")
    frame = walk.pos
    left, top, width, height = walk.skip_image()
    if width == 0 or height == 0:
        raise _damaged("GIF")
    first_frame = data[frame : walk.pos]
    # Pillow grows the picture to hold a first frame that spills over the logical screen.
    width, height = max(screen_w, left + width), max(screen_h, top + height)
    return _Source(
        kind="GIF",
        width=width,
        height=height,
        orientation=1,
        scale=_pixel_scale(width, height, scalable=False),
        pillow_data=data[:start] + control + first_frame + b";",
        palette=True,
        animated=walk.more_frames(),
    )


class _GifWalk:
    """Steps over GIF blocks, with caps on how many, so hostile files cost bounded time."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos
        self.blocks, self.sub_blocks = 0, 0

    def next_block(self) -> bytes:
        self.blocks += 1
        if self.blocks > _MAX_PARTS:
            raise _unusual("GIF")
        return self.data[self.pos : self.pos + 1]

    def skip_extension(self) -> None:
        self.pos += 2
        self._skip_sub_blocks()

    def skip_image(self) -> tuple[int, int, int, int]:
        if self.pos + 11 > len(self.data):
            raise _damaged("GIF")
        left, top, width, height, flags = struct.unpack_from("<HHHHB", self.data, self.pos + 1)
        # Descriptor, local colour table, then the LZW code size byte before the sub-blocks.
        self.pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        self._skip_sub_blocks()
        return left, top, width, height

    def more_frames(self) -> bool:
        """Whether another frame follows; damage after the first frame doesn't matter to us."""
        try:
            while (intro := self.next_block()) == b"!":
                self.skip_extension()
        except images.ImageRejected:
            return False
        return intro == b","

    def _skip_sub_blocks(self) -> None:
        data = self.data
        while True:
            self.sub_blocks += 1
            if self.sub_blocks > _MAX_GIF_SUB_BLOCKS:
                raise _unusual("GIF")
            if self.pos >= len(data):
                raise _damaged("GIF")
            size = data[self.pos]
            self.pos += 1 + size
            if size == 0:
                return


def _inspect_webp(data: bytes) -> _Source:
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < 20 or riff_end > len(data):
        raise _damaged("WEBP")
    size: tuple[int, int] | None = None
    exif: bytes | None = None
    icc: bytes | None = None
    frames = 0
    pos = 12
    for _ in range(_MAX_PARTS):
        if pos + 8 > riff_end:
            break
        fourcc = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body_end = pos + 8 + length
        if body_end > riff_end:
            raise _damaged("WEBP")
        body = data[pos + 8 : min(body_end, pos + 8 + 65536)]
        if size is None:
            size = _webp_size(fourcc, body)
        if fourcc == b"EXIF" and exif is None:
            exif = body
        elif fourcc == b"ICCP" and icc is None and length <= _ICC_LIMIT:
            icc = data[pos + 8 : body_end]
        if fourcc == b"ANMF":
            frames += 1
        pos = body_end + (length & 1)
    else:
        raise _unusual("WEBP")
    if size is None:
        raise _damaged("WEBP")
    width, height = size
    return _Source(
        kind="WEBP",
        width=width,
        height=height,
        orientation=images.exif_orientation(exif),
        scale=_pixel_scale(width, height, scalable=False),
        pillow_data=data,
        icc=icc,
        animated=frames > 1,
    )


def _webp_size(fourcc: bytes, body: bytes) -> tuple[int, int]:
    if fourcc == b"VP8X" and len(body) >= 10:
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if fourcc == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", body, 6)
        if width & 0x3FFF and height & 0x3FFF:
            return width & 0x3FFF, height & 0x3FFF
    raise _damaged("WEBP")


# --- Decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picture:
    image: Image.Image  # upright, "RGB" or "RGBA" (only when some pixel is see-through)
    alpha: bool
    palette: bool
    animated: bool
    icc: bytes | None  # an RGB colour profile that still describes the pixels


def _decode(source: _Source, *, verify_only: bool = False, fit_long_side: int | None = None) -> _Picture:
    """Decode the first picture, upright and in 8-bit RGB(A); any failure is a plain sentence.

    verify_only decodes a JPEG at 1/8 scale: every byte is still read, which is what proves the
    file whole, for 1/64 of the pixels. fit_long_side lets a JPEG decode at the smallest scale that
    still has that many pixels on its long side.
    """
    scale = source.scale
    if source.kind == "JPEG" and verify_only:
        scale = 8
    elif source.kind == "JPEG" and fit_long_side is not None:
        scale = max(scale, min(8, max(source.width, source.height) // fit_long_side))
    try:
        with Image.open(io.BytesIO(source.pillow_data), formats=[source.kind]) as image:
            if image.size != (source.width, source.height):
                raise _damaged(source.kind)
            if scale > 1:
                # Pillow picks the largest of 1/2, 1/4 and 1/8 that keeps at least this size.
                image.draft(None, (max(1, source.width // scale), max(1, source.height // scale)))
            if image.width * image.height > images.MAX_PIXELS:
                raise _damaged(source.kind)
            image.load()
            picture = _normalise(image, source)
    except images.ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise images.ImageRejected(
            f"This image is {source.width}×{source.height} pixels, too many to fix safely."
        ) from None
    except Exception:
        # Pillow and its decoders signal bad input with many types (OSError, SyntaxError,
        # ValueError, EOFError, struct.error, even IndexError); for user bytes all mean "can't read".
        raise _damaged(source.kind) from None
    if scale == source.scale and picture.image.size != source.size:
        raise _damaged(source.kind)
    return picture


def _normalise(image: Image.Image, source: _Source) -> _Picture:
    mode = image.mode
    space = _icc_space(source.icc) if source.icc else None
    if mode == "CMYK":
        converted = _cmyk_to_rgb(image, source.icc if space == b"CMYK" else None)
    elif mode.startswith("I"):
        # 16-bit grey: Pillow's own conversion to 8 bits clips instead of scaling.
        converted = image.convert("I").point(lambda value: value * (1 / 257)).convert("L").convert("RGB")
    elif mode in ("RGB", "RGBA") and "transparency" not in image.info:
        converted = image  # no copy: at 26 MP each one is 104 MB
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        converted = image.convert("RGBA")
    else:
        converted = image.convert("RGB")
    alpha = False
    if converted.mode == "RGBA":
        alpha = converted.getchannel("A").getextrema()[0] != 255
        if not alpha:
            converted = converted.convert("RGB")
    transpose = _TRANSPOSE.get(source.orientation)
    if transpose is not None:
        converted = converted.transpose(transpose)
    converted.info = {}
    # A profile stays only while it still describes the pixels: an RGB one on RGB data.
    keep_icc = space == b"RGB " and mode in ("RGB", "RGBA", "RGBX", "P", "PA")
    return _Picture(converted, alpha, source.palette, source.animated, source.icc if keep_icc else None)


def _icc_space(profile: bytes) -> bytes | None:
    """The colour space an ICC profile describes, if its header is sound."""
    if len(profile) < 132 or int.from_bytes(profile[:4], "big") != len(profile) or profile[36:40] != b"acsp":
        return None
    return profile[16:20]


_SRGB: ImageCms.ImageCmsProfile | None = None


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """With the file's own CMYK profile when it has one (print files look right), else Pillow's
    plain formula, which is close enough for screen work."""
    global _SRGB
    if icc is not None:
        try:
            if _SRGB is None:
                _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return image.convert("RGB")


# --- Redrawing and saving ----------------------------------------------------------------------


def _render(plan: _Plan, held: list[Image.Image]) -> Image.Image:
    """The fixed picture. `held` holds the only reference to the decoded one, which is let go
    as soon as it is no longer needed, so a fix never holds much more than twice it."""
    if plan.canvas is not None:
        return _with_borders(held, plan.canvas, plan.size)
    image = held.pop()
    if plan.box is not None and plan.size == (plan.box[2] - plan.box[0], plan.box[3] - plan.box[1]):
        return image.crop(plan.box)
    if plan.box is None and plan.size == image.size:
        return image
    return _scaled(image, plan.size, plan.box)


def _scaled(image: Image.Image, size: tuple[int, int], box: tuple[float, ...] | None = None) -> Image.Image:
    """image (or its `box`) resized to `size` in bands of rows: a single resize keeps Pillow's
    intermediate pass (the new width × the old height) beside both pictures. The filter reads
    past each band's box, so the seams don't show."""
    x0, y0, x1, y1 = box or (0, 0, image.width, image.height)
    if size[0] * size[1] <= 1_000_000 or size[1] >= y1 - y0:  # small, or taller: no big intermediate
        return image.resize(size, Image.Resampling.LANCZOS, box=(x0, y0, x1, y1), reducing_gap=3.0)
    out = Image.new(image.mode, size)
    scale_y = (y1 - y0) / size[1]
    for row in range(0, size[1], _BAND_ROWS):
        rows = min(_BAND_ROWS, size[1] - row)
        band_box = (float(x0), y0 + row * scale_y, float(x1), min(float(y1), y0 + (row + rows) * scale_y))
        out.paste(image.resize((size[0], rows), Image.Resampling.LANCZOS, box=band_box), (0, row))
    return out


def _with_borders(held: list[Image.Image], canvas: tuple[int, int], size: tuple[int, int]) -> Image.Image:
    """The picture in the middle of a blurred, darkened, scaled-up copy of itself.

    The blur is done on a copy ~48 px long and then stretched: a smooth glow at any size for a
    few milliseconds, where blurring at full size costs seconds.
    """
    image = held.pop()
    width, height = size
    inner = (
        max(1, min(width, (image.width * width + canvas[0] // 2) // canvas[0])),
        max(1, min(height, (image.height * height + canvas[1] // 2) // canvas[1])),
    )
    scale = 48 / max(width, height)
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    # The part of the picture with the canvas's shape, so the glow covers it without stretching.
    cover = min(image.width / small[0], image.height / small[1])
    box_w, box_h = small[0] * cover, small[1] * cover
    left, top = (image.width - box_w) / 2, (image.height - box_h) / 2
    tiny = image.resize(small, Image.Resampling.BOX, box=(left, top, left + box_w, top + box_h))
    if tiny.mode == "RGBA":
        tiny = tiny.convert("RGBa")  # blur premultiplied, or clear pixels bleed their colour
    tiny = tiny.filter(ImageFilter.GaussianBlur(2))
    darker = [value * 3 // 5 for value in range(256)]
    tiny = tiny.point(darker * 3 + (list(range(256)) if tiny.mode == "RGBa" else []))
    if tiny.mode == "RGBa":
        tiny = tiny.convert("RGBA")
    picture = image if inner == image.size else _scaled(image, inner)
    del image  # the original goes before the canvas is made
    background = tiny.resize(size, Image.Resampling.BICUBIC)
    background.paste(picture, ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return background


def _encode(image: Image.Image, *, png: bool, icc: bytes | None) -> bytes:
    if png:
        # zlib level 1: a 12 MP photo cut-out with transparency saves in 0.9 s (17.3 MB); the
        # default level 6 took 5.0 s for 16.3 MB. Drawings and logos stay small at any level.
        data = _save(image, "PNG", icc, compress_level=1)
        if len(data) <= images.MAX_BYTES:
            return data
    return _jpeg_within_limit(_flatten(image), icc, images.MAX_BYTES)


def _jpeg_within_limit(image: Image.Image, icc: bytes | None, limit: int) -> bytes:
    """The highest JPEG quality from _MIN_QUALITY to _QUALITY that fits in limit bytes, shrinking
    the picture only when even the lowest quality does not fit."""
    data = _jpeg(image, _QUALITY, icc)
    if len(data) <= limit:
        return data
    while True:
        lowest = _jpeg(image, _MIN_QUALITY, icc)
        if len(lowest) <= limit:
            break
        # Bytes grow with pixels; aim 5% under so one step nearly always suffices.
        factor = math.sqrt(limit / len(lowest)) * 0.95
        size = _shrunk(image.width, image.height, factor)
        if size == image.size:  # cannot happen for a picture within the rules; never loop forever
            raise images.ImageRejected("This picture can't be made small enough to send.")
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    best, low, high = lowest, _MIN_QUALITY, _QUALITY
    while high - low > 1:
        middle = (low + high) // 2
        data = _jpeg(image, middle, icc)
        if len(data) <= limit:
            best, low = data, middle
        else:
            high = middle
    return best


def _jpeg(image: Image.Image, quality: int, icc: bytes | None) -> bytes:
    # Baseline, not progressive: the upstream and images.check_image both read it faster.
    return _save(image, "JPEG", icc, quality=quality)


def _save(image: Image.Image, kind: str, icc: bytes | None, **options: int) -> bytes:
    buffer = io.BytesIO()
    if icc is not None:
        image.save(buffer, kind, icc_profile=icc, **options)
    else:
        image.save(buffer, kind, **options)
    return buffer.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    flat = Image.new("RGB", image.size, "white")
    flat.paste(image, mask=image.getchannel("A"))
    return flat
