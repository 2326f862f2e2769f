"""The first-frame rules: which images we accept, and the sentence we say when we don't.

(Over 500 lines because the JPEG and PNG structure checks that keep a 20 MB check under 100 ms
and 30 MB live here beside the rules; see the targets in bench/image_checks.py. Their segment
and chunk walks, read_jpeg_header and read_png_header, are also the ones imagefix reads with.)

The upstream accepts JPEG or PNG, an aspect ratio strictly between 2:5 and 5:2, a shorter side
over 300 px and at most 20 MB. On top of that we refuse what we cannot prove is a whole, honest
picture of bounded size, because the bytes are stored and sent on exactly as received.

Hostile bytes are the normal case here, so the order matters: size, then the format from the
magic bytes, then the header (dimensions, orientation) read by our own small parsers, then the
pixel cap, then the rules, and only then the pass over the whole file that proves it intact,
which never holds the decoded picture in memory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import BinaryIO

from PIL import Image

_inflate_zlib: ModuleType
try:
    # ISA-L's inflate is a drop-in for zlib's decompressobj (the same max_length, unconsumed_tail
    # and eof, and it checks the Adler-32 too) and runs 2-3× faster on PNG rows, which is what
    # keeps a 20 MB PNG under 100 ms. Without the wheel (an unusual platform) zlib does the same work.
    from isal import isal_zlib as _inflate_zlib
except ImportError:  # pragma: no cover - the wheel is pinned in pyproject.toml
    _inflate_zlib = zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_zlib.error)

MAX_BYTES = 20 * 1024 * 1024
MIN_SHORT_SIDE = 300

# Checking costs grow with the data. Measured with bench/image_checks.py on a noisy 2-core box
# (Pillow 12.3, zlib 1.2.13; 20 MB files at 5887×4416 = 26.0 MP; times beside SHA-256 of the same
# bytes, 12-22 ms there; memory is the growth of peak RSS during one check in a fresh process):
#   JPEG, any kind  structure only, no decode (see _verify_jpeg): 7-31 ms, 0.6-2.7× SHA-256, no
#                   memory. A crafted file with a restart marker after each of 6.8M blocks: 0.5-0.7 s.
#   PNG             every row is inflated: photo-like 8-bit RGB 197-320 ms with zlib (13-17× SHA-256),
#                   77-95 ms with ISA-L (about 8×), < 1 MB; 16-bit RGBA, 208 MB of rows from a 0.8 MB
#                   file, 77-100 ms with zlib, 26 ms with ISA-L. At 50 MP, double.
# PNG sets the cap: with plain zlib no cap that takes 24 MP photos keeps a 20 MB PNG under 100 ms,
# so the cap is the smallest that still takes the common 24-26 MP photos whole (iPhone 24 MP
# 5712×4284, Fuji 26 MP 6240×4160).
MAX_PIXELS = 26_000_000

# Pillow refuses compressed PNG text or ICC chunks that inflate past 1 MiB and text past 64 MiB in
# all; an image Pillow can't open would fail upstream, so we hold PNGs to the same limits.
_TEXT_CHUNK_LIMIT = 1024 * 1024
_TEXT_TOTAL_LIMIT = 64 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
EMPTY = "This file is empty (0 bytes), so there is no picture in it."
_INFLATE_INPUT_STEP = 32 * 1024
_INFLATE_OUTPUT_STEP = 512 * 1024


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


def read_capped(stream: BinaryIO, limit: int = MAX_BYTES) -> bytes:
    """Read the whole stream, but never more than limit + 1 bytes of it."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        part = stream.read(min(1024 * 1024, limit + 1 - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    if total > limit:
        largest = megabytes(limit)
        raise ImageRejected(
            f"This file is larger than {largest} MB. The largest file we can send is {largest} MB."
        )
    return b"".join(parts)


def check_image(data: bytes) -> CheckedImage:
    if len(data) > MAX_BYTES:
        raise ImageRejected(
            f"This file is {megabytes(len(data))} MB. "
            f"The largest file we can send is {megabytes(MAX_BYTES)} MB."
        )
    if not data:
        raise ImageRejected(EMPTY)

    header: PngHeader | JpegHeader
    if data.startswith(PNG_SIGNATURE) or (len(data) < 8 and PNG_SIGNATURE.startswith(data)):
        header = read_png_header(data)
    elif data.startswith(JPEG_SIGNATURE) or data == JPEG_SIGNATURE[:2]:
        header = read_jpeg_header(data)
    else:
        raise ImageRejected(_wrong_format_sentence(data))
    if not header.sound:
        raise _damaged("PNG" if isinstance(header, PngHeader) else "JPEG")

    # Orientation 5-8 turns the picture a quarter: users see (and measure) it that way, so
    # sentences use the displayed size. The bytes are not re-encoded; the ratio and short-side
    # rules treat width and height alike, so the verdict would be the same either way.
    width, height = header.width, header.height
    if header.orientation in (5, 6, 7, 8):
        width, height = height, width

    if width * height > MAX_PIXELS:
        raise ImageRejected(_pixel_sentence(width, height))
    problems = _rule_sentences(width, height)
    if problems:
        raise ImageRejected(problems)

    if isinstance(header, PngHeader):
        _verify_png(header)
        return CheckedImage(data=data, mime="image/png", extension="png", width=width, height=height)
    _verify_jpeg(data, header)
    return CheckedImage(data=data, mime="image/jpeg", extension="jpg", width=width, height=height)


# --- Sentences ---------------------------------------------------------------------------------


def megabytes(size: int) -> str:
    """A byte count in MB of 1024 × 1024 bytes, as our sentences write it (rounded up, one decimal)."""
    return _decimal(size, 1024 * 1024, 1)


def _decimal(numerator: int, denominator: int, places: int) -> str:
    """numerator/denominator rounded *up* to `places` decimals, so 20 MB + 1 byte never reads "20"."""
    scale = 10**places
    scaled = -(-numerator * scale // denominator)
    whole, fraction = divmod(scaled, scale)
    return f"{whole:,}" if fraction == 0 else f"{whole:,}.{fraction:0{places}d}".rstrip("0")


def _damaged(kind: str) -> ImageRejected:
    return ImageRejected(f"This {kind} file is damaged or incomplete, so it can't be used.")


def _pixel_sentence(width: int, height: int) -> str:
    return (
        f"This image is {width}×{height} pixels ({_decimal(width * height, 1_000_000, 1)} megapixels). "
        f"The most we accept is {_decimal(MAX_PIXELS, 1_000_000, 1)} megapixels."
    )


def ratio_allowed(width: int, height: int) -> bool:
    """Width/height strictly between 2:5 and 5:2, by integer cross-multiplication (no rounding)."""
    return 2 * width < 5 * height and 2 * height < 5 * width


def _rule_sentences(width: int, height: int) -> list[str]:
    sentences = []
    # Integer cross-multiplication: exactly 2:5 and 5:2 are refused, with no float rounding.
    if 2 * width >= 5 * height:
        sentences.append(
            f"This image is {width}×{height}: too wide. The width must be less than 2.5 times "
            f"the height (it is {_times(width, height)} times)."
        )
    elif 2 * height >= 5 * width:
        sentences.append(
            f"This image is {width}×{height}: too tall. The height must be less than 2.5 times "
            f"the width (it is {_times(height, width)} times)."
        )
    shorter = min(width, height)
    if shorter <= MIN_SHORT_SIDE:
        sentences.append(
            f"This image is {width}×{height}: its shorter side is {shorter} px. "
            f"The shorter side must be more than {MIN_SHORT_SIDE} px."
        )
    return sentences


def _times(longer: int, shorter: int) -> str:
    text = _decimal(longer, shorter, 2)
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


def _wrong_format_sentence(data: bytes) -> str:
    kind = _impostor(data)
    if kind is None:
        return "This file is not a JPEG or PNG image. Only JPEG and PNG images can be used."
    return f"This file is {kind}, not a JPEG or PNG. Only JPEG and PNG images can be used."


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


# --- EXIF orientation --------------------------------------------------------------------------


def exif_orientation(payload: bytes | memoryview | None) -> int:
    """Orientation (1-8) from a TIFF-structured EXIF block; anything odd counts as 1.

    Read by hand rather than with Pillow's Exif: Pillow loads the data of every IFD0 tag, and a
    crafted 64 KB APP1 pointing thousands of tags at the same bytes made it allocate ~300 MB.
    """
    if payload is None:
        return 1
    data = bytes(payload[:65536])
    if data.startswith(b"Exif\x00\x00"):
        data = data[6:]
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        return 1
    try:
        magic, ifd = struct.unpack_from(order + "HI", data, 2)
        if magic != 42:
            return 1
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for index in range(count):
            tag, kind, number = struct.unpack_from(order + "HHI", data, ifd + 2 + 12 * index)
            if tag != 0x0112:
                continue
            if number != 1 or kind not in (3, 4):
                return 1
            (value,) = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, ifd + 10 + 12 * index)
            return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


# --- Reading the structure (shared with imagefix) ----------------------------------------------


@dataclass(frozen=True)
class Refusals:
    """How the structure readers refuse: the check's sentences unless the caller brings its own.

    imagefix reads files up to 64 MB in Python before Pillow sees them, so it also caps the parts
    walked; the check reads at most 20 MB and walks them all.
    """

    damaged: Callable[[str], ImageRejected] = _damaged
    uncommon_jpeg: str = (
        "This JPEG uses an uncommon kind of compression (lossless, hierarchical or "
        "arithmetic coding) that many programs can't read. Save it again as a standard JPEG."
    )
    max_parts: int | None = None
    too_many_parts: Callable[[str], ImageRejected] = _damaged

    def count(self, parts: int, kind: str) -> None:
        if self.max_parts is not None and parts > self.max_parts:
            raise self.too_many_parts(kind)


_CHECKING = Refusals()


# --- JPEG --------------------------------------------------------------------------------------

# Marker bytes. Only Huffman-coded baseline, extended and progressive frames are widely readable.
_SOF_COMMON = {0xC0, 0xC1, 0xC2}
_SOF_UNCOMMON = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x00, 0x01, *range(0xD0, 0xD8)}
_PROGRESSIVE, _DHT, _DNL, _DQT, _DRI = 0xC2, 0xC4, 0xDC, 0xDB, 0xDD
_APP0, _APP1, _APP2, _APP14, _COM, _SOS, _SOI, _EOI = 0xE0, 0xE1, 0xE2, 0xEE, 0xFE, 0xDA, 0xD8, 0xD9
_APPLICATION = {*range(0xE0, 0xF0), _COM}
# What may end a scan's entropy-coded data; any other marker there is a damaged byte.
_AFTER_SCAN = {_DHT, _DNL, _DQT, _DRI, _SOS, _EOI, *_APPLICATION}
# In entropy-coded data 0xFF 0x00 is a data byte and 0xFF 0xD0-0xD7 a restart marker, which
# must come in that cyclic order; any other marker ends the scan. Runs of 0xFF are fill.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_ANY_MARKER = re.compile(rb"\xff[^\x00\xff]")
_RESTART = re.compile(rb"\xff([\xd0-\xd7])")
_RESTART_CYCLE = bytes(range(0xD0, 0xD8))
_RESTART_WINDOW = 256 * 1024

_Component = tuple[int, int, int]  # (id, horizontal sampling, vertical sampling)


@dataclass(frozen=True)
class JpegHeader:
    width: int  # as stored, before orientation
    height: int
    orientation: int
    progressive: bool
    components: tuple[_Component, ...]
    restart_interval: int
    # SOI, JFIF/Adobe and every other segment up to the first scan: all libjpeg needs before the
    # scans. The frame header (SOFn) starts at frame_at.
    head: bytes
    frame_at: int
    scan_start: int  # where the first SOS marker is
    icc_segments: list[memoryview]  # APP2 ICC_PROFILE bodies in file order (only fixes use them)
    # False when the frame or restart interval is malformed: the check refuses that; a fix does
    # not, since libjpeg decides when it decodes.
    sound: bool


def read_jpeg_header(data: bytes, refusals: Refusals = _CHECKING) -> JpegHeader:
    """Walk the segments up to the first scan: size, EXIF orientation, and what the decoder needs.

    APPn and COM segments are left out of what Pillow sees: its JPEG opener keeps every one in
    memory and parses EXIF and MPF (MPO) blocks with a reader that crafted blocks can make
    allocate hundreds of MB. libjpeg only needs JFIF and Adobe markers (colour transform,
    inverted CMYK), which we keep.
    """
    head = bytearray(data[:2])
    frame: tuple[int, int, tuple[_Component, ...]] | None = None
    frame_at = 0
    progressive = False
    interval = 0
    sound = True
    exif: memoryview | None = None
    icc: list[memoryview] = []
    kept_app: set[int] = set()
    view = memoryview(data)
    for parts, (marker, start, stop) in enumerate(jpeg_segments(data, refusals.damaged), 1):
        refusals.count(parts, "JPEG")
        body = view[start:stop]
        segment = view[start - 4 : stop]
        if marker == _SOS:
            if frame is None:
                raise refusals.damaged("JPEG")
            width, height, components = frame
            return JpegHeader(
                width=width,
                height=height,
                orientation=exif_orientation(exif),
                progressive=progressive,
                components=components,
                restart_interval=interval,
                head=bytes(head),
                frame_at=frame_at,
                scan_start=start - 4,
                icc_segments=icc,
                sound=sound,
            )
        if marker in _APPLICATION:
            if marker == _APP1 and exif is None and body[:6].tobytes() == b"Exif\x00\x00":
                exif = body[6:]
            elif marker == _APP2 and body[:12].tobytes() == b"ICC_PROFILE\x00":
                icc.append(body)
            wanted = {_APP0: b"JFIF\x00", _APP14: b"Adobe"}.get(marker)
            if wanted is not None and marker not in kept_app and body[: len(wanted)].tobytes() == wanted:
                kept_app.add(marker)
                head += segment
            continue
        if marker in _SOF_COMMON or marker in _SOF_UNCOMMON:
            if frame is not None:
                raise refusals.damaged("JPEG")
            if marker in _SOF_UNCOMMON:
                raise ImageRejected(refusals.uncommon_jpeg)
            frame = _read_frame(body, refusals.damaged)
            sound = sound and bool(frame[2])
            frame_at = len(head)
            progressive = marker == _PROGRESSIVE
        elif marker == _DRI:
            if len(body) == 2:
                interval = int.from_bytes(body, "big")
            else:
                sound = False
        head += segment
    raise AssertionError("jpeg_segments ends with SOS or raises")  # pragma: no cover


def _read_frame(
    body: memoryview, damaged: Callable[[str], ImageRejected]
) -> tuple[int, int, tuple[_Component, ...]]:
    """(width, height, components); no components when their list is malformed."""
    if len(body) < 6:
        raise damaged("JPEG")
    height, width, count = struct.unpack_from(">HHB", body, 1)
    if width == 0 or height == 0:
        raise damaged("JPEG")
    if count == 0 or len(body) != 6 + 3 * count:
        return width, height, ()
    components = tuple((body[6 + 3 * i], body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F) for i in range(count))
    if len({cid for cid, _, _ in components}) != count or not all(
        1 <= h <= 4 and 1 <= v <= 4 for _, h, v in components
    ):
        return width, height, ()
    return width, height, components


def _mcu_size(components: Sequence[_Component]) -> tuple[int, int]:
    return 8 * max(h for _, h, _ in components), 8 * max(v for _, _, v in components)


_NOT_FF = re.compile(rb"[^\xff]")
_MAX_STANDALONE = 64


def _marker_at(data: bytes, pos: int, damaged: Callable[[str], ImageRejected] = _damaged) -> tuple[int, int]:
    """The marker after the 0xFF fill bytes at `pos`, and the position just past it."""
    found = _NOT_FF.search(data, pos)
    if found is None:
        raise damaged("JPEG")
    return data[found.start()], found.start() + 1


def jpeg_segments(
    data: bytes, damaged: Callable[[str], ImageRejected] = _damaged
) -> Iterator[tuple[int, int, int]]:
    """The segments of a JPEG up to its first scan, as (marker, body start, body end).

    The walk starts after SOI and ends with the SOS segment; the scan's data begins at its body
    end. Stray bytes and 0xFF fill between segments are skipped, as Pillow and libjpeg do, by
    searching rather than byte by byte (20 MB of fill would otherwise take seconds). A segment
    that runs past the end, an SOI/EOI before the first scan, or more than a few standalone
    markers (RSTn, TEM) between segments raises `damaged("JPEG")`.
    """
    end = len(data)
    pos = 2
    standalone = 0
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            raise damaged("JPEG")
        marker, pos = _marker_at(data, pos, damaged)
        if marker in _STANDALONE:
            # Tolerated, as libjpeg does, but never in bulk: walking millions of them (18 MB of
            # restart markers) took 9 s; a real file has none before its first scan.
            standalone += 1
            if standalone > _MAX_STANDALONE:
                raise damaged("JPEG")
            continue
        if marker in (_SOI, _EOI) or pos + 2 > end:
            raise damaged("JPEG")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > end:
            raise damaged("JPEG")
        yield marker, pos + 2, pos + length
        if marker == _SOS:
            return
        pos += length


def _verify_jpeg(data: bytes, header: JpegHeader) -> None:
    """Prove the file is whole without decoding it: every scan present and complete, then EOI.

    A full decode proves little more and costs much more. libjpeg treats damaged entropy-coded
    data as a warning and fills in grey: a file cut short with an end marker appended, bit
    flips or garbage all decode "fine"; only a missing end marker stops it. It also costs time
    in proportion to the file (~130 ms for 20 MB) and, for progressive or multi-scan files,
    memory for every coefficient (3-8 bytes a pixel: 74-150 MB at 26 MP). Instead:

    - every segment between scans is well formed, with nothing but fill bytes between them;
    - the entropy-coded data of each scan is not empty and holds only stuffed 0xFF bytes and,
      when a restart interval is set, exactly the restart markers its MCU count calls for, in
      order (so a scan cut short with an end marker glued on is caught wherever the file has
      restart markers, as some cameras and encoders write; without them only a Huffman
      decode could tell, and libjpeg's doesn't);
    - together the scans deliver every component, and in a progressive file every
      coefficient to full precision, as JPEG's progression rules demand;
    - the end-of-image marker is there. What follows it (MPO pictures, motion-photo videos)
      is not read: like every JPEG decoder, the upstream sees the primary picture.

    Finally libjpeg itself reads every table and scan header, from a skeleton of the file
    whose frame is one MCU and whose scans hold no data, so it judges what it would refuse
    (undefined or bogus tables, bad progressions, unsupported precisions) in microseconds.
    """
    progress = _ScanProgress(header)
    mcu = _mcu_size(header.components)
    skeleton = bytearray(header.head)
    skeleton[header.frame_at + 5 : header.frame_at + 9] = struct.pack(">HH", mcu[1], mcu[0])
    interval = header.restart_interval
    view = memoryview(data)
    end = len(data)
    pos, marker = header.scan_start + 2, _SOS
    while marker != _EOI:
        if marker in _STANDALONE or marker == _SOI or pos + 2 > end:
            raise _damaged("JPEG")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > end:
            raise _damaged("JPEG")
        segment = view[pos - 2 : pos + length]
        pos += length
        if marker == _SOS:
            mcus = progress.scan(segment[4:])
            skeleton += segment
            pos, marker = _skip_entropy_coded_data(data, pos, mcus, interval)
            continue
        if marker in _SOF_COMMON or marker in _SOF_UNCOMMON:
            raise _damaged("JPEG")
        if marker == _DRI:
            if length != 4:
                raise _damaged("JPEG")
            interval = int.from_bytes(segment[4:], "big")
        if marker not in _APPLICATION:
            skeleton += segment
        # Between scans a marker must follow at once; stray bytes here mean damaged data.
        if pos >= end or data[pos] != 0xFF:
            raise _damaged("JPEG")
        marker, pos = _marker_at(data, pos)
    progress.finish()
    skeleton += bytes((0xFF, _EOI))
    _decode_skeleton(bytes(skeleton), mcu)


def _skip_entropy_coded_data(data: bytes, start: int, mcus: int, interval: int) -> tuple[int, int]:
    """(position after the marker that ends the scan, that marker), checking restart markers.

    Everything here runs inside the regex engine: a crafted file with a restart marker after
    every MCU holds millions of them, too many to visit one by one in Python.
    """
    # Without a restart interval a restart marker ends the scan like any other stray marker (and
    # is refused below), so one pass finds the end; with one, a second pass reads them all.
    found = (_SCAN_END if interval else _ANY_MARKER).search(data, start)
    if found is None:
        raise _damaged("JPEG")
    stop, marker = found.start(), data[found.end() - 1]
    while stop > start and data[stop - 1] == 0xFF:  # fill bytes before the marker
        stop -= 1
    if stop == start or marker not in _AFTER_SCAN:
        raise _damaged("JPEG")
    if not interval:
        return found.end(), marker
    expected = -(-mcus // interval) - 1
    seen = bytearray()
    for window in range(start, stop, _RESTART_WINDOW):
        # The window reaches one byte past its end so that a marker split across two is seen once.
        seen += b"".join(_RESTART.findall(data, window, min(window + _RESTART_WINDOW + 1, stop)))
        if len(seen) > expected:
            raise _damaged("JPEG")
    if seen != _RESTART_CYCLE * (expected // 8) + _RESTART_CYCLE[: expected % 8]:
        raise _damaged("JPEG")
    return found.end(), marker


class _ScanProgress:
    """What the scans so far have delivered, per component and coefficient."""

    def __init__(self, header: JpegHeader) -> None:
        self._width, self._height = header.width, header.height
        self._progressive = header.progressive
        self._sampling = {cid: (h, v) for cid, h, v in header.components}
        self._max_h = max(h for h, _ in self._sampling.values())
        self._max_v = max(v for _, v in self._sampling.values())
        # The lowest bit of each coefficient sent so far (successive approximation: a first
        # scan sends bits from Al up, each refinement one bit lower); None: not sent yet.
        self._low_bit: dict[int, list[int | None]] = {cid: [None] * 64 for cid in self._sampling}

    def scan(self, body: memoryview) -> int:
        """Record one scan header; the number of MCUs its entropy-coded data must hold."""
        count = body[0] if body else 0
        if not 1 <= count <= 4 or len(body) != 4 + 2 * count:
            raise _damaged("JPEG")
        ids = [body[1 + 2 * i] for i in range(count)]
        if len(set(ids)) != count or not all(cid in self._sampling for cid in ids):
            raise _damaged("JPEG")
        first, last, high, low = body[-3], body[-2], body[-1] >> 4, body[-1] & 0x0F
        if not self._progressive:
            first, last, high, low = 0, 63, 0, 0  # libjpeg ignores these in sequential files
        elif (
            first > last
            or last > 63
            or (first == 0) != (last == 0)
            or (first > 0 and count != 1)
            or low > 13
            or (high and low != high - 1)
        ):
            raise _damaged("JPEG")
        for cid in ids:
            bits = self._low_bit[cid]
            if first > 0 and bits[0] is None:  # AC coefficients before the DC ones
                raise _damaged("JPEG")
            for k in range(first, last + 1):
                if bits[k] != (high or None):
                    raise _damaged("JPEG")
                bits[k] = low
        if count > 1:
            return -(-self._width // (8 * self._max_h)) * -(-self._height // (8 * self._max_v))
        h, v = self._sampling[ids[0]]
        return -(-self._width * h // (8 * self._max_h)) * -(-self._height * v // (8 * self._max_v))

    def finish(self) -> None:
        if any(bit != 0 for bits in self._low_bit.values() for bit in bits):
            raise _damaged("JPEG")


def _decode_skeleton(skeleton: bytes, size: tuple[int, int]) -> None:
    try:
        with Image.open(io.BytesIO(skeleton), formats=["JPEG"]) as image:
            opened = image.size
            image.load()
    except Exception:
        # Pillow and libjpeg signal bad input with many types (OSError, SyntaxError, struct.error,
        # ValueError, even IndexError); for user bytes every one of them means "can't be read".
        raise _damaged("JPEG") from None
    if opened != size:
        raise _damaged("JPEG")


# --- PNG ---------------------------------------------------------------------------------------

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_CHUNK_TYPE = re.compile(rb"[A-Za-z]{4}")
_DECODER_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


@dataclass(frozen=True)
class PngHeader:
    width: int  # as stored, before orientation
    height: int
    orientation: int
    bit_depth: int
    color_type: int
    interlaced: bool
    idat: list[memoryview]
    compressed_text: list[tuple[memoryview, bool]]  # (zlib stream, counts as text); iCCP: False
    plain_text_bytes: int
    # The signature and the IHDR, PLTE, tRNS, IDAT and IEND chunks: all a decoder needs.
    decoder_parts: list[memoryview]
    # False when something only the check refuses was met (see read_png_header).
    sound: bool


def read_png_header(data: bytes, refusals: Refusals = _CHECKING) -> PngHeader:
    """Walk every chunk: structure, order and CRCs. Nothing is inflated here.

    Lengths, CRCs, IHDR's size and IEND after some IDAT are what every reader needs. The rest
    (chunk names and order, IHDR's fields, bytes after IEND, unknown critical chunks, malformed
    text) only clears `sound`: the check refuses such a file, while a fix, which hands the
    decoder only decoder_parts and redraws the pixels, can still try.

    An animated PNG (acTL, fcTL, fdAT) is accepted: its IDAT is the default image that every
    non-animating decoder shows, the upstream included, so that is the picture we check; the
    frames are only CRC-checked. Bytes after IEND are refused: no encoder writes them, and
    they are how image/archive polyglots are made.
    """
    damaged = refusals.damaged
    end = len(data)
    view = memoryview(data)
    pos = len(PNG_SIGNATURE)
    decoder: list[memoryview] = [view[:pos]]
    ihdr: tuple[int, int, int, int, int] | None = None
    idat: list[memoryview] = []
    idat_closed = False
    seen_plte = False
    sound = True
    exif: memoryview | None = None
    compressed: list[tuple[memoryview, bool]] = []
    plain_text = 0
    parts = 0
    while True:
        parts += 1
        refusals.count(parts, "PNG")
        if pos + 12 > end:
            raise damaged("PNG")
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunk_end = pos + 12 + length
        if length > 0x7FFFFFFF or chunk_end > end:
            raise damaged("PNG")
        body = view[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(view[pos + 4 : pos + 8 + length]) != crc:
            raise damaged("PNG")
        if kind in _DECODER_CHUNKS:
            decoder.append(view[pos:chunk_end])
        if not _CHUNK_TYPE.fullmatch(kind):
            sound = False
        pos = chunk_end

        if ihdr is None:
            if kind != b"IHDR" or length != 13:
                raise damaged("PNG")
            width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            if not 0 < width <= 0x7FFFFFFF or not 0 < height <= 0x7FFFFFFF:
                raise damaged("PNG")
            if (
                depth not in _PNG_DEPTHS.get(color, set())
                or (compression, filtering) != (0, 0)
                or interlace not in (0, 1)
            ):
                sound = False
            ihdr = (width, height, depth, color, interlace)
            continue
        if kind == b"IDAT":
            if idat_closed or (ihdr[3] == 3 and not seen_plte):
                sound = False
            idat.append(body)
            continue
        if idat:
            idat_closed = True
        if kind == b"IEND":
            if not idat:
                raise damaged("PNG")
            if length != 0 or pos != end:
                sound = False
            break
        if kind == b"IHDR" or (
            kind == b"PLTE" and (idat or seen_plte or length % 3 or not 0 < length <= 768)
        ):
            sound = False
        if kind == b"PLTE":
            seen_plte = True
        elif kind[0] < 0x61 and kind not in _DECODER_CHUNKS:
            # An unknown critical chunk (upper-case first letter) means "don't show this without
            # understanding me"; Apple's CgBI is the one met in the wild.
            sound = False
        elif kind == b"eXIf" and exif is None:
            exif = body
        elif kind == b"tEXt":
            plain_text += length
        elif kind in (b"zTXt", b"iTXt", b"iCCP"):
            try:
                text = _png_compressed_part(data, pos - 4 - length, pos - 4, kind)
            except ValueError:
                sound = False
                continue
            if text is None:
                plain_text += length
            else:
                compressed.append((text, kind != b"iCCP"))

    if ihdr is None:  # unreachable: the loop only ends after IEND, which needs IHDR first
        raise damaged("PNG")
    width, height, depth, color, interlace = ihdr
    return PngHeader(
        width=width,
        height=height,
        orientation=exif_orientation(exif),
        bit_depth=depth,
        color_type=color,
        interlaced=interlace == 1,
        idat=idat,
        compressed_text=compressed,
        plain_text_bytes=plain_text,
        decoder_parts=decoder,
        sound=sound,
    )


def _png_compressed_part(data: bytes, start: int, stop: int, kind: bytes) -> memoryview | None:
    """The zlib stream inside a zTXt, iCCP or compressed iTXt chunk; None for uncompressed iTXt.

    Offsets are absolute so that `data.find` works without copying a chunk that may be 20 MB.
    Raises ValueError when the chunk is malformed.
    """
    keyword_end = data.find(b"\x00", start, min(stop, start + 80))
    if keyword_end <= start:
        raise ValueError(kind)
    if kind != b"iTXt":
        if keyword_end + 2 > stop or data[keyword_end + 1] != 0:
            raise ValueError(kind)
        return memoryview(data)[keyword_end + 2 : stop]
    if keyword_end + 3 > stop:
        raise ValueError(kind)
    flag, method = data[keyword_end + 1], data[keyword_end + 2]
    language_end = data.find(b"\x00", keyword_end + 3, stop)
    translated_end = data.find(b"\x00", language_end + 1, stop) if language_end >= 0 else -1
    if translated_end < 0 or flag not in (0, 1) or (flag == 1 and method != 0):
        raise ValueError(kind)
    return memoryview(data)[translated_end + 1 : stop] if flag == 1 else None


def _row_plan(header: PngHeader) -> list[tuple[int, int]]:
    """(rows, bytes per row including the filter byte) for each pass, in stream order."""
    bits = _PNG_CHANNELS[header.color_type] * header.bit_depth
    passes = _ADAM7 if header.interlaced else ((0, 0, 1, 1),)
    plan = []
    for x0, y0, dx, dy in passes:
        columns = -(-(header.width - x0) // dx) if header.width > x0 else 0
        rows = -(-(header.height - y0) // dy) if header.height > y0 else 0
        if columns and rows:
            plan.append((rows, 1 + (columns * bits + 7) // 8))
    return plan


class _RowChecker:
    """Counts inflated bytes against the row plan and checks every row's filter byte (0-4)."""

    def __init__(self, plan: list[tuple[int, int]]) -> None:
        self._passes: Iterator[tuple[int, int]] = iter(plan)
        self._stride = 0
        self._left = 0  # bytes still expected in the current pass
        self._offset = 0  # position inside the current pass
        self.complete = False
        self._next_pass()

    def _next_pass(self) -> None:
        rows, stride = next(self._passes, (0, 0))
        self._stride, self._left, self._offset = stride, rows * stride, 0
        self.complete = rows == 0

    def feed(self, chunk: bytes) -> bool:
        start = 0
        while start < len(chunk):
            if self.complete:
                return False
            take = min(self._left, len(chunk) - start)
            first_row = start + (-self._offset % self._stride)
            filters = chunk[first_row : start + take : self._stride]
            if filters and max(filters) > 4:
                return False
            start += take
            self._offset += take
            self._left -= take
            if self._left == 0:
                self._next_pass()
        return True


def _verify_png(header: PngHeader) -> None:
    _check_png_text(header)
    checker = _RowChecker(_row_plan(header))
    inflater = _inflate_zlib.decompressobj()
    try:
        for chunk in header.idat:
            # Small input steps keep unconsumed_tail (copied on every call) short.
            for offset in range(0, len(chunk), _INFLATE_INPUT_STEP):
                pending: bytes | memoryview = chunk[offset : offset + _INFLATE_INPUT_STEP]
                while not inflater.eof:
                    before = len(pending)
                    out = inflater.decompress(pending, _INFLATE_OUTPUT_STEP)
                    pending = inflater.unconsumed_tail
                    if not checker.feed(out) or (pending and not out and len(pending) == before):
                        raise _damaged("PNG")
                    # A full output step may leave output buffered inside the inflater after all
                    # the input went in (a flat 1024×1024 picture does): drain it before moving on.
                    if not pending and len(out) < _INFLATE_OUTPUT_STEP:
                        break
                if inflater.eof:
                    break
            if inflater.eof:
                # Bytes after the end of the compressed stream are ignored, as libpng does.
                break
    except _INFLATE_ERRORS:
        raise _damaged("PNG") from None
    if not inflater.eof or not checker.complete:
        raise _damaged("PNG")


def _check_png_text(header: PngHeader) -> None:
    total = header.plain_text_bytes
    for compressed, is_text in header.compressed_text:
        inflater = zlib.decompressobj()
        try:
            # One bounded call; the output (at most the limit + 1 byte) is dropped straight away.
            size = len(inflater.decompress(compressed, _TEXT_CHUNK_LIMIT + 1))
        except zlib.error:
            raise _damaged("PNG") from None
        if size > _TEXT_CHUNK_LIMIT:
            raise _text_too_large()
        total += size if is_text else 0
    if total > _TEXT_TOTAL_LIMIT:
        raise _text_too_large()


def _text_too_large() -> ImageRejected:
    return ImageRejected(
        "This PNG file carries an unusually large block of hidden text (metadata). "
        "Save the image again without metadata to use it."
    )
