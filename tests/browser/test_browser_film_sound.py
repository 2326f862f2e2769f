"""In Chromium: a film of an H3 clip (with sound) and the video-01 clip that continues it (silent),
made the way people make one (Continue, the Sequence page, Export as one MP4), then decoded with
PyAV: the film's sound covers it all, is heard under the H3 clip, is silence under the video-01
clip, and switches where the picture does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import av
import pytest
from django.conf import settings

from playground.films.sequences import ExportState, SequenceExport
from playground.generations.models import Generation, State
from playground.worker.loop import Worker
from tests.browser import test_browser_models as journeys
from tests.browser.test_browser_models import choose, wait_ready
from tests.browser_fixtures import sign_in, wait_until
from tests.films.test_film_sound import edges
from tests.sound import decode_sound, loudness, video_seconds

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
worker_thread = journeys.worker_thread

FPS = 24
FRAME = 1 / FPS
# Where a clip's sound is judged: this far in from each end of its picture.
MARGIN = 0.1


@pytest.fixture
def real_lengths(upstream: Any) -> Any:
    """Each job's own length, at a size whose last frame passes the first frame's rules (a
    Continue starts from it) and a frame rate whose frame is a sharp measure of step."""
    upstream.app.video_seconds = None
    upstream.app.video_long_side = 640
    upstream.app.video_fps = FPS
    return upstream


def stored(name: str) -> str:
    return str(Path(settings.MEDIA_ROOT) / name)


def test_a_film_of_an_h3_clip_and_a_silent_clip_keeps_its_sound_in_step(
    page: Any, worker_thread: Worker, real_lengths: Any
):
    sign_in(page)
    # An H3 clip from a prompt: 4 s with sound.
    choose(page, "minimax/h3")
    page.get_by_label("Prompt", exact=True).fill("Waves on a pebble beach, gulls calling")
    page.locator('input[type="range"][name="duration_seconds"]').fill("4")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    h3 = Generation.objects.get()
    assert (h3.state, h3.duration_seconds, h3.has_sound) == (State.READY, 4, True)

    # Continue from its last frame, with video-01 (which makes no sound).
    page.locator("#continue").click()
    page.wait_for_url(re.compile(rf"/generate/\?continue={h3.pk}$"))
    assert page.locator("#continued").is_visible()
    choose(page, "video-01")
    page.get_by_label("Prompt", exact=True).fill("The tide goes out")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    quiet = Generation.objects.exclude(pk=h3.pk).get()
    assert (quiet.model, quiet.state, quiet.continues_id, quiet.has_sound) == (
        "video-01",
        State.READY,
        h3.pk,
        False,
    )

    # The sequence of the two, exported as one MP4 from its page.
    page.get_by_role("link", name="Sequence", exact=True).click()
    page.wait_for_url(re.compile(rf"/videos/{quiet.pk}/sequence/$"))
    assert page.locator("#sequence-now").inner_text() == "Clip 1 of 2"
    page.get_by_role("button", name="Export as one MP4").click()
    page.wait_for_url(re.compile(r"/films/\d+/$"))
    wait_until(page, "() => document.querySelector('#film-status .stage-ready') !== null", timeout=60)
    film = SequenceExport.objects.get()
    assert (film.state, film.clip_ids) == (ExportState.READY, [h3.pk, quiet.pk])
    # Chromium plays the film, sound and all.
    played = page.locator("#film-status video").evaluate(
        "async v => { v.muted = true; await v.play(); v.pause(); return [v.readyState, v.duration]; }"
    )
    assert played[0] >= 2

    path = stored(film.video.name)
    with av.open(path) as container:
        assert (len(container.streams.video), len(container.streams.audio)) == (1, 1)
    first, second = video_seconds(stored(h3.video.name)), video_seconds(stored(quiet.video.name))
    assert first == pytest.approx(4, abs=FRAME)
    assert second == pytest.approx(6, abs=FRAME)
    picture = video_seconds(path)
    assert picture == pytest.approx(first + second, abs=2 * FRAME)
    heard = decode_sound(path)
    # The sound covers the whole film: it ends with the picture, within a frame or two at the
    # one boundary between clips (the encoder's last block of 1,024 samples included).
    assert heard.seconds == pytest.approx(picture, abs=2 * FRAME)
    # The H3 clip is heard all through its picture, every tenth of a second of it ...
    steps = round((first - 2 * MARGIN) * 10)
    quiet_moments = [
        MARGIN + i / 10
        for i in range(steps)
        if loudness(heard.span(MARGIN + i / 10, MARGIN + (i + 1) / 10)) < 0.05
    ]
    assert quiet_moments == []
    # ... the video-01 clip is silence to the end ...
    assert loudness(heard.span(first + MARGIN, heard.seconds)) < 0.001
    # ... and the sound stops where the H3 clip's picture does, within a frame.
    # (It turns on in the first 5 ms window: the tone starts from zero.)
    start, stop = edges(heard)
    assert start < 0.012
    assert stop == pytest.approx(first, abs=FRAME)
