"""The upstream client against the stand-in over real loopback HTTP, faults included."""

import base64
import email.utils
import io
import json
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from playground.upstream import aimlapi
from playground.upstream.aimlapi import (
    Accepted,
    Ambiguous,
    Client,
    GenerationTimeout,
    HourlyLimit,
    LinkExpired,
    Refused,
    Transient,
    UpstreamError,
    client_from_settings,
)
from playground.upstream.demo.upstream import StandIn
from tests.factories import image_bytes
from tests.faults import Fault
from tests.servers import ROOT
from tests.standin_fixtures import API_KEY, FAST

PAYLOADS = ROOT / "tests" / "payloads"
PNG_URI = "data:image/png;base64," + base64.b64encode(image_bytes(640, 480, "PNG")).decode()


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def create(client: Client, model: str = "video-01", prompt: str = "A red fox in snow", **kw: Any) -> Accepted:
    kw.setdefault("enhance", True)
    kw.setdefault("first_frame", PNG_URI if model == "video-01-live2d" else None)
    kw.setdefault("client_request_id", "test-create-1")
    return client.create(model=model, prompt=prompt, **kw)


def probe(path: Path) -> tuple[str, int, int, float, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return (
            stream.codec_context.name,
            stream.width,
            stream.height,
            frames / float(stream.average_rate or 1),
            frames,
        )


# --- End to end ------------------------------------------------------------------------------
def test_video01_goes_from_create_to_a_playable_download(standin, tmp_path):
    client = standin.client()
    accepted = create(client, prompt="A red fox in snow")
    assert ":" in accepted.upstream_id
    assert accepted.raw_status == "queued"
    assert accepted.usage == {"credits_used": 1}

    answers = standin.wait(client, model="video-01", upstream_id=accepted.upstream_id)
    statuses = [p.raw_status for p in answers]
    assert statuses[0] == "queued"
    assert "generating" in statuses
    done = answers[-1]
    assert done.state == "completed"
    assert done.video_url is not None
    assert done.video_url.startswith(f"{standin.url}/_files/")
    assert done.duration == pytest.approx(1.0)
    assert done.usage == {"tokens_used": 1}

    chunks: list[int] = []
    target = tmp_path / "out.mp4"
    with target.open("wb") as dest:
        size = client.download(done.video_url, dest, max_bytes=10_000_000, on_chunk=chunks.append)
    assert size == target.stat().st_size == sum(chunks) > 1000
    codec, width, height, seconds, _ = probe(target)
    assert (codec, width, height) == ("h264", 160, 90)
    assert seconds == pytest.approx(1.0)


def test_live2d_goes_from_create_to_a_playable_download(standin, tmp_path):
    client = standin.client()
    accepted = create(client, model="video-01-live2d", first_frame=PNG_URI)
    assert accepted.upstream_id.isdigit()
    assert len(accepted.upstream_id) >= 15
    assert accepted.usage is None

    done = standin.wait(client, model="video-01-live2d", upstream_id=accepted.upstream_id)[-1]
    assert done.state == "completed"
    assert done.video_url is not None
    assert done.duration is None  # the live2d poll answer carries no duration
    target = tmp_path / "out.mp4"
    with target.open("wb") as dest:
        client.download(done.video_url, dest, max_bytes=10_000_000)
    codec, width, height, _, _ = probe(target)
    assert (codec, width, height) == ("h264", 160, 120)  # the first frame's 4:3


def test_each_model_gets_its_own_path_and_field_names(standin):
    client = standin.client()
    create(client, model="video-01", prompt="plain", enhance=False, first_frame=None)
    create(client, model="video-01", prompt="framed", enhance=True, first_frame=PNG_URI)
    live = create(client, model="video-01-live2d", prompt="live", enhance=False, first_frame=PNG_URI)
    client.poll(model="video-01-live2d", upstream_id=live.upstream_id)

    plain, framed, live2d, poll = standin.app.calls
    assert (plain.path, plain.body) == (
        "/v2/video/generations",
        {"model": "video-01", "prompt": "plain", "enhance_prompt": False},
    )
    assert framed.body.keys() == {"model", "prompt", "enhance_prompt", "image_url"}
    assert framed.body["image_url"].startswith("data:image/png;base64,")
    assert live2d.path == "/v2/generate/video/minimax/generation"
    assert live2d.body.keys() == {"model", "prompt", "prompt_optimizer", "first_frame_image"}
    assert live2d.body["prompt_optimizer"] is False
    assert live2d.body["first_frame_image"].startswith("data:image/png;base64,")
    assert (poll.method, poll.path, poll.query) == (
        "GET",
        "/v2/generate/video/minimax/generation",
        {"generation_id": live.upstream_id},
    )
    assert all(call.status in {200, 201} and call.authorized for call in standin.app.calls)


def test_live2d_without_a_first_frame_is_refused_without_calling(standin):
    with pytest.raises(Refused, match="video-01-live2d needs a first-frame image"):
        standin.client().create(
            model="video-01-live2d", prompt="x", enhance=True, first_frame=None, client_request_id="t-1"
        )
    assert standin.app.calls == []


def test_an_id_with_url_special_characters_reaches_the_service_intact(standin):
    odd = "a+b&c=d#e f/g:h?i%20j"
    standin.app.inject("create", Fault(body={"id": odd, "status": "queued"}))
    client = standin.client()
    assert create(client).upstream_id == odd
    with pytest.raises(Refused):
        client.poll(model="video-01", upstream_id=odd)
    assert standin.app.calls[-1].query == {"generation_id": odd}


def test_download_never_sends_the_key(instant, video_url):
    instant.client().download(video_url, io.BytesIO(), max_bytes=10_000_000)
    video_calls = [c for c in instant.app.calls if c.endpoint == "video"]
    assert len(video_calls) == 1
    assert not video_calls[0].authorized


def test_demo_markers_end_in_error_or_never_finish(standin_factory):
    upstream = standin_factory(queue_seconds=0.05, generate_seconds=0.1)
    client = upstream.client()
    failed = create(client, prompt="Boom [demo:error]")
    progress = upstream.wait(client, model="video-01", upstream_id=failed.upstream_id)[-1]
    assert progress.state == "error"
    assert progress.error_message == "The model could not make a video from this prompt."

    stuck = create(client, model="video-01-live2d", prompt="Forever [demo:never]")
    time.sleep(0.25)
    progress = client.poll(model="video-01-live2d", upstream_id=stuck.upstream_id)
    assert (progress.state, progress.raw_status) == ("running", "generating")


# --- Create faults ---------------------------------------------------------------------------
def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "9999"}, 300.0),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_create_429_is_transient_with_retry_after(standin, headers, expected):
    standin.app.inject("create", Fault(status=429, headers=headers))
    with pytest.raises(Transient) as caught:
        create(standin.client())
    assert caught.value.retry_after == expected
    assert caught.value.status_code == 429
    assert caught.value.user_message == aimlapi.BUSY
    assert standin.app.jobs() == []


def test_create_429_with_an_http_date_waits_until_then(standin):
    standin.app.inject("create", Fault(status=429, headers={"Retry-After": http_date(30)}))
    with pytest.raises(Transient) as caught:
        create(standin.client())
    assert caught.value.retry_after == pytest.approx(30, abs=2)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),  # the stand-in's own error body, as the service sends it
        Fault(status=500, body={"message": "Internal server error", "statusCode": "500"}),
        Fault(
            status=503,
            body={"message": "Service unavailable", "statusCode": 503},
            headers={"Retry-After": "12"},
        ),
    ],
)
def test_create_500_and_503_in_the_services_own_words_are_transient(standin, fault):
    standin.app.inject("create", fault)
    with pytest.raises(Transient) as caught:
        create(standin.client())
    assert caught.value.status_code == fault.status
    assert caught.value.retry_after == (12.0 if fault.status == 503 else None)
    assert standin.app.jobs() == []


GATEWAY_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
    "</center><hr><center>nginx</center></body></html>"
)
# The docs' 504 (errors-with-status-code-5xx.md), in the service's error body.
GENERATION_TIMEOUT_BODY = {
    "message": "Generation timeout",
    "path": "/v2/video/generations",
    "requestId": "798b860e-98c2-4e8e-8c50-550bcfc2eccc",
    "statusCode": 504,
    "timestamp": "2026-12-01T07:13:27.813Z",
}


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>"),
        Fault(status=502, body={"message": "Bad Gateway", "statusCode": 502}),
        Fault(status=504, body=GATEWAY_504),
        Fault(status=504, body=b"upstream timed out"),
        Fault(status=504, body=GENERATION_TIMEOUT_BODY),
        Fault(status=500, body="<html>Internal Server Error</html>"),
        Fault(status=503, body={"message": "down for maintenance"}),  # no statusCode: not the service's
        Fault(status=503, body="Service Unavailable"),
    ],
    ids=[
        "502-html",
        "502-json",
        "504-nginx",
        "504-text",
        "504-generation-timeout",
        "500-html",
        "503-odd",
        "503-text",
    ],
)
def test_create_gateway_answers_are_ambiguous_never_transient(standin, fault):
    # A gateway in front of the service may answer these after the service took the job: only
    # Transient promises the job was not created, and it would be sent again.
    standin.app.inject("create", fault)
    with pytest.raises(Ambiguous) as caught:
        create(standin.client())
    assert caught.value.status_code == fault.status
    assert caught.value.user_message == aimlapi.UNCONFIRMED


def test_create_on_a_closed_port_is_transient(closed_url):
    with Client(closed_url, API_KEY, timeout=2) as client, pytest.raises(Transient) as caught:
        create(client)
    assert caught.value.status_code is None
    assert caught.value.user_message == aimlapi.UNREACHABLE


def test_create_timing_out_before_any_answer_is_ambiguous(standin):
    standin.app.inject("create", Fault(status=200, body={"id": "late"}, delay=1.0))
    with pytest.raises(Ambiguous) as caught:
        create(standin.client(timeout=0.3))
    assert "ReadTimeout" in caught.value.detail


def test_create_timing_out_after_the_job_was_made_is_ambiguous(standin):
    standin.app.inject("create", Fault(process=True, delay=1.0))
    with pytest.raises(Ambiguous):
        create(standin.client(timeout=0.3))
    assert len(standin.app.jobs()) == 1  # it really was made, and would be paid for


@pytest.mark.parametrize("process", [False, True])
def test_create_with_the_connection_dropped_is_ambiguous(standin, process):
    standin.app.inject("create", Fault(close=True, process=process))
    with pytest.raises(Ambiguous) as caught:
        create(standin.client())
    assert caught.value.status_code is None
    assert len(standin.app.jobs()) == (1 if process else 0)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(body="<html><body>Welcome to nginx!</body></html>"),
        Fault(body={"status": "queued"}),
        Fault(body={"id": "", "status": "queued"}),
        Fault(body=["not", "an", "object"]),
        Fault(status=201, body=b""),
    ],
)
def test_create_success_without_a_usable_id_is_ambiguous(standin, fault):
    standin.app.inject("create", fault)
    with pytest.raises(Ambiguous):
        create(standin.client())


def test_create_of_a_job_by_a_cdn_error_is_ambiguous(standin):
    standin.app.inject("create", Fault(status=524, body="<html>A timeout occurred</html>"))
    with pytest.raises(Ambiguous):
        create(standin.client())


def test_create_validation_errors_are_refused_with_the_services_words(standin):
    with pytest.raises(Refused) as caught:
        create(standin.client(), prompt="   ")
    assert caught.value.status_code == 400
    assert caught.value.user_message == "The video service refused this request: prompt should not be empty."


def test_a_prompt_over_the_models_limit_is_refused_without_calling(standin):
    with pytest.raises(Refused) as caught:
        create(standin.client(), prompt="x" * 2001)
    assert caught.value.status_code is None
    assert (
        "video-01 takes a prompt of at most 2,000 characters; this one is 2,001." in caught.value.user_message
    )
    assert not [call for call in standin.app.calls if call.endpoint == "create"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Fault(status=422, body={"message": ["a is bad", "b is bad"], "statusCode": "422"}),
            "The video service refused this request: a is bad; b is bad.",
        ),
        (
            Fault(status=400, body={"message": "Image too small!", "statusCode": 400}),
            "The video service refused this request: Image too small!",
        ),
        (Fault(status=413, body="<html>too big</html>"), "The video service refused this request."),
        (
            Fault(status=418, body={"error": {"name": "Teapot", "message": "I am a teapot"}}),
            "The video service refused this request: I am a teapot.",
        ),
        (Fault(status=404), aimlapi.NO_SUCH_ENDPOINT),
        (Fault(status=402, body={"message": "Payment required"}), aimlapi.NO_CREDITS),
        (Fault(status=403, body={"message": "Forbidden resource", "statusCode": "403"}), aimlapi.NO_CREDITS),
        (
            Fault(status=403, body={"message": "Your IP address is blocked", "statusCode": 403}),
            "The AI/ML API refused this request: Your IP address is blocked.",
        ),
    ],
)
def test_create_client_errors_are_refused(standin, fault, message):
    standin.app.inject("create", fault)
    with pytest.raises(Refused) as caught:
        create(standin.client())
    assert caught.value.user_message == message
    assert caught.value.status_code == fault.status


def test_create_with_a_wrong_key_is_refused(standin_factory):
    upstream = standin_factory(accepted_keys={"sk-the-right-one"})
    with pytest.raises(Refused) as caught:
        create(upstream.client())
    assert (caught.value.status_code, caught.value.user_message) == (401, aimlapi.KEY_REFUSED)


def test_create_with_no_credits_left_is_refused(standin_factory):
    upstream = standin_factory(credits=1)
    client = upstream.client()
    create(client)
    with pytest.raises(Refused) as caught:
        create(client)
    assert (caught.value.status_code, caught.value.user_message) == (403, aimlapi.NO_CREDITS)
    assert '"statusCode": "403"' in caught.value.detail


@pytest.mark.parametrize("key", ["", "sk-with\nnewline"])
def test_an_unsendable_key_is_refused_not_ambiguous(standin, key):
    client = standin.client(api_key=key)
    with pytest.raises(Refused, match="LocalProtocolError"):
        create(client)
    with pytest.raises(Refused):
        client.poll(model="video-01", upstream_id="x")
    assert standin.app.calls == []


def test_the_legacy_create_may_leave_out_the_status(standin):
    standin.app.inject("create", Fault(body={"generation_id": "123456789012345"}))
    accepted = create(standin.client(), model="video-01-live2d")
    assert (accepted.upstream_id, accepted.raw_status) == ("123456789012345", "")


# --- Poll faults ------------------------------------------------------------------------------
@pytest.fixture
def job(standin):
    client = standin.client()
    return client, create(client).upstream_id


@pytest.mark.parametrize(
    "fault",
    [
        Fault(close=True),
        Fault(delay=1.0),
        Fault(status=429, headers={"Retry-After": "3"}),
        Fault(status=500),
        Fault(status=502, body="<html>Bad gateway</html>"),
        Fault(status=503),
        Fault(body="<html>maintenance</html>"),
        Fault(body={"id": "x"}),
        Fault(body={"id": "x", "status": ""}),
        Fault(body=["x"]),
    ],
)
def test_poll_trouble_is_transient(standin, fault):
    client = standin.client(timeout=0.3)
    standin.app.inject("poll", fault)
    with pytest.raises(Transient) as caught:
        client.poll(model="video-01", upstream_id="anything")
    assert caught.value.retry_after == (3.0 if fault.status == 429 else None)


@pytest.mark.parametrize(
    ("status", "on_create"), [(302, Refused), (408, Transient), (501, Ambiguous), (520, Ambiguous)]
)
def test_only_a_create_is_ambiguous_where_the_service_may_have_taken_it(standin, status, on_create):
    # Create, poll and the usage log share one request path; only a create can have been acted on.
    client = standin.client()
    standin.app.inject("create", Fault(status=status))
    with pytest.raises(on_create) as caught:
        create(client)
    assert caught.value.status_code == status
    standin.app.inject("poll", Fault(status=status))
    with pytest.raises(Transient):
        client.poll(model="video-01", upstream_id="x")
    standin.app.inject("logs", Fault(status=status))
    now = datetime.now(UTC)
    with pytest.raises(Transient):
        client.usage_log(start=now - timedelta(hours=1), end=now, model="video-01")


def test_a_poll_answered_the_services_own_504_is_a_generation_timeout(standin):
    client = standin.client()
    standin.app.inject("poll", Fault(status=504, body=GENERATION_TIMEOUT_BODY))
    with pytest.raises(GenerationTimeout) as caught:
        client.poll(model="video-01", upstream_id="anything")
    assert caught.value.user_message == "The generation did not finish within the allowed time limit."
    assert caught.value.status_code == 504
    # A gateway's own 504 page says nothing about the generation: just ask again later.
    standin.app.inject("poll", Fault(status=504, body=GATEWAY_504))
    with pytest.raises(Transient) as caught_gateway:
        client.poll(model="video-01", upstream_id="anything")
    assert not isinstance(caught_gateway.value, GenerationTimeout)


FREE_LIMIT_BODY = {
    # The docs' own example of the free tier's 429 (errors-and-messages/general-info.md).
    "message": "Free-tier limit: You've reached your free limit for the hour. Get AI/ML Subscription to "
    "use API, visit https://aimlapi.com/app/billing/ !",
    "path": "/v2/video/generations",
    "requestId": "798b860e-98c2-4e8e-8c50-550bcfc2eccc",
    "statusCode": "429",
    "timestamp": "2025-03-11T07:13:27.813Z",
}


@pytest.mark.parametrize("endpoint", ["create", "poll"])
def test_the_free_tier_429_names_the_hourly_limit_and_when_it_resets(standin, settings, endpoint):
    settings.TIME_ZONE = "UTC"
    client = standin.client()
    standin.app.inject(endpoint, Fault(status=429, body=FREE_LIMIT_BODY, headers={"Retry-After": "1500"}))
    ask = (
        (lambda: create(client))
        if endpoint == "create"
        else (lambda: client.poll(model="video-01", upstream_id="x"))
    )
    with pytest.raises(HourlyLimit) as caught:
        ask()
    resets_at = caught.value.resets_at
    assert resets_at is not None
    assert abs((resets_at - datetime.now(UTC)).total_seconds() - 1500) < 5
    assert caught.value.user_message == (
        "The AI/ML API key this site uses has reached its free-tier limit for the hour. "
        f"It resets at {resets_at:%H:%M} UTC."
    )
    assert caught.value.retry_after == aimlapi.MAX_RETRY_AFTER  # waiting is still capped
    assert standin.app.jobs() == []


def test_the_free_tier_429_without_a_reset_time_still_names_the_limit(standin):
    standin.app.inject("create", Fault(status=429, body=FREE_LIMIT_BODY))
    with pytest.raises(HourlyLimit) as caught:
        create(standin.client())
    assert caught.value.user_message == aimlapi.FREE_LIMIT
    assert "hour" in aimlapi.FREE_LIMIT and caught.value.resets_at is None


def test_a_plain_429_is_not_called_the_hourly_limit(standin):
    standin.app.inject("create", Fault(status=429, body={"message": "Too Many Requests", "statusCode": 429}))
    with pytest.raises(Transient) as caught:
        create(standin.client())
    assert not isinstance(caught.value, HourlyLimit)
    assert caught.value.user_message == aimlapi.BUSY


def test_poll_on_a_closed_port_is_transient(closed_url):
    with Client(closed_url, API_KEY) as client, pytest.raises(Transient):
        client.poll(model="video-01", upstream_id="x")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(status=401, body={"message": "Unauthorized", "statusCode": 401}), aimlapi.KEY_REFUSED),
        (Fault(status=402), aimlapi.NO_CREDITS),
        (Fault(status=403, body=payload("error_403_credits.json")), aimlapi.NO_CREDITS),
        (Fault(status=404), aimlapi.JOB_GONE),
        (Fault(status=400, body=payload("error_400_validation.json")), None),
    ],
)
def test_poll_refusals(standin, fault, message):
    standin.app.inject("poll", fault)
    with pytest.raises(Refused) as caught:
        standin.client().poll(model="video-01", upstream_id="x")
    assert caught.value.status_code == fault.status
    if message:
        assert caught.value.user_message == message
    else:
        assert "shorter than or equal to 2000" in caught.value.user_message


def test_poll_of_an_unknown_job_is_refused(standin):
    with pytest.raises(Refused) as caught:
        standin.client().poll(model="video-01-live2d", upstream_id="999999999999999")
    assert (caught.value.status_code, caught.value.user_message) == (404, aimlapi.JOB_GONE)


@pytest.mark.parametrize(
    ("answer", "state", "raw_status"),
    [
        ({"id": "x", "status": "waiting"}, "running", "waiting"),
        ({"id": "x", "status": "active"}, "running", "active"),
        ({"id": "x", "status": "rendering-frames"}, "running", "rendering-frames"),
        ({"id": "x", "status": "completed", "video": None}, "running", "completed"),
        ({"id": "x", "status": "completed", "video": {"url": ""}}, "running", "completed"),
        (
            {"id": "x", "status": "Completed", "video": {"url": "https://cdn.example/v.mp4"}},
            "completed",
            "Completed",
        ),
    ],
)
def test_poll_statuses(standin, answer, state, raw_status):
    standin.app.inject("poll", Fault(body=answer))
    progress = standin.client().poll(model="video-01", upstream_id="x")
    assert (progress.state, progress.raw_status) == (state, raw_status)
    assert progress.raw == answer


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("Content moderation failed", "Content moderation failed"),
        ({"name": "Error", "message": "Server overloaded"}, "Server overloaded"),
        ({"name": "InternalError"}, "InternalError"),
        ({"message": ["bad frame", "bad prompt"]}, "bad frame; bad prompt"),
        (None, aimlapi.NO_REASON),
    ],
)
def test_poll_error_status_carries_the_reason(standin, error, message):
    standin.app.inject("poll", Fault(body={"id": "x", "status": "error", "error": error}))
    progress = standin.client().poll(model="video-01", upstream_id="x")
    assert (progress.state, progress.error_message, progress.video_url) == ("error", message, None)


def test_poll_duration_falls_back_to_the_top_level_and_usage_numbers_are_numbers(standin):
    answer = {
        "id": "x",
        "status": "completed",
        "video": {"url": "https://cdn.example/v.mp4"},
        "duration": "5.5",
        "meta": {"usage": {"tokens_used": "42", "other": "kept"}},
    }
    standin.app.inject("poll", Fault(body=answer))
    progress = standin.client().poll(model="video-01", upstream_id="x")
    assert progress.duration == 5.5
    assert progress.usage == {"tokens_used": 42.0, "other": "kept"}


# --- Recorded payloads -------------------------------------------------------------------------
def test_recorded_create_answers_parse(standin):
    standin.app.inject(
        "create",
        Fault(body=payload("video01_create_response.json")),
        Fault(status=201, body=payload("live2d_create_response.json")),
    )
    client = standin.client()
    video01 = create(client)
    assert (video01.upstream_id, video01.raw_status) == (
        "b7a2f1c4-5d2e-4c61-9a8e-0f3d2c1b4a59:video-01",
        "queued",
    )
    assert video01.usage == {"credits_used": 1050000}
    live2d = create(client, model="video-01-live2d")
    assert (live2d.upstream_id, live2d.raw_status) == ("222226666699999", "text")


@pytest.mark.parametrize(
    ("name", "model", "state"),
    [
        ("video01_poll_generating.json", "video-01", "running"),
        ("video01_poll_completed.json", "video-01", "completed"),
        ("video01_poll_error.json", "video-01", "error"),
        ("live2d_poll_example.json", "video-01-live2d", "running"),
        ("live2d_poll_completed.json", "video-01-live2d", "completed"),
    ],
)
def test_recorded_poll_answers_parse(standin, name, model, state):
    recorded = payload(name)
    standin.app.inject("poll", Fault(body=recorded))
    progress = standin.client().poll(model=model, upstream_id=recorded["id"])
    assert progress.state == state
    assert progress.raw == recorded
    if state == "completed":
        # The signed link must come through byte for byte: re-encoding it would break the signature.
        assert progress.video_url == recorded["video"]["url"]
    if name == "video01_poll_completed.json":
        assert (progress.duration, progress.usage) == (6.0, {"tokens_used": 1050000})
    if state == "error":
        assert progress.error_message == "The prompt was flagged by the content filter."


# --- Download faults ---------------------------------------------------------------------------
@pytest.fixture
def instant(standin_factory):
    """A stand-in whose jobs finish at once, for tests that only care about the download."""
    return standin_factory(queue_seconds=0.0, generate_seconds=0.0)


@pytest.fixture
def video_url(instant):
    done = instant.client().poll(model="video-01", upstream_id=create(instant.client()).upstream_id)
    assert done.video_url is not None
    return done.video_url


def test_an_expired_link_asks_for_a_fresh_one(instant, video_url):
    expired = instant.app.resign(video_url, expires=int(time.time()) - 5)
    with pytest.raises(LinkExpired) as caught:
        instant.client().download(expired, io.BytesIO(), max_bytes=10_000_000)
    assert caught.value.status_code == 403
    assert "Request has expired" in caught.value.detail
    assert "Signature" not in caught.value.detail  # the signed query string stays out of logs


@pytest.mark.parametrize("status", [401, 404, 410])
def test_other_dead_link_answers_also_ask_for_a_fresh_one(instant, video_url, status):
    instant.app.inject("video", Fault(status=status))
    with pytest.raises(LinkExpired):
        instant.client().download(video_url, io.BytesIO(), max_bytes=10_000_000)


def test_a_cut_off_download_is_transient(instant, video_url):
    instant.app.inject("video", Fault(truncate=0.5))
    dest = io.BytesIO()
    with pytest.raises(Transient) as caught:
        instant.client().download(video_url, dest, max_bytes=10_000_000)
    assert caught.value.user_message == aimlapi.DOWNLOAD_CUT
    assert len(dest.getvalue()) > 0


@pytest.mark.parametrize(
    "fault", [Fault(status=500), Fault(status=503, headers={"Retry-After": "4"}), Fault(close=True)]
)
def test_download_server_trouble_is_transient(instant, video_url, fault):
    instant.app.inject("video", fault)
    with pytest.raises(Transient) as caught:
        instant.client().download(video_url, io.BytesIO(), max_bytes=10_000_000)
    assert caught.value.retry_after == (4.0 if fault.status == 503 else None)


def test_download_from_a_closed_port_is_transient(closed_url):
    with Client(closed_url, API_KEY) as client, pytest.raises(Transient):
        client.download(f"{closed_url}/v.mp4", io.BytesIO(), max_bytes=100)


def test_a_video_over_the_limit_is_refused_before_reading(instant, video_url):
    dest = io.BytesIO()
    with pytest.raises(Refused, match="Content-Length"):
        instant.client().download(video_url, dest, max_bytes=1000)
    assert dest.getvalue() == b""


def stream_transport(chunks: list[bytes], headers: dict[str, str] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"".join(chunks)))

    return httpx.MockTransport(handler)


def test_a_video_without_a_length_is_cut_off_at_the_limit():
    transport = stream_transport([b"x" * 5000])
    with Client("https://api.example", API_KEY, transport=transport) as client, pytest.raises(Refused):
        client.download("https://cdn.example/v.mp4", io.BytesIO(), max_bytes=1000)


def test_fewer_bytes_than_promised_is_transient_even_when_the_transport_allows_it():
    transport = stream_transport([b"x" * 500], headers={"Content-Length": "1000"})
    with Client("https://api.example", API_KEY, transport=transport) as client, pytest.raises(Transient):
        client.download("https://cdn.example/v.mp4", io.BytesIO(), max_bytes=10_000)


# --- The key never leaks -------------------------------------------------------------------------
def test_the_key_appears_in_no_error(standin, closed_url):
    errors: list[UpstreamError] = []
    client = standin.client(timeout=0.3)
    faults = [
        ("create", Fault(status=400, body={"message": f"bad header Bearer {API_KEY}"})),
        ("create", Fault(status=401, body={"message": f"key {API_KEY} unknown"})),
        ("create", Fault(status=403, body={"message": f"{API_KEY} is blocked"})),
        ("create", Fault(status=200, body=f"<html>{API_KEY}</html>")),
        ("create", Fault(close=True)),
        ("create", Fault(delay=1.0)),
        ("poll", Fault(body={"id": "x", "status": "error", "error": f"echo {API_KEY}"})),
        ("poll", Fault(status=500, body=API_KEY)),
    ]
    for endpoint, fault in faults:
        standin.app.inject(endpoint, fault)
        try:
            if endpoint == "create":
                create(client)
            else:
                progress = client.poll(model="video-01", upstream_id="x")
                assert API_KEY not in repr(progress.error_message)
        except UpstreamError as exc:
            errors.append(exc)
    with Client(closed_url, API_KEY) as offline:
        for call in (lambda: create(offline), lambda: offline.poll(model="video-01", upstream_id="x")):
            try:
                call()
            except UpstreamError as exc:
                errors.append(exc)

    assert len(errors) == 9
    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error) + error.user_message + error.detail
        assert API_KEY not in text
        assert API_KEY[-8:] not in text
    assert API_KEY not in repr(client)


# --- Settings -----------------------------------------------------------------------------------
def test_client_from_settings_talks_to_the_configured_service(standin, settings):
    settings.DEMO_MODE = False
    settings.AIMLAPI_BASE_URL = standin.url
    settings.AIMLAPI_KEY = API_KEY
    with client_from_settings() as client:
        assert client.base_url == standin.url
        create(client)
    assert standin.app.calls[0].authorized


def test_client_from_settings_in_demo_mode_mounts_the_stand_in(settings, tmp_path):
    settings.DEMO_MODE = True
    settings.DEMO_UPSTREAM_DIR = tmp_path / "demo"
    with client_from_settings() as client:
        assert client.base_url == aimlapi.DEMO_BASE_URL
        accepted = create(client)
        assert client.poll(model="video-01", upstream_id=accepted.upstream_id).state == "running"
    assert len(list((tmp_path / "demo" / "jobs").glob("*.json"))) == 1


def test_the_stand_in_mounted_in_process_serves_the_whole_round(tmp_path):
    app = StandIn(tmp_path, **FAST)
    with Client(aimlapi.DEMO_BASE_URL, "demo", transport=httpx.WSGITransport(app=app)) as client:
        accepted = create(client, model="video-01-live2d")
        deadline = time.monotonic() + 10
        while (
            progress := client.poll(model="video-01-live2d", upstream_id=accepted.upstream_id)
        ).state == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert progress.video_url is not None
        assert progress.video_url.startswith(f"{aimlapi.DEMO_BASE_URL}/_files/")
        target = tmp_path / "v.mp4"
        with target.open("wb") as dest:
            client.download(progress.video_url, dest, max_bytes=10_000_000)
    assert probe(target)[0] == "h264"


@pytest.mark.parametrize("odd", ["²", "٣", "\uff17", "1e3", "-1", " "])
def test_a_number_the_service_writes_oddly_is_no_number_never_a_crash(odd):
    # str.isdigit() says yes to '²' and int() says no: a usage-log row or a header written so must
    # read as "not given", not stop the worker's step with a ValueError.
    row = aimlapi._log_row({"created": "2026-12-31T23:59:59Z", "cost": {"credits": odd}})
    assert row is not None and row.credits is None
    assert aimlapi._whole(odd) is None
