"""The first-frame rules, their limits and every sentence the picture code says, in one place.

The upstream accepts JPEG or PNG, an aspect ratio strictly between 2:5 and 5:2, a shorter side
over 300 px and at most 20 MB. The check (check.py), the fixes (fixing.py) and the Generate page's
script (through fixing.browser_rules) all read the numbers from here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from playground.lib.numbers import decimal as decimal
from playground.lib.numbers import megabytes as megabytes

MAX_BYTES = 20 * 1024 * 1024
MIN_SHORT_SIDE = 300

# Checking costs grow with the data. Measured with bench/image_checks.py on a noisy 2-core box
# (Pillow 12.3, zlib 1.2.13; 20 MB files at 5887×4416 = 26.0 MP; times beside SHA-256 of the same
# bytes, 12-22 ms there; memory is the growth of peak RSS during one check in a fresh process):
#   JPEG, any kind  structure only, no decode (see jpeg.verify_jpeg): 7-31 ms, 0.6-2.7× SHA-256, no
#                   memory. A crafted file with a restart marker after each of 6.8M blocks: 0.5-0.7 s.
#   PNG             every row is inflated: photo-like 8-bit RGB 197-320 ms with zlib (13-17× SHA-256),
#                   77-95 ms with ISA-L (about 8×), < 1 MB; 16-bit RGBA, 208 MB of rows from a 0.8 MB
#                   file, 77-100 ms with zlib, 26 ms with ISA-L. At 50 MP, double.
# PNG sets the cap: with plain zlib no cap that takes 24 MP photos keeps a 20 MB PNG under 100 ms,
# so the cap is the smallest that still takes the common 24-26 MP photos whole (iPhone 24 MP
# 5712×4284, Fuji 26 MP 6240×4160).
MAX_PIXELS = 26_000_000

# Raw uploads up to this size can be fixed (the view reads them with check.read_capped and this
# limit). It must cover a 40 MB PNG straight from a screenshot or an export, with room to spare.
MAX_INPUT_BYTES = 64 * 1024 * 1024

# A baseline (sequential) JPEG can be decoded by libjpeg at 1/2, 1/4 or 1/8 scale holding only the
# scaled pixels and a few rows, so big phone photos (48, 50 and 64 MP) can be shrunk without ever
# holding more than MAX_PIXELS. Progressive JPEGs keep every coefficient (~3 bytes a pixel)
# whatever the scale, so they get no such allowance. Three times the cap stays below Pillow's own
# decompression-bomb warning (89.5 MP), which we leave on.
MAX_JPEG_PIXELS = 3 * MAX_PIXELS

# Real files have a few dozen JPEG segments or PNG chunks before the pixels (PNG encoders write
# IDAT in 8-64 KB pieces: at most ~8,200 of them in 64 MB), and real GIFs use 255-byte sub-blocks
# (~263,000 in 64 MB). Walking is Python, so these caps bound its time (~0.3 s at worst).
MAX_PARTS = 65_536
MAX_GIF_SUB_BLOCKS = 1 << 20

# Pillow refuses PNG colour profiles that inflate past 1 MiB, and so does check.check_image; a
# larger profile is dropped rather than the picture refused.
ICC_LIMIT = 1024 * 1024

FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}

EMPTY = "This file is empty (0 bytes), so there is no picture in it."

# The check's sentences, once, with {named} places for their numbers. The server fills them below;
# the Generate page's script gets the same templates (fixing.browser_rules) and fills them with the
# numbers it reads, so a picture is refused in the browser in the server's own words.
SENTENCES = {
    "empty": EMPTY,
    "too_big": "This file is {size} MB. The largest file we can {use} is {limit} MB.",
    "not_a_picture": "This file is not a JPEG or PNG image. Only JPEG and PNG images can be used.",
    "wrong_kind": "This file is {kind}, not a JPEG or PNG. Only JPEG and PNG images can be used.",
    "too_wide": (
        "This image is {width}×{height}: too wide. The width must be less than 2.5 times "
        "the height (it is {times} times)."
    ),
    "too_tall": (
        "This image is {width}×{height}: too tall. The height must be less than 2.5 times "
        "the width (it is {times} times)."
    ),
    "short_side": (
        "This image is {width}×{height}: its shorter side is {shorter} px. "
        "The shorter side must be more than {min_short} px."
    ),
    "too_many_pixels": (
        "This image is {width}×{height} pixels ({megapixels} megapixels). "
        "The most we accept is {max_megapixels} megapixels."
    ),
}


class ImageRejected(Exception):
    """The image can't be used; `messages` holds one plain sentence per failed rule."""

    def __init__(self, messages: str | Sequence[str]) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__(" ".join(self.messages))


@dataclass(frozen=True)
class CheckedImage:
    data: bytes = field(repr=False)
    mime: str
    extension: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


# --- Sentences ---------------------------------------------------------------------------------


# A request body over the fixes' limit is cut off before it is read, so its size is unknown.
TOO_LARGE_TO_FIX = (
    f"This file is larger than {megabytes(MAX_INPUT_BYTES)} MB, too large even to fix here. "
    "Make it smaller on your computer first."
)


def damaged(kind: str) -> ImageRejected:
    return ImageRejected(f"This {kind} file is damaged or incomplete, so it can't be used.")


def refuse_size(data: bytes, limit: int, use: str) -> None:
    """The size rule for bytes we would `use` ("send" or "fix"): not empty, at most `limit`."""
    if len(data) > limit:
        raise ImageRejected(
            SENTENCES["too_big"].format(size=megabytes(len(data)), use=use, limit=megabytes(limit))
        )
    if not data:
        raise ImageRejected(EMPTY)


def megapixels(pixels: int) -> str:
    return decimal(pixels, 1_000_000, 1)


def pixel_sentence(width: int, height: int) -> str:
    return SENTENCES["too_many_pixels"].format(
        width=width,
        height=height,
        megapixels=megapixels(width * height),
        max_megapixels=megapixels(MAX_PIXELS),
    )


def ratio_allowed(width: int, height: int) -> bool:
    """Width/height strictly between 2:5 and 5:2, by integer cross-multiplication (no rounding)."""
    return 2 * width < 5 * height and 2 * height < 5 * width


def rule_sentences(width: int, height: int) -> list[str]:
    sentences = []
    # Integer cross-multiplication: exactly 2:5 and 5:2 are refused, with no float rounding.
    if 2 * width >= 5 * height:
        sentences.append(
            SENTENCES["too_wide"].format(width=width, height=height, times=_times(width, height))
        )
    elif 2 * height >= 5 * width:
        sentences.append(
            SENTENCES["too_tall"].format(width=width, height=height, times=_times(height, width))
        )
    shorter = min(width, height)
    if shorter <= MIN_SHORT_SIDE:
        sentences.append(
            SENTENCES["short_side"].format(
                width=width, height=height, shorter=shorter, min_short=MIN_SHORT_SIDE
            )
        )
    return sentences


def _times(longer: int, shorter: int) -> str:
    text = decimal(longer, shorter, 2)
    if (longer * 100) % shorter:
        return f"about {text}"
    return f"exactly {text}" if 2 * longer == 5 * shorter else text


# Impostors we can name. Only the magic bytes decide; names and Content-Types are not evidence.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"II+\x00", "a TIFF image"),
    (b"MM\x00+", "a TIFF image"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"%!PS", "a PostScript (EPS) file"),
    (b"\xc5\xd0\xd3\xc6", "a PostScript (EPS) file"),
    (b"%PDF-", "a PDF document"),
    (b"\x00\x00\x01\x00", "an icon (ICO) file"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xffO\xffQ", "a JPEG 2000 image"),
    (b"PK\x03\x04", "a ZIP archive"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"}


def wrong_format_sentence(data: bytes) -> str:
    kind = _impostor(data)
    if kind is None:
        return SENTENCES["not_a_picture"]
    return SENTENCES["wrong_kind"].format(kind=kind)


def _impostor(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data.startswith(b"BM") and data[6:10] == b"\x00\x00\x00\x00":
        return "a BMP image"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        brand = data[8:12].lower()
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        if brand in _HEIF_BRANDS:
            return "a HEIC image"
        return "a video file"
    return _text_kind(data[:1024])


def _text_kind(head: bytes) -> str | None:
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    lowered = head.replace(b"\x00", b"").lstrip().lower()
    if lowered.startswith(b"<") and b"<svg" in lowered:
        return "an SVG drawing"
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        lowered.startswith(b"<") and b"<html" in lowered
    ):
        return "a web page (HTML)"
    if lowered.startswith(b"<?xml"):
        return "an XML file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the 1 KB mark is still text.
        text = head[:-3].decode("utf-8", errors="replace")
        if "\ufffd" in text:
            return None
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "a text file"
    return None


# --- Refusing: the check's sentences, and a fix's -------------------------------------------------


@dataclass(frozen=True)
class Refusals:
    """How the structure readers refuse: the check's sentences unless the caller brings its own.

    A fix reads files up to 64 MB in Python before Pillow sees them, so it also caps the parts
    walked; the check reads at most 20 MB and walks them all.
    """

    damaged: Callable[[str], ImageRejected] = damaged
    uncommon_jpeg: str = (
        "This JPEG uses an uncommon kind of compression (lossless, hierarchical or "
        "arithmetic coding) that many programs can't read. Save it again as a standard JPEG."
    )
    max_parts: int | None = None
    too_many_parts: Callable[[str], ImageRejected] = damaged

    def count(self, parts: int, kind: str) -> None:
        if self.max_parts is not None and parts > self.max_parts:
            raise self.too_many_parts(kind)


CHECKING = Refusals()


def fix_damaged(kind: str) -> ImageRejected:
    return ImageRejected(f"This {FORMAT_NAMES[kind]} file is damaged or incomplete, so we can't fix it.")


def fix_unusual(kind: str) -> ImageRejected:
    return ImageRejected(
        f"This {FORMAT_NAMES[kind]} file is built in an unusual way (it has too many parts), "
        "so we can't fix it."
    )


FIXING = Refusals(
    damaged=fix_damaged,
    uncommon_jpeg="This JPEG uses an uncommon kind of compression (lossless, hierarchical or arithmetic "
    "coding), so we can't fix it. Save it again as a standard JPEG.",
    max_parts=MAX_PARTS,
    too_many_parts=fix_unusual,
)
