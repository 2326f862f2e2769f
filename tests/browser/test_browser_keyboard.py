"""Keyboard only, in Chromium: sign in, fill the form, pick a file, generate, reach the video, filter."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from playground.generations.models import Generation, State
from playground.worker.loop import Worker
from tests.browser_fixtures import wait_until
from tests.factories import PASSWORD, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = """() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    return {
        tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute("name") || "",
        text: (e.innerText || e.value || e.getAttribute("aria-label") || "").trim().slice(0, 60),
        type: e.getAttribute("type") || "",
        visible: style.boxShadow !== "none" || (style.outlineStyle !== "none" && style.outlineWidth !== "0px"),
    };
}"""


def tab_until(page: Any, wanted: Any, *, limit: int = 60, back: bool = False) -> dict[str, Any]:
    """Press Tab until the focused element matches `wanted`; every stop must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        now = page.evaluate(FOCUSED)
        assert now["visible"] or now["tag"] in {"body", "video"}, f"focus is invisible on {now}"
        if wanted(now):
            return now
    raise AssertionError("never reached the element by keyboard")


def open_chooser_by_keyboard(page: Any) -> Any:
    """Space on the focused file field opens the system chooser.

    In one full CI run headless Chromium opened no chooser for the first press (it passed alone), so
    the press is repeated a few times; focus must still be on the file field each time, so only
    the keyboard can open it.
    """
    for _ in range(3):
        assert page.evaluate(FOCUSED)["type"] == "file"
        try:
            with page.expect_file_chooser(timeout=5000) as chooser:
                page.keyboard.press("Space")
        except PlaywrightTimeoutError:
            continue
        return chooser.value
    raise AssertionError("Space on the focused file field never opened the file chooser")


@pytest.fixture
def keyboard_page(browser: Any, live_server: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


def test_a_whole_visit_by_keyboard(keyboard_page: Any, running_worker: Worker, tmp_path: Path):
    page = keyboard_page
    get_user_model().objects.create_user("kim", password=PASSWORD)
    picture = tmp_path / "portrait.png"
    picture.write_bytes(image_bytes(480, 640, "PNG"))

    # Sign in.
    page.goto("/generate/")
    first = tab_until(page, lambda f: f["tag"] == "a")
    assert first["text"] == "Skip to content", first
    tab_until(page, lambda f: f["name"] == "login")
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == "/generate/")

    # The form: model by arrow keys, prompt, a file by the keyboard-opened chooser, Generate.
    tab_until(page, lambda f: f["name"] == "model")
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("radio", name=re.compile("video-01-live2d")).is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["name"] == "prompt"
    page.keyboard.type("The portrait turns and smiles")
    tab_until(page, lambda f: f["type"] == "file")
    open_chooser_by_keyboard(page).set_files(str(picture))
    page.locator(".check-ok").wait_for()
    tab_until(page, lambda f: f["id"] == "generate-button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/videos/\d+/$"))

    # While it runs, focus stays where the person put it, whatever the status fragment does.
    tab_until(page, lambda f: f["text"] == "Remix")
    page.locator("#status .stage-ready").wait_for(timeout=60000)
    assert page.evaluate(FOCUSED)["text"] == "Remix"
    # The video is reachable by keyboard (its controls are the browser's own), and so is Download.
    tab_until(page, lambda f: f["tag"] == "video", back=True)
    tab_until(page, lambda f: f["text"] == "Download")

    # The gallery's filters, by keyboard; the grid updates and focus stays put.
    page.goto("/gallery/")
    tab_until(page, lambda f: f["name"] == "q")
    page.keyboard.type("portrait")
    page.wait_for_url(re.compile(r"q=portrait"))
    assert page.evaluate(FOCUSED)["name"] == "q"
    tab_until(page, lambda f: f["name"] == "starred")
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r"starred=1"))
    assert page.evaluate(FOCUSED)["name"] == "starred"
    page.wait_for_selector("text=No videos match these filters.")


def test_load_more_by_keyboard_moves_focus_to_the_first_new_card(keyboard_page: Any, user: Any):
    page = keyboard_page
    get_user_model().objects.create_user("lee", password=PASSWORD)
    now = timezone.now()
    Generation.objects.bulk_create(
        Generation(
            created_by=user,
            model="video-01",
            prompt=f"Card number {i}",
            state=State.FAILED,
            failure_reason="x",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(30)
    )
    page.goto("/sign-in/?next=/gallery/")
    page.get_by_label("Username or e-mail address").fill("lee")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/gallery/$"))
    tab_until(page, lambda f: f["text"] == "Load more", limit=120)
    page.keyboard.press("Enter")
    wait_until(page, "() => document.querySelectorAll('.card-item').length === 30")
    wait_until(page, "() => document.activeElement.classList.contains('card-link')")
    focused = page.evaluate(FOCUSED)
    assert "Card number 24" in focused["text"]
    assert page.url.endswith("/gallery/")  # "Load more" leaves the address alone
