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

from typing import BinaryIO

from playground.pictures.jpeg import JPEG_SIGNATURE, JpegHeader, read_jpeg_header, verify_jpeg
from playground.pictures.png import PNG_SIGNATURE, PngHeader, read_png_header, verify_png
from playground.pictures.rules import (
    MAX_BYTES,
    MAX_PIXELS,
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
