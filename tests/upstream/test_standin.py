"""The stand-in upstream itself: the contract it enforces, its links, its disk state, its videos."""

import base64
import io
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import pytest
from PIL import Image

from playground.upstream import catalogue
from playground.upstream.demo.render import render_video, tone_for
from playground.upstream.demo.server import serve
from playground.upstream.demo.upstream import StandIn
from tests.factories import image_bytes
from tests.faults import Fault
from tests.imagecorpus import pillow_work
from tests.sound import decode_sound, has_audio, tone_strength, video_seconds
from tests.standin_fixtures import API_KEY, FAST

VIDEO01 = "/v2/video/generations"
LIVE2D = "/v2/generate/video/minimax/generation"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


PNG = data_uri(image_bytes(640, 480, "PNG"))


@pytest.fixture
def http(standin):
    with httpx.Client(base_url=standin.url, timeout=5) as client:
        yield client


def finish(http: httpx.Client, path: str, upstream_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer: dict[str, Any] = http.get(path, params={"generation_id": upstream_id}, headers=AUTH).json()
        if answer["status"] not in {"queued", "generating"}:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"{upstream_id} did not finish")


# --- The wire contract --------------------------------------------------------------------------
def test_video01_create_and_poll_shapes(http):
    created = http.post(VIDEO01, json={"model": "video-01", "prompt": "a cat"}, headers=AUTH)
    assert created.status_code == 200
    body = created.json()
    assert body["status"] == "queued"
    assert body["meta"] == {"usage": {"credits_used": 1}}
    assert body["id"].endswith(":video-01")

    queued = http.get(VIDEO01, params={"generation_id": body["id"]}, headers=AUTH).json()
    assert queued == {
        "id": body["id"],
        "status": "queued",
        "video": None,
        "duration": None,
        "error": None,
        "meta": None,
    }
    done = finish(http, VIDEO01, body["id"])
    assert done["status"] == "completed"
    assert done["video"]["duration"] == done["duration"] == pytest.approx(1.0)
    assert done["meta"] == {"usage": {"tokens_used": 1}}


def test_live2d_create_and_poll_shapes(http):
    created = http.post(
        LIVE2D, json={"model": "video-01-live2d", "prompt": "wave", "first_frame_image": PNG}, headers=AUTH
    )
    assert created.status_code == 201
    body = created.json()
    assert body.keys() == {"generation_id", "status"}
    assert body["generation_id"].isdigit()
    done = finish(http, LIVE2D, body["generation_id"])
    assert done.keys() == {"id", "status", "video"}
    assert done["video"].keys() == {"url"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body.keys() == {"message", "path", "requestId", "statusCode", "timestamp"}
    return body


@pytest.mark.parametrize(
    ("path", "payload", "expected"),
    [
        (VIDEO01, {"model": "video-01"}, "prompt must be a string"),
        (VIDEO01, {"model": "video-01", "prompt": "   "}, "prompt should not be empty"),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x" * 2001},
            "prompt must be shorter than or equal to 2000",
        ),
        (
            VIDEO01,
            {"model": "video-02", "prompt": "x"},
            "model must be one of the following values: video-01",
        ),
        # The universal route takes live2d too, in its own field names.
        (VIDEO01, {"model": "video-01-live2d", "prompt": "x"}, "image_url should not be empty"),
        (LIVE2D, {"model": "video-01", "prompt": "x", "first_frame_image": PNG}, "video-01-live2d"),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "first_frame_image": PNG},
            "first_frame_image should not",
        ),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "prompt_optimizer": True},
            "property prompt_optimizer",
        ),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "enhance_prompt": "yes"},
            "enhance_prompt must be a boolean",
        ),
        (LIVE2D, {"model": "video-01-live2d", "prompt": "x"}, "first_frame_image should not be empty"),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "image_url": "not an image"},
            "URL address or a base64",
        ),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "image_url": data_uri(image_bytes(300, 600))},
            "shorter side",
        ),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "image_url": data_uri(image_bytes(1600, 600))},
            "aspect ratio",
        ),
        (
            VIDEO01,
            {
                "model": "video-01",
                "prompt": "x",
                "image_url": data_uri(image_bytes(640, 480, "GIF"), "image/gif"),
            },
            "format must be JPG",
        ),
        (
            VIDEO01,
            {"model": "video-01", "prompt": "x", "image_url": data_uri(b"\x89PNG broken")},
            "could not be read",
        ),
    ],
)
def test_invalid_creates_are_400_with_the_services_error_shape(http, standin, path, payload, expected):
    response = http.post(path, json=payload, headers=AUTH)
    assert response.status_code == 400
    body = error_of(response)
    assert (body["statusCode"], body["path"]) == (400, path)
    assert isinstance(body["message"], list)
    assert any(expected in line for line in body["message"]), body["message"]
    assert standin.app.jobs() == []


def test_accepted_first_frames(http):
    raw_base64 = base64.b64encode(image_bytes(800, 600, "JPEG")).decode()
    for image in (
        data_uri(image_bytes(800, 600, "JPEG"), "image/jpeg"),
        raw_base64,
        "https://example.com/a.png",
    ):
        response = http.post(
            VIDEO01, json={"model": "video-01", "prompt": "x", "image_url": image}, headers=AUTH
        )
        assert response.status_code == 200, response.text


def test_a_body_that_is_not_json_is_400(http):
    response = http.post(VIDEO01, content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert isinstance(error_of(response)["message"], str)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {API_KEY}"}])
def test_a_missing_bearer_key_is_401(http, headers):
    response = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["statusCode"] == 401


def test_only_accepted_keys_pass(standin_factory):
    upstream = standin_factory(accepted_keys={"sk-good"})
    with httpx.Client(base_url=upstream.url) as http:
        good = http.get(VIDEO01, params={"generation_id": "x"}, headers={"Authorization": "Bearer sk-good"})
        bad = http.get(VIDEO01, params={"generation_id": "x"}, headers=AUTH)
        odd = http.get(
            VIDEO01, params={"generation_id": "x"}, headers={b"Authorization": "Bearer sk-gööd".encode()}
        )
    assert (good.status_code, bad.status_code, odd.status_code) == (404, 401, 401)


def test_running_out_of_credits_is_403_with_a_string_status_code(standin_factory):
    upstream = standin_factory(credits=1)
    with httpx.Client(base_url=upstream.url) as http:
        first = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH)
        second = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH)
    assert first.status_code == 200
    assert second.status_code == 403
    assert error_of(second)["statusCode"] == "403"
    assert "credits" in error_of(second)["message"]
    assert upstream.app.credits_left == 0


def test_polls_of_unknown_or_missing_ids(http):
    assert http.get(VIDEO01, params={"generation_id": "nope"}, headers=AUTH).status_code == 404
    missing = http.get(LIVE2D, headers=AUTH)
    assert missing.status_code == 400
    assert error_of(missing)["message"] == ["generation_id should not be empty"]


def test_unknown_routes_are_404(http):
    assert http.get("/v1/models", headers=AUTH).status_code == 404
    assert http.put(VIDEO01, headers=AUTH).status_code == 404


def test_error_and_never_markers(standin_factory):
    upstream = standin_factory(queue_seconds=0.05, generate_seconds=0.1)
    http = httpx.Client(base_url=upstream.url, timeout=5)
    failed = http.post(VIDEO01, json={"model": "video-01", "prompt": "[demo:error] x"}, headers=AUTH).json()
    answer = finish(http, VIDEO01, failed["id"])
    assert answer["status"] == "error"
    assert answer["error"].keys() == {"name", "message"}
    assert answer["video"] is None

    stuck = http.post(VIDEO01, json={"model": "video-01", "prompt": "[demo:never] x"}, headers=AUTH).json()
    time.sleep(0.25)
    assert (
        http.get(VIDEO01, params={"generation_id": stuck["id"]}, headers=AUTH).json()["status"]
        == "generating"
    )
    assert not any(upstream.app.state_dir.joinpath("videos").iterdir())  # neither ever renders
    http.close()


# --- Signed links -------------------------------------------------------------------------------
@pytest.fixture
def link(standin_factory):
    upstream = standin_factory(queue_seconds=0.0, generate_seconds=0.0)
    with httpx.Client(base_url=upstream.url, timeout=5) as http:
        created = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH).json()
        url = http.get(VIDEO01, params={"generation_id": created["id"]}, headers=AUTH).json()["video"]["url"]
    return upstream, url


def test_a_signed_link_serves_the_mp4_with_its_length(link):
    _, url = link
    query = parse_qs(urlsplit(url).query)
    assert query.keys() == {"Expires", "Signature"}
    assert int(query["Expires"][0]) >= time.time() + FAST["link_ttl"] - 1
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert response.content[4:8] == b"ftyp"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda url: url.replace("Signature=", "Signature=AAAA"),
        lambda url: url.split("&Signature")[0],
        lambda url: url.split("?")[0],
        lambda url: url.replace("Expires=", "Expires=9"),
        lambda url: url.replace("Signature=", "Signature=%C3%A9"),
    ],
)
def test_a_bad_signature_is_403(link, spoil):
    _, url = link
    response = httpx.get(spoil(url))
    assert response.status_code == 403
    assert response.text.startswith("<?xml")


def test_an_expired_link_is_403(link):
    upstream, url = link
    response = httpx.get(upstream.app.resign(url, expires=int(time.time()) - 1))
    assert response.status_code == 403
    assert "<Message>Request has expired.</Message>" in response.text
    assert httpx.get(upstream.app.resign(url, expires=int(time.time()) + 30)).status_code == 200


def test_every_poll_signs_a_fresh_link(standin_factory):
    upstream = standin_factory(queue_seconds=0.0, generate_seconds=0.0, link_ttl=1.0)
    with httpx.Client(base_url=upstream.url) as http:
        upstream_id = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH).json()["id"]
        first = http.get(VIDEO01, params={"generation_id": upstream_id}, headers=AUTH).json()["video"]["url"]
        time.sleep(2.05)
        assert httpx.get(first).status_code == 403
        second = http.get(VIDEO01, params={"generation_id": upstream_id}, headers=AUTH).json()["video"]["url"]
        assert second != first
        assert httpx.get(second).status_code == 200


# --- State on disk ------------------------------------------------------------------------------
def test_a_new_stand_in_on_the_same_folder_sees_the_same_jobs_and_key(tmp_path):
    first = StandIn(tmp_path, **{**FAST, "queue_seconds": 0.0, "generate_seconds": 0.0})
    with serve(first) as server, httpx.Client(base_url=server.url) as http:
        upstream_id = http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH).json()["id"]
        old_link = http.get(VIDEO01, params={"generation_id": upstream_id}, headers=AUTH).json()["video"][
            "url"
        ]

    # A different process would build its own StandIn; its own (slow) timings must not change the job's.
    second = StandIn(tmp_path, queue_seconds=100, generate_seconds=100)
    with serve(second) as server, httpx.Client(base_url=server.url) as http:
        answer = http.get(VIDEO01, params={"generation_id": upstream_id}, headers=AUTH).json()
        assert answer["status"] == "completed"
        assert (
            httpx.get(old_link.replace(urlsplit(old_link).netloc, urlsplit(server.url).netloc)).status_code
            == 200
        )
    assert [job["id"] for job in second.jobs()] == [upstream_id]
    assert not list(tmp_path.rglob("*.tmp"))


def test_concurrent_creates_are_counted_and_stored_safely(standin_factory):
    upstream = standin_factory(credits=10)
    statuses: list[int] = []
    ids: list[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        with httpx.Client(base_url=upstream.url, timeout=10) as http:
            response = http.post(VIDEO01, json={"model": "video-01", "prompt": f"p{n}"}, headers=AUTH)
        with lock:
            statuses.append(response.status_code)
            if response.status_code == 200:
                ids.append(response.json()["id"])

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [403] * 6
    assert len(set(ids)) == 10
    assert sorted(job["id"] for job in upstream.app.jobs()) == sorted(ids)
    assert len([c for c in upstream.app.calls if c.endpoint == "create"]) == 16


# --- Faults -------------------------------------------------------------------------------------
def test_faults_are_used_once_in_order_per_endpoint(http, standin):
    standin.app.inject("poll", Fault(status=500), Fault(status=429, headers={"Retry-After": "1"}))
    first = http.get(VIDEO01, params={"generation_id": "x"}, headers=AUTH)
    second = http.get(VIDEO01, params={"generation_id": "x"}, headers=AUTH)
    third = http.get(VIDEO01, params={"generation_id": "x"}, headers=AUTH)
    assert (first.status_code, second.status_code, third.status_code) == (500, 429, 404)
    assert second.headers["Retry-After"] == "1"
    standin.app.inject("create", Fault(status=500))
    standin.app.reset_faults()
    assert http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH).status_code == 200


def test_a_close_fault_drops_the_connection(http, standin):
    standin.app.inject("create", Fault(close=True))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(VIDEO01, json={"model": "video-01", "prompt": "x"}, headers=AUTH)


def test_a_truncate_fault_cuts_the_body_short(link):
    upstream, url = link
    upstream.app.inject("video", Fault(truncate=0.3))
    with httpx.stream("GET", url) as response:
        promised = int(response.headers["Content-Length"])
        received = bytearray()

        def read_all() -> None:
            for chunk in response.iter_raw():
                received.extend(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            read_all()
    assert 0 < len(received) < promised


def test_a_slow_fault_does_not_hold_up_other_requests(http, standin):
    release, arrived = threading.Event(), threading.Event()
    standin.app.inject("poll", Fault(hold=release, arrived=arrived))
    answers: list[int] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            http.get(VIDEO01, params={"generation_id": "x"}, headers=AUTH).status_code
        )
    )
    slow.start()
    try:
        assert arrived.wait(10), "the slow request never reached the stand-in"
        # Answered while the first request is still held: a stand-in serving one request at a
        # time would keep this one waiting until the hold ends, and the client would time out.
        with httpx.Client(base_url=standin.url, timeout=10) as other:
            assert other.get(VIDEO01, params={"generation_id": "y"}, headers=AUTH).status_code == 404
        assert answers == []
    finally:
        release.set()
        slow.join()
    assert answers == [404]


# --- Rendering ----------------------------------------------------------------------------------
def probe(path: Path) -> tuple[str, str, int, int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        fmt = stream.codec_context.format
        return (
            stream.codec_context.name,
            fmt.name if fmt else "",
            stream.width,
            stream.height,
            frames,
            float(container.duration or 0) / av.time_base,
        )


def test_render_without_a_first_frame(tmp_path):
    target = tmp_path / "v.mp4"
    duration = render_video(
        target, prompt="A lighthouse in a storm " * 20, first_frame=None, seconds=1.0, long_side=320
    )
    assert duration == 1.0
    *facts, seconds = probe(target)
    assert facts == ["h264", "yuv420p", 320, 180, 24]
    assert seconds == pytest.approx(1.0, abs=0.05)
    data = target.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable before fully downloaded
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_render_with_a_portrait_first_frame_keeps_its_shape(tmp_path):
    target = tmp_path / "v.mp4"
    render_video(
        target, prompt="wave", first_frame=image_bytes(1200, 1800, "PNG"), seconds=0.5, fps=12, long_side=320
    )
    assert probe(target)[:5] == ("h264", "yuv420p", 214, 320, 6)


def test_render_applies_exif_orientation(tmp_path):
    image = Image.open(io.BytesIO(image_bytes(800, 400, "JPEG")))
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated by 90 degrees
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    target = tmp_path / "v.mp4"
    render_video(target, prompt="", first_frame=buffer.getvalue(), seconds=0.25, fps=8, long_side=200)
    assert probe(target)[2:4] == (100, 200)


def test_a_large_photo_is_decoded_at_a_reduced_scale(tmp_path):
    photo = image_bytes(6000, 4000, "JPEG", quality=80)

    with pillow_work() as pillow:
        render_video(tmp_path / "v.mp4", prompt="big", first_frame=photo, seconds=1.0, long_side=640)

    assert probe(tmp_path / "v.mp4")[2:4] == (640, 426)
    # What keeps a 24-megapixel photo cheap: libjpeg decodes it at 1/2 scale (the smallest that
    # keeps 1280 px, twice the video's long side), a quarter of the pixels.
    assert pillow.decoded == [("JPEG", (3000, 2000))]


def test_the_stand_in_renders_only_once_completed(http, standin):
    videos = standin.app.state_dir / "videos"
    created = http.post(
        LIVE2D, json={"model": "video-01-live2d", "prompt": "x", "first_frame_image": PNG}, headers=AUTH
    )
    upstream_id = created.json()["generation_id"]
    http.get(LIVE2D, params={"generation_id": upstream_id}, headers=AUTH)
    assert not any(videos.iterdir())
    finish(http, LIVE2D, upstream_id)
    rendered = list(videos.iterdir())
    assert len(rendered) == 1
    assert probe(rendered[0])[2:4] == (160, 120)


def test_render_with_a_tone_has_an_aac_track_of_that_tone_as_long_as_the_picture(tmp_path):
    target = tmp_path / "v.mp4"
    render_video(target, prompt="bells", first_frame=None, seconds=1.0, long_side=160, tone_hz=440.0)
    with av.open(str(target)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
    sound = decode_sound(target)
    assert sound.seconds == pytest.approx(video_seconds(target), abs=0.05)
    middle = sound.span(0.2, 0.8)
    assert tone_strength(middle, 440.0) > 0.2
    assert tone_strength(middle, 640.0) < 0.01


def test_render_without_a_tone_has_no_audio_track(tmp_path):
    target = tmp_path / "v.mp4"
    render_video(target, prompt="quiet", first_frame=None, seconds=0.5, long_side=160)
    assert not has_audio(target)


def test_tones_differ_from_clip_to_clip_on_a_grid():
    tones = {tone_for(f"clip-{n}") for n in range(40)}
    assert len(tones) > 20
    assert all(300 <= hz <= 1280 and hz % 20 == 0 for hz in tones)


def test_the_stand_in_gives_sound_to_the_models_whose_description_says_so(standin_factory):
    with_sound = replace(catalogue.BY_ID["video-01"], sound=True)
    upstream = standin_factory(models={**catalogue.BY_ID, "video-01": with_sound})
    with httpx.Client(base_url=upstream.url, timeout=5) as http:
        made = {}
        for model in ("video-01", "minimax/hailuo-02"):
            created = http.post(VIDEO01, json={"model": model, "prompt": "a bell"}, headers=AUTH).json()
            answer = finish(http, VIDEO01, created["id"])
            made[model] = (http.get(answer["video"]["url"]).content, upstream.app.job(created["id"]))
    sounding, job = made["video-01"]
    assert has_audio(io.BytesIO(sounding))
    tone = tone_for(job["token"])
    sound = decode_sound(io.BytesIO(sounding))
    assert tone_strength(sound.span(0.2, 0.8), tone) > 0.2
    assert not has_audio(io.BytesIO(made["minimax/hailuo-02"][0]))
