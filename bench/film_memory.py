"""Benchmark 8: memory of exporting a sequence as one film, 3 clips against 30.

    .venv/bin/python -m bench.film_memory [--clips 30]

Each figure comes from a fresh interpreter that writes real H.264 clips (640×360, 1 s, made
with PyAV like the demo renders), stitches two of them once to warm up PyAV's codecs, then
measures stitching.stitch over all of them: the growth of the peak resident size (VmHWM, reset
before the run) and the peak of Python's own allocations. The baseline is the same measurement
for 3 clips; "flat in the number of clips" means a ratio near 1 although the film is 10× longer.
The interpreters run with glibc's mmap threshold fixed (ALLOCATOR below): by default it moves up
after the warm-up frees its buffers, so the measured run sometimes reused memory the warm-up had
kept and sometimes not, and the same 3-clip film measured anywhere from +6 to +22 MB (2026-12-06:
+5.9, +6.1, +9.2 MB in a row, then +19.5 and +21.5 MB), which made a flat film look like a miss
(2.24, then 2.85). Fixed, three runs each: 3 clips +21.5 to +22.1 MB, 30 clips +23.4 to +23.9 MB,
90 clips +24.4 MB. Each count is still measured in three fresh interpreters and the median taken.
Both ways are measured: stream copy (every clip alike) and re-encode (clips of two sizes), each
also with sound: two clips in three carry an AAC tone of their own, the third none, so the
film's track is decoded, cut and padded with silence clip by clip.
Writes var/bench/film_memory.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from bench.common import django_script, environment, save

MB = 1024 * 1024

MEASURE = r"""
import json, sys
from pathlib import Path
from playground.films import stitching
from tests.clips import write_clip
from tests.imagecorpus import peak_memory

count, mixed, folder = int(sys.argv[1]), sys.argv[2] == "mixed", Path(sys.argv[3])
sound = sys.argv[4] == "sound"
sizes = [(640, 360), (320, 180)] if mixed else [(640, 360)]
tones = [300.0 + 20 * (i % 40) if sound and i % 3 != 2 else None for i in range(count)]
clips = [
    write_clip(folder / f"c{i}.mp4", size=sizes[i % len(sizes)], frames=24, seed=i, tone_hz=tones[i])
    for i in range(count)
]
stitching.stitch(2, lambda i: clips[i], folder / "warm.mp4")
with peak_memory() as peak:
    method = stitching.stitch(count, lambda i: clips[i], folder / "film.mp4")
print(json.dumps({"method": method, "rss": peak.rss, "python": peak.python,
                  "bytes": (folder / "film.mp4").stat().st_size}))
"""


# Large blocks always mapped and unmapped on their own, never kept in the heap for a later run to
# reuse: the peak then measures what the film needs, not what the warm-up happened to leave behind.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def measure(count: int, mixed: bool, sound: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-film-") as var_dir:
        env = environment(f"sqlite:///{var_dir}/bench.sqlite3", var_dir) | ALLOCATOR
        result: dict[str, Any] = django_script(
            env, MEASURE, str(count), "mixed" if mixed else "same", var_dir, "sound" if sound else "silent"
        )
        return result


WAYS = (
    ("copy", False, False),
    ("re-encode", True, False),
    ("copy with sound", False, True),
    ("re-encode with sound", True, True),
)


SAMPLES = 3


def median_of(count: int, mixed: bool, sound: bool) -> dict[str, Any]:
    """The sample whose peak resident growth is the median of SAMPLES fresh interpreters'."""
    samples = sorted((measure(count, mixed, sound) for _ in range(SAMPLES)), key=lambda r: r["rss"])
    middle = dict(samples[len(samples) // 2])
    middle["rss_samples_mb"] = [round(r["rss"] / MB, 2) for r in samples]
    return middle


def run(clips: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, mixed, sound in WAYS:
        small, large = median_of(3, mixed, sound), median_of(clips, mixed, sound)
        assert small["method"] == large["method"] == label.removesuffix(" with sound"), (small, large)
        baseline = max(small["rss"] / MB, 0.5)  # below half a megabyte the ratio is noise
        out[label] = {
            "clips": clips,
            "rss_growth_mb": round(large["rss"] / MB, 2),
            "python_peak_mb": round(large["python"] / MB, 2),
            "film_mb": round(large["bytes"] / MB, 2),
            "baseline_clips": 3,
            "baseline_rss_growth_mb": round(small["rss"] / MB, 2),
            "baseline_python_peak_mb": round(small["python"] / MB, 2),
            "ratio": round((large["rss"] / MB) / baseline, 2),
            "rss_samples_mb": large["rss_samples_mb"],
            "baseline_rss_samples_mb": small["rss_samples_mb"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=30)
    args = parser.parse_args()
    result = run(args.clips)
    save("film_memory", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
