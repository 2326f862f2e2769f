"""Real worker processes, killed with SIGKILL mid-job and restarted: nothing stuck, nothing paid twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from playground.generations.models import Generation, State
from playground.lib.models import WorkerHeartbeat
from playground.worker.loop import WORKER_LOST
from tests.factories import generation, media_files
from tests.faults import Fault
from tests.worker_processes import LEASE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def state_of(gen: Generation) -> str:
    gen.refresh_from_db()
    return gen.state


def test_killed_after_the_service_accepted_the_job_is_recovered_from_the_usage_log(
    upstream, user, start_worker
):
    upstream.app.inject("create", Fault(process=True, delay=30))
    gen = generation(user, prompt="Kill me mid-create")
    first = start_worker("first")
    wait_for(lambda: len(upstream.app.jobs()) == 1, what="the upstream job")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    assert state_of(gen) == State.SUBMITTING  # exactly what a crash at this point leaves
    start_worker("second", RECOVERY_LOOK_EVERY="0.2")
    wait_for(lambda: state_of(gen) == State.READY, timeout=LEASE + 15, what="the job to be ready")
    assert gen.upstream_id == upstream.app.jobs()[0]["id"]  # adopted from the usage log
    assert len(upstream.app.jobs()) == 1  # never sent again
    # Both workers' logs: the first sent it, the second only looked it up.
    assert [r["client_request_id"] for r in upstream.app.usage_log() if r["client_request_id"]] == [
        gen.client_request_id
    ]


def test_killed_after_sending_a_create_that_never_arrived_fails_honestly(upstream, user, start_worker):
    # The create is held before the service acts on it; the worker dies; nothing reaches the log.
    upstream.app.inject("create", Fault(delay=30))
    gen = generation(user, prompt="Kill me before it lands")
    first = start_worker("first")
    wait_for(lambda: state_of(gen) == State.SUBMITTING, what="create sent")
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    start_worker("second", RECOVERY_LOOK_EVERY="0.2", RECOVERY_WINDOW="2")
    wait_for(lambda: state_of(gen) == State.FAILED, timeout=LEASE + 15, what="the job to end")
    assert gen.failure_code == "ambiguous"
    assert gen.failure_reason == WORKER_LOST
    assert [c for c in upstream.app.calls if c.endpoint == "logs"]  # it asked before giving up


def test_killed_while_polling_then_restarted_finishes_with_one_create(upstream, user, start_worker):
    upstream.app.inject("poll", Fault(delay=30))
    gen = generation(user, prompt="Kill me mid-poll")
    first = start_worker("first")
    wait_for(lambda: any(c.endpoint == "create" for c in upstream.app.calls), what="the create")
    wait_for(lambda: state_of(gen) == State.RUNNING, what="running")
    time.sleep(0.3)  # the first poll is now hanging on the stand-in
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    start_worker("second")
    wait_for(lambda: state_of(gen) == State.READY, timeout=LEASE + 15, what="ready")
    assert len(upstream.app.jobs()) == 1


def test_killed_mid_download_then_restarted_keeps_one_whole_video(upstream, user, start_worker):
    upstream.app.inject("video", Fault(delay=30))
    gen = generation(user, prompt="Kill me mid-download")
    first = start_worker("first")
    wait_for(lambda: state_of(gen) == State.ARCHIVING, what="archiving")
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    start_worker("second")
    wait_for(lambda: state_of(gen) == State.READY, timeout=LEASE + 15, what="ready")
    assert len(upstream.app.jobs()) == 1
    assert media_files() == {gen.video.name, gen.poster.name}


def test_sigterm_stops_the_worker_cleanly_and_a_new_one_carries_on(upstream, user, start_worker):
    upstream.app.queue_seconds = 5  # long enough to stop the worker while the job runs
    gen = generation(user, prompt="Stop politely")
    first = start_worker("first")
    wait_for(lambda: state_of(gen) == State.RUNNING, what="running")
    first.send_signal(signal.SIGTERM)
    assert first.wait(10) == 0
    gen.refresh_from_db()
    assert gen.lease_owner == ""  # released, so the next worker need not wait for the lease
    assert not WorkerHeartbeat.objects.filter(name="first").exists()
    start_worker("second")
    wait_for(lambda: state_of(gen) == State.READY, timeout=20, what="ready")
    assert len(upstream.app.jobs()) == 1
