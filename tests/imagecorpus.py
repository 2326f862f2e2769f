"""Hostile inputs for the first-frame checks: image files and image links, with their verdicts.

The builders make real files (the valid ones open in Pillow); each hostile one differs from a
valid file in exactly the way its name says. HOSTILE is the corpus of files and REFUSED_LINKS
the links to private or local addresses; `python -m tests.imagecorpus` prints the tally.
"""

import contextlib
import dataclasses
import functools
import io
import math
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile

from playground.lib.linkfetch import LinkRejected, fetch_image
from playground.pictures import MAX_BYTES, MAX_PIXELS, ImageRejected, check_image
from tests.imagefiles import image_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


# --- PNG ---------------------------------------------------------------------------------------


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) for every chunk of a well-formed PNG."""
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack_from(">I", png, pos)
        chunks.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(chunk(kind, body) for kind, body in chunks)


def insert_chunk(png: bytes, kind: bytes, body: bytes, *, before: bytes = b"IDAT") -> bytes:
    """Add a chunk just before the first chunk of type `before`."""
    chunks = png_chunks(png)
    index = next(i for i, (k, _) in enumerate(chunks) if k == before)
    return build_png([*chunks[:index], (kind, body), *chunks[index:]])


def pad_png(png: bytes, total: int) -> bytes:
    """The same picture, grown to exactly `total` bytes with a private ancillary chunk."""
    return insert_chunk(png, b"paDd", b"\x00" * (total - len(png) - 12), before=b"IEND")


def png_with_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose IHDR claims another size: the pixel data no longer matches it."""
    chunks = png_chunks(png)
    ihdr = chunks[0][1]
    chunks[0] = (b"IHDR", struct.pack(">II", width, height) + ihdr[8:])
    return build_png(chunks)


def raw_png(
    width: int,
    height: int,
    *,
    color_type: int = 2,
    depth: int = 8,
    interlace: bool = False,
    filter_byte: int = 0,
    extra_raw: bytes = b"",
    drop_raw: int = 0,
    palette: bytes | None = None,
) -> bytes:
    """A PNG written byte by byte, with a controllable raw stream (rows and filter bytes)."""
    bits = CHANNELS[color_type] * depth
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        columns = -(-(width - x0) // dx) if width > x0 else 0
        rows = -(-(height - y0) // dy) if height > y0 else 0
        if not columns or not rows:
            continue
        stride = (columns * bits + 7) // 8
        for row in range(rows):
            raw.append(filter_byte)
            raw += bytes((row * 7 + i) % 251 for i in range(stride)) if filter_byte == 0 else bytes(stride)
    raw += extra_raw
    if drop_raw:
        del raw[-drop_raw:]
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, int(interlace)))]
    if color_type == 3:
        chunks.append((b"PLTE", palette if palette is not None else bytes(range(48))))
    chunks += [(b"IDAT", zlib.compress(bytes(raw))), (b"IEND", b"")]
    return build_png(chunks)


def png_header_only(width: int, height: int) -> bytes:
    """IHDR for any size followed by a token IDAT: a decompression bomb's calling card."""
    return build_png(
        [
            (b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
            (b"IDAT", zlib.compress(b"\x00" * 64)),
            (b"IEND", b""),
        ]
    )


def text_chunk(kind: bytes, text_size: int) -> tuple[bytes, bytes]:
    """A compressed zTXt/iTXt chunk whose text inflates to `text_size` bytes."""
    compressed = zlib.compress(b"A" * text_size, 9)
    if kind == b"zTXt":
        return kind, b"Comment\x00\x00" + compressed
    return kind, b"Comment\x00\x01\x00en\x00Kommentar\x00" + compressed


# --- JPEG --------------------------------------------------------------------------------------


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def insert_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Segments placed right after SOI, where APPn and COM normally live."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def pad_jpeg(jpeg: bytes, total: int) -> bytes:
    """The same picture, grown to exactly `total` bytes with COM segments."""
    extra = total - len(jpeg)
    count = -(-extra // 65537)
    sizes = [extra // count + (1 if i < extra % count else 0) for i in range(count)]
    return insert_segments(jpeg, *(jpeg_segment(0xFE, b"\x00" * (size - 4)) for size in sizes))


def jpeg_with_size(jpeg: bytes, width: int, height: int, *, marker: int = 0xC0) -> bytes:
    """A JPEG whose SOF claims another size (the scan data then no longer matches)."""
    sof = jpeg.index(bytes((0xFF, marker)))
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def jpeg_with_sof(jpeg: bytes, marker: int) -> bytes:
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 1] + bytes((marker,)) + jpeg[sof + 2 :]


def exif_block(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    return image_bytes(width, height, "JPEG", exif=exif_block(orientation))


def png_with_orientation(width: int, height: int, orientation: int) -> bytes:
    return image_bytes(width, height, "PNG", exif=exif_block(orientation))


def tiff_ifd(entries: list[tuple[int, int, int, bytes]], *, order: str = "<") -> bytes:
    """A TIFF header and one IFD of (tag, type, count, 4-byte value) entries."""
    magic = b"II" if order == "<" else b"MM"
    body = magic + struct.pack(order + "HI", 42, 8) + struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack(order + "HHI", tag, kind, count) + value
    return body + b"\x00\x00\x00\x00"


def exif_ifd_bomb() -> bytes:
    """An APP1 EXIF block whose thousands of tags all point at the same 64 KB of bytes.

    Pillow's Exif reader copies each tag's data; opening this with Pillow cost ~300 MB.
    """
    entries = [(0x8000 + i, 7, 65000, struct.pack("<I", 8)) for i in range(5000)]
    payload = (b"Exif\x00\x00" + tiff_ifd(entries)).ljust(65531, b"\x00")[:65531]
    return jpeg_segment(0xE1, payload)


def mpf_index_bomb() -> bytes:
    """An APP2 MPF (MPO index) block built like exif_ifd_bomb: Pillow reads it with the same reader."""
    entries = [(0x8000 + i, 7, 65000, struct.pack("<I", 8)) for i in range(5000)]
    return jpeg_segment(0xE2, (b"MPF\x00" + tiff_ifd(entries)).ljust(65531, b"\x00")[:65531])


def mpo_bytes(width: int, height: int) -> bytes:
    first = Image.new("RGB", (width, height), "orange")
    second = Image.new("RGB", (width // 2, height // 2), "navy")
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    return buffer.getvalue()


def apng_bytes(width: int, height: int, frames: int = 3) -> bytes:
    images = [Image.new("RGB", (width, height), color) for color in ("orange", "navy", "teal")[:frames]]
    buffer = io.BytesIO()
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


# --- The hostile corpus ------------------------------------------------------------------------
#
# Every file the first-frame checks are held to, with the verdict each must get. The tests run
# each case; `python -m tests.imagecorpus` runs them all and prints the tally.

DAMAGED_JPEG = "This JPEG file is damaged or incomplete, so it can't be used."
DAMAGED_PNG = "This PNG file is damaged or incomplete, so it can't be used."
NOT_AN_IMAGE = "This file is not a JPEG or PNG image. Only JPEG and PNG images can be used."
TEXT_BOMB = (
    "This PNG file carries an unusually large block of hidden text (metadata). "
    "Save the image again without metadata to use it."
)
UNCOMMON_JPEG = (
    "This JPEG uses an uncommon kind of compression (lossless, hierarchical or arithmetic coding) "
    "that many programs can't read. Save it again as a standard JPEG."
)


def impostor(kind: str) -> str:
    return f"This file is {kind}, not a JPEG or PNG. Only JPEG and PNG images can be used."


def too_many_pixels(width: int, height: int) -> str:
    megapixels = math.ceil(width * height / 100_000) / 10
    return (
        f"This image is {width}×{height} pixels ({megapixels:,g} megapixels). "
        f"The most we accept is {MAX_PIXELS / 1e6:g} megapixels."
    )


def near_cap() -> tuple[int, int]:
    """The largest 4:3 picture within the pixel cap; one more row takes it over."""
    width = math.isqrt(MAX_PIXELS * 4 // 3)
    return width, MAX_PIXELS // width


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    accepted_as: tuple[str, int, int] | None = None  # (mime, displayed width, displayed height)
    refused_with: tuple[str, ...] = ()  # every sentence, in order

    def __post_init__(self) -> None:
        assert (self.accepted_as is None) != (not self.refused_with), self.name


def accept(name: str, make: Callable[[], bytes], width: int, height: int) -> Case:
    return Case(name, make, accepted_as=(_mime_from_name(name), width, height))


def refuse(name: str, make: Callable[[], bytes], *sentences: str) -> Case:
    return Case(name, make, refused_with=sentences)


def _mime_from_name(name: str) -> str:
    # Names start with the format the file really is; MPO is a JPEG.
    return "image/png" if name.startswith(("png", "apng")) else "image/jpeg"


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0xFF
    return bytes(changed)


def png_crc_offset(png: bytes, kind: bytes) -> int:
    start = png.index(kind)
    (length,) = struct.unpack(">I", png[start - 4 : start])
    return start + 4 + length


def noise(seed: int, size: int) -> bytes:
    # Seeded, not secret: the corpus must be the same bytes on every run.
    return random.Random(seed).randbytes(size)  # noqa: S311


def psd_like() -> bytes:
    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 480, 640, 8, 3) + b"\x00" * 100


def heic_like(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00mif1" + b"\x00" * 100


def jpeg_scans(jpeg: bytes) -> list[int]:
    """Where each SOS marker of a Pillow-written JPEG is."""
    return [match.start() for match in re.finditer(rb"\xff\xda", jpeg)]


def with_restart_markers(width: int, height: int, **save_kwargs: Any) -> bytes:
    return image_bytes(width, height, "JPEG", restart_marker_blocks=4, **save_kwargs)


JPEG = image_bytes(640, 480, "JPEG")
PROGRESSIVE = image_bytes(640, 480, "JPEG", progressive=True)
RESTARTS = with_restart_markers(640, 480)
PNG = image_bytes(640, 480)


def _format_confusion() -> list[Case]:
    kinds: list[tuple[str, Callable[[], bytes], str]] = [
        ("gif", lambda: image_bytes(640, 480, "GIF"), "a GIF image"),
        ("webp", lambda: image_bytes(640, 480, "WEBP"), "a WebP image"),
        ("webp-lossless", lambda: image_bytes(640, 480, "WEBP", lossless=True), "a WebP image"),
        ("bmp", lambda: image_bytes(640, 480, "BMP"), "a BMP image"),
        ("tiff", lambda: image_bytes(640, 480, "TIFF"), "a TIFF image"),
        ("tiff-with-jpeg-inside", lambda: image_bytes(640, 480, "TIFF", compression="jpeg"), "a TIFF image"),
        ("pdf", lambda: image_bytes(640, 480, "PDF"), "a PDF document"),
        ("ico", lambda: image_bytes(64, 64, "ICO"), "an icon (ICO) file"),
        ("jpeg-2000", lambda: image_bytes(640, 480, "JPEG2000"), "a JPEG 2000 image"),
        ("psd", psd_like, "a Photoshop (PSD) file"),
        ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 640 480\n", "a PostScript (EPS) file"),
        ("eps-binary", lambda: b"\xc5\xd0\xd3\xc6" + b"\x00" * 40, "a PostScript (EPS) file"),
        ("heic", lambda: heic_like(b"heic"), "a HEIC image"),
        ("avif", lambda: heic_like(b"avif"), "an AVIF image"),
        ("mp4", lambda: heic_like(b"isom"), "a video file"),
        (
            "svg-xml",
            lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="640"/>',
            "an SVG drawing",
        ),
        ("svg", lambda: b"<svg width='640' height='480'></svg>", "an SVG drawing"),
        (
            "html-with-bom",
            lambda: b"\xef\xbb\xbf  <!DOCTYPE html><html><body><img src=x></body></html>",
            "a web page (HTML)",
        ),
        ("html", lambda: b"<html><head><title>404</title></head></html>", "a web page (HTML)"),
        ("text", lambda: b"Not Found\n", "a text file"),
        ("zip", lambda: b"PK\x03\x04" + b"\x00" * 40, "a ZIP archive"),
    ]
    cases = [refuse(f"impostor-{name}", make, impostor(kind)) for name, make, kind in kinds]
    return [
        *cases,
        refuse("random-bytes", lambda: noise(6, 10_000), NOT_AN_IMAGE),
        refuse("byte-ramp", lambda: bytes(range(256)) * 40, NOT_AN_IMAGE),
        refuse("zeros", lambda: b"\x00" * 1000, NOT_AN_IMAGE),
        refuse("pattern", lambda: bytes((0x13, 0x37)) * 5000, NOT_AN_IMAGE),
        refuse("three-bytes", lambda: b"\x00\x01\x02", NOT_AN_IMAGE),
        refuse("empty", lambda: b"", "This file is empty (0 bytes), so there is no picture in it."),
        # MPO (two pictures from phones' portrait and 3D modes) is a JPEG whose first picture
        # every decoder shows; that picture is the one checked, and held to the rules.
        accept("jpeg-mpo", functools.cache(lambda: mpo_bytes(800, 600)), 800, 600),
        refuse(
            "jpeg-mpo-too-wide",
            lambda: mpo_bytes(1300, 500),
            too_wide(1300, 500, "2.6"),
        ),
    ]


def _unusual_but_valid() -> list[Case]:
    # These must pass: refusing them would refuse real photos and screenshots.
    return [
        accept("jpeg-baseline", lambda: JPEG, 640, 480),
        accept("jpeg-progressive", lambda: PROGRESSIVE, 640, 480),
        accept("jpeg-cmyk", lambda: image_bytes(640, 480, "JPEG", mode="CMYK"), 640, 480),
        accept(
            "jpeg-cmyk-progressive",
            lambda: image_bytes(640, 480, "JPEG", mode="CMYK", progressive=True),
            640,
            480,
        ),
        accept("jpeg-grey", lambda: image_bytes(640, 480, "JPEG", mode="L"), 640, 480),
        accept("jpeg-444", lambda: image_bytes(640, 480, "JPEG", subsampling=0, quality=95), 640, 480),
        accept("jpeg-optimized", lambda: image_bytes(640, 480, "JPEG", optimize=True), 640, 480),
        accept("jpeg-restart-markers", lambda: RESTARTS, 640, 480),
        accept(
            "jpeg-progressive-restart-markers",
            lambda: with_restart_markers(641, 479, progressive=True),
            641,
            479,
        ),
        accept(
            "jpeg-with-trailing-video", lambda: JPEG + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000, 640, 480
        ),
        accept("jpeg-stray-bytes-between-segments", lambda: _after_app0(JPEG, b"\x00\x00"), 640, 480),
        accept(
            "jpeg-fill-and-a-few-standalone-markers-between-segments",
            lambda: _after_app0(JPEG, b"\xff" * 100_000 + b"\xff\xd0" * 64),
            640,
            480,
        ),
        accept("png-rgb", lambda: PNG, 640, 480),
        accept("png-palette", lambda: image_bytes(640, 480, mode="P"), 640, 480),
        accept("png-rgba", lambda: image_bytes(640, 480, mode="RGBA"), 640, 480),
        accept("png-grey-alpha", lambda: image_bytes(640, 480, mode="LA"), 640, 480),
        accept("png-grey", lambda: image_bytes(640, 480, mode="L"), 640, 480),
        accept("png-1-bit", lambda: image_bytes(640, 480, mode="1"), 640, 480),
        accept("png-16-bit-grey", lambda: image_bytes(640, 480, mode="I;16"), 640, 480),
        accept("png-16-bit-rgb", lambda: raw_png(641, 479, color_type=2, depth=16), 641, 479),
        accept("png-16-bit-rgba", lambda: raw_png(641, 479, color_type=6, depth=16), 641, 479),
        accept("png-interlaced", lambda: raw_png(641, 479, interlace=True), 641, 479),
        accept(
            "png-interlaced-4-bit-palette",
            lambda: raw_png(333, 301, color_type=3, depth=4, interlace=True),
            333,
            301,
        ),
        accept(
            "png-interlaced-1-bit", lambda: raw_png(333, 301, color_type=0, depth=1, interlace=True), 333, 301
        ),
        accept("png-paeth-filtered", lambda: raw_png(640, 480, filter_byte=4), 640, 480),
        # An animated PNG is judged by its default image, the one non-animating decoders show.
        accept("apng", functools.cache(lambda: apng_bytes(800, 600)), 800, 600),
    ]


def _after_app0(jpeg: bytes, extra: bytes) -> bytes:
    after_app0 = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:after_app0] + extra + jpeg[after_app0:]


def _size_and_pixels() -> list[Case]:
    width, height = near_cap()
    over = too_many_pixels(width, height + 1)
    return [
        accept("jpeg-exactly-20-mb", lambda: pad_jpeg(JPEG, MAX_BYTES), 640, 480),
        accept("png-exactly-20-mb", lambda: pad_png(PNG, MAX_BYTES), 640, 480),
        refuse(
            "jpeg-20-mb-and-1-byte",
            lambda: pad_jpeg(JPEG, MAX_BYTES + 1),
            "This file is 20.1 MB. The largest file we can send is 20 MB.",
        ),
        refuse(
            "png-20-mb-and-1-byte",
            lambda: pad_png(PNG, MAX_BYTES + 1),
            "This file is 20.1 MB. The largest file we can send is 20 MB.",
        ),
        refuse(
            "png-23.4-mb",
            lambda: PNG + b"\x00" * (int(23.4 * 1024 * 1024) - 9000),
            "This file is 23.4 MB. The largest file we can send is 20 MB.",
        ),
        refuse(
            "png-tiny-file-declaring-10000-mp",
            lambda: png_header_only(100_000, 100_000),
            too_many_pixels(100_000, 100_000),
        ),
        refuse(
            "jpeg-tiny-file-declaring-600-mp",
            lambda: jpeg_with_size(JPEG, 30_000, 20_000),
            too_many_pixels(30_000, 20_000),
        ),
        refuse(
            "jpeg-declaring-65535-squared",
            lambda: jpeg_with_size(JPEG, 65_535, 65_535),
            too_many_pixels(65_535, 65_535),
        ),
        accept(
            "png-just-under-the-pixel-cap",
            functools.cache(lambda: image_bytes(width, height, mode="1")),
            width,
            height,
        ),
        accept(
            "jpeg-just-under-the-pixel-cap",
            functools.cache(lambda: image_bytes(width, height, "JPEG", mode="L")),
            width,
            height,
        ),
        refuse("png-just-over-the-pixel-cap", lambda: png_with_size(PNG, width, height + 1), over),
        refuse("jpeg-just-over-the-pixel-cap", lambda: jpeg_with_size(JPEG, width, height + 1), over),
        refuse(
            "jpeg-progressive-just-over-the-pixel-cap",
            lambda: jpeg_with_size(PROGRESSIVE, width, height + 1, marker=0xC2),
            over,
        ),
        refuse(
            "png-ztxt-bomb-64-mb",
            lambda: insert_chunk(PNG, *text_chunk(b"zTXt", 64 * 1024 * 1024)),
            TEXT_BOMB,
        ),
        refuse(
            "png-itxt-bomb-1-mb-and-1-byte",
            lambda: insert_chunk(PNG, *text_chunk(b"iTXt", 1024 * 1024 + 1)),
            TEXT_BOMB,
        ),
        refuse(
            "png-ztxt-1-mb-and-1-byte",
            lambda: insert_chunk(PNG, *text_chunk(b"zTXt", 1024 * 1024 + 1)),
            TEXT_BOMB,
        ),
        refuse("png-65-text-chunks-of-1-mb", lambda: _many_text_chunks(65), TEXT_BOMB),
        accept("png-ztxt-of-1-mb", lambda: insert_chunk(PNG, *text_chunk(b"zTXt", 1024 * 1024)), 640, 480),
        accept("png-itxt-of-1-mb", lambda: insert_chunk(PNG, *text_chunk(b"iTXt", 1024 * 1024)), 640, 480),
        accept("jpeg-exif-ifd-bomb", lambda: insert_segments(JPEG, exif_ifd_bomb()), 640, 480),
        accept("jpeg-mpf-index-bomb", lambda: insert_segments(JPEG, mpf_index_bomb()), 640, 480),
    ]


def _many_text_chunks(count: int) -> bytes:
    kind, body = text_chunk(b"zTXt", 1024 * 1024)
    chunks = png_chunks(PNG)
    return build_png([chunks[0], *[(kind, body)] * count, *chunks[1:]])


def _damaged_jpegs() -> list[Case]:
    scans = jpeg_scans(PROGRESSIVE)
    restart = RESTARTS.index(b"\xff\xd3")
    damaged: list[tuple[str, Callable[[], bytes]]] = [
        ("cut-in-half", lambda: JPEG[: len(JPEG) // 2]),
        ("no-end-marker", lambda: JPEG[:-2]),
        ("progressive-cut-at-three-quarters", lambda: PROGRESSIVE[: len(PROGRESSIVE) * 3 // 4]),
        ("cut-inside-scan", lambda: JPEG[: JPEG.index(b"\xff\xda") + 20]),
        ("cut-inside-frame-header", lambda: JPEG[: JPEG.index(b"\xff\xc0") + 6]),
        ("header-then-garbage", lambda: JPEG[:600] + bytes(range(256)) * 8),
        ("header-then-random-bytes", lambda: JPEG[:600] + noise(5, 20_000)),
        ("only-soi", lambda: b"\xff\xd8"),
        ("soi-and-ff", lambda: b"\xff\xd8\xff"),
        ("soi-eoi", lambda: b"\xff\xd8\xff\xd9"),
        ("zero-height", lambda: jpeg_with_size(JPEG, 640, 0)),
        (
            "two-frames",
            lambda: insert_segments(JPEG, jpeg_segment(0xC0, b"\x08\x01\xe0\x02\x80\x01\x01\x11\x00")),
        ),
        ("no-scan", lambda: JPEG.replace(b"\xff\xda", b"\xff\xd9", 1)),
        ("12-bit-precision", lambda: _patch(JPEG, JPEG.index(b"\xff\xc0") + 4, 12)),
        ("sampling-factor-0", lambda: _patch(JPEG, JPEG.index(b"\xff\xc0") + 11, 0x00)),
        ("scan-of-unknown-component", lambda: _patch(JPEG, JPEG.index(b"\xff\xda") + 5, 9)),
        ("scan-using-undefined-huffman-table", lambda: _patch(JPEG, JPEG.index(b"\xff\xda") + 6, 0x33)),
        ("frame-using-undefined-quantization-table", lambda: _patch(JPEG, JPEG.index(b"\xff\xc0") + 12, 3)),
        ("bogus-huffman-table", lambda: _bogus_huffman_table(JPEG)),
        ("unknown-marker-segment", lambda: insert_segments(JPEG, jpeg_segment(0xF3, b"\x00\x00"))),
        # Walking millions of standalone markers took seconds: past a few, the file is refused.
        ("restart-markers-in-bulk-between-segments", lambda: _after_app0(JPEG, b"\xff\xd0" * 1_000_000)),
        # libjpeg fills a scan cut short with grey when an end marker follows; these are caught by
        # counting restart markers and by the progression of scans.
        ("cut-then-end-marker-with-restart-markers", lambda: RESTARTS[: len(RESTARTS) // 2] + b"\xff\xd9"),
        ("progressive-cut-between-scans-then-end-marker", lambda: PROGRESSIVE[: scans[-1]] + b"\xff\xd9"),
        ("progressive-scan-missing", lambda: PROGRESSIVE[: scans[3]] + PROGRESSIVE[scans[4] :]),
        ("progressive-scan-twice", lambda: PROGRESSIVE[: scans[4]] + PROGRESSIVE[scans[3] :]),
        (
            "progressive-bad-successive-approximation",
            lambda: _patch(PROGRESSIVE, _scan_parameters(PROGRESSIVE, 0) + 2, 0x0E),
        ),
        ("progressive-ac-before-dc", lambda: _first_scan_moved_last(PROGRESSIVE)),
        ("restart-marker-out-of-order", lambda: _patch(RESTARTS, restart + 1, 0xD5)),
        (
            "restart-marker-repeated",
            lambda: RESTARTS[:restart] + RESTARTS[restart : restart + 2] + RESTARTS[restart:],
        ),
        ("restart-marker-missing", lambda: RESTARTS[:restart] + RESTARTS[restart + 2 :]),
        ("restart-marker-without-interval", lambda: JPEG[:-100] + b"\xff\xd0" + JPEG[-100:]),
        ("stray-marker-inside-scan", lambda: JPEG[:-100] + b"\xff\x01" + JPEG[-100:]),
        ("stray-bytes-between-scans", lambda: PROGRESSIVE[: scans[2]] + b"\x00" + PROGRESSIVE[scans[2] :]),
    ]
    return [refuse(f"jpeg-{name}", make, DAMAGED_JPEG) for name, make in damaged]


def _patch(data: bytes, index: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[index] = value
    return bytes(changed)


def _bogus_huffman_table(jpeg: bytes) -> bytes:
    """The first DHT's code counts rewritten to claim four 1-bit codes, which can't exist."""
    counts = jpeg.index(b"\xff\xc4") + 5
    return jpeg[:counts] + bytes([0, 4] + [0] * 14) + jpeg[counts + 16 :]


def _scan_parameters(jpeg: bytes, scan: int) -> int:
    """Where the Ss, Se and Ah/Al bytes of a scan header start."""
    sos = jpeg_scans(jpeg)[scan]
    return sos + 5 + 2 * jpeg[sos + 4]


def _first_scan_moved_last(jpeg: bytes) -> bytes:
    scans = jpeg_scans(jpeg)
    end = len(jpeg) - 2
    return jpeg[: scans[0]] + jpeg[scans[1] : end] + jpeg[scans[0] : scans[1]] + jpeg[end:]


def _damaged_pngs() -> list[Case]:
    chunks = png_chunks(PNG)
    apng = functools.cache(lambda: apng_bytes(800, 600))
    damaged: list[tuple[str, Callable[[], bytes]]] = [
        ("cut", lambda: PNG[:-20]),
        ("cut-one-byte", lambda: PNG[:-1]),
        ("cut-in-idat", lambda: PNG[:40]),
        ("signature-only", lambda: PNG[:8]),
        ("part-of-signature", lambda: PNG[:5]),
        ("bad-ihdr-crc", lambda: flip(PNG, png_crc_offset(PNG, b"IHDR"))),
        ("bad-idat-crc", lambda: flip(PNG, png_crc_offset(PNG, b"IDAT"))),
        ("bit-flip-in-idat", lambda: flip(PNG, PNG.index(b"IDAT") + 10)),
        ("bad-iend-crc", lambda: flip(PNG, png_crc_offset(PNG, b"IEND"))),
        ("bad-fdat-crc-in-apng", lambda: flip(apng(), png_crc_offset(apng(), b"fdAT"))),
        ("header-then-garbage", lambda: PNG[:33] + bytes(range(256)) * 8),
        ("header-then-random-bytes", lambda: PNG[:33] + noise(4, 20_000)),
        ("header-then-zeros", lambda: PNG[:33] + b"\x00" * 1000),
        ("trailing-bytes", lambda: PNG + b"trailing bytes"),
        ("renamed-ihdr", lambda: PNG.replace(b"IHDR", b"IHDr", 1)),
        ("no-iend", lambda: build_png([c for c in chunks if c[0] != b"IEND"])),
        ("no-ihdr", lambda: build_png([c for c in chunks if c[0] != b"IHDR"])),
        ("no-idat", lambda: build_png([c for c in chunks if c[0] != b"IDAT"])),
        ("unknown-critical-chunk", lambda: insert_chunk(PNG, b"CgBI", b"\x50\x00\x20\x06")),
        ("bad-filter-byte", lambda: raw_png(640, 480, filter_byte=5)),
        ("one-row-too-many", lambda: raw_png(640, 480, extra_raw=b"\x00" * 1921)),
        ("one-byte-too-many", lambda: raw_png(640, 480, extra_raw=b"\x00")),
        ("one-byte-too-few", lambda: raw_png(640, 480, drop_raw=1)),
        ("interlaced-one-byte-too-few", lambda: raw_png(640, 480, interlace=True, drop_raw=1)),
        ("palette-image-with-empty-palette", lambda: raw_png(333, 301, color_type=3, depth=8, palette=b"")),
        (
            "palette-image-without-palette",
            lambda: build_png([c for c in png_chunks(raw_png(333, 301, color_type=3)) if c[0] != b"PLTE"]),
        ),
        (
            "zlib-stream-cut",
            lambda: build_png(
                [(k, zlib.compress(zlib.decompress(b))[:-6]) if k == b"IDAT" else (k, b) for k, b in chunks]
            ),
        ),
        ("wider-than-data", lambda: png_with_size(PNG, 641, 480)),
        ("taller-than-data", lambda: png_with_size(PNG, 640, 479)),
        (
            "impossible-bit-depth",
            lambda: build_png([(b"IHDR", struct.pack(">IIBBBBB", 640, 480, 3, 2, 0, 0, 0)), *chunks[1:]]),
        ),
        ("text-chunk-not-zlib", lambda: insert_chunk(PNG, b"zTXt", b"Comment\x00\x00not zlib at all")),
        (
            "text-chunk-unknown-method",
            lambda: insert_chunk(PNG, b"zTXt", b"Comment\x00\x01" + zlib.compress(b"x")),
        ),
        ("text-chunk-without-keyword-end", lambda: insert_chunk(PNG, b"zTXt", b"no keyword end")),
    ]
    return [refuse(f"png-{name}", make, DAMAGED_PNG) for name, make in damaged]


def _orientation() -> list[Case]:
    cases = []
    for orientation in range(1, 9):
        turned = orientation >= 5  # 5-8 turn the picture a quarter, so width and height swap
        width, height = (600, 800) if turned else (800, 600)
        cases += [
            accept(
                f"jpeg-exif-orientation-{orientation}", _orientation_maker("JPEG", orientation), width, height
            ),
            accept(
                f"png-exif-orientation-{orientation}", _orientation_maker("PNG", orientation), width, height
            ),
        ]
    broken = {
        "garbage": b"Exif\x00\x00garbage",
        "empty": b"Exif\x00\x00",
        "ifd-offset-out-of-range": b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",
        "too-many-entries": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",
        "orientation-9": b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 9, 0))]),
        "orientation-0": b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 0, 0))]),
        "orientation-as-text": b"Exif\x00\x00" + tiff_ifd([(0x0112, 2, 4, b"six\x00")]),
        "orientation-count-2": b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 2, struct.pack("<HH", 6, 6))]),
        "cut-ifd": b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 6, 0))])[:-10],
        "bigtiff": b"Exif\x00\x00II+\x00" + b"\x00" * 20,
    }
    for name, body in broken.items():
        cases.append(accept(f"jpeg-broken-exif-{name}", _exif_maker(body), 800, 600))
    big_endian = b"Exif\x00\x00" + tiff_ifd([(0x0112, 3, 1, struct.pack(">HH", 6, 0))], order=">")
    as_long = b"Exif\x00\x00" + tiff_ifd([(0x0112, 4, 1, struct.pack("<I", 8))])
    return [
        *cases,
        accept("jpeg-big-endian-exif-orientation-6", _exif_maker(big_endian), 600, 800),
        accept("jpeg-exif-orientation-8-as-long", _exif_maker(as_long), 600, 800),
        accept("png-broken-exif", lambda: insert_chunk(PNG, b"eXIf", b"MM\x00*\x00\x00\xff\xff"), 640, 480),
        refuse(
            "jpeg-rules-use-the-displayed-size",
            lambda: jpeg_with_orientation(1200, 200, 6),
            too_tall(200, 1200, "6"),
            short_side(200, 1200),
        ),
    ]


def _orientation_maker(fmt: str, orientation: int) -> Callable[[], bytes]:
    make = jpeg_with_orientation if fmt == "JPEG" else png_with_orientation
    return lambda: make(800, 600, orientation)


def _exif_maker(app1_body: bytes) -> Callable[[], bytes]:
    return lambda: insert_segments(image_bytes(800, 600, "JPEG"), jpeg_segment(0xE1, app1_body))


def _uncommon_codings() -> list[Case]:
    return [
        refuse(f"jpeg-{name}", _sof_maker(marker), UNCOMMON_JPEG)
        for name, marker in (("lossless", 0xC3), ("arithmetic", 0xC9), ("hierarchical", 0xC5))
    ]


def _sof_maker(marker: int) -> Callable[[], bytes]:
    return lambda: jpeg_with_sof(JPEG, marker)


def too_wide(width: int, height: int, times: str) -> str:
    return (
        f"This image is {width}×{height}: too wide. "
        f"The width must be less than 2.5 times the height (it is {times} times)."
    )


def too_tall(width: int, height: int, times: str) -> str:
    return (
        f"This image is {width}×{height}: too tall. "
        f"The height must be less than 2.5 times the width (it is {times} times)."
    )


def short_side(width: int, height: int) -> str:
    return (
        f"This image is {width}×{height}: its shorter side is {min(width, height)} px. "
        "The shorter side must be more than 300 px."
    )


# The rules at their edges: refused at exactly 2:5, 5:2 and 300 px, accepted just inside.
RULE_EDGES: list[tuple[int, int, tuple[str, ...]]] = [
    (1000, 400, (too_wide(1000, 400, "exactly 2.5"),)),
    (400, 1000, (too_tall(400, 1000, "exactly 2.5"),)),
    (1001, 400, (too_wide(1001, 400, "about 2.51"),)),
    (1800, 400, (too_wide(1800, 400, "4.5"),)),
    (1200, 200, (too_wide(1200, 200, "6"), short_side(1200, 200))),
    (200, 1200, (too_tall(200, 1200, "6"), short_side(200, 1200))),
    (300, 500, (short_side(300, 500),)),
    (500, 300, (short_side(500, 300),)),
    (300, 300, (short_side(300, 300),)),
    (1, 1, (short_side(1, 1),)),
    (1000, 401, ()),
    (401, 1000, ()),
    (999, 400, ()),
    (400, 999, ()),
    (301, 301, ()),
    (301, 500, ()),
    (500, 301, ()),
    (301, 752, ()),
    (752, 301, ()),
]


def _rule_edges() -> list[Case]:
    cases = []
    for fmt, prefix in (("PNG", "png"), ("JPEG", "jpeg")):
        for width, height, sentences in RULE_EDGES:
            name = f"{prefix}-{width}x{height}"
            make = _image_maker(width, height, fmt)
            cases.append(refuse(name, make, *sentences) if sentences else accept(name, make, width, height))
    return cases


def _image_maker(width: int, height: int, fmt: str) -> Callable[[], bytes]:
    return lambda: image_bytes(width, height, fmt)


# The slow builders (26 MP pictures) are cached: several tests share their bytes.
HOSTILE: list[Case] = [
    *_format_confusion(),
    *_unusual_but_valid(),
    *_size_and_pixels(),
    *_damaged_jpegs(),
    *_damaged_pngs(),
    *_orientation(),
    *_uncommon_codings(),
    *_rule_edges(),
]
assert len({case.name for case in HOSTILE}) == len(HOSTILE), "case names must be unique"


# --- Links that must never be fetched ----------------------------------------------------------

# What the stub resolver answers in tests: public-looking names that lead to private addresses.
STUB_DNS: dict[str, list[str]] = {
    "localhost": ["127.0.0.1", "::1"],
    "metadata.google.internal": ["169.254.169.254"],
    "images.example.com": ["10.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.1"],
    "public.example": ["93.184.216.34"],
    "images.test": ["127.0.0.1"],
}

# (link, the address its refusal names, the names the resolver is asked about)
REFUSED_LINKS: list[tuple[str, str, list[str]]] = [
    ("http://127.0.0.1/", "127.0.0.1", []),
    ("http://localhost/", "localhost", []),
    ("http://LOCALHOST./", "localhost", []),
    ("http://images.localhost/", "images.localhost", []),
    ("http://0.0.0.0/", "0.0.0.0", []),  # noqa: S104
    ("http://0/", "0.0.0.0", []),  # noqa: S104
    ("http://127.1/", "127.0.0.1", []),
    ("http://127.0.0.1./", "127.0.0.1", []),
    ("http://2130706433/", "127.0.0.1", []),
    ("http://0x7f000001/", "127.0.0.1", []),
    ("http://0X7F.1/", "127.0.0.1", []),
    ("http://017700000001/", "127.0.0.1", []),
    ("http://10.0.0.1/", "10.0.0.1", []),
    ("http://172.16.0.1/", "172.16.0.1", []),
    ("http://192.168.1.1/", "192.168.1.1", []),
    ("http://100.64.0.1/", "100.64.0.1", []),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", []),
    ("http://224.0.0.1/", "224.0.0.1", []),
    ("http://255.255.255.255/", "255.255.255.255", []),
    ("http://192.0.2.1/", "192.0.2.1", []),
    ("http://198.18.0.1/", "198.18.0.1", []),
    ("http://240.0.0.1/", "240.0.0.1", []),
    ("http://metadata.google.internal/computeMetadata/v1/", "169.254.169.254", ["metadata.google.internal"]),
    ("http://images.example.com/cat.jpg", "10.0.0.1", ["images.example.com"]),
    ("http://mixed.example/cat.jpg", "10.0.0.1", ["mixed.example"]),
    ("https://images.example.com/cat.jpg", "10.0.0.1", ["images.example.com"]),
    ("http://[::1]/", "::1", []),
    ("http://[::]/", "::", []),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1", []),
    ("http://[::ffff:10.0.0.1]/", "10.0.0.1", []),
    ("http://[64:ff9b::10.0.0.1]/", "10.0.0.1", []),
    ("http://[64:ff9b::169.254.169.254]/", "169.254.169.254", []),
    ("http://[64:ff9b:1::a00:1]/", "64:ff9b:1::a00:1", []),
    ("http://[::10.0.0.1]/", "::a00:1", []),
    ("http://[::127.0.0.1]/", "::7f00:1", []),
    ("http://[2002:a00:1::]/", "2002:a00:1::", []),  # 6to4 around 10.0.0.1
    ("http://[2002:7f00:1::1]/", "2002:7f00:1::1", []),  # 6to4 around 127.0.0.1
    ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "2001:0:4136:e378:8000:63bf:f5ff:fffe", []),  # Teredo
    ("http://[2001::a00:1]/", "2001::a00:1", []),  # Teredo
    ("http://[fe80::1]/", "fe80::1", []),
    ("http://[fe80::1%25eth0]/", "fe80::1%eth0", []),
    ("http://[fc00::1]/", "fc00::1", []),
    ("http://[fd12:3456::1]/", "fd12:3456::1", []),
    ("http://[fec0::1]/", "fec0::1", []),
    ("http://[ff02::1]/", "ff02::1", []),
    ("http://[2001:db8::1]/", "2001:db8::1", []),
    ("http://[100::1]/", "100::1", []),
]


def private_address_sentence(address: str) -> str:
    return (
        f"This link points to a private or local network address ({address}), "
        "which we don't fetch for safety."
    )


# --- A huge upload -----------------------------------------------------------------------------


class LazyMultipart:
    """A multipart/form-data body made as it is read: some fields, then one file of `size` bytes.

    Nothing the size of the file is ever held, and `consumed` says how much the server read.
    Like a socket, it hands out at most one chunk per read.
    """

    CHUNK = 64 * 1024

    def __init__(self, fields: dict[str, str], size: int, filename: str = "huge.png") -> None:
        self.boundary = "----lazy-" + uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        )
        head += (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="first_frame"; filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        self._parts = [head + PNG[:16], b"\x00" * self.CHUNK, f"\r\n--{self.boundary}--\r\n".encode()]
        self._sizes = [len(self._parts[0]), size - 16, len(self._parts[2])]
        self.length = sum(self._sizes)
        self.consumed = 0

    def _piece(self, limit: int) -> bytes:
        offset = self.consumed
        for part, size in zip(self._parts, self._sizes, strict=True):
            if offset < size:
                if part is self._parts[1]:  # the file: the same block of zeros, over and over
                    return part[: min(limit, size - offset, len(part))]
                return part[offset : offset + limit]
            offset -= size
        return b""

    def read(self, size: int = -1) -> bytes:
        piece = self._piece(self.CHUNK if size < 0 else min(size, self.CHUNK))
        self.consumed += len(piece)
        return piece

    def readline(self, size: int = -1) -> bytes:
        piece = self._piece(self.CHUNK if size < 0 else min(size, self.CHUNK))
        piece = piece[: piece.find(b"\n") + 1 or len(piece)]
        self.consumed += len(piece)
        return piece


# --- Measuring memory --------------------------------------------------------------------------


@dataclass
class Peak:
    python: int = 0  # peak of Python's own allocations (tracemalloc), in bytes
    # Growth of the process's peak resident memory, which also sees C libraries (libjpeg, zlib);
    # None where the peak can't be reset (it needs Linux's /proc/self/clear_refs).
    rss: int | None = None


@contextlib.contextmanager
def peak_memory(*, trace_python: bool = True) -> Iterator[Peak]:
    """Peak memory of the block. RSS figures mean little in a process that freed big buffers
    before (the allocator hands those out again unseen): measure them in a fresh process."""
    peak = Peak()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # "5" resets the peak RSS (VmHWM) to the current RSS
        before: int | None = _proc_status("VmRSS")
    except OSError:
        before = None
    if trace_python:
        tracemalloc.start()
    try:
        yield peak
    finally:
        if trace_python:
            peak.python = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        if before is not None:
            peak.rss = _proc_status("VmHWM") - before


@dataclass
class PillowWork:
    opened: int = 0  # files handed to Image.open
    # (format, size) of each picture Pillow decoded, at the size it was decoded at: after
    # draft(), a JPEG read at 1/8 scale shows 1/64 of its pixels here.
    decoded: list[tuple[str | None, tuple[int, int]]] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def pillow_work() -> Iterator[PillowWork]:
    """What Pillow was asked to do inside the block: how the cheap paths (refusing from the header
    alone, decoding at a reduced scale) are shown without timing them. Pillow still does the work."""
    work = PillowWork()
    real_open, real_load = Image.open, ImageFile.ImageFile.load

    def counted_open(*args: Any, **kwargs: Any) -> Any:
        work.opened += 1
        return real_open(*args, **kwargs)

    def recorded_load(image: ImageFile.ImageFile) -> Any:
        if image.tile:  # not decoded yet
            work.decoded.append((image.format, image.size))
        return real_load(image)

    Image.open = counted_open
    ImageFile.ImageFile.load = recorded_load  # type: ignore[method-assign,assignment]
    try:
        yield work
    finally:
        Image.open = real_open
        ImageFile.ImageFile.load = real_load  # type: ignore[method-assign]


def rss_growth_of_check(data: bytes) -> int | None:
    """How much check_image(data) grows the peak RSS of a fresh interpreter (None where unknown)."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as file:
        file.write(data)
        file.flush()
        done = subprocess.run(
            [sys.executable, "-m", "tests.imagecorpus", "--rss-of-check", file.name],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            check=True,
        )
    answer = done.stdout.strip()
    return None if answer == "n/a" else int(answer)


def _rss_of_check(path: str) -> str:
    data = Path(path).read_bytes()
    for warm_up in (JPEG, PROGRESSIVE, PNG):  # load Pillow's plugins and fill caches first
        check_image(warm_up)
    with peak_memory(trace_python=False) as peak, contextlib.suppress(ImageRejected):
        check_image(data)
    return "n/a" if peak.rss is None else str(peak.rss)


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{field} is not in /proc/self/status")


# --- The tally ---------------------------------------------------------------------------------


@dataclass
class Tally:
    tried: int = 0
    refused_as_expected: int = 0
    accepted_as_expected: int = 0
    wrongly_accepted: list[str] = dataclasses.field(default_factory=list)
    wrongly_refused: list[str] = dataclasses.field(default_factory=list)
    wrong_sentence: list[str] = dataclasses.field(default_factory=list)
    crashes: list[str] = dataclasses.field(default_factory=list)

    @property
    def all_as_expected(self) -> bool:
        return not (self.wrongly_accepted or self.wrongly_refused or self.wrong_sentence or self.crashes)


def judge(cases: Iterable[Case]) -> Tally:
    tally = Tally()
    for case in cases:
        tally.tried += 1
        data = case.make()
        try:
            checked = check_image(data)
        except ImageRejected as exc:
            if case.accepted_as is not None:
                tally.wrongly_refused.append(f"{case.name}: {exc}")
            elif tuple(exc.messages) != case.refused_with:
                tally.wrong_sentence.append(f"{case.name}: {exc}")
            else:
                tally.refused_as_expected += 1
            continue
        except Exception as exc:  # what the tally is for: anything but a verdict is a crash
            tally.crashes.append(f"{case.name}: {exc!r}")
            continue
        if case.accepted_as is None:
            tally.wrongly_accepted.append(case.name)
        elif (checked.mime, checked.width, checked.height) != case.accepted_as:
            tally.wrong_sentence.append(f"{case.name}: {checked.mime} {checked.width}×{checked.height}")
        else:
            tally.accepted_as_expected += 1
    return tally


def refused_link_count() -> int:
    """How many REFUSED_LINKS are refused as the table says, with no connection ever made."""

    def never_connect(address: str, port: int, timeout: float | None) -> socket.socket:
        raise AssertionError(f"a refused link connected to {address}:{port}")

    def stub_resolver(host: str, port: int) -> list[str]:
        if host not in STUB_DNS:
            raise socket.gaierror(socket.EAI_NONAME, "not in the stub table")
        return list(STUB_DNS[host])

    refused = 0
    for link, address, _ in REFUSED_LINKS:
        try:
            fetch_image(
                link,
                allowed_hosts=[],
                resolver=stub_resolver,
                connector=never_connect,
                timeout=1,
                max_bytes=MAX_BYTES,
            )
        except LinkRejected as exc:
            refused += exc.message == private_address_sentence(address)
    return refused


def main() -> int:
    tally = judge(HOSTILE)
    addresses = refused_link_count()
    print(
        f"{tally.tried} hostile images tried: {tally.refused_as_expected} refused and "
        f"{tally.accepted_as_expected} accepted as expected; {len(tally.crashes)} crashes, "
        f"{len(tally.wrongly_accepted)} wrongly accepted, {len(tally.wrongly_refused)} wrongly refused, "
        f"{len(tally.wrong_sentence)} with the wrong sentence or size."
    )
    print(f"{addresses} of {len(REFUSED_LINKS)} private or local addresses refused without connecting.")
    for problem in [*tally.crashes, *tally.wrongly_accepted, *tally.wrongly_refused, *tally.wrong_sentence]:
        print("  ", problem)
    return 0 if tally.all_as_expected and addresses == len(REFUSED_LINKS) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss-of-check"]:
        print(_rss_of_check(sys.argv[2]))
        raise SystemExit(0)
    raise SystemExit(main())
