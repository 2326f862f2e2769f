"""The README's screenshots, taken by a real journey at desktop and phone widths.

Taken on demand, not in every run: `python3 dev.py screenshots` runs this file (pytest's
--screenshots option) and copies what it wrote to var/test-artifacts/screens/ into docs/screenshots/,
the committed copies.
The journey checks what it shows, so a screenshot of a broken page fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.worker.loop import Worker
from tests.browser_fixtures import ARTIFACTS, sign_in, wait_until
from tests.factories import PASSWORD, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.screenshots, pytest.mark.django_db(transaction=True)]

SCREENS = ARTIFACTS / "screens"
SIZES = {"desktop": {"width": 1440, "height": 900}, "mobile": {"width": 390, "height": 844}}


def shoot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots_of_the_main_moments(
    browser: Any, live_server: Any, running_worker: Worker, tmp_path: Path, size: str
):
    running_worker  # noqa: B018 (the worker makes the videos)
    get_user_model().objects.create_user(f"maya-{size}", password=PASSWORD)
    context = browser.new_context(viewport=SIZES[size], base_url=live_server.url, reduced_motion="reduce")
    page = context.new_page()
    sign_in(page, f"maya-{size}", create=False)

    # Generate, with a picture that breaks a rule, and its fix offers.
    banner = tmp_path / "banner.png"
    banner.write_bytes(image_bytes(1500, 400, "PNG"))
    page.get_by_role("radio", name=re.compile("video-01-live2d")).check()
    page.get_by_label("Prompt", exact=True).fill(
        "The city skyline lights up as night falls, slow pan from left to right"
    )
    page.get_by_label("First-frame image", exact=True).set_input_files(str(banner))
    page.get_by_role("button", name="Show ways to fix it").click()
    page.locator(".fix").first.wait_for()
    page.wait_for_timeout(500)  # let the previews load
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    shoot(page, f"{size}-generate-fixes")

    # Choose a fix and generate; the running page, then the ready video.
    page.locator(".fix").filter(has_text="Add borders").get_by_role("button", name="Use this").click()
    page.locator(".fix-chosen").wait_for()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    page.locator("#status .step-current").wait_for()
    shoot(page, f"{size}-running")
    page.locator("#status .stage-ready").wait_for(timeout=60000)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    shoot(page, f"{size}-ready")

    # Review: comments at two moments, a reply, a resolved thread, the take approved.
    page.reload()
    for seconds, moment, text in [
        (0.3, "0:00.3", "The skyline flickers here: keep the lights steady"),
        (0.8, "0:00.8", "Lovely pan. See the reference: https://example.com/skyline"),
    ]:
        page.evaluate(
            f"(() => {{ const v = document.querySelector('video.player'); v.pause(); v.currentTime = {seconds}; }})()"
        )
        wait_until(page, f"document.getElementById('comment-at').value === '{moment}'")
        page.locator("#comment-text").fill(text)
        page.get_by_role("button", name="Comment", exact=True).click()
        page.locator(".thread", has_text=text[:20]).wait_for()
    first = page.locator(".thread", has_text="The skyline flickers")
    first.locator("summary", has_text="Reply").click()
    first.get_by_label("Reply").fill("Fixed in the next take")
    first.get_by_role("button", name="Send reply").click()
    page.locator(".reply", has_text="Fixed in the next take").wait_for()
    page.locator(".thread", has_text="The skyline flickers").get_by_role("button", name="Resolve").click()
    page.locator(".resolved-note").wait_for()
    page.get_by_role("button", name="Approved", exact=True).click()
    page.locator("#review-status", has_text="Approved").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"]
    shoot(page, f"{size}-review")

    # The gallery.
    page.goto("/gallery/")
    page.locator(".card-item").first.wait_for()
    shoot(page, f"{size}-gallery")
    context.close()
