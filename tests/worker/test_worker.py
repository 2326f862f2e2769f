"""The worker against the stand-in over real HTTP: the happy paths, every fault, and leases."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.lib import videofiles
from playground.upstream.aimlapi import FREE_LIMIT
from playground.worker.loop import GENERATION_TIMEOUTS, NOT_SAVED, OUT_OF_TIME, TROUBLE, WORKER_LOST, Worker
from tests.db_sessions import closing, left_open, open_elsewhere
from tests.factories import generation, media_files
from tests.faults import Fault


def make(user: Any, *, frame: bytes | None = None, **kw: Any) -> Generation:
    if frame is not None:
        ext = "jpg" if frame.startswith(b"\xff\xd8") else "png"
        kw["first_frame"] = default_storage.save(f"first-frames/test/frame.{ext}", ContentFile(frame))
    return generation(user, **kw)


def drive(worker: Worker, *, timeout: float = 15.0, until: Any = None) -> None:
    """Run the worker's steps in this thread until no job is active (or `until()` is true)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.gate.remaining() <= 0:
            for gen in Generation.objects.claim_due(worker.name, 4, settings.WORKER_LEASE):
                worker.step(gen)
        if (until and until()) or not Generation.objects.active().exists():
            return
        time.sleep(0.02)
    raise AssertionError(
        f"jobs still active after {timeout}s: {list(Generation.objects.active().values('state'))}"
    )


def creates(standin: Any, prompt: str | None = None) -> list[Any]:
    return [c for c in standin.app.calls if c.endpoint == "create" and (prompt is None or c.prompt == prompt)]


def jobs(standin: Any) -> list[dict[str, Any]]:
    return standin.app.jobs()


# --- Happy paths ---------------------------------------------------------------------------


def test_a_text_only_video_01_job_ends_ready_with_a_playable_video_in_storage(worker, upstream, user):
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert gen.upstream_id.endswith(":video-01")
    assert gen.video.name.startswith("videos/")
    assert gen.poster.name.startswith("posters/")
    info = videofiles.inspect_video(Path(settings.MEDIA_ROOT) / gen.video.name)
    assert info.duration == pytest.approx(1.0, abs=0.2)
    assert gen.duration == pytest.approx(info.duration, abs=0.01)
    assert gen.video_size == (Path(settings.MEDIA_ROOT) / gen.video.name).stat().st_size
    assert gen.credits_used is not None
    assert gen.tokens_used is not None
    assert gen.submitted_at
    assert gen.completed_at
    assert gen.finished_at
    assert gen.upstream_video_url == ""  # the signed link is not kept once the video is ours
    [create] = creates(upstream)
    assert create.path == "/v2/video/generations"
    assert create.body == {"model": "video-01", "prompt": gen.prompt, "enhance_prompt": True}


def test_a_live2d_job_sends_its_first_frame_as_a_data_uri_and_ends_ready(worker, upstream, user, png):
    gen = make(user, model="video-01-live2d", frame=png, enhance_prompt=False)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert gen.upstream_id.isdigit()
    [create] = creates(upstream)
    assert create.path == "/v2/generate/video/minimax/generation"
    assert create.body["prompt_optimizer"] is False
    assert create.body["first_frame_image"].startswith("data:image/png;base64,")
    assert "enhance_prompt" not in create.body
    assert "image_url" not in create.body
    polls = [c for c in upstream.app.calls if c.endpoint == "poll"]
    assert polls
    assert all(c.query == {"generation_id": gen.upstream_id} for c in polls)


def test_video_01_with_a_first_frame_sends_it_as_image_url(worker, upstream, user, jpeg):
    make(user, frame=jpeg)
    drive(worker)
    [create] = creates(upstream)
    assert create.body["image_url"].startswith("data:image/jpeg;base64,")


# --- Create faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(
            status=429,
            body={"message": "Too many requests", "statusCode": 429},
            headers={"Retry-After": "0.1"},
        ),
        Fault(status=429, body={"message": "Too many requests", "statusCode": "429"}),
        Fault(status=500, body={"message": "Internal server error", "statusCode": 500}),
        # The service's own 503 says it took nothing (a gateway's is tried in test_recovery.py).
        Fault(status=503, body={"message": "Service unavailable", "statusCode": "503"}),
    ],
    ids=["429-retry-after", "429", "500", "503"],
)
def test_a_create_refused_for_now_is_retried_and_pays_once(worker, upstream, user, fault):
    upstream.app.inject("create", fault)
    gen = make(user)
    [first] = Generation.objects.claim_due(worker.name, 1, 60)
    worker.step(first)
    gen.refresh_from_db()
    assert gen.state == State.QUEUED
    assert gen.trouble == TROUBLE
    assert gen.create_sent_at is None
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len(creates(upstream)) == 2
    assert len(jobs(upstream)) == 1


def test_an_unreachable_service_leaves_the_job_waiting_with_a_notice(upstream, user, closed_url):
    worker = Worker(client=upstream.client(base_url=closed_url), name="w")
    gen = make(user)
    worker.step(Generation.objects.claim_due("w", 1, 60)[0])
    gen.refresh_from_db()
    assert gen.state == State.QUEUED
    assert gen.trouble == TROUBLE
    assert gen.attempts == 1
    assert gen.next_attempt_at > timezone.now() - timedelta(seconds=1)
    assert gen.lease_owner == ""


@pytest.mark.parametrize(
    "fault",
    [
        Fault(process=True, delay=2.0),  # the job was made, the answer came too late
        Fault(delay=2.0),  # nothing answered in time: from here we cannot tell the two apart
        Fault(process=True, close=True),  # made, then the connection dropped
        Fault(process=True, status=200, body="<html>OK</html>"),  # made, answer unreadable
        Fault(process=True, status=200, body={"status": "queued"}),  # made, answer has no id
    ],
    ids=["timeout-after-create", "timeout-before-answer", "dropped", "html-200", "no-id"],
)
def test_a_create_with_an_unknown_outcome_is_found_in_the_usage_log_and_never_resent(upstream, user, fault):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", fault)
    gen = make(user)
    drive(worker, timeout=15)
    gen.refresh_from_db()
    # Every one of these made the job upstream: the log proves it, so its id is adopted.
    assert gen.state == State.READY
    assert gen.upstream_id == jobs(upstream)[0]["id"]
    assert gen.upstream_error  # the technical detail of the lost answer is kept for the admin
    time.sleep(fault.delay + 0.3)  # the stand-in records a call once it has answered
    drive(worker, timeout=1)
    assert len(creates(upstream)) == 1
    assert len(jobs(upstream)) == 1  # the service made it once; we paid once


def test_a_refused_key_fails_with_a_plain_sentence(standin_factory, user, settings):
    strict = standin_factory(accepted_keys={"the-right-key"})
    worker = Worker(client=strict.client(), name="w")
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == "The API key was refused by the AI/ML API."
    assert settings.AIMLAPI_KEY not in gen.failure_reason + gen.upstream_error
    assert jobs(strict) == []


def test_no_credits_left_fails_with_a_plain_sentence(standin_factory, user):
    broke = standin_factory(credits=0)
    worker = Worker(client=broke.client(), name="w")
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == "The AI/ML API account has no credits left."


def test_a_prompt_the_service_rejects_fails_with_its_own_message(worker, upstream, user):
    gen = make(user, prompt="   ")  # the form stops this; the worker must cope anyway
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == "The video service refused this request: prompt should not be empty."


def test_a_prompt_over_the_models_limit_fails_before_anything_is_sent(worker, upstream, user):
    gen = make(user, prompt="x" * 2001)  # the form stops this; the client checks again
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert "video-01 takes a prompt of at most 2,000 characters; this one is 2,001." in gen.failure_reason
    assert not creates(upstream)


# --- Poll faults and outcomes ----------------------------------------------------------------


def test_poll_trouble_is_ridden_out_and_the_job_still_ends_ready(worker, upstream, user):
    upstream.app.inject(
        "poll",
        Fault(status=500, body={"message": "Internal server error", "statusCode": 500}),
        Fault(status=429, headers={"Retry-After": "0"}),
        Fault(status=200, body="<html>maintenance</html>", headers={"Content-Type": "text/html"}),
        Fault(status=200, body={"id": "x"}),
        Fault(close=True),
        Fault(status=200, body={"id": "x", "status": "rendering-on-mars"}),
    )
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert len(jobs(upstream)) == 1


# The docs' 504 (errors-with-status-code-5xx.md) in the service's own error body.
GENERATION_TIMEOUT = Fault(
    status=504, body={"message": "Generation timeout", "path": "/v2/video/generations", "statusCode": 504}
)


def polls(standin: Any) -> list[Any]:
    return [c for c in standin.app.calls if c.endpoint == "poll"]


def test_polls_answered_generation_timeout_3_times_in_a_row_fail_the_job_with_the_docs_sentence(
    worker, upstream, user
):
    assert GENERATION_TIMEOUTS == 3  # the number docs/using.md states
    upstream.app.inject("poll", *[GENERATION_TIMEOUT] * GENERATION_TIMEOUTS)
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == (
        "The video service could not make this video: "
        "The generation did not finish within the allowed time limit."
    )
    assert "HTTP 504" in gen.upstream_error
    assert len(polls(upstream)) == GENERATION_TIMEOUTS  # not polled on until our own deadline
    assert not gen.charged


def test_generation_timeouts_count_only_in_a_row_and_show_while_waiting(worker, upstream, user):
    service_500 = Fault(status=500, body={"message": "Internal server error", "statusCode": 500})
    gateway_504 = Fault(status=504, body="<html><h1>504 Gateway Time-out</h1></html>")
    upstream.app.inject("poll", GENERATION_TIMEOUT, GENERATION_TIMEOUT, service_500, GENERATION_TIMEOUT)
    upstream.app.inject("poll", gateway_504, gateway_504, gateway_504, GENERATION_TIMEOUT)
    gen = make(user)
    drive(worker, until=lambda: len(polls(upstream)) >= 1)
    gen.refresh_from_db()
    assert gen.trouble == OUT_OF_TIME.format(seen=1, limit=GENERATION_TIMEOUTS)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert len(jobs(upstream)) == 1


def test_a_free_tier_limit_is_named_on_the_page_and_the_job_waits_for_it(
    worker, upstream, user, client, settings
):
    settings.TIME_ZONE = "UTC"
    body = {
        "message": "Free-tier limit: You've reached your free limit for the hour. Get AI/ML Subscription "
        "to use API, visit https://aimlapi.com/app/billing/ !",
        "statusCode": "429",
    }
    upstream.app.inject("create", Fault(status=429, body=body, headers={"Retry-After": "0.1"}))
    gen = make(user)
    [first] = Generation.objects.claim_due(worker.name, 1, 60)
    worker.step(first)
    gen.refresh_from_db()
    assert gen.state == State.QUEUED
    assert gen.trouble.startswith(FREE_LIMIT + " It resets at ")
    assert gen.trouble.endswith(" UTC. We'll keep trying.")
    client.force_login(user)
    assert gen.trouble in unescape(client.get(gen.get_absolute_url()).content.decode())
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len(creates(upstream)) == 2 and len(jobs(upstream)) == 1


def test_an_error_status_fails_with_the_services_message(worker, upstream, user):
    gen = make(user, prompt="A storm [demo:error]")
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_code == "upstream_error"
    assert "could not make a video" in gen.failure_reason
    assert gen.upstream_status == "error" or gen.upstream_error


def test_a_job_that_never_finishes_fails_at_the_deadline(worker, upstream, user, settings):
    settings.GENERATION_DEADLINE = 1.5
    gen = make(user, prompt="Forever [demo:never]")
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_code == "timed_out"
    assert "did not finish this video within 2 seconds" in gen.failure_reason
    assert len(creates(upstream)) == 1


def test_a_job_that_could_not_be_sent_before_the_deadline_fails_uncharged(
    upstream, user, closed_url, settings
):
    settings.GENERATION_DEADLINE = 0.5
    worker = Worker(client=upstream.client(base_url=closed_url), name="w")
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_code == "never_started"
    assert "Nothing was charged" in gen.failure_reason


# --- Saving the video ------------------------------------------------------------------------


def test_an_expired_video_link_is_refreshed_by_polling_again(worker, upstream, user):
    upstream.app.inject("video", Fault(status=403, body="<Error><Code>AccessDenied</Code></Error>"))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    downloads = [c for c in upstream.app.calls if c.endpoint == "video"]
    assert len(downloads) == 2
    polls_between = [
        c
        for c in upstream.app.calls
        if c.endpoint == "poll" and downloads[0].when < c.when < downloads[1].when
    ]
    assert len(polls_between) == 1  # asked for a fresh link once, then downloaded with it


def test_a_download_cut_off_halfway_is_retried_and_never_shown_half_written(worker, upstream, user):
    upstream.app.inject("video", Fault(truncate=0.5))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert media_files() == {gen.video.name, gen.poster.name}
    assert videofiles.inspect_video(Path(settings.MEDIA_ROOT) / gen.video.name).duration


def test_a_video_that_never_downloads_fails_clearly_and_keeps_no_files(worker, upstream, user):
    upstream.app.inject("video", *[Fault(status=403) for _ in range(1000)])
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == NOT_SAVED
    assert media_files() == set()


def test_a_download_that_is_not_a_video_is_never_kept(worker, upstream, user):
    upstream.app.inject("video", *[Fault(status=200, body=b"definitely not an mp4") for _ in range(1000)])
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_code == "not_saved"
    assert media_files() == set()


def test_a_cdn_hiccup_of_a_dozen_403s_is_waited_out_and_the_video_kept(worker, upstream, user, settings):
    settings.ARCHIVE_RETRY_BASE, settings.ARCHIVE_RETRY_CAP, settings.ARCHIVE_PATIENCE = 0.05, 0.2, 10
    upstream.app.inject("video", *[Fault(status=403) for _ in range(12)])
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    downloads = [c.when for c in upstream.app.calls if c.endpoint == "video"]
    assert len(downloads) == 13
    # Spaced with capped backoff (0 + 0.05 + 0.1 + 0.2 * 9 seconds, less jitter), not back to back.
    assert downloads[-1] - downloads[0] >= 0.8 * (0.05 + 0.1 + 0.2 * 9)
    gaps = [b - a for a, b in itertools.pairwise(downloads)]
    assert max(gaps) < 0.2 + 1.0  # the cap holds (plus a poll for a fresh link and scheduling)


def test_a_link_that_keeps_failing_is_given_up_only_after_the_stated_patience(
    worker, upstream, user, settings
):
    settings.ARCHIVE_RETRY_BASE, settings.ARCHIVE_RETRY_CAP, settings.ARCHIVE_PATIENCE = 0.05, 0.2, 1.5
    upstream.app.inject("video", *[Fault(status=403) for _ in range(1000)])
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert (gen.state, gen.failure_code, gen.failure_reason) == (State.FAILED, "not_saved", NOT_SAVED)
    assert gen.completed_at and gen.finished_at
    # Given up no earlier than one capped wait before the patience runs out.
    assert (gen.finished_at - gen.completed_at).total_seconds() >= 1.5 - 0.2
    assert media_files() == set()


def test_while_it_waits_to_save_a_video_the_page_says_so_and_when(worker, upstream, user, settings, client):
    settings.ARCHIVE_RETRY_BASE, settings.ARCHIVE_RETRY_CAP, settings.ARCHIVE_PATIENCE = 120, 600, 3600
    upstream.app.inject("video", Fault(status=403), Fault(status=403))
    gen = make(user)
    drive(worker, until=lambda: Generation.objects.get(pk=gen.pk).attempts >= 2)
    gen.refresh_from_db()
    assert gen.state == State.ARCHIVING
    wait = (gen.next_attempt_at - timezone.now()).total_seconds()
    assert 0.8 * 120 - 5 <= wait <= 120  # the second retry waits the base delay, not a moment
    client.force_login(user)
    page = client.get(gen.get_absolute_url()).content.decode().replace("\xa0", " ")
    assert "The video is finished, but the video service&#x27;s link to it did not work just now" in page
    assert "try again a minute from now" in page or "try again 2 minutes from now" in page
    assert gen.completed_at
    give_up = timezone.localtime(gen.completed_at + timedelta(seconds=3600))
    assert f"keep trying until {give_up:%H:%M}" in page


# --- Leases and crashes (state left behind by a worker that died) ----------------------------


def test_a_job_leased_by_a_live_worker_is_left_alone(worker, upstream, user):
    gen = make(user, lease_owner="someone-else", lease_until=timezone.now() + timedelta(minutes=1))
    assert Generation.objects.claim_due(worker.name, 5, 60) == []
    Generation.objects.filter(pk=gen.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert [g.pk for g in Generation.objects.claim_due(worker.name, 5, 60)] == [gen.pk]


def test_a_job_whose_worker_died_after_claiming_is_sent_once_by_the_next(worker, upstream, user):
    gen = make(user, lease_owner="dead-worker", lease_until=timezone.now() - timedelta(seconds=1))
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len(creates(upstream)) == 1


def test_a_job_whose_worker_died_while_sending_is_failed_not_resent(worker, upstream, user):
    gen = make(
        user,
        state=State.SUBMITTING,
        create_sent_at=timezone.now() - timedelta(seconds=5),
        lease_owner="dead-worker",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == WORKER_LOST
    assert creates(upstream) == []


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_holder(worker, upstream, user):
    gen = make(user)
    [mine] = Generation.objects.claim_due("old", 1, 60)
    Generation.objects.filter(pk=gen.pk).update(lease_owner="new")
    assert mine.mark_create_sent("old") is False
    gen.refresh_from_db()
    assert gen.state == State.QUEUED
    assert gen.lease_owner == "new"


def test_when_the_service_keeps_failing_the_worker_backs_off(upstream, user, settings):
    settings.WORKER_RETRY_BASE = 0.2
    settings.WORKER_RETRY_CAP = 5
    upstream.app.inject("create", *[Fault(status=503) for _ in range(100)])
    for i in range(5):
        make(user, prompt=f"Job {i}")
    worker = Worker(client=upstream.client(), name="w", threads=4)
    started = time.monotonic()
    drive(worker, timeout=2.5, until=lambda: time.monotonic() - started > 2.0)
    # Without a shared back-off, five jobs retrying every 0.2 s would make ~50 calls in 2 s.
    assert 2 <= len(creates(upstream)) <= 8
    assert all(g.trouble == TROUBLE for g in Generation.objects.all())


def test_the_running_loop_finishes_many_jobs_with_one_create_each(upstream, user, transactional_db):
    before = open_elsewhere()
    for i in range(6):
        make(user, prompt=f"Loop job {i}")
    workers = [Worker(client=upstream.client(), name=f"w{i}", threads=3) for i in range(2)]
    threads = [threading.Thread(target=closing(w.run_until_idle), kwargs={"timeout": 30}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert set(Generation.objects.values_list("state", flat=True)) == {State.READY}
    prompts = [c.prompt for c in creates(upstream)]
    assert sorted(prompts) == sorted(f"Loop job {i}" for i in range(6))
    assert left_open(before) == []


def test_a_finished_run_leaves_none_of_its_threads_connections_open(worker, upstream, user, transactional_db):
    # A tool (or a test) that runs the loop in its own process goes on after it: the threads the
    # loop started are gone by then, and their connections must not stay open behind them.
    before = open_elsewhere()
    for i in range(4):
        make(user, prompt=f"Closing job {i}")
    worker.run_until_idle(timeout=30)
    assert set(Generation.objects.values_list("state", flat=True)) == {State.READY}
    assert left_open(before) == []
