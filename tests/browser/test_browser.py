"""Real Chromium (Debian's) driven by Playwright against a live server, a worker and the stand-in."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from playground.worker.loop import Worker
from tests.browser_fixtures import ARTIFACTS, sign_in
from tests.factories import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_upload_generate_live2d_and_watch_it_play(page: Any, running_worker: Worker, tmp_path: Path):
    sign_in(page)
    frame = tmp_path / "portrait.png"
    frame.write_bytes(image_bytes(480, 640, "PNG"))

    page.get_by_role("radio", name=re.compile("video-01-live2d")).check()
    page.get_by_label("Prompt", exact=True).fill("The portrait smiles and waves")
    assert page.locator("#id_prompt_helptext").inner_text().startswith("29 / 2,000")
    page.get_by_label("First-frame image", exact=True).set_input_files(str(frame))
    page.locator("#preview").wait_for(state="visible")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))

    stages: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = page.locator("#status .stage").first.inner_text()
        if not stages or stages[-1] != text:
            stages.append(text)
        if text.startswith(("Ready", "Failed")):
            break
        time.sleep(0.2)
    assert stages[-1] == "Ready", stages
    assert len(stages) >= 2, f"the status never changed before it was ready: {stages}"
    assert page.title().startswith("Ready")
    # The details beside the video gain the end of the job without a reload.
    details = page.locator(".request-card dl").inner_text()
    for words in ("Finished", "Length", "Service job id"):
        assert words in details, details

    video = page.locator("video")
    # Play it (proves Chromium decodes it), then seek: seeking needs byte ranges from our media view.
    position = video.evaluate(
        """async v => {
            v.muted = true;
            await v.play();
            v.pause();
            const seeked = new Promise(resolve => v.addEventListener('seeked', resolve, {once: true}));
            v.currentTime = 0.5;
            await seeked;
            return [v.readyState, v.currentTime];
        }"""
    )

    assert position[0] >= 2
    assert position[1] == pytest.approx(0.5, abs=0.05)
    assert page.evaluate("document.querySelector('video').seekable.end(0)") > 0.9
    assert page.get_by_role("link", name="Download").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "generation-ready.png"), full_page=True)
