"""Hand-built image bytes for the edge cases Pillow will not write for us.

Everything here produces real files (the valid ones open in Pillow); the hostile ones differ from
a valid file in exactly the way their name says.
"""

import io
import struct
import zlib

from PIL import Image

from tests.factories import image_bytes

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


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF claims another size (the scan data then no longer matches)."""
    sof = jpeg.index(b"\xff\xc0")
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
