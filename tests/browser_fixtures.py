"""Fixtures for browser tests: Debian's Chromium through Playwright, a live server, a worker."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Error as PlaywrightError

from playground.worker.loop import Worker
from tests.chromium import CHROMIUM_ARGS, chromium_path
from tests.factories import PASSWORD

ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"


def wait_until(page: Any, script: str, *, timeout: float = 15.0) -> Any:
    """Poll a JavaScript function until it returns something truthy.

    Playwright's wait_for_function compiles its argument inside the page, which our
    Content-Security-Policy (no eval) forbids; evaluate() goes through the debugger instead.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium)."
        if os.environ.get("CI"):
            pytest.fail(message + " CI must run the browser tests.")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made here by
    # fixtures are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def running_worker(upstream: Any) -> Iterator[Worker]:
    upstream.app.queue_seconds = 1.0
    upstream.app.generate_seconds = 2.5
    worker = Worker(client=upstream.client(), threads=2, name="browser-worker")
    thread = threading.Thread(target=worker.run, kwargs={"idle_sleep": 0.1}, daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(20)


def sign_in(page: Any, username: str = "carol", *, create: bool = True) -> None:
    if create:
        get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    page.goto("/generate/")
    assert "/sign-in/" in page.url
    page.get_by_label("Username or e-mail address").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    # What the browser got back is kept, so a sign-in that goes nowhere says why in the failure.
    answers: list[tuple[str, str, int]] = []

    def answered(response: Any) -> None:
        path = urlsplit(response.url).path
        if not path.startswith("/static/"):
            answers.append((response.request.method, path, response.status))

    page.on("response", answered)
    try:
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(lambda url: urlsplit(url).path == "/generate/")
    except PlaywrightError as error:
        shown = page.locator("main").inner_text(timeout=5000)[:400] if page.locator("main").count() else ""
        raise AssertionError(
            f"Signing in as {username} did not reach /generate/ ({error.message.splitlines()[0]}); "
            f"the browser got {answers[-6:]} and shows {page.url}: {shown!r}"
        ) from None
    finally:
        page.remove_listener("response", answered)
