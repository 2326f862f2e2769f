"""Housekeeping runs on its stated schedule, from the worker loop and as commands."""

from __future__ import annotations

import os
import shutil
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from playground.worker.housekeeping import ORPHANS_FIRST_AFTER, Chore, Housekeeper, schedule
from playground.worker.loop import Worker

DAY = 24 * 3600.0


def stage(media_root: Path, folder: str, *, age: float) -> Path:
    path = media_root / "staging" / folder / "original.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"staged")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_loop(worker: Worker, clock: Clock, *, turns: int, step: float) -> None:
    """Drive the real worker loop for `turns` turns, moving the clock `step` seconds after each."""
    done = 0

    def until() -> bool:
        nonlocal done
        worker.housekeeper.wait()  # each started chore finishes before the clock moves on
        clock.now += step
        done += 1
        return done >= turns

    worker.run(idle_sleep=0.001, until=until)


@pytest.mark.django_db(transaction=True)
def test_the_worker_loop_runs_each_chore_on_its_schedule_not_every_turn(upstream, media_root, settings):
    settings.HOUSEKEEPING_STAGING_EVERY = 3600
    settings.HOUSEKEEPING_ORPHANS_EVERY = DAY
    settings.HOUSEKEEPING_DELIVERIES_EVERY = DAY
    clock = Clock()
    worker = Worker(client=upstream.client(), threads=1, name="hk", housekeeper=Housekeeper(clock=clock))
    stale = stage(media_root, "a" * 32, age=2 * DAY)

    # 300 turns a minute apart: five hours. The sweeps start at once and then hourly: at 0, 1, 2,
    # 3 and 4 hours. The orphan walk first runs ten minutes in, and not again within the day.
    run_loop(worker, clock, turns=300, step=60)
    expected = {"sweepstaging": 5, "sweepfilms": 5, "orphans": 1, "prunedeliveries": 1}
    assert worker.housekeeper.runs == expected
    assert not stale.exists()

    # A frozen clock: however many turns the loop makes, nothing is due again.
    worker.stopping.clear()
    run_loop(worker, clock, turns=200, step=0)
    assert worker.housekeeper.runs == expected
    worker.client.close()


def test_a_chore_is_due_exactly_when_its_interval_has_passed(settings):
    clock = Clock()
    keeper = Housekeeper([Chore("sweepstaging", 3600), Chore("orphans", DAY, first_after=600)], clock=clock)
    assert [c.command for c in keeper.due()] == ["sweepstaging"]
    keeper.run_due()
    keeper.wait()
    clock.now += 599
    assert keeper.due() == []
    clock.now += 1
    assert [c.command for c in keeper.due()] == ["orphans"]
    keeper.run_due()
    keeper.wait()
    clock.now += 3600 - 600 - 1
    assert keeper.due() == []
    clock.now += 1
    assert [c.command for c in keeper.due()] == ["sweepstaging"]


def test_a_chore_set_to_zero_never_runs_from_the_worker(settings):
    settings.HOUSEKEEPING_STAGING_EVERY = 0
    settings.HOUSEKEEPING_ORPHANS_EVERY = 0
    settings.HOUSEKEEPING_DELIVERIES_EVERY = 0
    clock = Clock()
    keeper = Housekeeper(clock=clock)
    clock.now += 10 * DAY
    assert keeper.due() == []


def test_the_stated_schedule_is_hourly_staging_and_daily_orphans_and_deliveries_by_default():
    from playground import settings as defaults

    assert (
        defaults.HOUSEKEEPING_STAGING_EVERY,
        defaults.HOUSEKEEPING_ORPHANS_EVERY,
        defaults.HOUSEKEEPING_DELIVERIES_EVERY,
    ) == (3600, DAY, DAY)
    assert ORPHANS_FIRST_AFTER == 600


@pytest.mark.django_db
def test_a_failing_chore_waits_for_its_next_turn(settings, caplog: Any):
    clock = Clock()
    keeper = Housekeeper([Chore("no-such-command", 3600)], clock=clock)
    keeper.run_due()
    keeper.wait()
    keeper.run_due()
    keeper.wait()
    assert keeper.runs == {"no-such-command": 1}
    assert "Housekeeping chore no-such-command failed" in caplog.text


@pytest.mark.django_db
def test_sweepstaging_deletes_only_staged_pictures_older_than_a_day(media_root):
    old = stage(media_root, "b" * 32, age=DAY + 60)
    new = stage(media_root, "c" * 32, age=DAY - 60)
    out = StringIO()
    call_command("sweepstaging", stdout=out)
    assert (old.exists(), new.exists()) == (False, True)
    assert out.getvalue() == "Deleted 1 staged picture folder.\n"
    call_command("sweepstaging", "--older-than", "0", stdout=out)
    assert not new.exists()


@pytest.mark.django_db
def test_sweepfilms_deletes_only_folders_no_export_is_making(settings):
    from datetime import timedelta

    from django.utils import timezone

    from playground.films.sequences import ExportState, SequenceExport

    def export(state: str, lease_for: float | None) -> SequenceExport:
        until = None if lease_for is None else timezone.now() + timedelta(seconds=lease_for)
        return SequenceExport.objects.create(clip_ids=[1, 2], state=state, lease_owner="w", lease_until=until)

    def folder(name: str) -> Path:
        path = Path(settings.VAR_DIR) / "tmp" / name
        (path / "clip.mp4").parent.mkdir(parents=True)
        (path / "clip.mp4").write_bytes(b"part of a clip")
        return path

    working = folder(f"film-{export(ExportState.WORKING, 30).pk}-k1")
    left = [
        folder(f"film-{export(ExportState.WORKING, -1).pk}-d1"),  # its worker died; the lease ran out
        folder(f"film-{export(ExportState.READY, None).pk}-d2"),  # finished elsewhere meanwhile
        folder(f"film-{export(ExportState.FAILED, None).pk}-d3"),
        folder("film-999999-d4"),  # the export was deleted
    ]
    other = folder("tmpk2")  # not an export's
    out = StringIO()
    call_command("sweepfilms", stdout=out)
    assert [path.exists() for path in left] == [False] * 4
    assert working.exists() and other.exists()
    assert out.getvalue() == "Deleted 4 film folders no export was using.\n"
    shutil.rmtree(working)
    shutil.rmtree(other)


def test_the_default_schedule_names_real_commands():
    from django.core.management import get_commands

    assert {c.command for c in schedule()} <= set(get_commands())
