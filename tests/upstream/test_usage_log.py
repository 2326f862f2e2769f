"""Request tracing, cost headers and the usage log, as the stand-in serves them and the client reads them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.generations.models import State
from playground.upstream.aimlapi import Refused, Transient, client_from_settings
from playground.upstream.demo.upstream import shared_standin
from playground.worker.loop import Worker
from tests.factories import generation, image_bytes
from tests.standin_fixtures import API_KEY
from tests.upstream.test_aimlapi import create
from tests.worker.test_worker import drive

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def raw_logs(standin: Any, query: str) -> httpx.Response:
    with httpx.Client(base_url=standin.url, timeout=5) as http:
        return http.get(f"/v2/logs?{query}", headers=AUTH)


def around_now() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"start": now - timedelta(minutes=5), "end": now + timedelta(minutes=5)}


def test_a_create_answer_carries_the_tracing_and_cost_headers(standin):
    client = standin.client()
    accepted = create(client, client_request_id="gen-7-abc")
    assert accepted.trace is not None
    assert accepted.trace.inference_id == accepted.upstream_id
    assert accepted.trace.client_request_id == "gen-7-abc"
    assert accepted.trace.usd == Decimal("0.430000000")
    assert accepted.trace.credits == 860_000
    progress = client.poll(model="video-01", upstream_id=accepted.upstream_id)
    assert progress.trace is not None
    assert progress.trace.inference_id == accepted.upstream_id  # the create and its polls share it
    assert progress.trace.usd == Decimal(0)  # polling is free


def test_the_client_never_sends_an_id_outside_the_services_alphabet(standin):
    for bad in ["", "has space", "é", "x" * 129, "semi;colon"]:
        with pytest.raises(ValueError, match="X-Client-Request-Id"):
            create(standin.client(), client_request_id=bad)
    assert standin.app.calls == []


def test_an_invalid_id_is_dropped_silently_by_the_service(standin):
    with httpx.Client(base_url=standin.url, timeout=5) as http:
        response = http.post(
            "/v2/video/generations",
            json={"model": "video-01", "prompt": "x"},
            headers={**AUTH, "X-Client-Request-Id": "not valid!"},
        )
    assert response.status_code == 200  # the request still runs, and is billed
    assert "x-client-request-id" not in response.headers
    [row] = standin.app.usage_log()
    assert row["client_request_id"] is None


def test_rows_appear_only_after_the_log_lag(standin_factory):
    standin = standin_factory(log_lag=0.6)
    client = standin.client()
    accepted = create(client, client_request_id="gen-1-lag")
    assert client.usage_log(model="video-01", **around_now()).rows == []  # not there yet: unknown
    time.sleep(0.7)
    [row] = client.usage_log(model="video-01", **around_now()).rows
    assert (row.client_request_id, row.inference_id, row.status) == (
        "gen-1-lag",
        accepted.upstream_id,
        "succeeded",
    )
    assert row.usd == Decimal("0.43") and row.model == "minimax/video-01"


def test_the_log_pages_and_filters_by_model_and_status(standin_factory):
    standin = standin_factory(log_lag=0.0)
    client = standin.client()
    for i in range(5):
        create(client, client_request_id=f"gen-{i}-page")
    create(client, model="video-01-live2d", client_request_id="gen-9-live")
    first = client.usage_log(model="video-01", limit=2, **around_now())
    assert (len(first.rows), first.has_more, first.total) == (2, True, 5)
    last = client.usage_log(model="video-01", limit=2, offset=4, **around_now())
    assert (len(last.rows), last.has_more) == (1, False)
    window = "period=1h"
    assert (
        raw_logs(standin, f"{window}&model=video-01-live2d").json()["pagination"]["total"] == 1
    )  # bare alias
    both = raw_logs(standin, f"{window}&model=minimax/video-01&model=minimax/video-01-live2d")
    assert both.json()["pagination"]["total"] == 6
    assert (
        raw_logs(standin, f"{window}&model=video-01,video-01-live2d").json()["data"] == []
    )  # commas don't split
    assert raw_logs(standin, f"{window}&status=failed").json()["data"] == []
    assert raw_logs(standin, f"{window}&status=succeeded&status=failed").json()["pagination"]["total"] == 6


@pytest.mark.parametrize(
    "query",
    [
        "",  # no window
        "period=24h&start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z",  # both
        "start=2026-01-01T00:00:00Z",  # start alone
        "period=0h",
        "period=24m",
        "start=2026-01-02&end=2026-01-01",  # end before start
        "start=2026-01-01&end=2026-06-01",  # over 92 days
        "start=yesterday&end=today",
        "period=1h&status=succeeded,failed",  # a comma-separated status
        "period=1h&status=pending",
        "period=1h&limit=0",
        "period=1h&limit=101",
    ],
)
def test_a_bad_window_or_filter_is_a_400(standin, query):
    assert raw_logs(standin, query).status_code == 400


def test_a_bad_window_reaches_the_client_as_a_refusal(standin):
    now = datetime.now(UTC)
    with pytest.raises(Refused):
        standin.client().usage_log(model="video-01", start=now, end=now - timedelta(hours=1))


def test_over_the_rate_limit_the_log_says_429_with_retry_after(standin_factory):
    standin = standin_factory(logs_rate_limit=3, logs_rate_window=60.0)
    client = standin.client()
    for _ in range(3):
        client.usage_log(model="video-01", **around_now())
    with pytest.raises(Transient) as caught:
        client.usage_log(model="video-01", **around_now())
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60


def test_a_failed_create_is_in_the_log_at_no_cost(standin_factory):
    standin = standin_factory(log_lag=0.0)
    client = standin.client()
    with pytest.raises(Refused):
        create(client, prompt="", client_request_id="gen-3-empty")
    [row] = client.usage_log(model="video-01", **around_now()).rows
    assert (row.status, row.usd, row.client_request_id) == ("failed", Decimal(0), "gen-3-empty")


def test_demo_mode_shows_dollars_from_the_in_process_stand_in(user, settings, tmp_path, signed_in):
    settings.DEMO_MODE = True
    settings.DEMO_UPSTREAM_DIR = tmp_path / "demo"
    app = shared_standin(settings.DEMO_UPSTREAM_DIR)
    app.queue_seconds, app.generate_seconds, app.video_seconds, app.video_long_side = 0.1, 0.2, 1.0, 160
    worker = Worker(client=client_from_settings(), name="demo")
    frame = default_storage.save("first-frames/demo.png", ContentFile(image_bytes(640, 480, "PNG")))
    gen = generation(user, model="video-01-live2d", prompt="x", first_frame=frame)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert gen.usd_spent == Decimal("0.56")
    assert '<dd class="cost">$0.56</dd>' in signed_in.get(gen.get_absolute_url()).content.decode()
