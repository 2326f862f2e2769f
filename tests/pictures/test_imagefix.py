import io
import os
import random
import struct

import pytest
from PIL import Image, ImageCms, ImageOps

from playground import pictures
from playground.pictures import MAX_BYTES, MAX_PIXELS, ImageRejected, check_image, fixing, rules, sources
from playground.pictures.rules import MAX_PARTS
from tests import imagecorpus as corpus
from tests.factories import image_bytes

NOTHING_TO_FIX = "This image already meets every rule, so there is nothing to fix."


def keys(data: bytes) -> list[str]:
    return [fix.key for fix in fixing.diagnose(data)]


def refused(data: bytes, key: str = "crop") -> str:
    with pytest.raises(ImageRejected) as caught:
        fixing.apply_fix(data, key)
    return str(caught.value)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def animation(fmt: str, size: tuple[int, int]) -> bytes:
    first, second = Image.new("RGB", size, "orange"), Image.new("RGB", size, "navy")
    return encoded(first, fmt, save_all=True, append_images=[second], duration=100)


def near(pixel, colour, tolerance=24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


ORANGE, NAVY, WHITE = (255, 165, 0), (0, 0, 128), (255, 255, 255)


# --- Each fix on the boundary images -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (image_bytes(1000, 200, "JPEG"), {"crop": (751, 301), "borders": (1000, 401)}),
        (image_bytes(200, 1000, "JPEG"), {"crop": (301, 751), "borders": (401, 1000)}),
        (image_bytes(1000, 400, "JPEG"), {"crop": (999, 400), "borders": (1000, 401)}),
        (image_bytes(400, 1000), {"crop": (400, 999), "borders": (401, 1000)}),
        (image_bytes(300, 300), {"enlarge": (301, 301)}),
        (image_bytes(500, 300, "JPEG"), {"enlarge": (502, 301)}),
        (image_bytes(299, 1000, "JPEG"), {"crop": (301, 752), "borders": (401, 1000)}),
        (image_bytes(1, 1), {"enlarge": (301, 301)}),
        (image_bytes(3000, 20, "JPEG"), {"crop": (737, 301), "borders": (3000, 1201)}),
        (image_bytes(640, 480, "WEBP"), {"convert": (640, 480)}),
        (image_bytes(640, 480, "WEBP", lossless=True), {"convert": (640, 480)}),
        (image_bytes(1000, 200, "WEBP"), {"crop": (751, 301), "borders": (1000, 401)}),
        (image_bytes(640, 480, "GIF"), {"convert": (640, 480)}),
        (image_bytes(200, 200, "GIF"), {"enlarge": (301, 301)}),
        (image_bytes(1000, 300, "JPEG", mode="CMYK"), {"crop": (751, 301), "borders": (1000, 401)}),
        (image_bytes(1000, 300, "JPEG", mode="L"), {"crop": (751, 301), "borders": (1000, 401)}),
        (corpus.jpeg_with_orientation(1200, 200, 6), {"crop": (301, 751), "borders": (481, 1200)}),
        (corpus.png_with_orientation(1200, 200, 8), {"crop": (301, 751), "borders": (481, 1200)}),
        (corpus.jpeg_with_orientation(1200, 200, 3), {"crop": (751, 301), "borders": (1200, 481)}),
        (corpus.raw_png(1000, 200, color_type=0, depth=16), {"crop": (751, 301), "borders": (1000, 401)}),
        (corpus.raw_png(1000, 200, color_type=6, depth=16), {"crop": (751, 301), "borders": (1000, 401)}),
        (corpus.raw_png(1000, 200, interlace=True), {"crop": (751, 301), "borders": (1000, 401)}),
        (corpus.mpo_bytes(1300, 500), {"crop": (1249, 500), "borders": (1300, 521)}),
        (corpus.apng_bytes(1000, 200), {"crop": (751, 301), "borders": (1000, 401)}),
    ],
    ids=[
        "1000x200",
        "200x1000",
        "1000x400-exactly-5:2",
        "400x1000-exactly-2:5",
        "300x300",
        "500x300",
        "299x1000",
        "1x1",
        "3000x20",
        "webp",
        "lossless-webp",
        "wide-webp",
        "gif",
        "small-gif",
        "cmyk-jpeg",
        "grey-jpeg",
        "exif-rotated-jpeg",
        "exif-rotated-png",
        "exif-upside-down-jpeg",
        "16-bit-grey-png",
        "16-bit-rgba-png",
        "interlaced-png",
        "mpo",
        "apng",
    ],
)
def test_each_fix_gives_a_picture_within_the_rules(data, expected):
    assert keys(data) == list(expected)

    for key, size in expected.items():
        fixed = fixing.apply_fix(data, key)

        again = check_image(fixed.data)
        assert (again.width, again.height) == (fixed.width, fixed.height) == size
        assert fixed.mime in ("image/jpeg", "image/png")
        assert fixed.data != data


@pytest.fixture(scope="module")
def noise_png_40_mb() -> bytes:
    # Random pixels don't compress, so a PNG of 4400×3187 RGB holds 40 MB of them.
    width = 4400
    height = 40 * 1024 * 1024 // (3 * width) + 10
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    return encoded(image, "PNG", compress_level=0)


def test_a_40_mb_png_is_compressed_to_a_jpeg_within_20_mb(noise_png_40_mb):
    assert 40 * 1024 * 1024 < len(noise_png_40_mb) < 41 * 1024 * 1024
    [fix] = fixing.diagnose(noise_png_40_mb)
    assert fix.key == "compress"
    assert fix.explanation == (
        "Save it again as a JPEG at the best quality that fits in 20 MB (it is 40.2 MB now)."
    )

    fixed = fixing.apply_fix(noise_png_40_mb, "compress")

    assert (fixed.mime, fixed.width, fixed.height) == ("image/jpeg", 4400, 3187)
    assert len(fixed.data) <= MAX_BYTES
    assert check_image(fixed.data).sha256 == fixed.sha256


def test_a_big_jpeg_is_compressed_too():
    data = corpus.pad_jpeg(image_bytes(800, 600, "JPEG"), MAX_BYTES + 1)

    assert keys(data) == ["compress"]
    fixed = fixing.apply_fix(data, "compress")
    assert (fixed.width, fixed.height) == (800, 600)
    assert len(fixed.data) < 1024 * 1024  # the padding is gone, the picture stays


def test_a_wrong_ratio_over_20_mb_is_cropped_to_a_file_within_20_mb():
    data = corpus.pad_png(image_bytes(2000, 700), MAX_BYTES + 5)

    assert keys(data) == ["crop", "borders"]
    for key in ("crop", "borders"):
        assert len(fixing.apply_fix(data, key).data) <= MAX_BYTES


# --- What diagnose offers, in words ------------------------------------------------------------


def test_the_explanations_say_what_happens_with_numbers():
    fixes = fixing.diagnose(image_bytes(1000, 200, "JPEG"))

    assert [(f.key, f.label, f.explanation) for f in fixes] == [
        (
            "crop",
            "Crop to fit",
            "Cut 250 px from the left and 251 px from the right to make it 499×200, "
            "then enlarge it to 751×301 so the shorter side is over 300 px.",
        ),
        (
            "borders",
            "Add borders",
            "Add 100 px of blurred border above and 101 px below to make it 1000×401.",
        ),
    ]


@pytest.mark.parametrize(
    ("data", "key", "explanation"),
    [
        (image_bytes(1000, 400, "JPEG"), "crop", "Cut 1 px from the right to make it 999×400."),
        (image_bytes(1000, 400, "JPEG"), "borders", "Add 1 px of blurred border below to make it 1000×401."),
        (
            image_bytes(300, 1000, "JPEG"),
            "borders",
            "Add 50 px of blurred border on the left and 51 px on the right to make it 401×1000.",
        ),
        (
            image_bytes(300, 300),
            "enlarge",
            "Enlarge it from 300×300 to 301×301 so the shorter side is over 300 px, and save it as a JPEG.",
        ),
        (image_bytes(640, 480, "WEBP"), "convert", "Save this WebP image as a 640×480 JPEG."),
        (
            animation("GIF", (640, 480)),
            "convert",
            "Save the first frame of this animated GIF image as a 640×480 JPEG.",
        ),
        (
            encoded(Image.new("RGBA", (640, 480), (255, 0, 0, 0)), "WEBP"),
            "convert",
            "Save this WebP image as a 640×480 JPEG (its see-through parts become white).",
        ),
    ],
    ids=["crop-1px", "borders-1px", "borders-tall", "enlarge-png", "webp", "animated-gif", "clear-webp"],
)
def test_explanations(data, key, explanation):
    fix = next(fix for fix in fixing.diagnose(data) if fix.key == key)

    assert fix.explanation == explanation


@pytest.mark.parametrize(
    "data",
    [
        image_bytes(640, 480),
        image_bytes(640, 480, "JPEG"),
        image_bytes(1000, 401, "JPEG"),
        image_bytes(301, 301),
        corpus.jpeg_with_orientation(800, 600, 6),
    ],
)
def test_nothing_is_offered_for_a_picture_that_passes(data):
    assert fixing.diagnose(data) == []
    assert refused(data) == NOTHING_TO_FIX


def test_a_fix_that_does_not_apply_is_refused():
    assert refused(image_bytes(1000, 200, "JPEG"), "compress") == "That fix does not apply to this image."
    assert refused(image_bytes(300, 300), "crop") == "That fix does not apply to this image."
    assert refused(image_bytes(1000, 200), "<script>") == "That fix does not apply to this image."


# --- What the fixed picture holds --------------------------------------------------------------


def test_crop_keeps_the_middle():
    image = Image.new("RGB", (1200, 400), "navy")
    image.paste(Image.new("RGB", (200, 400), "orange"), (500, 0))

    fixed = opened(fixing.apply_fix(encoded(image, "PNG"), "crop").data)

    assert fixed.size == (999, 400)
    assert near(fixed.getpixel((499, 200)), ORANGE)
    assert near(fixed.getpixel((5, 200)), NAVY)


def test_borders_put_the_whole_picture_on_a_darker_blurred_copy_of_itself():
    image = Image.new("RGB", (1000, 200), "orange")

    fixed = opened(fixing.apply_fix(encoded(image, "PNG"), "borders").data)

    assert fixed.size == (1000, 401)
    assert near(fixed.getpixel((500, 200)), ORANGE)
    assert near(fixed.getpixel((500, 101)), ORANGE)
    border = fixed.getpixel((500, 20))
    assert near(border, (153, 99, 0), tolerance=12)  # orange at 60 %


def test_exif_orientation_is_applied_before_fixing_and_not_written():
    image = Image.new("RGB", (1200, 200), "navy")
    image.paste(Image.new("RGB", (600, 200), "orange"), (0, 0))
    data = encoded(image, "JPEG", exif=corpus.exif_block(6))
    upright = ImageOps.exif_transpose(opened(data))
    assert upright.size == (200, 1200)

    fixed = fixing.apply_fix(data, "borders")

    result = opened(fixed.data)
    assert result.size == (481, 1200)
    assert near(result.getpixel((240, 10)), upright.getpixel((100, 10)))
    assert near(result.getpixel((240, 1190)), upright.getpixel((100, 1190)))
    assert not result.getexif()


def test_the_first_frame_of_an_animation_is_used():
    for data in (animation("GIF", (640, 480)), animation("WEBP", (640, 480))):
        assert keys(data) == ["convert"]

        fixed = opened(fixing.apply_fix(data, "convert").data)

        assert fixed.format == "JPEG"
        assert near(fixed.getpixel((320, 240)), ORANGE)


def test_cmyk_becomes_rgb():
    image = Image.new("RGB", (1000, 300), "orange").convert("CMYK")
    data = encoded(image, "JPEG")

    fixed = opened(fixing.apply_fix(data, "borders").data)

    assert fixed.mode == "RGB"
    assert near(fixed.getpixel((500, 200)), ORANGE)


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped():
    data = encoded(Image.new("I;16", (1000, 200), 32896), "PNG")

    fixed = opened(fixing.apply_fix(data, "borders").data)

    assert near(fixed.getpixel((500, 200)), (128, 128, 128), tolerance=2)


def test_pngs_with_transparency_or_few_colours_stay_png_and_the_rest_become_jpeg():
    clear = Image.new("RGBA", (1000, 200), (255, 165, 0, 255))
    clear.paste((0, 0, 0, 0), (0, 0, 100, 200))
    opaque_alpha = Image.new("RGBA", (1000, 200), (255, 165, 0, 255))
    cases = [
        (encoded(clear, "PNG"), "image/png", "RGBA"),
        (image_bytes(1000, 200, mode="P"), "image/png", "RGB"),
        (image_bytes(1000, 200, mode="1"), "image/png", "RGB"),
        (encoded(opaque_alpha, "PNG"), "image/jpeg", "RGB"),
        (image_bytes(1000, 200), "image/jpeg", "RGB"),
        (encoded(clear, "GIF"), "image/jpeg", "RGB"),
        (encoded(clear, "WEBP"), "image/jpeg", "RGB"),
    ]
    for data, mime, mode in cases:
        fixed = fixing.apply_fix(data, "crop")
        assert (fixed.mime, opened(fixed.data).mode) == (mime, mode)

    kept = opened(fixing.apply_fix(cases[0][0], "borders").data)
    assert kept.getpixel((0, 200)) == (0, 0, 0, 0)
    assert kept.getpixel((500, 200)) == (255, 165, 0, 255)
    flattened = opened(fixing.apply_fix(cases[5][0], "borders").data)
    assert near(flattened.getpixel((50, 200)), WHITE)


def test_metadata_is_dropped_except_an_rgb_colour_profile():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(
        Image.new("RGB", (1000, 200), "orange"),
        "JPEG",
        icc_profile=profile,
        exif=corpus.exif_block(1),
        comment=b"hello",
    )

    fixed = opened(fixing.apply_fix(data, "crop").data)

    assert fixed.info.get("icc_profile") == profile
    assert "exif" not in fixed.info
    assert "comment" not in fixed.info


def test_a_profile_for_other_colours_is_not_carried_onto_rgb_pixels():
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    data = encoded(Image.new("L", (1000, 200), 128), "JPEG", icc_profile=lab)

    assert "icc_profile" not in opened(fixing.apply_fix(data, "crop").data).info


def test_a_colour_profile_split_over_several_jpeg_segments_is_carried_whole():
    # Over 64 KB, so the JPEG holds it in several APP2 segments that the fixer joins again.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    profile = bytearray(srgb + bytes(150_000 - len(srgb)))
    profile[:4] = len(profile).to_bytes(4, "big")
    data = encoded(Image.new("RGB", (1000, 200), "orange"), "JPEG", icc_profile=bytes(profile))
    assert data.count(b"ICC_PROFILE\x00") == 3

    assert opened(fixing.apply_fix(data, "crop").data).info.get("icc_profile") == bytes(profile)


def test_a_png_colour_profile_is_carried_onto_the_fixed_picture():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(Image.new("RGBA", (1000, 200), (255, 165, 0, 128)), "PNG", icc_profile=profile)

    fixed = fixing.apply_fix(data, "crop")

    assert fixed.mime == "image/png"
    assert opened(fixed.data).info.get("icc_profile") == profile


def test_a_png_the_check_calls_damaged_only_for_its_layout_can_still_be_fixed():
    # The check refuses bytes after IEND (how polyglots are made); a fix redraws the pixels from
    # the chunks a decoder needs, so the same walk lets it through.
    data = image_bytes(1000, 200) + b"PK\x03\x04 an archive hidden after the picture"
    with pytest.raises(ImageRejected, match="damaged or incomplete, so it can't be used"):
        check_image(data)

    assert keys(data) == ["crop", "borders"]
    fixed = fixing.apply_fix(data, "crop")  # cut to 499×200, then enlarged
    assert (fixed.width, fixed.height) == (751, 301)


# --- Pictures with too many pixels -------------------------------------------------------------


def big_jpeg(progressive: bool = False) -> bytes:
    return image_bytes(8000, 4000, "JPEG", mode="L", quality=50, progressive=progressive)


def test_a_baseline_jpeg_over_the_pixel_cap_is_shrunk_without_decoding_it_whole():
    data = big_jpeg()
    assert MAX_PIXELS < 8000 * 4000
    [fix] = fixing.diagnose(data)
    assert (fix.key, fix.label) == ("shrink", "Shrink")
    assert fix.explanation == "Shrink it from 8000×4000 to 4000×2000 to stay within 26 megapixels."

    fixed = fixing.apply_fix(data, "shrink")

    assert (fixed.mime, fixed.width, fixed.height) == ("image/jpeg", 4000, 2000)


def test_a_big_jpeg_with_a_wrong_ratio_is_shrunk_then_fixed():
    data = image_bytes(12000, 3000, "JPEG", mode="L", quality=50)

    fixes = fixing.diagnose(data)

    assert [fix.explanation for fix in fixes] == [
        "Shrink it from 12000×3000 to 6000×1500, then cut 1125 px from the left and 1126 px from the right "
        "to make it 3749×1500.",
        "Shrink it from 12000×3000 to 6000×1500, then add 450 px of blurred border above and 451 px below "
        "to make it 6000×2401.",
    ]
    assert (fixing.apply_fix(data, "crop").width, fixing.apply_fix(data, "borders").height) == (
        3749,
        2401,
    )


def test_borders_that_would_pass_the_pixel_cap_are_scaled_down():
    data = image_bytes(9000, 2800, "JPEG", mode="L", quality=50)  # 25.2 MP; padded it would be 32.4

    [_, borders] = fixing.diagnose(data)
    fixed = fixing.apply_fix(data, "borders")

    assert borders.explanation.endswith("then shrink it to 8061×3225 to stay within 26 megapixels.")
    assert (fixed.width, fixed.height) == (8061, 3225)


@pytest.mark.parametrize(
    "data",
    [
        big_jpeg(progressive=True),
        corpus.png_with_size(image_bytes(640, 480), 8000, 4000),
        corpus.jpeg_with_size(image_bytes(640, 480, "JPEG"), 30_000, 20_000),
    ],
    ids=["progressive-jpeg", "png", "jpeg-over-the-shrink-cap"],
)
def test_other_pictures_over_the_pixel_cap_are_refused(data):
    assert fixing.diagnose(data) == []
    assert "megapixels). The largest we can fix is" in refused(data, "shrink")


# --- Hostile and broken input ------------------------------------------------------------------


def first_gif_frame(gif: bytes) -> int:
    """Where the first image descriptor starts (after the header, colour table and extensions)."""
    pos = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    while gif[pos] == 0x21:
        pos += 2
        while gif[pos]:
            pos += 1 + gif[pos]
        pos += 1
    assert gif[pos] == 0x2C
    return pos


def gif_declaring(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    small = image_bytes(8, 8, "GIF")
    start = first_gif_frame(small)
    header = small[:6] + struct.pack("<HH", *screen) + small[10:start]
    descriptor = b"," + struct.pack("<HHHH", 0, 0, *frame) + small[start + 9 :]
    return header + descriptor


def riff(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def vp8l_declaring(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    return riff(webp_chunk(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 64))


def vp8x_declaring(width: int, height: int) -> bytes:
    payload = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff(webp_chunk(b"VP8X", payload), webp_chunk(b"VP8L", b"\x2f" + b"\x00" * 20))


WIDE_JPEG = image_bytes(1000, 200, "JPEG")
WIDE_PNG = image_bytes(1000, 200)
WIDE_WEBP = image_bytes(1000, 200, "WEBP")
WIDE_GIF = image_bytes(1000, 200, "GIF")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (corpus.png_header_only(100_000, 100_000), "This image is 100000×100000 pixels (10,000 megapixels)."),
        (gif_declaring((65535, 65535), (8, 8)), "This image is 65535×65535 pixels"),
        (gif_declaring((8, 8), (65535, 65535)), "This image is 65535×65535 pixels"),
        (vp8l_declaring(16384, 16384), "This image is 16384×16384 pixels"),
        (vp8x_declaring(1 << 24, 1 << 24), "This image is 16777216×16777216 pixels"),
        (corpus.jpeg_with_size(WIDE_JPEG, 65535, 65535), "This image is 65535×65535 pixels"),
        (WIDE_JPEG[: len(WIDE_JPEG) // 2], "This JPEG file is damaged or incomplete, so we can't fix it."),
        (WIDE_JPEG[:-2], "This JPEG file is damaged or incomplete, so we can't fix it."),
        (WIDE_PNG[: len(WIDE_PNG) - 30], "This PNG file is damaged or incomplete, so we can't fix it."),
        (WIDE_WEBP[: len(WIDE_WEBP) // 2], "This WebP file is damaged or incomplete, so we can't fix it."),
        (WIDE_GIF[: len(WIDE_GIF) // 2], "This GIF file is damaged or incomplete, so we can't fix it."),
        (corpus.jpeg_with_size(WIDE_JPEG, 1000, 0), "This JPEG file is damaged or incomplete"),
        (corpus.jpeg_with_sof(WIDE_JPEG, 0xC3), "This JPEG uses an uncommon kind of compression"),
        (bytes(range(256)) * 40, "This file is not a JPEG, PNG, WebP or GIF image, so we can't fix it."),
        (
            b"<!DOCTYPE html><html><body><img src=x></body></html>",
            "This file is not a JPEG, PNG, WebP or GIF",
        ),
        (image_bytes(1000, 200, "BMP"), "This file is not a JPEG, PNG, WebP or GIF"),
        (image_bytes(1000, 200, "TIFF"), "This file is not a JPEG, PNG, WebP or GIF"),
        (b"", "This file is empty (0 bytes), so there is no picture in it."),
        (b"\xff\xd8\xff", "This JPEG file is damaged or incomplete"),
        (b"\x89PNG\r\n\x1a\n", "This PNG file is damaged or incomplete"),
        (b"GIF89a", "This GIF file is damaged or incomplete"),
        (b"RIFF\x04\x00\x00\x00WEBP", "This WebP file is damaged or incomplete"),
    ],
    ids=[
        "png-bomb-header",
        "gif-huge-screen",
        "gif-huge-first-frame",
        "webp-huge-lossless",
        "webp-huge-canvas",
        "jpeg-huge",
        "truncated-jpeg",
        "jpeg-without-end",
        "truncated-png",
        "truncated-webp",
        "truncated-gif",
        "jpeg-zero-height",
        "lossless-jpeg",
        "random-bytes",
        "html",
        "bmp",
        "tiff",
        "empty",
        "jpeg-signature-only",
        "png-signature-only",
        "gif-signature-only",
        "riff-header-only",
    ],
)
def test_hostile_and_broken_input_gets_no_fix_and_a_sentence(data, message):
    with corpus.pillow_work() as pillow:
        assert fixing.diagnose(data) == []
        for key in ("crop", "borders", "enlarge", "shrink", "compress", "convert"):
            assert message in refused(data, key)
        with pytest.raises(ImageRejected):
            fixing.preview(data)

    # What keeps this cheap: a file declaring too many pixels is refused from its header before
    # Pillow (or libwebp, which allocates the canvas on opening) sees it, and nothing is ever
    # decoded past the pixel cap.
    if message.startswith("This image is "):
        assert pillow.opened == 0
    assert all(width * height <= MAX_PIXELS for _, (width, height) in pillow.decoded)


def test_a_damaged_picture_with_good_proportions_is_refused_with_the_rules_sentence():
    polyglot = image_bytes(640, 480) + b"PK\x03\x04 an archive hidden after the picture"

    assert fixing.diagnose(polyglot) == []
    assert refused(polyglot, "compress") == "This PNG file is damaged or incomplete, so it can't be used."


def test_files_over_the_input_cap_are_refused():
    data = b"\x89PNG\r\n\x1a\n" + bytes(pictures.MAX_INPUT_BYTES)

    assert fixing.diagnose(data) == []
    assert refused(data) == "This file is 64.1 MB. The largest file we can fix is 64 MB."


def test_the_input_cap_covers_a_40_mb_png():
    assert pictures.MAX_INPUT_BYTES >= 40 * 1024 * 1024 + 1024 * 1024


def test_a_crafted_exif_block_costs_no_memory():
    bomb = corpus.insert_segments(WIDE_JPEG, corpus.exif_ifd_bomb())

    with corpus.peak_memory() as peak:
        fixed = fixing.apply_fix(bomb, "crop")

    assert (fixed.width, fixed.height) == (751, 301)
    assert peak.python < 16 * 1024 * 1024


def test_a_png_with_a_text_bomb_is_fixed_without_inflating_it():
    bomb = corpus.insert_chunk(WIDE_PNG, *corpus.text_chunk(b"zTXt", 64 * 1024 * 1024))

    with corpus.peak_memory() as peak:
        fixed = fixing.apply_fix(bomb, "crop")

    assert b"zTXt" not in fixed.data
    assert peak.python < 16 * 1024 * 1024


def many_empty_png_chunks(count: int) -> bytes:
    chunks = corpus.png_chunks(WIDE_PNG)
    return corpus.build_png([chunks[0], *[(b"tiNy", b"")] * count, *chunks[1:]])


def many_empty_gif_comments(count: int) -> bytes:
    start = first_gif_frame(WIDE_GIF)
    return WIDE_GIF[:start] + b"!\xfe\x00" * count + WIDE_GIF[start:]


def parts_walked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The running count of parts (chunks, segments, GIF blocks) each structure walk has passed,
    one entry a step: the walks' own counters, read as they go."""
    seen: list[int] = []
    count, next_block = rules.Refusals.count, sources._GifWalk.next_block

    def counting(self: rules.Refusals, parts: int, kind: str) -> None:
        seen.append(parts)
        count(self, parts, kind)

    def stepping(self: sources._GifWalk) -> bytes:
        try:
            return next_block(self)
        finally:
            seen.append(self.blocks)

    monkeypatch.setattr(rules.Refusals, "count", counting)
    monkeypatch.setattr(sources._GifWalk, "next_block", stepping)
    return seen


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (many_empty_png_chunks(100_000), "PNG"),
        (many_empty_gif_comments(100_000), "GIF"),
        (corpus.insert_segments(WIDE_JPEG, *[corpus.jpeg_segment(0xFE, b"")] * 100_000), "JPEG"),
    ],
    ids=["png", "gif", "jpeg"],
)
def test_files_made_of_endless_tiny_parts_are_refused_quickly(data, kind, monkeypatch):
    assert fixing.diagnose(data) == []
    walked = parts_walked(monkeypatch)
    with corpus.pillow_work() as pillow:
        message = refused(data)

    assert (
        message == f"This {kind} file is built in an unusual way (it has too many parts), so we can't fix it."
    )
    # Quick because the walk stops at the part past the cap, not after all 100,000, and Pillow
    # (whose chunk and comment loops are slow in Python) never sees the file.
    assert max(walked) == len(walked) == MAX_PARTS + 1
    assert pillow.opened == 0


def test_many_parts_short_of_the_cap_are_still_fixed():
    for data in (many_empty_png_chunks(5_000), many_empty_gif_comments(5_000)):
        assert keys(data) == ["crop", "borders"]
        assert fixing.apply_fix(data, "crop").width == 751


@pytest.mark.parametrize(
    "source", [WIDE_JPEG, WIDE_PNG, WIDE_WEBP, WIDE_GIF], ids=["jpeg", "png", "webp", "gif"]
)
def test_damaged_variants_never_raise_anything_but_a_sentence(source):
    generator = random.Random(len(source))  # noqa: S311 (the same damage on every run)
    for _ in range(60):
        data = bytearray(source)
        for _ in range(generator.randint(1, 4)):
            data[generator.randrange(len(data))] = generator.randrange(256)
        if generator.random() < 0.3:
            del data[generator.randrange(len(data)) :]

        for fix in fixing.diagnose(bytes(data)):
            try:
                fixed = fixing.apply_fix(bytes(data), fix.key)
            except ImageRejected:
                continue
            check_image(fixed.data)


# --- Preview -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (image_bytes(1000, 401, "JPEG"), (480, 192)),
        (image_bytes(401, 1000), (192, 480)),
        (image_bytes(200, 100, "WEBP"), (200, 100)),
        (corpus.jpeg_with_orientation(1200, 600, 6), (240, 480)),
        (encoded(Image.new("RGBA", (800, 400), (0, 0, 0, 0)), "PNG"), (480, 240)),
    ],
    ids=["jpeg", "png", "small-webp", "rotated", "clear-png"],
)
def test_preview_is_a_small_jpeg(data, size):
    shown = opened(fixing.preview(data))

    assert (shown.format, shown.mode) == ("JPEG", "RGB")
    assert max(shown.size) == max(size)
    assert abs(min(shown.size) - min(size)) <= 1  # a small JPEG may be decoded at 1/2 and rounded again


def test_preview_of_a_fixed_picture():
    fixed = fixing.apply_fix(image_bytes(1000, 200, "JPEG"), "borders")

    preview = fixing.preview(fixed.data, long_side=200)

    assert opened(preview).size in ((200, 80), (200, 81))
    assert len(preview) < 20 * 1024


def test_preview_of_a_big_jpeg_is_decoded_at_an_eighth_of_its_size():
    data = big_jpeg()

    with corpus.pillow_work() as pillow:
        preview = fixing.preview(data)

    assert opened(preview).size == (480, 240)
    # What keeps it quick: libjpeg's DCT scaling reads the 32-megapixel picture at 1/8 scale, the
    # smallest that still has 480 px on the long side (1/64 of the pixels to decode and resize).
    assert pillow.decoded == [("JPEG", (1000, 500))]


# --- Sizes -------------------------------------------------------------------------------------


def ratio_ok(width: int, height: int) -> bool:
    return 2 * width < 5 * height and 2 * height < 5 * width


def allowed(width: int, height: int) -> bool:
    return ratio_ok(width, height) and min(width, height) > 300


def test_crop_and_borders_pick_the_nearest_allowed_ratio_and_then_a_size_within_the_rules():
    for width in [*range(1, 60), *range(295, 310), 999, 1000, 1001, 4001, 65535]:
        for height in (1, 2, 7, 200, 300, 301, 400, 401, 1000, 1001):
            crop_w, crop_h = fixing._cropped(width, height)
            pad_w, pad_h = fixing._padded(width, height)
            # Only the long side is cut, only the short one grows, and one pixel less would not do.
            if (crop_w, crop_h) != (width, height):
                assert (crop_h == height and crop_w < width) or (crop_w == width and crop_h < height)
                grown = (crop_w + 1, crop_h) if crop_h == height else (crop_w, crop_h + 1)
                assert ratio_ok(crop_w, crop_h)
                assert not ratio_ok(*grown)
                shrunk = (pad_w - 1, pad_h) if pad_h == height else (pad_w, pad_h - 1)
                assert ratio_ok(pad_w, pad_h)
                assert not ratio_ok(*shrunk)
            for size in (fixing._within_rules(crop_w, crop_h), fixing._within_rules(pad_w, pad_h)):
                assert allowed(*size), (width, height, size)
                assert size[0] * size[1] <= MAX_PIXELS


def test_the_jpeg_quality_is_the_best_that_fits_and_the_size_drops_only_when_it_must():
    noise = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    at = {quality: len(fixing._jpeg(noise, quality, None)) for quality in (60, 75, 76, 92)}

    best = fixing._jpeg_within_limit(noise, None, at[75] + at[76] >> 1)
    assert best == fixing._jpeg(noise, 75, None)

    smaller = opened(fixing._jpeg_within_limit(noise, None, at[60] // 2))
    assert allowed(*smaller.size)
    assert smaller.width < 800
    assert abs(smaller.width / smaller.height - 800 / 600) < 0.01
