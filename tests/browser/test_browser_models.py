"""In Chromium: each catalogue model from the Generate page to a playable video of the right length.

Also: the page shows only the chosen model's fields, hailuo-02's first and last frames reach the
service, live2d works on both routes, and forged or incomplete requests get sentences.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from django.conf import settings

from playground.generations.models import Generation, State
from playground.upstream import catalogue
from playground.worker.loop import Worker
from tests.browser_fixtures import sign_in
from tests.factories import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_lengths(upstream: Any) -> Any:
    """The stand-in renders each job's own length (few pixels and frames, so 10 s stays quick)."""
    upstream.app.video_seconds = None
    upstream.app.video_long_side = 96
    upstream.app.video_fps = 6
    return upstream


def start_worker(upstream: Any, **client_kwargs: Any) -> tuple[Worker, threading.Thread]:
    upstream.app.queue_seconds = 0.5
    upstream.app.generate_seconds = 1.5
    worker = Worker(client=upstream.client(**client_kwargs), threads=2, name="browser-models-worker")
    thread = threading.Thread(target=worker.run, kwargs={"idle_sleep": 0.1}, daemon=True)
    thread.start()
    return worker, thread


@pytest.fixture
def worker_thread(real_lengths: Any) -> Iterator[Worker]:
    worker, thread = start_worker(real_lengths)
    yield worker
    worker.stop()
    thread.join(20)


def choose(page: Any, model: str) -> None:
    page.locator(f'input[name="model"][value="{model}"]').check()


def picture(tmp_path: Path, name: str, width: int = 640, height: int = 360, colour: str | None = None) -> str:
    path = tmp_path / name
    if colour:
        from PIL import Image

        Image.new("RGB", (width, height), colour).save(path, "PNG")
    else:
        path.write_bytes(image_bytes(width, height, "PNG"))
    return str(path)


def wait_ready(page: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = page.locator("#status .stage").first.inner_text()
        if text.startswith(("Ready", "Failed")):
            break
        time.sleep(0.2)
    assert text.startswith("Ready"), text


def played_seconds(page: Any) -> float:
    """Play the video in Chromium (it decodes) and return the length it reports."""
    result = page.locator("video").evaluate(
        """async v => {
            v.muted = true;
            await v.play();
            v.pause();
            return [v.readyState, v.duration];
        }"""
    )
    assert result[0] >= 2
    return float(result[1])


def probe(gen: Generation) -> tuple[int, int, float]:
    with av.open(str(Path(settings.MEDIA_ROOT) / gen.video.name)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height, float(container.duration or 0) / av.time_base


# Every model once, each with a length and resolution it offers (the longer one where there is a choice).
JOURNEYS = [
    ("video-01", None, None),
    ("video-01-live2d", None, None),
    ("minimax/hailuo-02", "768P", 10),
    ("minimax/hailuo-2.3", "1080P", 6),
    ("minimax/hailuo-2.3-fast", "768P", 10),
]


@pytest.mark.parametrize(("model", "resolution", "duration"), JOURNEYS)
def test_each_model_makes_a_playable_video_of_its_length(
    page: Any,
    worker_thread: Worker,
    real_lengths: Any,
    tmp_path: Path,
    model: str,
    resolution: str | None,
    duration: int | None,
):
    described = catalogue.BY_ID[model]
    sign_in(page)
    choose(page, model)
    page.get_by_label("Prompt", exact=True).fill(f"A lighthouse at dusk, by {model}")
    if described.first_frame == "required":
        page.get_by_label("First-frame image", exact=True).set_input_files(
            picture(tmp_path, "frame.png", 480, 640)
        )
        page.locator("#preview").wait_for(state="visible")
    if resolution:
        page.locator(f'input[name="resolution"][value="{resolution}"]').check()
    if duration:
        page.locator(f'input[name="duration_seconds"][value="{duration}"]').check()
    assert page.locator("#render-time").inner_text() == described.wait_sentence(duration)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)

    expected = duration or described.default_duration
    assert played_seconds(page) == pytest.approx(expected, abs=0.3)
    gen = Generation.objects.get()
    assert gen.state == State.READY
    width, height, seconds = probe(gen)
    assert seconds == pytest.approx(expected, abs=0.3)
    if described.first_frame == "required":
        assert width / height == pytest.approx(480 / 640, rel=0.05)
    else:
        real_width, real_height = catalogue.RESOLUTION_SIZES[resolution or described.default_resolution]
        assert width / height == pytest.approx(real_width / real_height, rel=0.05)
    (create,) = [call for call in real_lengths.app.calls if call.endpoint == "create"]
    if described.takes_duration:
        assert (create.body["resolution"], create.body["duration"]) == (resolution, duration)
    else:
        assert "duration" not in create.body and "resolution" not in create.body


def test_hailuo_02_with_first_and_last_frames_sends_both(
    page: Any, worker_thread: Worker, real_lengths: Any, tmp_path: Path
):
    sign_in(page)
    choose(page, "minimax/hailuo-02")
    page.get_by_label("Prompt", exact=True).fill("Red dawn turns to blue night")
    page.get_by_label("First-frame image", exact=True).set_input_files(
        picture(tmp_path, "first.png", colour="red")
    )
    page.get_by_label("Last-frame file", exact=True).set_input_files(
        picture(tmp_path, "last.png", colour="blue")
    )
    page.locator("#last-preview").wait_for(state="visible")
    assert "meets the rules" in page.locator("#last-client-check").inner_text()
    page.locator('input[name="resolution"][value="1080P"]').check()
    # 10 s is not offered at 1080P.
    assert page.locator('input[name="duration_seconds"][value="10"]').is_disabled()
    assert page.locator('input[name="duration_seconds"][value="6"]').is_checked()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    wait_ready(page)
    assert played_seconds(page) == pytest.approx(6, abs=0.3)
    assert page.get_by_alt_text(re.compile("Last frame of video")).is_visible()

    (create,) = [call for call in real_lengths.app.calls if call.endpoint == "create"]
    assert create.body["image_url"].startswith("data:image/png;base64,")
    assert create.body["last_image_url"].startswith("data:image/png;base64,")
    assert (create.body["resolution"], create.body["duration"]) == ("1080P", 6)
    gen = Generation.objects.get()
    assert gen.end_frame and gen.first_frame


def test_a_bad_last_frame_is_judged_in_the_page_and_fixed_in_a_click(page: Any, tmp_path: Path):
    sign_in(page)
    choose(page, "minimax/hailuo-02")
    page.get_by_label("Prompt", exact=True).fill("Ends on a panorama")
    page.get_by_label("First-frame image", exact=True).set_input_files(picture(tmp_path, "first.png"))
    page.get_by_label("Last-frame file", exact=True).set_input_files(picture(tmp_path, "wide.png", 1200, 200))
    page.locator("#last-client-check .field-errors").wait_for()
    assert "too wide" in page.locator("#last-client-check").inner_text()
    assert page.locator("#generate-blocked").inner_text().startswith("Generate is off: the last frame")
    page.locator("#last-show-fixes").click()
    page.locator("#last-fix-area .fix").filter(has_text="Add borders").get_by_role(
        "button", name="Use this"
    ).click()
    page.locator("#last-fix-area .fix-chosen").wait_for()
    assert page.locator("#generate-blocked").is_hidden()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    gen = Generation.objects.get()
    assert gen.end_frame and gen.end_frame_width == 1200 and gen.end_frame_height == 481


def test_the_page_shows_only_the_fields_a_model_takes(page: Any):
    sign_in(page)
    fields = {
        option: page.locator(f'[data-option="{option}"]')
        for option in ("resolution", "duration", "last_frame")
    }
    assert all(field.is_hidden() for field in fields.values())
    choose(page, "minimax/hailuo-02")
    assert all(field.is_visible() for field in fields.values())
    assert page.locator('input[name="resolution"][value="768P"]').is_checked()
    assert page.locator("#render-time").inner_text() == (
        "A render with minimax/hailuo-02 usually takes 4–5 minutes for 6 s; its page follows it live."
    )
    page.locator('input[name="duration_seconds"][value="10"]').check()
    assert "8–9 minutes for 10 s" in page.locator("#render-time").inner_text()
    choose(page, "minimax/hailuo-2.3-fast")
    assert fields["resolution"].is_visible() and fields["last_frame"].is_hidden()
    assert page.locator("#need-frame").inner_text().startswith("Required for minimax/hailuo-2.3-fast")
    choose(page, "video-01-live2d")
    assert all(field.is_hidden() for field in fields.values())


def test_forged_and_incomplete_requests_are_refused_with_sentences(page: Any):
    sign_in(page)
    page.get_by_label("Prompt", exact=True).fill("A forged request")
    # video-01 with the resolution field forced back on, as a hand-made request would send it.
    page.evaluate(
        """() => {
            const set = document.querySelector('[data-option="resolution"]');
            set.disabled = false;
            set.hidden = false;
            set.querySelector('input[value="1080P"]').checked = true;
        }"""
    )
    page.get_by_role("button", name="Generate").click()
    page.wait_for_load_state()
    assert "video-01 makes 720P videos only; it takes no resolution." in page.locator("main").inner_text()
    assert page.get_by_label("Prompt", exact=True).input_value() == "A forged request"

    choose(page, "minimax/hailuo-2.3-fast")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_load_state()
    assert "minimax/hailuo-2.3-fast needs a first-frame image" in page.locator("main").inner_text()
    assert Generation.objects.count() == 0


@pytest.mark.parametrize("route", ["legacy", "universal"])
def test_live2d_on_either_route(page: Any, real_lengths: Any, tmp_path: Path, route: str, settings: Any):
    settings.LIVE2D_ROUTE = route
    worker, thread = start_worker(real_lengths, routes={"video-01-live2d": route})
    try:
        sign_in(page)
        choose(page, "video-01-live2d")
        page.get_by_label("Prompt", exact=True).fill("The portrait smiles")
        page.get_by_label("First-frame image", exact=True).set_input_files(
            picture(tmp_path, "portrait.png", 480, 640)
        )
        page.locator("#preview").wait_for(state="visible")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_url(re.compile(r"/videos/\d+/$"))
        wait_ready(page)
        assert played_seconds(page) == pytest.approx(6, abs=0.3)
    finally:
        worker.stop()
        thread.join(20)
    wire = catalogue.BY_ID["video-01-live2d"].routes[route]
    calls = [call for call in real_lengths.app.calls if call.endpoint in {"create", "poll"}]
    assert {call.path for call in calls} == {wire.path}
    (create,) = [call for call in calls if call.endpoint == "create"]
    assert create.body.keys() == {"model", "prompt", wire.first_frame, wire.enhance}
    assert Generation.objects.get().upstream_route == route
