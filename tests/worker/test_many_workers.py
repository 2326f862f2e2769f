"""Several worker processes on one database: every job runs once, by one worker at a time, to the end."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from playground.generations.models import Generation, State

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JOBS = 104


@pytest.mark.parametrize("workers", [2, 4])
def test_many_workers_share_the_jobs_without_doubling_any(
    workers: int, upstream: Any, user: Any, start_worker: Callable[..., subprocess.Popen[bytes]]
):
    Generation.objects.bulk_create(
        Generation(created_by=user, model="video-01", prompt=f"Crowd job {i}") for i in range(JOBS)
    )
    procs = [start_worker(f"w{workers}-{i}", threads=3) for i in range(workers)]
    deadline = time.monotonic() + 150
    while Generation.objects.active().exists() and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a worker died"
        time.sleep(0.25)

    states = dict(Generation.objects.values_list("prompt", "state"))
    assert set(states.values()) == {State.READY}, [p for p, s in states.items() if s != State.READY][:5]

    calls = upstream.app.calls
    creates: dict[str, int] = defaultdict(int)
    for call in calls:
        if call.endpoint == "create":
            creates[call.prompt] += 1
    assert creates == {f"Crowd job {i}": 1 for i in range(JOBS)}  # exactly one paid job each

    # One job's upstream calls never overlap in time: no two workers held it at once.
    by_job: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for call in calls:
        if call.endpoint in {"create", "poll", "video"} and call.prompt:
            by_job[call.prompt].append((call.started, call.when))
    for prompt, spans in by_job.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - 0.001, f"{prompt} was handled twice at once"
    assert len({g.upstream_id for g in Generation.objects.all()}) == JOBS
    # And the work was shared: every worker took some steps (from the workers' own logs).
    for i in range(workers):
        log = (Path(settings.VAR_DIR) / f"worker-w{workers}-{i}.log").read_text()
        assert "accepted upstream" in log or "is ready" in log, f"worker {i} of {workers} did nothing"
