"""What a picture to fix is made of, read before Pillow sees it: size, orientation, colour profile,
and the rebuilt file Pillow is handed.

Fixing means decoding, so hostile bytes meet Pillow there. The same order as the check: size,
format from the magic bytes, then our own small walk over the file's structure, then the pixel
cap, and only then Pillow, which is handed a rebuilt file holding just what the decoder needs:
- JPEG without APPn/COM segments (Pillow keeps them all and parses EXIF and MPF blocks with a reader
  that a crafted 64 KB block can make allocate ~300 MB); so EXIF orientation is read here, by hand,
  and Image.exif_transpose (which calls that reader) is never used.
- PNG with only IHDR, PLTE, tRNS, IDAT and IEND: Pillow's chunk loop costs ~4.5 µs a chunk in
  Python, so 64 MB of empty chunks took 24 s; ours is capped at MAX_PARTS.
- GIF as its first frame only: Pillow's extension-block loop is quadratic (400,000 empty comment
  blocks, 1.2 MB, took 1.8 s; 60 MB did not finish in 10 minutes).
- WebP whole (libwebp parses it in C), after our walk has checked the canvas size, because
  libwebp allocates the canvas as soon as the file is opened.
BMP, TIFF, AVIF, HEIC and the rest are refused: TIFF carries the same tag reader and dozens of
codecs, and people who meet the first-frame rules bring JPEG, PNG, WebP (saved from the web) or
GIF; the others are rare enough not to be worth the decoders' attack surface.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from playground.pictures import jpeg, png
from playground.pictures.exif import Oriented, exif_orientation
from playground.pictures.rules import (
    FIXING,
    ICC_LIMIT,
    MAX_GIF_SUB_BLOCKS,
    MAX_INPUT_BYTES,
    MAX_JPEG_PIXELS,
    MAX_PARTS,
    MAX_PIXELS,
    ImageRejected,
    megapixels,
    refuse_size,
)
from playground.pictures.rules import fix_damaged as _damaged
from playground.pictures.rules import fix_unusual as _unusual


@dataclass(frozen=True)
class Source(Oriented):
    kind: str  # "JPEG", "PNG", "WEBP" or "GIF"
    scale: int  # libjpeg DCT scaling (1, 2, 4 or 8) that keeps the decoded pixels within the cap
    pillow_data: bytes  # the rebuilt file Pillow is given
    icc: bytes | None = None
    palette: bool = False
    animated: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """The size we work at: displayed, after any DCT scaling."""
        width, height = self.displayed
        return -(-width // self.scale), -(-height // self.scale)


def inspect(data: bytes) -> Source:
    refuse_size(data, MAX_INPUT_BYTES, "fix")
    if data.startswith(jpeg.JPEG_SIGNATURE):
        source = _inspect_jpeg(data)
    elif data.startswith(png.PNG_SIGNATURE):
        source = _inspect_png(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        source = _inspect_gif(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        source = _inspect_webp(data)
    else:
        raise ImageRejected("This file is not a JPEG, PNG, WebP or GIF image, so we can't fix it.")
    return source


def _pixel_scale(width: int, height: int, *, scalable: bool) -> int:
    if width * height <= MAX_PIXELS:
        return 1
    if scalable and width * height <= MAX_JPEG_PIXELS:
        for scale in (2, 4, 8):
            if -(-width // scale) * -(-height // scale) <= MAX_PIXELS:
                return scale
    limit = MAX_PIXELS if not scalable else MAX_JPEG_PIXELS
    raise ImageRejected(
        f"This image is {width}×{height} pixels ({megapixels(width * height)} megapixels). "
        f"The largest we can fix is {megapixels(limit)} megapixels."
    )


def _inspect_jpeg(data: bytes) -> Source:
    header = jpeg.read_jpeg_header(data, FIXING)
    return Source(
        kind="JPEG",
        width=header.width,
        height=header.height,
        orientation=header.orientation,
        scale=_pixel_scale(header.width, header.height, scalable=not header.progressive),
        pillow_data=header.head + data[header.scan_start :],
        icc=_jpeg_icc(header.icc_segments),
    )


def _jpeg_icc(segments: list[memoryview]) -> bytes | None:
    """The colour profile split over APP2 segments, when every part is there within ICC_LIMIT."""
    parts: dict[int, bytes] = {}
    count = size = 0
    for body in segments:
        if len(body) <= 14:
            continue
        count = count or body[13]
        if body[13] == count and body[12] not in parts and size + len(body) <= ICC_LIMIT:
            parts[body[12]] = bytes(body[14:])
            size += len(body) - 14
    if count and set(parts) == set(range(1, count + 1)):
        return b"".join(parts[i] for i in range(1, count + 1))
    return None


def _inspect_png(data: bytes) -> Source:
    header = png.read_png_header(data, FIXING)
    # The first colour profile that inflates whole within ICC_LIMIT.
    profiles = (_inflate_icc(stream) for stream, is_text in header.compressed_text if not is_text)
    return Source(
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
        profile = inflater.decompress(stream, ICC_LIMIT + 1)
    except zlib.error:
        return None
    return profile if inflater.eof and len(profile) <= ICC_LIMIT else None


def _inspect_gif(data: bytes) -> Source:
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
    return Source(
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
        if self.blocks > MAX_PARTS:
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
        except ImageRejected:
            return False
        return intro == b","

    def _skip_sub_blocks(self) -> None:
        data = self.data
        while True:
            self.sub_blocks += 1
            if self.sub_blocks > MAX_GIF_SUB_BLOCKS:
                raise _unusual("GIF")
            if self.pos >= len(data):
                raise _damaged("GIF")
            size = data[self.pos]
            self.pos += 1 + size
            if size == 0:
                return


def _inspect_webp(data: bytes) -> Source:
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) < 20 or riff_end > len(data):
        raise _damaged("WEBP")
    size: tuple[int, int] | None = None
    exif: bytes | None = None
    icc: bytes | None = None
    frames = 0
    pos = 12
    for _ in range(MAX_PARTS):
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
        elif fourcc == b"ICCP" and icc is None and length <= ICC_LIMIT:
            icc = data[pos + 8 : body_end]
        if fourcc == b"ANMF":
            frames += 1
        pos = body_end + (length & 1)
    else:
        raise _unusual("WEBP")
    if size is None:
        raise _damaged("WEBP")
    width, height = size
    return Source(
        kind="WEBP",
        width=width,
        height=height,
        orientation=exif_orientation(exif),
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
