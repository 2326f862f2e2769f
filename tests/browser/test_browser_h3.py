"""In Chromium: MiniMax H3 at 16:9 and 10 s with two reference pictures and a voice sample, and
H3 Max at 480P, from the Generate page to a video with sound."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import av
import pytest
from django.conf import settings

from playground.generations.models import Generation, State
from playground.generations.references import Reference
from playground.worker.loop import Worker
from tests.browser import test_browser_models as journeys
from tests.browser.test_browser_models import choose, picture, played_seconds, probe, wait_ready
from tests.browser_fixtures import sign_in, wait_until
from tests.media_samples import sound
from tests.sound import decode_sound, loudness

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The model journeys' fixtures: the stand-in at real lengths, and a worker thread.
real_lengths = journeys.real_lengths
worker_thread = journeys.worker_thread


def test_an_h3_video_at_16_9_and_10_seconds_with_two_pictures_and_a_voice_sample(
    page: Any, worker_thread: Worker, real_lengths: Any, tmp_path: Path
):
    sign_in(page)
    choose(page, "minimax/h3")
    # H3's fields: a length slider from 4 to 15 s, a ratio, no resolution and no enhance switch.
    slider = page.locator('input[type="range"][name="duration_seconds"]')
    assert slider.is_visible()
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("4", "15")
    assert page.locator('[data-option="duration"]').is_hidden()
    assert page.locator('[data-option="resolution"]').is_hidden()
    assert page.locator('[data-option="enhance"]').is_hidden()
    assert page.locator("#ratio-hint").inner_text() == (
        "Default: adaptive, which follows the pictures; from a prompt alone, 16:9."
    )
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, waves below")
    assert "/ 7,000 characters" in page.locator("[data-counter-for]").inner_text()
    slider.fill("10")
    assert page.locator("#length-range-value").inner_text() == "10 seconds"
    page.locator("#id_ratio").select_option("16:9")
    # Two reference pictures, sent as reference_image_urls.
    page.get_by_label("Reference picture files").set_input_files(
        [picture(tmp_path, "ref1.png", 640, 480), picture(tmp_path, "ref2.png", 800, 450)]
    )
    # And a voice sample, sent as audio_urls.
    page.get_by_label("Voice sample files").set_input_files(
        {"name": "voice.wav", "mimeType": "audio/wav", "buffer": sound(3.0)}
    )
    page.locator("#plan").filter(has_text="about $0.80").wait_for()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    assert played_seconds(page) == pytest.approx(10, abs=0.3)
    assert "Aspect ratio" in page.locator(".request-card").inner_text()
    gen = Generation.objects.get()
    assert (gen.state, gen.ratio, gen.duration_seconds) == (State.READY, "16:9", 10)
    width, height, seconds = probe(gen)
    assert seconds == pytest.approx(10, abs=0.3)
    assert width / height == pytest.approx(16 / 9, rel=0.05)
    (create,) = [call for call in real_lengths.app.calls if call.endpoint == "create"]
    assert set(create.body) == {"model", "prompt", "duration", "ratio", "reference_image_urls", "audio_urls"}
    assert (create.body["duration"], create.body["ratio"]) == (10, "16:9")
    assert len(create.body["reference_image_urls"]) == 2
    assert len(create.body["audio_urls"]) == 1
    assert create.body["audio_urls"][0].startswith("data:audio/")
    assert Reference.objects.filter(generation=gen, kind="images").count() == 2
    assert Reference.objects.filter(generation=gen, kind="audios").count() == 1
    assert "2 pictures, 1 voice sample" in page.locator(".request-card").inner_text()

    # The archived file has a sound track that is not silence, and the row says so.
    archived = Path(settings.MEDIA_ROOT) / gen.video.name
    with av.open(str(archived)) as container:
        assert len(container.streams.audio) == 1
    heard = decode_sound(str(archived))
    assert heard.seconds == pytest.approx(10, abs=0.3)
    assert loudness(heard.span(1, 9)) > 0.05
    assert gen.has_sound

    # Its own page plays it with sound: the player is not muted and has a visible sound control.
    page.reload()
    player = page.locator("video.player")
    assert player.evaluate("v => v.muted") is False
    assert player.evaluate("v => v.controls") is True
    assert page.get_by_role("button", name="Sound on").is_visible()

    # In the gallery its card says it has sound, and the card's preview plays muted.
    page.goto("/gallery/")
    card = page.locator(f"#card-{gen.pk}")
    assert card.locator(".sound-badge").is_visible()
    assert card.locator(".sound-badge").get_attribute("title") == "Has sound"
    card.locator(".card-link").hover()
    wait_until(
        page,
        f"() => {{ const v = document.querySelector('#card-{gen.pk} video.hover-preview');"
        " return v && v.muted && !v.paused && v.readyState >= 2; }",
    )

    # Remix: the same take settings, its two pictures and its voice sample with them, sent again.
    page.goto(f"/videos/{gen.pk}/")
    page.get_by_role("link", name="Remix").click()
    page.wait_for_url(re.compile(rf"/generate/\?remix={gen.pk}$"))
    assert page.locator('input[name="model"][value="minimax/h3"]').is_checked()
    assert page.locator("#id_ratio").input_value() == "16:9"
    assert page.locator("#length-range-value").inner_text() == "10 seconds"
    listed = page.locator("#reference-pictures").inner_text()
    assert f"Reference picture 1 (from video #{gen.pk})" in listed
    assert f"Reference picture 2 (from video #{gen.pk})" in listed
    assert page.locator("#kept-media").inner_text() == (
        f"Voice sample 1 (from video #{gen.pk}): carried over by Remix (3.0 s)."
    )
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    again = Generation.objects.exclude(pk=gen.pk).get()
    assert (again.model, again.ratio, again.duration_seconds, again.has_sound) == (
        "minimax/h3",
        "16:9",
        10,
        True,
    )
    first, second = [call.body for call in real_lengths.app.calls if call.endpoint == "create"]
    assert second["reference_image_urls"] == first["reference_image_urls"]
    assert second["audio_urls"] == first["audio_urls"]


def test_an_h3_max_clip_at_480p_and_back_to_hailuo(page: Any, worker_thread: Worker, real_lengths: Any):
    sign_in(page)
    choose(page, "minimax/h3-max")
    assert page.locator('[data-option="ratio"]').is_hidden()
    slider = page.locator('input[type="range"][name="duration_seconds"]')
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == ("5", "15")
    # A switch to a model with a list of lengths brings the radios back, and its prompt limit.
    choose(page, "minimax/hailuo-02")
    assert slider.is_hidden() and page.locator('input[name="duration_seconds"][value="10"]').is_visible()
    assert "/ 2,000 characters" in page.locator("[data-counter-for]").inner_text()
    choose(page, "minimax/h3-max")
    page.get_by_label("Prompt", exact=True).fill("A kite over the dunes")
    page.locator('input[name="resolution"][value="480P"]').check()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    gen = Generation.objects.get()
    assert (gen.model, gen.resolution, gen.duration_seconds, gen.ratio) == ("minimax/h3-max", "480P", 6, "")
    (create,) = [call for call in real_lengths.app.calls if call.endpoint == "create"]
    assert create.body == {
        "model": "minimax/h3-max",
        "prompt": gen.prompt,
        "duration": 6,
        "resolution": "480P",
    }
