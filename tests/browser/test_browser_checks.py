"""In Chromium: a picked picture is judged before any upload, in the server's own words, and fixed in a click."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from playground import pictures
from playground.generations.models import Generation
from tests import imagecorpus as corpus
from tests.browser_fixtures import sign_in, wait_until
from tests.factories import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD = {
    "gif.jpg": lambda: image_bytes(640, 480, "GIF"),
    "webp.png": lambda: image_bytes(640, 480, "WEBP"),
    "bmp.jpg": lambda: image_bytes(640, 480, "BMP"),
    "wide.png": lambda: image_bytes(1200, 200, "PNG"),
    "tall.jpg": lambda: image_bytes(300, 1000, "JPEG"),
    "five-to-two.png": lambda: image_bytes(1000, 400, "PNG"),
    "small.png": lambda: image_bytes(300, 500, "PNG"),
    "too-big.png": lambda: corpus.pad_png(image_bytes(800, 600, "PNG"), 20 * 1024 * 1024 + 1),
    "empty.png": lambda: b"",
}


@pytest.fixture
def generate_page(page: Any) -> Any:
    sign_in(page, "erin")
    page.get_by_role("radio", name=re.compile("video-01-live2d")).check()
    page.get_by_label("Prompt", exact=True).fill("Bring it to life")
    return page


def watch_uploads(page: Any) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    return sent


@pytest.mark.parametrize("name", list(BAD))
def test_each_bad_picture_gets_the_servers_sentence_before_any_upload(
    generate_page: Any, tmp_path: Path, name: str
):
    page = generate_page
    data = BAD[name]()
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(pictures.ImageRejected) as refused:
        pictures.check_image(data)
    sent = watch_uploads(page)

    page.get_by_label("First-frame image", exact=True).set_input_files(str(path))
    check = page.locator("#client-check .field-errors")
    check.wait_for()
    shown = [item.inner_text() for item in check.locator("li").all()]
    assert shown == refused.value.messages  # word for word what the server would say
    assert page.locator("#generate-button").get_attribute("aria-disabled") == "true"
    assert page.locator("#generate-blocked").inner_text().startswith("Generate is off")
    page.locator("#generate-button").click(force=True)  # clicking anyway sends nothing
    page.wait_for_timeout(300)
    assert sent == []


def test_a_good_picture_shows_its_size_and_ratio_and_can_be_sent(generate_page: Any, tmp_path: Path):
    page = generate_page
    path = tmp_path / "fine.jpg"
    path.write_bytes(image_bytes(1280, 720, "JPEG"))
    page.get_by_label("First-frame image", exact=True).set_input_files(str(path))
    page.locator(".check-ok").wait_for()
    assert "1280×720 · ratio 1.78 : 1" in page.locator("#preview-caption").inner_text()
    assert page.locator("#generate-button").get_attribute("aria-disabled") == "false"


@pytest.mark.parametrize(
    ("make", "fix", "size"),
    [
        (lambda: image_bytes(1200, 200, "PNG"), "Add borders", (1200, 481)),
        (lambda: image_bytes(1200, 200, "PNG"), "Crop to fit", (751, 301)),
        (lambda: image_bytes(300, 300, "PNG"), "Enlarge", (301, 301)),
        (lambda: image_bytes(640, 480, "WEBP"), "Convert to JPEG", (640, 480)),
    ],
    ids=["borders", "crop", "enlarge", "convert"],
)
def test_a_fix_is_previewed_chosen_and_becomes_the_first_frame(
    generate_page: Any, tmp_path: Path, make, fix, size
):
    page = generate_page
    path = tmp_path / "picked"
    path.write_bytes(make())
    page.get_by_label("First-frame image", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Show ways to fix it").click()
    offer = page.locator(".fix").filter(has_text=fix)
    offer.wait_for()
    wait_until(
        page, "() => [...document.querySelectorAll('.fix img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.evaluate("document.activeElement.id") == "fix-heading"  # focus follows the new content
    offer.get_by_role("button", name="Use this").click()
    page.locator(".fix-chosen").wait_for()
    assert f"{size[0]}×{size[1]}" in page.locator(".fix-chosen").inner_text()
    assert page.locator("#generate-button").get_attribute("aria-disabled") == "false"
    assert page.get_by_label("First-frame image", exact=True).input_value() == ""  # the original stays here
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    gen = Generation.objects.get()
    assert (gen.first_frame_width, gen.first_frame_height) == size
    pictures.check_image(gen.first_frame.read())


def test_a_link_is_checked_on_the_server_and_can_be_fixed(generate_page: Any, image_server: Any):
    page = generate_page
    link = image_server.put("/banner.png", image_bytes(1200, 200, "PNG"))
    page.get_by_label("Image link", exact=True).fill(link)
    page.get_by_role("button", name="Check link").click()
    page.locator(".fix").filter(has_text="Add borders").get_by_role("button", name="Use this").click()
    page.locator(".fix-chosen").wait_for()
    page.get_by_label("Image link", exact=True).fill("")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    assert (Generation.objects.get().first_frame_width, Generation.objects.get().first_frame_height) == (
        1200,
        481,
    )


def test_the_prompt_counter_warns_near_the_limit_and_the_model_says_if_a_frame_is_needed(generate_page: Any):
    page = generate_page
    assert page.locator("#need-frame").inner_text().startswith("Required for video-01-live2d")
    page.get_by_role("radio", name=re.compile(r"^video-01 ")).check()
    assert page.locator("#need-frame").inner_text().startswith("Optional for video-01")
    page.get_by_label("Prompt", exact=True).fill("x" * 1850)
    counter = page.locator("#id_prompt_helptext")
    assert counter.inner_text() == "1,850 / 2,000 characters — 150 left"
    assert "near-limit" in (counter.get_attribute("class") or "")
    page.get_by_label("Prompt", exact=True).fill("x" * 2010)
    assert counter.inner_text() == "2,010 / 2,000 characters — 10 too many"


@pytest.mark.parametrize(
    "name",
    [
        "jpeg baseline over the pixel cap",
        "jpeg progressive over the pixel cap",
        "png over the pixel cap",
        "png over 20 MB",
        "gif wide",
        "webp fine",
    ],
)
def test_show_ways_to_fix_it_is_offered_exactly_when_the_server_has_a_fix(
    generate_page: Any, tmp_path: Path, name: str
):
    from playground.pictures import fixing
    from tests.pictures.test_fix_offers import CASES

    page = generate_page
    data = CASES[name][0]()
    path = tmp_path / "picked"
    path.write_bytes(data)
    page.get_by_label("First-frame image", exact=True).set_input_files(str(path))
    page.locator("#client-check .field-errors").wait_for()
    offered = page.locator("#show-fixes").is_visible()
    assert offered == bool(fixing.diagnose(data))
    blocked = page.locator("#generate-blocked").inner_text()
    assert ("Show ways to fix it" in blocked) == offered
    if offered:
        page.get_by_role("button", name="Show ways to fix it").click()
        page.locator(".fix").first.get_by_role("button", name="Use this").click()
        page.locator(".fix-chosen").wait_for()


def test_a_refused_page_comes_back_holding_the_picture_and_sends_it_next_time(
    generate_page: Any, tmp_path: Path, settings: Any
):
    page = generate_page
    picture = image_bytes(640, 480, "PNG")
    path = tmp_path / "fox.png"
    path.write_bytes(picture)
    settings.MONTHLY_GENERATION_CAP = 0
    page.get_by_label("First-frame image", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Generate").click()
    kept = page.locator(".fix-chosen")
    kept.wait_for()
    assert "Kept from your last try: 640×480." in kept.inner_text()
    wait_until(
        page,
        "() => { const i = document.querySelector('.fix-chosen img'); "
        "return i && i.complete && i.naturalWidth === 640; }",
    )
    assert page.get_by_label("First-frame image", exact=True).input_value() == ""  # the box is empty

    settings.MONTHLY_GENERATION_CAP = None
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    assert Generation.objects.get().first_frame.read() == picture
