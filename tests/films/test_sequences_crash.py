"""A film export whose worker process is killed mid-way: taken over promptly, no folder left behind."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from playground.films import sequences
from playground.films.sequences import ExportState, SequenceExport
from tests.clips import ready_generation, write_clip

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE = 2.0  # EXPORT_LEASE for these workers, in seconds
OLD_LEASE = 300.0  # what a film's lease used to be, renewed only as each clip was done


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def folders() -> set[Path]:
    root = Path(settings.VAR_DIR) / "tmp"
    return {path for path in root.iterdir() if path.is_dir()} if root.is_dir() else set()


def row(job: SequenceExport) -> SequenceExport:
    job.refresh_from_db()
    return job


def test_a_film_whose_worker_is_killed_is_taken_over_and_its_folder_removed(
    user: Any, tmp_path: Path, start_worker: Any
):
    # Clips of two sizes, so every one is re-encoded: long enough to kill the worker mid-film.
    big = write_clip(tmp_path / "big.mp4", size=(640, 360), frames=48)
    small = write_clip(tmp_path / "small.mp4", size=(320, 180), frames=48, seed=1)
    clips = [ready_generation(user, big if i % 2 == 0 else small, prompt=f"Shot {i + 1}") for i in range(24)]
    job = sequences.start_export(clips, user)
    before = folders()

    first = start_worker("first", EXPORT_LEASE=str(LEASE))
    wait_for(lambda: row(job).progress > 0, timeout=60, what="the first worker to put a clip in")
    [scratch] = folders() - before
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    killed_at = timezone.now()
    assert (row(job).state, job.lease_owner) == (ExportState.WORKING, "first")
    assert job.progress < 1
    # The dead worker's lease had been renewed to at most one EXPORT_LEASE ahead, so it runs out
    # in seconds.
    assert job.lease_until is not None and job.lease_until <= killed_at + timedelta(seconds=LEASE)

    # No housekeeping in the second worker: the takeover itself removes the dead worker's folder.
    start_worker("second", EXPORT_LEASE=str(LEASE), HOUSEKEEPING_STAGING_EVERY="0")
    # A behaviour bound, not a speed target: taken over long before the old lease would have let it.
    wait_for(
        lambda: row(job).lease_owner == "second" or job.state == ExportState.READY,
        timeout=OLD_LEASE / 5,
        what="another worker to take the film over",
    )
    wait_for(lambda: not scratch.exists(), timeout=30, what="the dead worker's folder to go")
    wait_for(lambda: row(job).state != ExportState.WORKING, timeout=180, what="the film to be made")
    assert job.state == ExportState.READY, job.failure_reason
    assert job.duration == pytest.approx(24 * 2.0, abs=0.5)
    assert folders() == before  # the second worker's own folder went too
