"""In Chromium: the Generate form's kept choices stay before every file input, as the page first
shows them and after htmx changes a list, so an upload stopped at a file too large never loses one
(generate.html's #kept-choices; playground/pictures/uploads.py stops the reading)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from playground.generations.models import Generation
from playground.generations.references import Reference
from tests.browser.test_browser_models import choose, picture
from tests.browser_fixtures import sign_in, wait_until
from tests.media_samples import sound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The form's fields as the browser sends them (form.elements is in the page's order): the hidden
# ones after the first file input, and the kept choices' values by name.
ORDER = """() => {
  const form = document.getElementById("generate-form");
  const sent = Array.from(form.elements).filter(e => e.name && !e.disabled && e.tagName !== "BUTTON");
  const firstFile = sent.findIndex(e => e.type === "file");
  const kept = {};
  for (const e of sent) {
    if (["staged_first_frame", "staged_last_frame", "batch_picture", "reference_picture", "reference_kept"].includes(e.name)) {
      kept[e.name] = (kept[e.name] || 0) + 1;
    }
  }
  const late = sent.slice(firstFile).filter(e => e.type === "hidden").map(e => e.name);
  const nonFileBefore = sent.slice(0, firstFile).map(e => e.name);
  return {firstFile: firstFile, late: late, kept: kept, before: nonFileBefore};
}"""


def order(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(ORDER)
    assert found["firstFile"] >= 0, "no file input on the form"
    assert found["late"] == [], f"hidden inputs after the first file input: {found['late']}"
    return found


def test_kept_choices_stay_before_the_files_after_htmx_changes_the_lists(page: Any, tmp_path: Path):
    sign_in(page)
    choose(page, "minimax/h3")
    page.get_by_label("Prompt", exact=True).fill("Gulls over a grey harbour")
    page.get_by_label("First-frame image", exact=True).set_input_files(
        [picture(tmp_path, "good.png", 640, 480), picture(tmp_path, "wide.png", 1200, 200)]
    )
    page.get_by_label("Reference picture files").set_input_files(
        [picture(tmp_path, "style.png", 720, 480), picture(tmp_path, "long.png", 1200, 200)]
    )
    page.get_by_label("Voice sample Files", exact=True).set_input_files(
        {"name": "voice.wav", "mimeType": "audio/wav", "buffer": sound(2.0)}
    )
    page.get_by_label("Last-frame file", exact=True).set_input_files(picture(tmp_path, "last.png", 800, 450))
    page.get_by_role("button", name="Generate").click()

    # The page comes back holding everything: the two lists, the voice sample and the last frame.
    page.locator("#batch-pictures").wait_for()
    page.locator("#reference-pictures").wait_for()
    assert Generation.objects.count() == 0
    first = order(page)
    assert first["kept"] == {
        "batch_picture": 2,
        "reference_picture": 2,
        "reference_kept": 1,
        "staged_last_frame": 1,
    }
    assert {"model", "prompt", "submission_token"} <= set(first["before"])

    # htmx: one picture left out of the batch, a fix chosen for a reference picture.
    page.locator("#batch-pictures").get_by_role("button", name="Remove Picture 2 (wide.png)").click()
    wait_until(page, "document.querySelectorAll('#batch-pictures .batch-picture').length === 1")
    assert order(page)["kept"]["batch_picture"] == 1
    long = page.locator("#reference-pictures .batch-picture").filter(has_text="long.png")
    long.locator(".fix").filter(has_text="Crop to fit").get_by_role("button").click()
    page.locator("#reference-pictures .batch-picture").filter(has_text="Fixed with “Crop to fit”").wait_for()
    after = order(page)
    assert after["kept"] == first["kept"] | {"batch_picture": 1}
    # Removing a reference picture puts focus on the list's heading, which the legend above makes
    # a screen-reader-only title: it comes into sight while it has focus, so keyboard users see it.
    page.locator("#reference-pictures").get_by_role(
        "button", name="Remove Reference picture 1 (style.png)"
    ).click()
    wait_until(page, "document.querySelectorAll('#reference-pictures .batch-picture').length === 1")
    wait_until(page, "document.activeElement.id === 'reference-heading'")
    box = page.locator("#reference-heading").bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 10, box
    assert order(page)["kept"]["reference_picture"] == 1
    # The visible lists carry no inputs of their own: each value is sent once.
    assert page.locator("#batch-pictures input, #reference-pictures input, #kept-media input").count() == 0

    # And Generate sends them: one picture, the fixed reference picture, the voice sample, the last frame.
    wait_until(page, "document.querySelector('#generate-button').getAttribute('aria-disabled') === 'false'")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    gen = Generation.objects.get()
    assert (gen.first_frame_width, gen.first_frame_height) == (640, 480)
    assert (gen.end_frame_width, gen.end_frame_height) == (800, 450)
    kinds = sorted(Reference.objects.filter(generation=gen).values_list("kind", flat=True))
    assert kinds == ["audios", "images"]


def test_a_fixed_first_frame_waits_before_the_files_and_goes_when_another_file_is_picked(
    page: Any, tmp_path: Path
):
    sign_in(page)
    page.get_by_label("First-frame image", exact=True).set_input_files(
        picture(tmp_path, "wide.png", 1200, 200)
    )
    page.get_by_role("button", name="Show ways to fix it").click()
    page.locator("#fix-area .fix").filter(has_text="Crop to fit").get_by_role(
        "button", name="Use this"
    ).click()
    page.locator("#fix-area .fix-chosen").wait_for()
    # The fixed picture's token came back out of band, into the block at the top of the form.
    assert order(page)["kept"] == {"staged_first_frame": 1}
    assert page.locator("#kept-first-frame input[name=staged_first_frame]").count() == 1
    assert page.locator("#fix-area input").count() == 0

    # A new file replaces the fix: its token goes too, so the server is not sent both.
    page.get_by_label("First-frame image", exact=True).set_input_files(
        picture(tmp_path, "good.png", 640, 480)
    )
    wait_until(page, "document.querySelectorAll('#kept-first-frame input').length === 0")
    assert page.locator("#fix-area .fix-chosen").count() == 0
    assert order(page)["kept"] == {}
