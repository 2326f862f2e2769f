"""A sequence played back to back in real Chromium: the player moves on when a clip ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.browser_fixtures import sign_in, wait_until
from tests.clips import ready_generation, write_clip

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_clips_of_a_sequence_play_one_after_the_other(page: Any, tmp_path: Path):
    sign_in(page)
    user = get_user_model().objects.get(username="carol")
    first = ready_generation(user, write_clip(tmp_path / "a.mp4", size=(320, 180), frames=12, seed=1))
    second = ready_generation(
        user, write_clip(tmp_path / "b.mp4", size=(320, 180), frames=12, seed=2), continues=first
    )
    page.goto(f"/videos/{second.pk}/sequence/")
    assert page.locator("#sequence-now").inner_text() == "Clip 1 of 2"
    page.locator("#sequence-player").evaluate("v => { v.muted = true; return v.play(); }")
    wait_until(page, "document.getElementById('sequence-now').textContent === 'Clip 2 of 2'", timeout=10)
    src = page.locator("#sequence-player").evaluate("v => v.currentSrc")
    assert src.endswith(second.video.name)
    # It plays on by itself, and stops at the end of the last clip.
    wait_until(page, "document.getElementById('sequence-player').ended", timeout=10)
    assert page.locator("#sequence-now").inner_text() == "Clip 2 of 2"
