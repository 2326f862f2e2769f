"""Every fix offered for a picture works for its format, and nothing unworkable is offered."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from playground import pictures
from playground.pictures import check_image, fixing
from tests import imagecorpus as corpus


def flat(size: tuple[int, int], fmt: str, mode: str = "RGB", **options: object) -> Callable[[], bytes]:
    def make() -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, size, (200, 30, 40) if mode != "L" else 90).save(buffer, fmt, **options)
        return buffer.getvalue()

    return make


OVER_CAP = (6000, 5000)  # 30 MP: over pictures.MAX_PIXELS, within what Shrink takes

CASES: dict[str, tuple[Callable[[], bytes], set[str]]] = {
    "jpeg baseline wide": (flat((1200, 200), "JPEG"), {"crop", "borders"}),
    "jpeg progressive wide": (flat((1200, 200), "JPEG", progressive=True), {"crop", "borders"}),
    "png wide": (flat((1200, 200), "PNG"), {"crop", "borders"}),
    "png rgba tall": (flat((200, 1200), "PNG", "RGBA"), {"crop", "borders"}),
    "webp wide": (flat((1200, 200), "WEBP"), {"crop", "borders"}),
    "gif wide": (flat((1200, 200), "GIF"), {"crop", "borders"}),
    "jpeg small": (flat((300, 300), "JPEG"), {"enlarge"}),
    "png small": (flat((300, 300), "PNG"), {"enlarge"}),
    "webp small": (flat((300, 300), "WEBP"), {"enlarge"}),
    "gif small": (flat((300, 300), "GIF"), {"enlarge"}),
    "webp fine": (flat((640, 480), "WEBP"), {"convert"}),
    "gif fine": (flat((640, 480), "GIF"), {"convert"}),
    "jpeg baseline over the pixel cap": (flat(OVER_CAP, "JPEG"), {"shrink"}),
    # The report: Shrink was promised for these and then refused. They get no fix at all.
    "jpeg progressive over the pixel cap": (flat(OVER_CAP, "JPEG", progressive=True), set()),
    "png over the pixel cap": (flat(OVER_CAP, "PNG"), set()),
    "jpeg baseline wide over the pixel cap": (flat((9000, 3000), "JPEG"), {"crop", "borders"}),
    "png over 20 MB": (lambda: corpus.pad_png(flat((1200, 900), "PNG")(), 21 * 1024 * 1024), {"compress"}),
    "jpeg over 20 MB": (lambda: corpus.pad_jpeg(flat((1200, 900), "JPEG")(), 21 * 1024 * 1024), {"compress"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_offered_fix_makes_a_picture_that_passes(name: str) -> None:
    make, expected = CASES[name]
    data = make()
    fixes = fixing.diagnose(data)
    assert {fix.key for fix in fixes} == expected
    for fix in fixes:
        fixed = fixing.apply_fix(data, fix.key)
        assert check_image(fixed.data).width == fixed.width


def test_the_browser_gets_the_limits_the_fixer_uses() -> None:
    rules = fixing.browser_rules()
    assert rules["fix_max_bytes"] == pictures.MAX_INPUT_BYTES
    assert rules["shrinkable_pixels"] == pictures.MAX_JPEG_PIXELS
