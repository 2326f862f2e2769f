"""Benchmark 5: what archiving a 200 MB video costs in memory.

    .venv/bin/python -m bench.archive_memory [--megabytes 200]

The stand-in (on loopback, in this process) finishes a job and renders its real MP4; the file is
then padded to the size asked for with an MP4 "free" box, which players and PyAV skip, so it is
still a valid, playable video. A fresh interpreter downloads, checks and stores it with
archive.fetch_and_store, exactly as the worker does. Memory is the growth of the peak resident
size (VmHWM, reset through /proc/self/clear_refs before each run) over the size before, beside
the peak of Python's own allocations (tracemalloc). The baseline is the same measurement, in the
same process, for the unpadded video of about a megabyte: flat memory means a ratio near 1.
Writes var/bench/archive_memory.json.
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import django_script, environment, save
from playground.upstream.aimlapi import Client
from playground.upstream.demo.server import serve
from playground.upstream.demo.upstream import StandIn

API_KEY = "bench-archive-key"
MB = 1024 * 1024

MEASURE = r"""
import json, sys
from playground.worker import archive
from playground.upstream.aimlapi import Client
from tests.imagecorpus import peak_memory

client = Client(sys.argv[1], "unused", timeout=60)
results = {}
archive.fetch_and_store(client, sys.argv[2])  # warm-up: PyAV's codecs, httpx, storage
for name, url in (("small", sys.argv[2]), ("large", sys.argv[3])):
    with peak_memory() as peak:
        stored = archive.fetch_and_store(client, url)
    results[name] = {"bytes": stored.size, "rss_growth": peak.rss, "python_peak": peak.python}
print(json.dumps(results))
"""


def pad_mp4(path: Path, size: int) -> None:
    """Grow a real MP4 to `size` bytes with a trailing free box (a box players skip)."""
    current = path.stat().st_size
    extra = size - current
    if extra < 8:
        return
    with path.open("ab") as f:
        f.write(struct.pack(">I4s", extra, b"free"))
        chunk = bytes(MB)
        left = extra - 8
        while left > 0:
            f.write(chunk[: min(MB, left)])
            left -= MB


def completed_link(app: StandIn, client: Client) -> tuple[str, str]:
    accepted = client.create(
        model="video-01",
        prompt="A koi pond at dawn",
        enhance=False,
        first_frame=None,
        client_request_id="bench-archive",
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        progress = client.poll(model="video-01", upstream_id=accepted.upstream_id)
        if progress.state == "completed" and progress.video_url:
            return accepted.upstream_id, progress.video_url
        time.sleep(0.1)
    raise SystemExit("the stand-in did not finish the job")


def run(megabytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as var_dir:
        app = StandIn(Path(var_dir) / "upstream", queue_seconds=0.0, generate_seconds=0.1)
        with serve(app) as server, Client(server.url, API_KEY, timeout=60) as client:
            _, small_url = completed_link(app, client)
            _, large_url = completed_link(app, client)
            token = Path(large_url.split("?")[0]).stem
            pad_mp4(Path(var_dir) / "upstream" / "videos" / f"{token}.mp4", megabytes * MB)
            env = environment(f"sqlite:///{var_dir}/bench.sqlite3", var_dir)
            measured = django_script(env, MEASURE, server.url, small_url, large_url)
    small, large = measured["small"], measured["large"]
    growth = large["rss_growth"] / MB
    baseline = max(small["rss_growth"] / MB, 0.01)
    return {
        "video_mb": round(large["bytes"] / MB, 1),
        "baseline_video_mb": round(small["bytes"] / MB, 3),
        "rss_growth_mb": round(growth, 2),
        "baseline_rss_growth_mb": round(small["rss_growth"] / MB, 2),
        "python_peak_mb": round(large["python_peak"] / MB, 2),
        "baseline_python_peak_mb": round(small["python_peak"] / MB, 2),
        "ratio": round(growth / baseline, 2),
        "met": growth <= 20 and large["bytes"] >= megabytes * MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    result = run(args.megabytes)
    save("archive_memory", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
