"""Benchmark 6: one worker tracking 500 in-flight generations against the stand-in.

    .venv/bin/python -m bench.worker_capacity [--jobs 500] [--seconds 40] [--database-url URL]

The stand-in runs on loopback in this process with jobs that never finish in the window; 500
running generations point at them, their first polls spread over one interval. One
`manage.py worker` process (default WORKER_THREADS) then polls them for a fixed time. Every poll
the stand-in answers is recorded with the moment it arrived, so the interval between two polls
of one job is measured where it matters, at the upstream. The baseline is the setting itself
(POLL_INTERVAL); the first interval of each job is left out (it depends on where its first poll
was placed). Writes var/bench/worker_capacity.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import ROOT, environment, fresh_database, manage, median, percentile, save
from playground.upstream.aimlapi import Client
from playground.upstream.demo.server import serve
from playground.upstream.demo.upstream import StandIn

API_KEY = "bench-worker-key"
POLL_INTERVAL = 2.0

ROWS = r"""
import django
django.setup()
import json, sys
from datetime import timedelta
from django.utils import timezone
from django.contrib.auth import get_user_model
from playground.generations.models import Generation, State
ids = json.load(open(sys.argv[1]))
interval = float(sys.argv[2])
user = get_user_model().objects.create_user("bench-worker")
now = timezone.now()
Generation.objects.bulk_create(
    Generation(
        created_by=user, model="video-01", prompt=f"Bench job {i}", state=State.RUNNING,
        upstream_id=upstream_id, upstream_status="generating", submitted_at=now, create_sent_at=now,
        next_attempt_at=now + timedelta(seconds=interval * i / len(ids)),
    )
    for i, upstream_id in enumerate(ids)
)
print(json.dumps(Generation.objects.filter(state=State.RUNNING).count()))
"""


class RecordingStandIn(StandIn):
    """The stand-in, keeping every poll's arrival time (its own record is bounded)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls: list[tuple[str, float]] = []
        self._polls_lock = threading.Lock()

    def _record(
        self, endpoint: str | None, method: str, path: str, query: dict[str, str], *rest: Any
    ) -> None:
        super()._record(endpoint, method, path, query, *rest)
        if endpoint == "poll":
            with self._polls_lock:
                self.polls.append((query.get("generation_id", ""), rest[-1]))


def run(jobs: int, seconds: float, database_url: str, threads: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as var_dir:
        app = RecordingStandIn(
            Path(var_dir) / "upstream", queue_seconds=0.0, generate_seconds=24 * 3600, video_long_side=160
        )
        with serve(app) as server:
            with Client(server.url, API_KEY, timeout=10) as client:
                ids = [
                    client.create(
                        model="video-01",
                        prompt=f"Bench job {i}",
                        enhance=False,
                        first_frame=None,
                        client_request_id=f"bench-{i}",
                    )
                    for i in range(jobs)
                ]
            extra = {
                "AIMLAPI_KEY": API_KEY,
                "AIMLAPI_BASE_URL": server.url,
                "POLL_INTERVAL": str(POLL_INTERVAL),
                "LOG_LEVEL": "WARNING",
            }
            if threads:
                extra["WORKER_THREADS"] = str(threads)
            env = environment(fresh_database(database_url, var_dir), var_dir, **extra)
            manage(env, "migrate", "--noinput")
            id_file = Path(var_dir) / "ids.json"
            id_file.write_text(json.dumps([accepted.upstream_id for accepted in ids]))
            subprocess.run(
                [sys.executable, "-c", ROWS, str(id_file), str(POLL_INTERVAL)],
                cwd=ROOT,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            app.clear_calls()
            started = time.time()
            worker = subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT, env=env)
            time.sleep(seconds)
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            ended = time.time()
            polls = list(app.polls)
    per_job: dict[str, list[float]] = defaultdict(list)
    for upstream_id, when in polls:
        per_job[upstream_id].append(when)
    intervals: list[float] = []
    job_means: list[float] = []
    for times in per_job.values():
        times.sort()
        gaps = [b - a for a, b in itertools.pairwise(times[1:])]
        intervals += gaps
        if gaps:
            job_means.append(sum(gaps) / len(gaps))
    window = ended - started
    p95 = percentile(intervals, 0.95)
    worst_job = max(job_means) if job_means else float("nan")
    return {
        "jobs": jobs,
        "jobs_polled": len(per_job),
        "window_seconds": round(window, 1),
        "poll_interval_setting": POLL_INTERVAL,
        "worker_threads": threads or "default",
        "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
        "polls": len(polls),
        "polls_per_job": round(len(polls) / jobs, 2),
        "polls_per_job_per_minute": round(len(polls) / jobs / window * 60, 2),
        "ideal_polls_per_job_per_minute": round(60 / POLL_INTERVAL, 2),
        "interval_mean": round(sum(intervals) / len(intervals), 3) if intervals else None,
        "interval_median": round(median(intervals), 3),
        "interval_p95": round(p95, 3),
        "interval_max": round(max(intervals), 3) if intervals else None,
        "worst_job_mean": round(worst_job, 3),
        "ratio_p95": round(p95 / POLL_INTERVAL, 3),
        "ratio_worst_job_mean": round(worst_job / POLL_INTERVAL, 3),
        "met": len(per_job) == jobs and p95 <= 1.2 * POLL_INTERVAL,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", type=int, default=None, help="WORKER_THREADS (default: the app's)")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run(args.jobs, args.seconds, args.database_url, args.threads)
    save("worker_capacity", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
