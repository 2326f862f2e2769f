"""JPEG: the segment walk that both the check and the fixes read with, and the check's proof that
the file is whole (every scan present and complete) without decoding it.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from PIL import Image

from playground.pictures.exif import Oriented, exif_orientation
from playground.pictures.rules import CHECKING as _CHECKING
from playground.pictures.rules import ImageRejected, Refusals
from playground.pictures.rules import damaged as _damaged

JPEG_SIGNATURE = b"\xff\xd8\xff"

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
class JpegHeader(Oriented):
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


def verify_jpeg(data: bytes, header: JpegHeader) -> None:
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
