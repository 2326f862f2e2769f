"""Sound in Chromium: gallery previews are muted, a video's own page plays with sound and has a
sound control, and the has-sound mark and the Sound filter work."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.generations.models import Generation, State
from playground.lib.videofiles import inspect_video
from playground.upstream.demo.render import render_video
from tests.browser_fixtures import sign_in, wait_until
from tests.factories import generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def kept(user: Any, prompt: str, path: Path) -> Generation:
    info = inspect_video(path)
    return generation(
        created_by=user,
        prompt=prompt,
        state=State.READY,
        video=default_storage.save("videos/c.mp4", ContentFile(path.read_bytes())),
        poster=default_storage.save("posters/c.jpg", ContentFile(info.poster_jpeg)),
        duration=info.duration,
        has_sound=info.has_sound,  # from the file, as the worker records it
    )


def test_previews_are_muted_the_page_has_sound_and_the_mark_and_filter_work(page: Any, tmp_path: Path):
    sounding, silent = tmp_path / "bells.mp4", tmp_path / "quiet.mp4"
    render_video(sounding, prompt="bells", first_frame=None, seconds=2, long_side=160, tone_hz=440.0)
    render_video(silent, prompt="quiet", first_frame=None, seconds=2, long_side=160)
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    quiet = kept(alice, "A quiet harbour at dawn", silent)
    bells = kept(alice, "Church bells over a valley", sounding)
    assert bells.has_sound and not quiet.has_sound

    # The mark is on the card with sound only, and says so to a screen reader.
    page.goto("/gallery/")
    bells_card, quiet_card = page.locator(f"#card-{bells.pk}"), page.locator(f"#card-{quiet.pk}")
    assert bells_card.locator(".sound-badge").is_visible()
    assert bells_card.locator(".sound-badge").get_attribute("title") == "Has sound"
    assert "Has sound" in bells_card.locator(".sound-badge").inner_text()
    assert quiet_card.locator(".sound-badge").count() == 0

    # Hovering the card with sound previews it, and the preview is muted.
    bells_card.locator(".card-link").hover()
    wait_until(
        page,
        f"() => {{ const v = document.querySelector('#card-{bells.pk} video.hover-preview');"
        " return v && v.muted && !v.paused && v.readyState >= 2; }",
    )

    # The filter: with sound, then without, in place and in the address.
    page.get_by_label("Sound", exact=True).select_option("yes")
    page.wait_for_url(re.compile(r"sound=yes"))
    wait_until(page, "() => document.querySelectorAll('.card-item').length === 1")
    assert page.locator(".card-item").get_attribute("id") == f"card-{bells.pk}"
    page.get_by_label("Sound", exact=True).select_option("no")
    page.wait_for_url(re.compile(r"sound=no"))
    wait_until(page, f"() => document.querySelector('.card-item')?.id === 'card-{quiet.pk}'")
    assert page.locator(".card-item").count() == 1

    # A value the filter cannot take: a sentence, every video, and no error page.
    page.goto("/gallery/?sound=loud")
    assert page.get_by_text('The sound filter takes "yes"').is_visible()
    assert page.locator(".card-item").count() == 2

    # The video's own page: the player is not muted, shows its controls, and has a sound button.
    page.goto(f"/videos/{bells.pk}/")
    player = page.locator("video.player")
    assert player.evaluate("v => v.muted") is False
    assert player.evaluate("v => v.controls") is True
    button = page.get_by_role("button", name="Sound on")
    assert button.is_visible()
    assert button.get_attribute("aria-pressed") == "true"
    # Playing it (a click is the gesture a browser asks for before sound) decodes its sound.
    player.click()
    wait_until(page, "() => { const v = document.querySelector('video.player'); return !v.paused; }")
    assert player.evaluate("v => v.muted") is False
    # The button turns the sound off and on, and follows the player's own control.
    button.click()
    assert player.evaluate("v => v.muted") is True
    assert page.get_by_role("button", name="Sound off").get_attribute("aria-pressed") == "false"
    player.evaluate("v => { v.muted = false; }")
    wait_until(page, "() => document.querySelector('button.sound-toggle').textContent === 'Sound on'")

    # A silent video's page offers no sound button.
    page.goto(f"/videos/{quiet.pk}/")
    assert page.locator("video.player").is_visible()
    assert page.locator("button.sound-toggle").count() == 0
