import base64
import contextlib
import hashlib
import io
import math
import struct
import time
import tracemalloc
import warnings
import zlib
from typing import BinaryIO, cast

import pytest
from PIL import Image

from playground.images import MAX_BYTES, MAX_PIXELS, CheckedImage, ImageRejected, check_image, read_capped
from tests import imagecorpus as corpus
from tests.factories import image_bytes

DAMAGED_JPEG = "This JPEG file is damaged or incomplete, so it can't be used."
DAMAGED_PNG = "This PNG file is damaged or incomplete, so it can't be used."


def rejected(data: bytes) -> list[str]:
    with pytest.raises(ImageRejected) as caught:
        check_image(data)
    assert str(caught.value) == " ".join(caught.value.messages)
    return caught.value.messages


# --- Accepted images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "extension", "size"),
    [
        (image_bytes(640, 480), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, "JPEG"), "image/jpeg", "jpg", (640, 480)),
        (image_bytes(640, 480, "JPEG", progressive=True), "image/jpeg", "jpg", (640, 480)),
        (image_bytes(640, 480, "JPEG", mode="CMYK"), "image/jpeg", "jpg", (640, 480)),
        (image_bytes(640, 480, "JPEG", mode="L"), "image/jpeg", "jpg", (640, 480)),
        (image_bytes(640, 480, "JPEG", subsampling=0, quality=95), "image/jpeg", "jpg", (640, 480)),
        (image_bytes(640, 480, mode="P"), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, mode="RGBA"), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, mode="LA"), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, mode="L"), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, mode="1"), "image/png", "png", (640, 480)),
        (image_bytes(640, 480, mode="I;16"), "image/png", "png", (640, 480)),
        (corpus.raw_png(641, 479, color_type=2, depth=16), "image/png", "png", (641, 479)),
        (corpus.raw_png(641, 479, color_type=6, depth=16), "image/png", "png", (641, 479)),
        (corpus.raw_png(641, 479, interlace=True), "image/png", "png", (641, 479)),
        (corpus.raw_png(333, 301, color_type=3, depth=4, interlace=True), "image/png", "png", (333, 301)),
        (corpus.raw_png(333, 301, color_type=0, depth=1, interlace=True), "image/png", "png", (333, 301)),
        (corpus.raw_png(640, 480, filter_byte=4), "image/png", "png", (640, 480)),
    ],
    ids=[
        "png",
        "jpeg",
        "progressive-jpeg",
        "cmyk-jpeg",
        "grey-jpeg",
        "jpeg-444",
        "palette-png",
        "rgba-png",
        "grey-alpha-png",
        "grey-png",
        "1-bit-png",
        "16-bit-grey-png",
        "16-bit-rgb-png",
        "16-bit-rgba-png",
        "interlaced-png",
        "interlaced-4-bit-palette-png",
        "interlaced-1-bit-png",
        "paeth-filtered-png",
    ],
)
def test_it_accepts_valid_images(data, mime, extension, size):
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # the file really is a valid image, by Pillow's full decoder too

    checked = check_image(data)

    assert (checked.mime, checked.extension, (checked.width, checked.height)) == (mime, extension, size)
    assert checked.data is data


def test_checked_image_carries_the_bytes_their_hash_and_a_data_uri():
    data = image_bytes(640, 480, "JPEG")

    checked = check_image(data)

    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    prefix, encoded = checked.data_uri().split(",", 1)
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(encoded) == data
    assert "data=" not in repr(checked)
    assert isinstance(checked, CheckedImage)


# --- Size in bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_accepts_exactly_20_mb(fmt):
    small = image_bytes(640, 480, fmt)
    data = corpus.pad_png(small, MAX_BYTES) if fmt == "PNG" else corpus.pad_jpeg(small, MAX_BYTES)
    assert len(data) == MAX_BYTES == 20 * 1024 * 1024

    assert check_image(data).width == 640


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_refuses_one_byte_over_20_mb(fmt):
    small = image_bytes(640, 480, fmt)
    data = corpus.pad_png(small, MAX_BYTES + 1) if fmt == "PNG" else corpus.pad_jpeg(small, MAX_BYTES + 1)

    assert rejected(data) == ["This file is 20.1 MB. The largest file we can send is 20 MB."]


def test_the_size_sentence_carries_the_real_size():
    data = image_bytes(640, 480) + b"\x00" * (int(23.4 * 1024 * 1024) - 9000)

    assert rejected(data) == ["This file is 23.4 MB. The largest file we can send is 20 MB."]


def test_it_refuses_an_empty_file():
    assert rejected(b"") == ["This file is empty (0 bytes), so there is no picture in it."]


class Trickle(io.RawIOBase):
    """An endless stream that hands out at most 1000 bytes per read and counts them."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), 1000)
        buffer[:count] = b"\x00" * count
        self.given += count
        return count


def test_read_capped_returns_a_stream_up_to_the_limit():
    assert read_capped(io.BytesIO(b"x" * 5000), limit=5000) == b"x" * 5000
    assert read_capped(io.BytesIO(b"")) == b""


def test_read_capped_stops_one_byte_after_the_limit():
    stream = Trickle()

    with pytest.raises(ImageRejected) as caught:
        read_capped(cast(BinaryIO, stream), limit=5 * 1024 * 1024)

    assert stream.given == 5 * 1024 * 1024 + 1
    assert caught.value.messages == ["This file is larger than 5 MB. The largest file we can send is 5 MB."]


def test_read_capped_default_limit_is_20_mb():
    with pytest.raises(ImageRejected, match="larger than 20 MB"):
        read_capped(io.BytesIO(b"\x00" * (MAX_BYTES + 1)))
    assert len(read_capped(io.BytesIO(b"\x00" * MAX_BYTES))) == MAX_BYTES


# --- Format ------------------------------------------------------------------------------------


def psd_like() -> bytes:
    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 480, 640, 8, 3) + b"\x00" * 100


def heic_like(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00mif1" + b"\x00" * 100


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (image_bytes(640, 480, "GIF"), "a GIF image"),
        (image_bytes(640, 480, "WEBP"), "a WebP image"),
        (image_bytes(640, 480, "WEBP", lossless=True), "a WebP image"),
        (image_bytes(640, 480, "BMP"), "a BMP image"),
        (image_bytes(640, 480, "TIFF"), "a TIFF image"),
        (image_bytes(640, 480, "TIFF", tiffinfo={}, compression="jpeg"), "a TIFF image"),
        (image_bytes(640, 480, "PDF"), "a PDF document"),
        (image_bytes(64, 64, "ICO"), "an icon (ICO) file"),
        (image_bytes(640, 480, "JPEG2000"), "a JPEG 2000 image"),
        (psd_like(), "a Photoshop (PSD) file"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 640 480\n", "a PostScript (EPS) file"),
        (b"\xc5\xd0\xd3\xc6" + b"\x00" * 40, "a PostScript (EPS) file"),
        (heic_like(b"heic"), "a HEIC image"),
        (heic_like(b"avif"), "an AVIF image"),
        (heic_like(b"isom"), "a video file"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="640"/>', "an SVG drawing"),
        (b"<svg width='640' height='480'></svg>", "an SVG drawing"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html><body><img src=x></body></html>", "a web page (HTML)"),
        (b"<html><head><title>404</title></head></html>", "a web page (HTML)"),
        (b"Not Found\n", "a text file"),
        (b"PK\x03\x04" + b"\x00" * 40, "a ZIP archive"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_it_names_impostors_by_their_magic_bytes(data, kind):
    assert rejected(data) == [
        f"This file is {kind}, not a JPEG or PNG. Only JPEG and PNG images can be used."
    ]


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 40, b"\x00" * 1000, bytes((0x13, 0x37)) * 5000, b"\x00\x01\x02"],
    ids=["random", "zeros", "pattern", "three-bytes"],
)
def test_it_refuses_unknown_bytes(data):
    assert rejected(data) == ["This file is not a JPEG or PNG image. Only JPEG and PNG images can be used."]


def test_it_judges_by_content_not_by_what_the_name_says():
    # There is no name to pass: check_image only ever sees bytes, so a GIF renamed .png is a GIF.
    assert rejected(image_bytes(640, 480, "GIF"))[0].startswith("This file is a GIF image")


# --- Damaged files -----------------------------------------------------------------------------


def flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0xFF
    return bytes(changed)


def png_crc_offset(png: bytes, kind: bytes) -> int:
    start = png.index(kind)
    (length,) = struct.unpack(">I", png[start - 4 : start])
    return start + 4 + length


JPEG = image_bytes(640, 480, "JPEG")
PROGRESSIVE = image_bytes(640, 480, "JPEG", progressive=True)
PNG = image_bytes(640, 480)


@pytest.mark.parametrize(
    "data",
    [
        JPEG[: len(JPEG) // 2],
        JPEG[:-2],
        PROGRESSIVE[: len(PROGRESSIVE) * 3 // 4],
        JPEG[: JPEG.index(b"\xff\xda") + 20],
        JPEG[: JPEG.index(b"\xff\xc0") + 6],
        JPEG[:600] + bytes(range(256)) * 8,
        b"\xff\xd8",
        b"\xff\xd8\xff",
        b"\xff\xd8\xff\xd9",
        corpus.jpeg_with_size(JPEG, 640, 0),
        corpus.insert_segments(JPEG, corpus.jpeg_segment(0xC0, b"\x08\x01\xe0\x02\x80\x01\x01\x11\x00")),
        JPEG.replace(b"\xff\xda", b"\xff\xd9", 1),
    ],
    ids=[
        "half",
        "no-end-marker",
        "progressive-three-quarters",
        "cut-inside-scan",
        "cut-inside-frame-header",
        "header-then-garbage",
        "only-soi",
        "soi-and-ff",
        "soi-eoi",
        "zero-height",
        "two-frames",
        "no-scan",
    ],
)
def test_it_refuses_damaged_jpegs(data):
    assert rejected(data) == [DAMAGED_JPEG]


@pytest.mark.parametrize(
    "data",
    [
        PNG[:-20],
        PNG[:-1],
        PNG[:40],
        PNG[:8],
        PNG[:5],
        flip(PNG, png_crc_offset(PNG, b"IHDR")),
        flip(PNG, png_crc_offset(PNG, b"IDAT")),
        flip(PNG, PNG.index(b"IDAT") + 10),
        flip(PNG, png_crc_offset(PNG, b"IEND")),
        PNG[:33] + bytes(range(256)) * 8,
        PNG[:33] + b"\x00" * 1000,
        PNG + b"trailing bytes",
        PNG.replace(b"IHDR", b"IHDr", 1),
        corpus.build_png([c for c in corpus.png_chunks(PNG) if c[0] != b"IEND"]),
        corpus.build_png([c for c in corpus.png_chunks(PNG) if c[0] != b"IHDR"]),
        corpus.build_png([c for c in corpus.png_chunks(PNG) if c[0] != b"IDAT"]),
        corpus.insert_chunk(PNG, b"CgBI", b"\x50\x00\x20\x06"),
        corpus.raw_png(640, 480, filter_byte=5),
        corpus.raw_png(640, 480, extra_raw=b"\x00" * 1921),
        corpus.raw_png(640, 480, extra_raw=b"\x00"),
        corpus.raw_png(640, 480, drop_raw=1),
        corpus.raw_png(640, 480, interlace=True, drop_raw=1),
        corpus.raw_png(333, 301, color_type=3, depth=8, palette=b""),
        corpus.build_png(
            [c for c in corpus.png_chunks(corpus.raw_png(333, 301, color_type=3)) if c[0] != b"PLTE"]
        ),
        corpus.build_png(
            [
                (k, zlib.compress(zlib.decompress(b))[:-6]) if k == b"IDAT" else (k, b)
                for k, b in corpus.png_chunks(PNG)
            ]
        ),
        corpus.png_with_size(PNG, 641, 480),
        corpus.png_with_size(PNG, 640, 479),
        corpus.build_png(
            [(b"IHDR", struct.pack(">IIBBBBB", 640, 480, 3, 2, 0, 0, 0)), *corpus.png_chunks(PNG)[1:]]
        ),
    ],
    ids=[
        "cut",
        "cut-one-byte",
        "cut-in-idat",
        "signature-only",
        "part-of-signature",
        "bad-ihdr-crc",
        "bad-idat-crc",
        "bit-flip-in-idat",
        "bad-iend-crc",
        "header-then-garbage",
        "header-then-zeros",
        "trailing-bytes",
        "renamed-ihdr",
        "no-iend",
        "no-ihdr",
        "no-idat",
        "unknown-critical-chunk",
        "bad-filter-byte",
        "one-row-too-many",
        "one-byte-too-many",
        "one-byte-too-few",
        "interlaced-one-byte-too-few",
        "palette-image-with-empty-palette",
        "palette-image-without-palette",
        "zlib-stream-cut",
        "wider-than-data",
        "taller-than-data",
        "impossible-bit-depth",
    ],
)
def test_it_refuses_damaged_pngs(data):
    assert rejected(data) == [DAMAGED_PNG]


def test_damaged_jpeg_with_a_valid_header_would_fool_a_header_only_check():
    data = JPEG[: len(JPEG) // 2]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (640, 480)  # the header alone looks fine

    assert rejected(data) == [DAMAGED_JPEG]


# --- Pixel count and decompression bombs -------------------------------------------------------


def test_a_tiny_file_declaring_huge_dimensions_is_refused_quickly():
    bomb = corpus.png_header_only(100_000, 100_000)
    assert len(bomb) < 200

    started = time.perf_counter()
    messages = rejected(bomb)

    assert time.perf_counter() - started < 0.5
    assert messages == [
        "This image is 100000×100000 pixels (10,000 megapixels). "
        f"The most we accept is {MAX_PIXELS / 1e6:g} megapixels."
    ]


def test_a_jpeg_declaring_huge_dimensions_is_refused_before_any_decoding():
    bomb = corpus.jpeg_with_size(JPEG, 30_000, 20_000)

    messages = rejected(bomb)

    assert messages == [
        "This image is 30000×20000 pixels (600 megapixels). "
        f"The most we accept is {MAX_PIXELS / 1e6:g} megapixels."
    ]


def near_cap() -> tuple[int, int]:
    width = math.isqrt(MAX_PIXELS * 4 // 3)
    return width, MAX_PIXELS // width


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_just_under_the_pixel_cap_is_accepted(fmt):
    width, height = near_cap()
    assert width * height <= MAX_PIXELS < width * (height + 1)

    checked = check_image(image_bytes(width, height, fmt, mode="L" if fmt == "JPEG" else "1"))

    assert (checked.width, checked.height) == (width, height)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_just_over_the_pixel_cap_is_refused(fmt):
    width, height = near_cap()
    small = image_bytes(640, 480, fmt)
    data = (
        corpus.png_with_size(small, width, height + 1)
        if fmt == "PNG"
        else corpus.jpeg_with_size(small, width, height + 1)
    )
    megapixels = math.ceil(width * (height + 1) / 100_000) / 10

    assert rejected(data) == [
        f"This image is {width}×{height + 1} pixels ({megapixels:g} megapixels). "
        f"The most we accept is {MAX_PIXELS / 1e6:g} megapixels."
    ]


def test_the_pixel_cap_is_within_the_agreed_range():
    assert 24_000_000 <= MAX_PIXELS <= 50_000_000


def test_pillows_own_bomb_error_becomes_a_sentence(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # 640×480 is over twice this

    assert rejected(JPEG) == [
        "This image is 640×480 pixels (0.4 megapixels). "
        f"The most we accept is {MAX_PIXELS / 1e6:g} megapixels."
    ]


def test_pillows_bomb_warning_never_escapes_even_when_warnings_are_errors(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300_000)  # 307,200 pixels: a warning only
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        assert rejected(JPEG)[0].startswith("This image is 640×480 pixels")


def test_a_png_text_bomb_is_refused_without_inflating_it():
    bomb = corpus.insert_chunk(PNG, *corpus.text_chunk(b"zTXt", 64 * 1024 * 1024))
    assert len(bomb) < 200 * 1024

    tracemalloc.start()
    try:
        messages = rejected(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert messages == [
        "This PNG file carries an unusually large block of hidden text (metadata). "
        "Save the image again without metadata to use it."
    ]
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_png_text_up_to_pillows_limit_is_accepted_and_over_it_refused(kind):
    assert check_image(corpus.insert_chunk(PNG, *corpus.text_chunk(kind, 1024 * 1024))).width == 640

    assert "hidden text" in rejected(corpus.insert_chunk(PNG, *corpus.text_chunk(kind, 1024 * 1024 + 1)))[0]


def test_many_text_chunks_within_the_per_chunk_limit_are_refused_past_64_mb_in_all():
    data = PNG
    for _ in range(65):
        data = corpus.insert_chunk(data, *corpus.text_chunk(b"zTXt", 1024 * 1024))

    assert "hidden text" in rejected(data)[0]


@pytest.mark.parametrize(
    "body",
    [b"Comment\x00\x00" + b"not zlib at all", b"Comment\x00\x01" + zlib.compress(b"x"), b"no keyword end"],
    ids=["bad-stream", "unknown-method", "no-keyword"],
)
def test_a_malformed_compressed_text_chunk_is_damage(body):
    assert rejected(corpus.insert_chunk(PNG, b"zTXt", body)) == [DAMAGED_PNG]


def test_a_crafted_exif_block_costs_no_memory():
    bomb = corpus.insert_segments(JPEG, corpus.exif_ifd_bomb())

    tracemalloc.start()
    try:
        checked = check_image(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (checked.width, checked.height) == (640, 480)
    assert peak < 8 * 1024 * 1024


# --- Aspect ratio and short side ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "messages"),
    [
        (
            1000,
            400,
            [
                "This image is 1000×400: too wide. The width must be less than 2.5 times the height "
                "(it is exactly 2.5 times)."
            ],
        ),
        (
            400,
            1000,
            [
                "This image is 400×1000: too tall. The height must be less than 2.5 times the width "
                "(it is exactly 2.5 times)."
            ],
        ),
        (
            1001,
            400,
            [
                "This image is 1001×400: too wide. The width must be less than 2.5 times the height "
                "(it is about 2.51 times)."
            ],
        ),
        (
            1800,
            400,
            [
                "This image is 1800×400: too wide. "
                "The width must be less than 2.5 times the height (it is 4.5 times)."
            ],
        ),
        (
            1200,
            200,
            [
                "This image is 1200×200: too wide. "
                "The width must be less than 2.5 times the height (it is 6 times).",
                "This image is 1200×200: its shorter side is 200 px. "
                "The shorter side must be more than 300 px.",
            ],
        ),
        (
            200,
            1200,
            [
                "This image is 200×1200: too tall. "
                "The height must be less than 2.5 times the width (it is 6 times).",
                "This image is 200×1200: its shorter side is 200 px. "
                "The shorter side must be more than 300 px.",
            ],
        ),
        (
            300,
            500,
            ["This image is 300×500: its shorter side is 300 px. The shorter side must be more than 300 px."],
        ),
        (
            500,
            300,
            ["This image is 500×300: its shorter side is 300 px. The shorter side must be more than 300 px."],
        ),
        (
            300,
            300,
            ["This image is 300×300: its shorter side is 300 px. The shorter side must be more than 300 px."],
        ),
        (1, 1, ["This image is 1×1: its shorter side is 1 px. The shorter side must be more than 300 px."]),
    ],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_refuses_each_broken_rule_with_its_numbers(fmt, width, height, messages):
    assert rejected(image_bytes(width, height, fmt)) == messages


@pytest.mark.parametrize(
    ("width", "height"),
    [(1000, 401), (401, 1000), (301, 301), (301, 752), (752, 301), (999, 400), (400, 999)],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_accepts_sizes_just_inside_the_rules(fmt, width, height):
    checked = check_image(image_bytes(width, height, fmt))

    assert (checked.width, checked.height) == (width, height)


# --- Orientation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "displayed"),
    [(1, (800, 600)), (2, (800, 600)), (3, (800, 600)), (4, (800, 600))]
    + [(n, (600, 800)) for n in (5, 6, 7, 8)],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_gives_the_displayed_size(fmt, orientation, displayed):
    make = corpus.jpeg_with_orientation if fmt == "JPEG" else corpus.png_with_orientation
    data = make(800, 600, orientation)
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif()[0x0112] == orientation  # the tag really is in the file

    checked = check_image(data)

    assert (checked.width, checked.height) == displayed
    assert checked.data == data  # never re-encoded


def test_rule_sentences_use_the_displayed_size():
    data = corpus.jpeg_with_orientation(1200, 200, 6)

    assert rejected(data)[0].startswith("This image is 200×1200: too tall.")


@pytest.mark.parametrize(
    "app1_body",
    [
        b"Exif\x00\x00garbage",
        b"Exif\x00\x00",
        b"Exif\x00\x00II*\x00\xff\xff\xff\x7f",
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",
        b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 9, 0))]),
        b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 0, 0))]),
        b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 2, 4, b"six\x00")]),
        b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 3, 2, struct.pack("<HH", 6, 6))]),
        b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 3, 1, struct.pack("<HH", 6, 0))])[:-10],
        b"Exif\x00\x00II+\x00" + b"\x00" * 20,
    ],
    ids=[
        "garbage",
        "empty",
        "ifd-offset-out-of-range",
        "too-many-entries",
        "orientation-9",
        "orientation-0",
        "orientation-as-text",
        "orientation-count-2",
        "cut-ifd",
        "bigtiff",
    ],
)
def test_broken_exif_is_ignored(app1_body):
    data = corpus.insert_segments(image_bytes(800, 600, "JPEG"), corpus.jpeg_segment(0xE1, app1_body))

    checked = check_image(data)

    assert (checked.width, checked.height) == (800, 600)


def test_big_endian_exif_and_long_orientation_are_understood():
    big_endian = b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 3, 1, struct.pack(">HH", 6, 0))], order=">")
    as_long = b"Exif\x00\x00" + corpus.tiff_ifd([(0x0112, 4, 1, struct.pack("<I", 8))])
    for body in (big_endian, as_long):
        data = corpus.insert_segments(image_bytes(800, 600, "JPEG"), corpus.jpeg_segment(0xE1, body))
        checked = check_image(data)
        assert (checked.width, checked.height) == (600, 800)


def test_broken_exif_in_a_png_is_ignored():
    data = corpus.insert_chunk(PNG, b"eXIf", b"MM\x00*\x00\x00\xff\xff")

    assert (check_image(data).width, check_image(data).height) == (640, 480)


# --- Multi-picture files -----------------------------------------------------------------------


def test_mpo_from_phones_is_accepted_as_a_jpeg_of_its_primary_picture():
    data = corpus.mpo_bytes(800, 600)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO"
        assert getattr(image, "n_frames", 1) == 2

    checked = check_image(data)

    assert (checked.mime, checked.extension, checked.width, checked.height) == ("image/jpeg", "jpg", 800, 600)


def test_mpo_primary_picture_is_held_to_the_rules():
    assert "too wide" in rejected(corpus.mpo_bytes(1300, 500))[0]


def test_a_crafted_mpo_index_costs_no_memory():
    # MPF blocks are read by the same tag reader as EXIF; we never let Pillow see them.
    mpf = b"MPF\x00" + corpus.tiff_ifd([(0x8000 + i, 7, 65000, struct.pack("<I", 8)) for i in range(5000)])
    data = corpus.insert_segments(JPEG, corpus.jpeg_segment(0xE2, mpf.ljust(65531, b"\x00")[:65531]))

    tracemalloc.start()
    try:
        check_image(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024


def test_animated_png_is_accepted_as_its_default_image():
    data = corpus.apng_bytes(800, 600)
    assert b"acTL" in data
    assert b"fdAT" in data

    checked = check_image(data)

    assert (checked.mime, checked.width, checked.height) == ("image/png", 800, 600)


def test_animated_png_frames_are_crc_checked():
    data = corpus.apng_bytes(800, 600)

    assert rejected(flip(data, png_crc_offset(data, b"fdAT"))) == [DAMAGED_PNG]


@pytest.mark.parametrize(
    "data",
    [
        corpus.jpeg_with_sof(JPEG, 0xC3),
        corpus.jpeg_with_sof(JPEG, 0xC9),
        corpus.jpeg_with_sof(JPEG, 0xC5),
    ],
    ids=["lossless", "arithmetic", "hierarchical"],
)
def test_uncommon_jpeg_codings_are_refused_by_name(data):
    assert rejected(data) == [
        "This JPEG uses an uncommon kind of compression (lossless, hierarchical or arithmetic coding) "
        "that many programs can't read. Save it again as a standard JPEG."
    ]


def test_jpeg_with_trailing_data_is_accepted():
    # Phones append extra pictures or a motion-photo video after the JPEG's end marker.
    assert check_image(JPEG + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000).width == 640


def test_stray_bytes_between_jpeg_segments_are_tolerated_like_pillow_does():
    after_app0 = 4 + int.from_bytes(JPEG[4:6], "big")
    data = JPEG[:after_app0] + b"\x00\x00" + JPEG[after_app0:]
    with Image.open(io.BytesIO(data)) as image:
        image.load()

    assert check_image(data).width == 640


def test_only_the_jpeg_and_png_parsers_of_pillow_are_ever_used(monkeypatch):
    opened: list[object] = []
    real_open = Image.open

    def spy(fp, mode="r", formats=None):
        opened.append(formats)
        return real_open(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy)
    for data in (JPEG, PNG, image_bytes(640, 480, "GIF"), b"%!PS-Adobe-3.0 EPSF-3.0\n"):
        with contextlib.suppress(ImageRejected):
            check_image(data)

    assert opened == [["JPEG"]]


def test_checking_a_large_png_streams_instead_of_decoding_it_whole():
    width, height = near_cap()
    data = image_bytes(width, height, "PNG", mode="RGB")

    tracemalloc.start()
    try:
        check_image(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024  # the raw rows alone would be ~78 MB
