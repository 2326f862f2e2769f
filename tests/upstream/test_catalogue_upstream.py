"""Every catalogue model through the client and the stand-in over real HTTP: routes, fields, videos."""

from __future__ import annotations

import base64
import inspect
import io
import uuid
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from playground.upstream import aimlapi, catalogue
from playground.upstream.aimlapi import Refused
from tests.factories import image_bytes
from tests.faults import Fault
from tests.standin_fixtures import API_KEY

UNIVERSAL = catalogue.UNIVERSAL_PATH
LEGACY = catalogue.LEGACY_MINIMAX_PATH
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Real lengths, few pixels and frames: a 10 s clip renders in a fraction of a second.
REAL_LENGTHS: dict[str, Any] = {"video_seconds": None, "video_long_side": 64, "video_fps": 4}


def send(client: aimlapi.Client, **kwargs: Any) -> aimlapi.Accepted:
    """client.create with a fresh X-Client-Request-Id whenever the client sends one."""
    if "client_request_id" in inspect.signature(client.create).parameters:
        kwargs.setdefault("client_request_id", f"t-{uuid.uuid4().hex[:12]}")
    return client.create(**kwargs)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def flat(width: int, height: int, colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def probe(path: Path) -> tuple[int, int, float, tuple[float, float, float]]:
    """Width, height, duration and the mean colour of the last frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        last = None
        for frame in container.decode(stream):
            last = frame
        assert last is not None
        pixels = last.to_image().convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
        assert isinstance(pixels, tuple)
        colour = (float(pixels[0]), float(pixels[1]), float(pixels[2]))
        return stream.width, stream.height, float(container.duration or 0) / av.time_base, colour


def finish(
    running: Any, client: aimlapi.Client, model: str, accepted: aimlapi.Accepted, tmp_path: Path
) -> Path:
    done = running.wait(client, model=model, upstream_id=accepted.upstream_id, timeout=30)[-1]
    assert done.state == "completed", done
    target = tmp_path / f"{accepted.upstream_id.replace(':', '_').replace('/', '_')}.mp4"
    with target.open("wb") as out:
        client.download(done.video_url or "", out, max_bytes=50 * 1024 * 1024)
    return target


# --- Two routes for live2d -------------------------------------------------------------------
def test_live2d_goes_out_on_the_legacy_route_by_default(standin):
    client = standin.client()
    accepted = send(
        client,
        model="video-01-live2d",
        prompt="wave",
        enhance=False,
        first_frame=data_uri(image_bytes(640, 480)),
    )
    assert accepted.route == "legacy"
    done = standin.wait(client, model="video-01-live2d", upstream_id=accepted.upstream_id, route="legacy")
    assert done[-1].state == "completed"
    create, *polls = standin.app.calls
    assert create.path == LEGACY and all(call.path == LEGACY for call in polls)
    assert create.body.keys() == {"model", "prompt", "first_frame_image", "prompt_optimizer"}


def test_live2d_switched_to_the_universal_route_uses_its_field_names(standin):
    client = standin.client(routes={"video-01-live2d": "universal"})
    accepted = send(
        client,
        model="video-01-live2d",
        prompt="wave",
        enhance=False,
        first_frame=data_uri(image_bytes(640, 480)),
    )
    assert accepted.route == "universal"
    assert accepted.upstream_id.endswith(":video-01-live2d")
    done = standin.wait(client, model="video-01-live2d", upstream_id=accepted.upstream_id)
    assert done[-1].state == "completed" and done[-1].duration is not None  # the universal poll's shape
    create, *polls = standin.app.calls
    assert create.path == UNIVERSAL and all(call.path == UNIVERSAL for call in polls)
    assert create.body.keys() == {"model", "prompt", "image_url", "enhance_prompt"}
    assert create.body["enhance_prompt"] is False


def test_a_job_is_polled_on_the_route_it_was_created_on_after_a_switch(standin):
    legacy = standin.client()
    accepted = send(
        legacy,
        model="video-01-live2d",
        prompt="wave",
        enhance=True,
        first_frame=data_uri(image_bytes(640, 480)),
    )
    switched = standin.client(routes={"video-01-live2d": "universal"})
    switched.poll(model="video-01-live2d", upstream_id=accepted.upstream_id, route=accepted.route)
    assert standin.app.calls[-1].path == LEGACY


def test_the_setting_picks_the_route(settings):
    settings.LIVE2D_ROUTE = "universal"
    assert aimlapi.configured_routes() == {"video-01-live2d": "universal"}
    with aimlapi.client_from_settings() as client:
        assert client.route_name("video-01-live2d") == "universal"
    settings.LIVE2D_ROUTE = "legacy"
    with aimlapi.client_from_settings() as client:
        assert client.route_name("video-01-live2d") == "legacy"


def test_a_retired_legacy_route_says_so_and_names_the_setting(standin_factory):
    running = standin_factory(legacy_routes=False)
    with pytest.raises(Refused) as caught:
        send(
            running.client(),
            model="video-01-live2d",
            prompt="wave",
            enhance=True,
            first_frame=data_uri(image_bytes(640, 480)),
        )
    message = caught.value.user_message
    assert "“not found” for video-01-live2d" in message
    assert "Set LIVE2D_ROUTE=universal" in message and UNIVERSAL in message
    assert caught.value.status_code == 404
    # The universal route still answers, so the switch really mends it.
    accepted = send(
        running.client(routes={"video-01-live2d": "universal"}),
        model="video-01-live2d",
        prompt="wave",
        enhance=True,
        first_frame=data_uri(image_bytes(640, 480)),
    )
    assert accepted.route == "universal"


def test_a_404_for_a_model_with_one_route_keeps_the_plain_sentence(standin):
    standin.app.inject("create", Fault(status=404))
    with pytest.raises(Refused) as caught:
        send(standin.client(), model="minimax/hailuo-02", prompt="x", enhance=True, first_frame=None)
    assert caught.value.user_message == aimlapi.NO_SUCH_ENDPOINT


# --- Refused before anything is sent ---------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"model": "video-01", "last_frame": "L", "first_frame": "F"}, "video-01 takes no last-frame image"),
        ({"model": "minimax/hailuo-02", "last_frame": "L"}, "needs a first-frame image too"),
        ({"model": "minimax/hailuo-2.3-fast"}, "needs a first-frame image"),
        ({"model": "video-01", "resolution": "1080P"}, "takes no resolution"),
        (
            {"model": "minimax/hailuo-02", "resolution": "1080P", "duration": 10},
            "at 1080P the longest is 6 s",
        ),
    ],
)
def test_requests_a_model_cannot_take_are_refused_without_calling(standin, kwargs, words):
    kwargs.setdefault("first_frame", None)
    with pytest.raises(Refused, match=words):
        send(standin.client(), prompt="x", enhance=True, **kwargs)
    assert standin.app.calls == []


# --- The stand-in enforces each model's contract too ------------------------------------------
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"model": "minimax/hailuo-02", "prompt": "x", "duration": 7},
            "duration must be one of the following values: 6, 10",
        ),
        ({"model": "minimax/hailuo-02", "prompt": "x", "duration": True}, "duration must be one of"),
        (
            {"model": "minimax/hailuo-02", "prompt": "x", "resolution": "720P"},
            "resolution must be one of the following values: 768P, 1080P",
        ),
        (
            {"model": "minimax/hailuo-02", "prompt": "x", "resolution": "1080P", "duration": 10},
            "duration 10 is not supported at resolution 1080P",
        ),
        (
            {"model": "minimax/hailuo-2.3", "prompt": "x", "last_image_url": "https://example.com/a.png"},
            "property last_image_url should not exist",
        ),
        ({"model": "minimax/hailuo-2.3-fast", "prompt": "x"}, "image_url should not be empty"),
        ({"model": "video-01", "prompt": "x", "duration": 6}, "property duration should not exist"),
        (
            {"model": "minimax/hailuo-02", "prompt": "x", "last_image_url": "not an image"},
            "last_image_url must be a URL address or a base64",
        ),
    ],
)
def test_the_stand_in_refuses_what_the_model_does_not_take(standin, payload, expected):
    with httpx.Client(base_url=standin.url, timeout=5) as http:
        answer = http.post(UNIVERSAL, json=payload, headers=AUTH)
    assert answer.status_code == 400
    assert any(expected in line for line in answer.json()["message"]), answer.json()["message"]


# --- Each model's videos at their length and shape --------------------------------------------
# A range's every second would cost time, not cover: its ends and default stand for it.
CASES = [
    (model.id, resolution, duration)
    for model in catalogue.MODELS
    for resolution in model.resolutions
    for duration in model.durations_at(resolution)
    if duration in model.sample_lengths
]


@pytest.mark.parametrize(("model", "resolution", "duration"), CASES)
def test_each_model_renders_its_length_and_resolution(standin_factory, tmp_path, model, resolution, duration):
    running = standin_factory(**REAL_LENGTHS)
    described = catalogue.BY_ID[model]
    client = running.client()
    first = data_uri(image_bytes(640, 480)) if described.first_frame == "required" else None
    accepted = send(
        client,
        model=model,
        prompt="A lighthouse at dusk",
        enhance=True,
        first_frame=first,
        resolution=resolution if described.takes_resolution else None,
        duration=duration if described.takes_duration else None,
    )
    width, height, seconds, _ = probe(finish(running, client, model, accepted, tmp_path))
    assert seconds == pytest.approx(duration, abs=0.3)
    if first is None:
        real_width, real_height = catalogue.RESOLUTION_SIZES[resolution]
        assert width / height == pytest.approx(real_width / real_height, rel=0.05)
        # Scaled from 720P's 64 px, so a larger resolution is a larger video.
        assert width == pytest.approx(64 * real_width / 1280, abs=2)
    else:
        assert width / height == pytest.approx(640 / 480, rel=0.05)


def test_options_left_out_get_the_models_defaults(standin_factory, tmp_path):
    running = standin_factory(**REAL_LENGTHS)
    client = running.client()
    accepted = send(client, model="minimax/hailuo-02", prompt="x", enhance=True, first_frame=None)
    job = running.app.job(accepted.upstream_id)
    assert job is not None and (job["resolution"], job["seconds"]) == ("768P", 6)


def test_hailuo_02_with_first_and_last_frames_sends_both_and_ends_on_the_last(standin_factory, tmp_path):
    running = standin_factory(**REAL_LENGTHS)
    client = running.client()
    accepted = send(
        client,
        model="minimax/hailuo-02",
        prompt="From red to blue",
        enhance=True,
        first_frame=data_uri(flat(640, 360, "red")),
        last_frame=data_uri(flat(640, 360, "blue")),
        resolution="1080P",
        duration=6,
    )
    create = running.app.calls[0]
    assert create.body["image_url"].startswith("data:image/png;base64,")
    assert create.body["last_image_url"].startswith("data:image/png;base64,")
    assert (create.body["resolution"], create.body["duration"]) == ("1080P", 6)
    _, _, seconds, (red, _, blue) = probe(finish(running, client, "minimax/hailuo-02", accepted, tmp_path))
    assert seconds == pytest.approx(6, abs=0.3)
    assert blue > 150 and red < 80, (red, blue)
