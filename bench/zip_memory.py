"""Benchmark 8: what a zip download of many videos costs in memory.

    .venv/bin/python -m bench.zip_memory [--videos 200] [--megabytes 5]

A fresh interpreter with production settings makes a SQLite database and `videos` ready videos
of `megabytes` each (hard links of one file, so 1 GB of videos takes 5 MB of disk and the page
cache; the app opens each as its own file). A signed-in test client then posts the select bar's
"Download as zip" for all of them and reads the streamed answer to the end, throwing the bytes
away as a browser's download would write them. Memory is the growth of the peak resident size
(VmHWM, reset before each run) over the size before. The baseline is the same measurement in
the same process for the same 200 videos zipped whole in memory (what a plain HttpResponse of
zipfile's output costs); a zip of one video streamed is shown beside it.
Writes var/bench/zip_memory.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from bench.common import django_script, environment, save

MB = 1024 * 1024

MEASURE = r"""
import json, os, sys, time, zipfile, io
from pathlib import Path
from django.core.management import call_command
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client
from playground.generations.models import Generation
from tests.imagecorpus import peak_memory

videos, size = int(sys.argv[1]), int(sys.argv[2])
call_command("migrate", verbosity=0)
user = get_user_model().objects.create_user("bench", password="x")
root = Path(default_storage.location) / "videos"
root.mkdir(parents=True, exist_ok=True)
first = root / "0.mp4"
with first.open("wb") as f:
    chunk = os.urandom(1024 * 1024)
    for _ in range(size // len(chunk)):
        f.write(chunk)
for i in range(1, videos):
    os.link(first, root / f"{i}.mp4")
rows = [
    Generation(created_by=user, model="video-01", prompt=f"Clip number {i} of the benchmark",
               state="ready", video=f"videos/{i}.mp4", video_size=size)
    for i in range(videos)
]
Generation.objects.bulk_create(rows)
ids = list(Generation.objects.values_list("pk", flat=True))
client = Client()
client.force_login(user)

def download(pks):
    started = time.perf_counter()
    response = client.post("/bulk/zip/", {"ids": pks})
    assert response.status_code == 200, response.status_code
    sent = 0
    head = b""
    for piece in response.streaming_content:
        if len(head) < 4:
            head += piece[:4]
        sent += len(piece)
    response.close()
    assert head[:4] == b"PK\x03\x04" and sent == int(response["Content-Length"])
    return sent, time.perf_counter() - started

download(ids[:1])  # warm-up: templates, zipstream, the session
results = {}
for name, pks in (("one", ids[:1]), ("many", ids)):
    with peak_memory(trace_python=False) as peak:
        sent, seconds = download(pks)
    results[name] = {"videos": len(pks), "bytes": sent, "seconds": seconds, "rss_growth": peak.rss}

# What "flat" is measured against: the same archive built whole in memory before sending,
# which is what a view returning zipfile's output in an HttpResponse would do.
with peak_memory(trace_python=False) as peak:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for gen in Generation.objects.all():
            archive.write(Path(default_storage.path(gen.video.name)), gen.download_name + str(gen.pk))
    whole = buffer.getbuffer().nbytes
    del buffer
results["in_memory"] = {"bytes": whole, "rss_growth": peak.rss}
print(json.dumps(results))
"""


def run(videos: int, megabytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as var_dir:
        env = environment(f"sqlite:///{var_dir}/bench.sqlite3", var_dir)
        measured = django_script(env, MEASURE, str(videos), str(megabytes * MB))
    one, many, whole = measured["one"], measured["many"], measured["in_memory"]
    growth = many["rss_growth"] / MB
    baseline = whole["rss_growth"] / MB
    return {
        "videos": many["videos"],
        "zip_mb": round(many["bytes"] / MB, 1),
        "one_video_zip_mb": round(one["bytes"] / MB, 1),
        "rss_growth_mb": round(growth, 2),
        "one_video_rss_growth_mb": round(one["rss_growth"] / MB, 2),
        "baseline_rss_growth_mb": round(baseline, 1),
        "mb_per_second": round(many["bytes"] / MB / many["seconds"], 0),
        "ratio": round(growth / baseline, 4),
        "met": growth <= 20 and many["bytes"] >= videos * megabytes * MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=5)
    args = parser.parse_args()
    result = run(args.videos, args.megabytes)
    save("zip_memory", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
