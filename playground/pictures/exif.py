"""EXIF orientation, read by hand from the TIFF structure that JPEG, PNG and WebP files carry."""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Oriented:
    """A picture's size as stored and its EXIF orientation (1-8), as every reader finds them."""

    width: int  # as stored, before orientation
    height: int
    orientation: int

    @property
    def displayed(self) -> tuple[int, int]:
        """The size people see and our sentences use: orientations 5-8 turn it a quarter."""
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


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
