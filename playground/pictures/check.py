"""The first-frame check: which bytes we accept, and the sentence we say when we don't.

The rules and their sentences are in rules.py; the format walks in jpeg.py and png.py. On top of
the upstream's rules we refuse what we cannot prove is a whole, honest picture of bounded size,
because the bytes are stored and sent on exactly as received.

Hostile bytes are the normal case here, so the order matters: size, then the format from the
magic bytes, then the header (dimensions, orientation) read by our own small parsers, then the
pixel cap, then the rules, and only then the pass over the whole file that proves it intact,
which never holds the decoded picture in memory.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from playground.pictures.exif import exif_orientation
from playground.pictures.jpeg import JPEG_SIGNATURE, JpegHeader, read_jpeg_header, verify_jpeg
from playground.pictures.png import PNG_SIGNATURE, PngHeader, read_png_header, verify_png
from playground.pictures.rules import (
    EMPTY,
    MAX_BYTES,
    MAX_PIXELS,
    SENTENCES,
    CheckedImage,
    ImageRejected,
    damaged,
    megabytes,
    pixel_sentence,
    refuse_size,
    rule_sentences,
    wrong_format_sentence,
)


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
    refuse_size(data, MAX_BYTES, "send")

    header: PngHeader | JpegHeader
    if data.startswith(PNG_SIGNATURE) or (len(data) < 8 and PNG_SIGNATURE.startswith(data)):
        header = read_png_header(data)
    elif data.startswith(JPEG_SIGNATURE) or data == JPEG_SIGNATURE[:2]:
        header = read_jpeg_header(data)
    else:
        raise ImageRejected(wrong_format_sentence(data))
    if not header.sound:
        raise damaged("PNG" if isinstance(header, PngHeader) else "JPEG")

    # Orientation 5-8 turns the picture a quarter: users see (and measure) it that way, so
    # sentences use the displayed size. The bytes are not re-encoded; the ratio and short-side
    # rules treat width and height alike, so the verdict would be the same either way.
    width, height = header.displayed

    if width * height > MAX_PIXELS:
        raise ImageRejected(pixel_sentence(width, height))
    problems = rule_sentences(width, height)
    if problems:
        raise ImageRejected(problems)

    if isinstance(header, PngHeader):
        verify_png(header)
        return CheckedImage(data=data, mime="image/png", extension="png", width=width, height=height)
    verify_jpeg(data, header)
    return CheckedImage(data=data, mime="image/jpeg", extension="jpg", width=width, height=height)


# How far stored_size walks a file's headers: segments or chunks, and the bytes of one it reads.
_HEADER_PARTS = 4096
_HEADER_READ = 65536
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def stored_size(stream: BinaryIO, size: int) -> tuple[int, int]:
    """The displayed size of a stored JPEG or PNG of `size` bytes, from its headers alone, with the
    rules a size decides (bytes, pixels, short side, ratio); ImageRejected if it breaks one.

    For a picture that passed check_image when it was stored (a video's reference, carried by
    Remix): its headers are walked from the stream and everything else is skipped, so the memory
    is at most one 64 KB segment whatever the file's size. The full check runs again on Generate.
    """
    if size > MAX_BYTES:
        raise ImageRejected(
            SENTENCES["too_big"].format(size=megabytes(size), use="send", limit=megabytes(MAX_BYTES))
        )
    if not size:
        raise ImageRejected(EMPTY)
    head = stream.read(8)
    kind = "PNG" if head.startswith(PNG_SIGNATURE) else "JPEG" if head.startswith(JPEG_SIGNATURE) else ""
    if not kind:
        raise ImageRejected(wrong_format_sentence(head))
    try:
        if kind == "PNG":
            width, height, orientation = _png_size(stream)
        else:
            stream.seek(2)
            width, height, orientation = _jpeg_size(stream)
    except struct.error as exc:  # a header cut short
        raise damaged(kind) from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if width * height > MAX_PIXELS:
        raise ImageRejected(pixel_sentence(width, height))
    problems = rule_sentences(width, height)
    if problems:
        raise ImageRejected(problems)
    return width, height


def _png_size(stream: BinaryIO) -> tuple[int, int, int]:
    """IHDR's size and an eXIf chunk's orientation, up to the first IDAT."""
    size: tuple[int, int] | None = None
    orientation = 1
    for _ in range(_HEADER_PARTS):
        top = stream.read(8)
        if len(top) < 8:
            break
        length, kind = struct.unpack(">I4s", top)
        if kind == b"IHDR" and length == 13:
            size = struct.unpack(">II", stream.read(8))
            stream.seek(length - 8 + 4, 1)
        elif kind == b"eXIf" and length <= _HEADER_READ:
            orientation = exif_orientation(stream.read(length))
            stream.seek(4, 1)
        elif kind == b"IDAT" and size:
            return size[0], size[1], orientation
        else:
            stream.seek(length + 4, 1)
    raise damaged("PNG")


def _jpeg_size(stream: BinaryIO) -> tuple[int, int, int]:
    """The frame's size and the EXIF orientation, walking the segments up to the first scan."""
    size: tuple[int, int] | None = None
    orientation, exif_seen = 1, False
    for _ in range(_HEADER_PARTS):
        marker = stream.read(2)
        while marker[:1] == b"\xff" and marker[1:] == b"\xff":  # fill bytes
            marker = marker[1:] + stream.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            break
        if 0xD0 <= marker[1] <= 0xD7 or marker[1] == 0x01:
            continue
        top = stream.read(2)
        if len(top) < 2:
            break
        length = int.from_bytes(top, "big") - 2
        if marker[1] == 0xDA:
            if size:
                return size[1], size[0], orientation
            break
        if marker[1] in _SOF and length >= 5:
            size = struct.unpack(">HH", stream.read(5)[1:5])  # height, width
            stream.seek(length - 5, 1)
        elif marker[1] == 0xE1 and length <= _HEADER_READ:
            body = stream.read(length)
            if body.startswith(b"Exif\x00\x00") and not exif_seen:
                orientation, exif_seen = exif_orientation(body[6:]), True
        else:
            stream.seek(length, 1)
    raise damaged("JPEG")
