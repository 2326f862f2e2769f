"""PNG: the chunk walk that both the check and the fixes read with, and the check's pass over every
inflated row, which proves the pixel data whole without ever holding the decoded picture.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from playground.pictures.exif import Oriented, exif_orientation
from playground.pictures.rules import CHECKING as _CHECKING
from playground.pictures.rules import ImageRejected, Refusals
from playground.pictures.rules import damaged as _damaged

_inflate_zlib: ModuleType
try:
    # ISA-L's inflate is a drop-in for zlib's decompressobj (the same max_length, unconsumed_tail
    # and eof, and it checks the Adler-32 too) and runs 2-3× faster on PNG rows, which is what
    # keeps a 20 MB PNG under 100 ms. Without the wheel (an unusual platform) zlib does the same work.
    from isal import isal_zlib as _inflate_zlib
except ImportError:  # pragma: no cover - the wheel is pinned in pyproject.toml
    _inflate_zlib = zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _inflate_zlib.error)

# Pillow refuses compressed PNG text or ICC chunks that inflate past 1 MiB and text past 64 MiB in
# all; an image Pillow can't open would fail upstream, so we hold PNGs to the same limits.
_TEXT_CHUNK_LIMIT = 1024 * 1024
_TEXT_TOTAL_LIMIT = 64 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_INFLATE_INPUT_STEP = 32 * 1024
_INFLATE_OUTPUT_STEP = 512 * 1024

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_CHUNK_TYPE = re.compile(rb"[A-Za-z]{4}")
_DECODER_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


@dataclass(frozen=True)
class PngHeader(Oriented):
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


def verify_png(header: PngHeader) -> None:
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
