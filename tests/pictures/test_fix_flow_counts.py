"""How much work one bad picture costs through the fix flow: checks and decodes per step.

offer → two previews → choose → submit, for a too-wide PNG. Before the staged record, the same
flow ran check_image 9 times and decoded pictures fully 6 times (issue 11); the counts below are
what it costs now, and a change that adds work makes this test fail.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import ImageFile

from playground import pictures
from playground.generations.models import Generation
from tests.factories import image_bytes
from tests.pictures.test_fix_flow import APPLY, GENERATE, form, offers

WIDTH, HEIGHT = 1000, 200


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    check, load = pictures.check_image, ImageFile.ImageFile.load

    def counting_check(data: bytes) -> pictures.CheckedImage:
        counts["checks"] += 1
        return check(data)

    def counting_load(self: ImageFile.ImageFile) -> Any:
        if getattr(self, "tile", None):
            # Full size: every pixel of the picture as stored (not a 1/8 JPEG draft, not a skeleton).
            counts["full decodes" if self.width * self.height >= WIDTH * HEIGHT else "small decodes"] += 1
        return load(self)

    # The package's name for it (forms, views) and the check module's own (the fixes).
    monkeypatch.setattr(pictures, "check_image", counting_check)
    monkeypatch.setattr(pictures.check, "check_image", counting_check)
    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return counts


def test_the_fix_flow_checks_and_decodes_once_per_picture_per_step(signed_in: Client, counted: Counter[str]):
    steps: dict[str, dict[str, int]] = {}

    def step(name: str) -> None:
        steps[name] = dict(counted)
        counted.clear()

    picture = image_bytes(WIDTH, HEIGHT, "PNG")
    html = signed_in.post(GENERATE, form(first_frame=SimpleUploadedFile("w.png", picture))).content.decode()
    step("offer")
    offered = offers(html)
    assert offered, html[html.find("field-errors") : html.find("field-errors") + 600]
    for key in ("crop", "borders"):
        assert (
            signed_in.get(reverse("staged_image", args=[offered[key][:32], f"preview-{key}.jpg"])).status_code
            == 200
        )
    step("two previews")
    signed_in.post(APPLY, {**form(), "apply_fix": offered["borders"]})
    step("choose")
    assert signed_in.post(GENERATE, form(staged_first_frame=offered["borders"])).status_code == 302
    step("submit")
    assert Generation.objects.get().first_frame_width == WIDTH
    total = Counter[str]()
    for counts in steps.values():
        total.update(counts)
    print("fix flow:", steps, "total:", dict(total))
    assert total["checks"] <= 5, steps
    assert total["full decodes"] <= 3, steps
    assert steps["choose"].get("full decodes", 0) == 0 and steps["submit"].get("full decodes", 0) == 0, steps
