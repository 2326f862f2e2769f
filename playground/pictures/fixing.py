"""One-click fixes for a first frame that breaks a rule: the picture is redrawn on the server.

(Over 500 lines because planning each fix with its sentence, decoding within the pixel cap, and
bounding memory and concurrency belong together; what a picture is made of is read first by
sources.py, with the JPEG and PNG walks the check itself uses.)

A fixed picture is always new pixels in a new file (JPEG, or PNG for PNGs with transparency or few
colours), with no metadata but a colour profile, and it goes through check.check_image like any
upload. Only the fixed file is ever used; the original bytes are not sent on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from django.conf import settings
from PIL import Image, ImageCms, ImageFilter

from playground.pictures import check, rules
from playground.pictures.rules import FORMAT_NAMES, MAX_INPUT_BYTES, MAX_JPEG_PIXELS
from playground.pictures.sources import Source, inspect

_QUALITY = 92
_MIN_QUALITY = 60
_PREVIEW_QUALITY = 85
_BAND_ROWS = 256
_TARGET_SHORT_SIDE = rules.MIN_SHORT_SIDE + 1

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
    """The limits and sentences the Generate page checks before uploading, so its script retypes none.

    "fixable" says what this module can read and redraw; "shrinkable_pixels" is the largest
    baseline JPEG Shrink takes (other formats over rules.MAX_PIXELS get no fix, so the page must
    not promise one).
    """
    return {
        "max_bytes": rules.MAX_BYTES,
        "min_short_side": rules.MIN_SHORT_SIDE,
        "max_pixels": rules.MAX_PIXELS,
        "fix_max_bytes": MAX_INPUT_BYTES,
        "shrinkable_pixels": MAX_JPEG_PIXELS,
        "fixable": ["jpeg", "png", "a WebP image", "a GIF image"],
        "sentences": rules.SENTENCES,
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


class FixerBusy(rules.ImageRejected):
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

    refused: check.check_image has already refused these bytes, so it is not run again."""
    try:
        source, _, plans = _assess(data, verify_only=True, refused=refused)
    except FixerBusy:
        raise
    except rules.ImageRejected:
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
def apply_fix(data: bytes, key: str) -> rules.CheckedImage:
    """Run one fix from diagnose(data) and check the result like any upload.

    Raises rules.ImageRejected with a plain sentence when the bytes can't be fixed or the fix
    does not apply to them.
    """
    return _apply(data, key, refused=False, preview_side=None)[0]


@_one_slot
def apply_fix_with_preview(
    data: bytes, key: str, *, long_side: int = 480
) -> tuple[rules.CheckedImage, bytes]:
    """apply_fix for bytes check_image already refused, with preview()'s JPEG of the result made
    from the same decode (no second check of the original, no decode of the fixed file)."""
    fixed, small = _apply(data, key, refused=True, preview_side=long_side)
    assert small is not None
    return fixed, small


def _apply(
    data: bytes, key: str, *, refused: bool, preview_side: int | None
) -> tuple[rules.CheckedImage, bytes | None]:
    source, picture, plans = _assess(data, verify_only=False, refused=refused)
    plan = next((plan for plan in plans if plan.fix.key == key), None)
    if plan is None:
        raise rules.ImageRejected(DOES_NOT_APPLY)
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
    return check.check_image(_encode(result, png=keep_png, icc=icc)), small


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


@_one_slot
def preview(data: bytes, *, long_side: int = 480) -> bytes:
    """A small JPEG of the picture (a fixed one, or any image we can read), for showing it."""
    if not 16 <= long_side <= 4096:
        raise ValueError("long_side must be between 16 and 4096")
    source = inspect(data)
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


def _assess(data: bytes, *, verify_only: bool, refused: bool = False) -> tuple[Source, _Picture, list[_Plan]]:
    """refused: the caller already had check.check_image refuse these bytes (no second check)."""
    source = inspect(data)
    refusal: rules.ImageRejected | None = None
    if not refused and source.kind in ("JPEG", "PNG") and source.scale == 1 and len(data) <= rules.MAX_BYTES:
        try:
            check.check_image(data)
        except rules.ImageRejected as exc:
            refusal = exc.with_traceback(None)  # its traceback would hold this frame and the picture
        else:
            raise rules.ImageRejected("This image already meets every rule, so there is nothing to fix.")
    keys = _fix_keys(source, len(data))
    if not keys:
        # check.check_image refused it for something no fix changes (damage, hidden text, ...).
        raise refusal or rules.ImageRejected("This image can't be fixed.")
    picture = _decode(source, verify_only=verify_only)
    return source, picture, [_plan(key, source, picture, len(data)) for key in keys]


def _fix_keys(source: Source, size: int) -> list[str]:
    """One problem at a time, biggest first: each fix also mends every smaller one."""
    width, height = source.size
    if not rules.ratio_allowed(width, height):
        return ["crop", "borders"]
    if min(width, height) <= rules.MIN_SHORT_SIDE:
        return ["enlarge"]
    if source.scale > 1:
        return ["shrink"]
    if source.kind not in ("JPEG", "PNG"):
        return ["convert"]
    if size > rules.MAX_BYTES:
        return ["compress"]
    return []


def _plan(key: str, source: Source, picture: _Picture, size: int) -> _Plan:
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
            f"so the shorter side is over {rules.MIN_SHORT_SIDE} px"
        )
        return _Plan(_fix(key, steps, ending), final)

    if key == "shrink":
        steps[-1] += f" to stay within {rules.megapixels(rules.MAX_PIXELS)} megapixels"
        return _Plan(_fix(key, steps, ending), (width, height))

    if key == "compress":
        limit = rules.megabytes(rules.MAX_BYTES)
        steps.append(
            f"save it again as a JPEG at the best quality that fits in {limit} MB "
            f"(it is {rules.megabytes(size)} MB now)"
        )
        return _Plan(_fix(key, steps, _transparency_note(picture)), (width, height))

    frame = "the first frame of this animated" if picture.animated else "this"
    steps.append(f"save {frame} {FORMAT_NAMES[source.kind]} image as a {width}×{height} JPEG")
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
        return [f"enlarge it to {final[0]}×{final[1]} so the shorter side is over {rules.MIN_SHORT_SIDE} px"]
    within = rules.megapixels(rules.MAX_PIXELS)
    return [f"shrink it to {final[0]}×{final[1]} to stay within {within} megapixels"]


def _ending(source: Source, picture: _Picture, key: str) -> str:
    if _keeps_png(source, picture, key) or source.kind == "JPEG":
        return ""
    return ", and save it as a JPEG" + _transparency_note(picture)


def _transparency_note(picture: _Picture) -> str:
    return " (its see-through parts become white)" if picture.alpha else ""


def _keeps_png(source: Source, picture: _Picture, key: str) -> bool:
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
    if short <= rules.MIN_SHORT_SIDE:
        new_short = _TARGET_SHORT_SIDE
        new_long = (2 * long * new_short + short) // (2 * short)  # rounded to the nearest pixel
    elif width * height > rules.MAX_PIXELS:
        factor = math.sqrt(rules.MAX_PIXELS / (width * height))
        new_short, new_long = max(1, int(short * factor)), max(1, int(long * factor))
        while new_short * new_long > rules.MAX_PIXELS:
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


# --- Decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picture:
    image: Image.Image  # upright, "RGB" or "RGBA" (only when some pixel is see-through)
    alpha: bool
    palette: bool
    animated: bool
    icc: bytes | None  # an RGB colour profile that still describes the pixels


def _decode(source: Source, *, verify_only: bool = False, fit_long_side: int | None = None) -> _Picture:
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
                raise rules.fix_damaged(source.kind)
            if scale > 1:
                # Pillow picks the largest of 1/2, 1/4 and 1/8 that keeps at least this size.
                image.draft(None, (max(1, source.width // scale), max(1, source.height // scale)))
            if image.width * image.height > rules.MAX_PIXELS:
                raise rules.fix_damaged(source.kind)
            image.load()
            picture = _normalise(image, source)
    except rules.ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise rules.ImageRejected(
            f"This image is {source.width}×{source.height} pixels, too many to fix safely."
        ) from None
    except Exception:
        # Pillow and its decoders signal bad input with many types (OSError, SyntaxError,
        # ValueError, EOFError, struct.error, even IndexError); for user bytes all mean "can't read".
        raise rules.fix_damaged(source.kind) from None
    if scale == source.scale and picture.image.size != source.size:
        raise rules.fix_damaged(source.kind)
    return picture


def _normalise(image: Image.Image, source: Source) -> _Picture:
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
        if len(data) <= rules.MAX_BYTES:
            return data
    return _jpeg_within_limit(_flatten(image), icc, rules.MAX_BYTES)


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
            raise rules.ImageRejected("This picture can't be made small enough to send.")
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
    # Baseline, not progressive: the upstream and check.check_image both read it faster.
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
