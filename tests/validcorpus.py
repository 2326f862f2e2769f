"""Valid pictures, every one of which the first-frame check must accept.

The hostile corpus (tests/imagecorpus.py) proves nothing bad gets in; this one proves nothing good
is kept out, which costs a user as surely. Pillow (and, for what Pillow can't write, such as
interlaced or 16-bit colour PNGs, the byte-level writer in imagecorpus) makes every kind a camera,
a phone, an editor or a screenshot tool writes: many sizes (odd ones included, so the last row of
blocks is partial), every PNG colour type and bit depth, interlacing, every zlib level, flat,
striped, gradient and noisy content, JPEG baseline and progressive, each chroma subsampling, grey
and CMYK, restart markers, EXIF orientations, colour profiles, comments, MPO and APNG.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms, ImageDraw

from tests import imagecorpus


@dataclass(frozen=True)
class Valid:
    name: str
    make: Callable[[], bytes]
    size: tuple[int, int]  # as displayed, after EXIF orientation


def content(kind: str, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A picture of `size`: flat, stripes, gradient or noise (the hardest to compress)."""
    width, height = size
    if kind == "noise":
        bands = len(Image.new(mode, (1, 1)).getbands())
        return Image.frombytes(mode, size, imagecorpus.noise(width * height, width * height * bands))
    image = Image.new("RGB", size, (200, 30, 40))
    if kind == "stripes":
        draw = ImageDraw.Draw(image)
        for x in range(0, width, 7):
            draw.line([(x, 0), (x, height)], fill=(10, 20, 120), width=2)
    elif kind == "gradient":
        ramp = Image.linear_gradient("L")
        across = ramp.transpose(Image.Transpose.ROTATE_90)
        image = Image.merge("RGB", (ramp, across, ramp)).resize(size)
    return image.convert(mode)


def saved(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _maker(kind: str, size: tuple[int, int], mode: str, fmt: str, **options: Any) -> Callable[[], bytes]:
    return lambda: saved(content(kind, size, mode), fmt, **options)


def _pngs() -> list[Valid]:
    cases = []
    # The size from the report (a flat 1024×1024 refused as damaged) and its neighbours.
    for size in [(301, 301), (302, 754), (754, 302), (800, 800), (1024, 1024), (1500, 1000), (2048, 2048)]:
        for kind in ("flat", "stripes", "noise"):
            if kind == "noise" and size[0] * size[1] > 1_100_000:
                continue
            cases.append(Valid(f"png {kind} {size[0]}×{size[1]}", _maker(kind, size, "RGB", "PNG"), size))
    cases.append(Valid("png flat 4000×3000", _maker("flat", (4000, 3000), "RGB", "PNG"), (4000, 3000)))
    cases.append(Valid("png flat 5887×4416", _maker("flat", (5887, 4416), "RGB", "PNG"), (5887, 4416)))
    for level in range(10):
        size = (640, 480)
        cases.append(
            Valid(
                f"png gradient level {level}",
                _maker("gradient", size, "RGB", "PNG", compress_level=level),
                size,
            )
        )
    cases.append(
        Valid("png optimized", _maker("stripes", (640, 480), "RGB", "PNG", optimize=True), (640, 480))
    )
    for mode in ("1", "L", "LA", "P", "RGBA", "I;16"):
        for kind in ("flat", "gradient"):
            cases.append(Valid(f"png {mode} {kind}", _maker(kind, (512, 384), mode, "PNG"), (512, 384)))
    for bits in (1, 2, 4):
        cases.append(Valid(f"png palette {bits}-bit", _few_colours(bits), (512, 384)))
    transparent = content("stripes", (512, 384)).convert("P")
    cases.append(
        Valid("png palette with tRNS", lambda: saved(transparent, "PNG", transparency=0), (512, 384))
    )
    cases.append(
        Valid(
            "png RGB with tRNS", _maker("flat", (512, 384), "RGB", "PNG", transparency=(0, 0, 0)), (512, 384)
        )
    )
    # What Pillow can't write: interlacing (Adam7), 16-bit colour, grey at 2 and 4 bits.
    for color_type, depth in [
        (0, 1),
        (0, 2),
        (0, 4),
        (0, 8),
        (0, 16),
        (2, 8),
        (2, 16),
        (3, 8),
        (4, 16),
        (6, 8),
        (6, 16),
    ]:
        for interlace in (False, True):
            for size in [(301, 301), (613, 457)]:
                name = (
                    f"png raw type {color_type} {depth}-bit {'interlaced' if interlace else 'plain'} {size}"
                )
                make = _raw(size, color_type, depth, interlace)
                cases.append(Valid(name, make, size))
    cases.append(Valid("png with text and profile", _png_with_metadata, (640, 480)))
    cases.append(Valid("apng", lambda: imagecorpus.apng_bytes(640, 480), (640, 480)))
    return cases


def _few_colours(bits: int) -> Callable[[], bytes]:
    def make() -> bytes:
        image = content("gradient", (512, 384)).convert("P", palette=Image.Palette.ADAPTIVE, colors=1 << bits)
        return saved(image, "PNG", bits=bits)

    return make


def _raw(size: tuple[int, int], color_type: int, depth: int, interlace: bool) -> Callable[[], bytes]:
    return lambda: imagecorpus.raw_png(*size, color_type=color_type, depth=depth, interlace=interlace)


def _png_with_metadata() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", "A title")
    info.add_text("Comment", "x" * 5000, zip=True)
    info.add_itxt("Beschreibung", "Ein Bild", lang="de", zip=True)
    return saved(content("stripes", (640, 480)), "PNG", pnginfo=info, icc_profile=_srgb(), dpi=(300, 300))


def _srgb() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    data: bytes = profile.tobytes()
    return data


def _jpegs() -> list[Valid]:
    cases = []
    for size in [(301, 301), (302, 754), (754, 302), (1023, 767), (1024, 1024), (4000, 3000)]:
        for kind in ("flat", "noise"):
            if kind == "noise" and size[0] * size[1] > 1_100_000:
                continue
            for progressive in (False, True):
                label = "progressive" if progressive else "baseline"
                make = _maker(kind, size, "RGB", "JPEG", progressive=progressive, quality=90)
                cases.append(Valid(f"jpeg {label} {kind} {size[0]}×{size[1]}", make, size))
    for subsampling in (0, 1, 2):
        for progressive in (False, True):
            make = _maker(
                "gradient", (777, 555), "RGB", "JPEG", subsampling=subsampling, progressive=progressive
            )
            cases.append(Valid(f"jpeg subsampling {subsampling} progressive={progressive}", make, (777, 555)))
    for quality in (1, 50, 100):
        make = _maker("stripes", (640, 480), "RGB", "JPEG", quality=quality)
        cases.append(Valid(f"jpeg quality {quality}", make, (640, 480)))
    for mode in ("L", "CMYK"):
        for progressive in (False, True):
            make = _maker("gradient", (640, 480), mode, "JPEG", progressive=progressive)
            cases.append(Valid(f"jpeg {mode} progressive={progressive}", make, (640, 480)))
    cases.append(
        Valid("jpeg optimized", _maker("noise", (640, 480), "RGB", "JPEG", optimize=True), (640, 480))
    )
    cases.append(
        Valid("jpeg restart markers", lambda: imagecorpus.with_restart_markers(641, 479), (641, 479))
    )
    cases.append(
        Valid(
            "jpeg progressive restart markers",
            lambda: imagecorpus.with_restart_markers(641, 479, progressive=True),
            (641, 479),
        )
    )
    for orientation in range(1, 9):
        turned = orientation in (5, 6, 7, 8)
        size = (480, 640) if turned else (640, 480)
        cases.append(Valid(f"jpeg exif orientation {orientation}", _oriented(orientation), size))
    cases.append(Valid("jpeg with profile, comment, dpi", _jpeg_with_metadata, (640, 480)))
    cases.append(Valid("mpo", lambda: imagecorpus.mpo_bytes(640, 480), (640, 480)))
    return cases


def _oriented(orientation: int) -> Callable[[], bytes]:
    exif = imagecorpus.exif_block(orientation)
    return lambda: saved(content("stripes", (640, 480)), "JPEG", exif=exif)


def _jpeg_with_metadata() -> bytes:
    image = content("stripes", (640, 480))
    return saved(image, "JPEG", icc_profile=_srgb(), comment=b"made by a test", dpi=(72, 72))


def cases() -> list[Valid]:
    return _pngs() + _jpegs()
