"""Benchmark 16: what checking the largest allowed reference video and voice sample costs in memory.

    .venv/bin/python -m bench.reference_probe

A real 15-second MP4 (640×360, 24 fps) is padded with an MP4 "free" box (which PyAV skips) to
just under the 10 MB a reference video may be, and a 30-second WAV voice sample (the longest
allowed) is made. A fresh interpreter reads each file and runs lib/mediaprobe's check on it, as
the Generate form does, and reports the growth of its peak resident size (VmHWM, reset before
each run) beside the same measurement for a one-second video and voice sample. The ratio is the
growth over the file's own size (the bytes a check must hold): near 1 means the probe adds little
beyond them. The target is the issue's: the largest allowed video within about 30 MB of RSS. Writes
var/bench/reference_probe.json.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.archive_memory import pad_mp4
from bench.common import django_script, environment, save
from playground.lib import mediaprobe
from tests.media_samples import sound, video

MB = 1024 * 1024

MEASURE = r"""
import json, sys
from pathlib import Path
from playground.lib import mediaprobe
from tests.imagecorpus import peak_memory

small_video, large_video, small_sound, large_sound = sys.argv[1:5]
mediaprobe.check_video(Path(small_video).read_bytes())  # warm-up: PyAV's codecs
mediaprobe.check_audio(Path(small_sound).read_bytes())
results = {}
for name, path, check in (
    ("small_video", small_video, mediaprobe.check_video),
    ("large_video", large_video, mediaprobe.check_video),
    ("small_sound", small_sound, mediaprobe.check_audio),
    ("large_sound", large_sound, mediaprobe.check_audio),
):
    with peak_memory() as peak:
        checked = check(Path(path).read_bytes())
    results[name] = {"bytes": len(checked.data), "seconds": checked.seconds, "rss_growth": peak.rss}
print(json.dumps(results))
"""


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as var_dir:
        folder = Path(var_dir)
        small_video, large_video = folder / "small.mp4", folder / "large.mp4"
        small_video.write_bytes(video(1, size=(640, 360), fps=24))
        large_video.write_bytes(video(mediaprobe.VIDEO_MAX_SECONDS, size=(640, 360), fps=24))
        pad_mp4(large_video, mediaprobe.VIDEO_MAX_BYTES - 1024)
        small_sound, large_sound = folder / "small.wav", folder / "large.wav"
        small_sound.write_bytes(sound(1))
        large_sound.write_bytes(sound(mediaprobe.AUDIO_MAX_SECONDS))
        env = environment(f"sqlite:///{var_dir}/bench.sqlite3", var_dir)
        files = [str(p) for p in (small_video, large_video, small_sound, large_sound)]
        measured = django_script(env, MEASURE, *files)
    large, small = measured["large_video"], measured["small_video"]
    growth = large["rss_growth"] / MB
    sound_growth = measured["large_sound"]["rss_growth"] / MB
    return {
        "video_mb": round(large["bytes"] / MB, 2),
        "video_seconds": round(large["seconds"], 1),
        "rss_growth_mb": round(growth, 1),
        "baseline_rss_growth_mb": round(small["rss_growth"] / MB, 1),
        "ratio": round(growth / (large["bytes"] / MB), 2),
        "sound_mb": round(measured["large_sound"]["bytes"] / MB, 2),
        "sound_rss_growth_mb": round(sound_growth, 1),
        "baseline_sound_rss_growth_mb": round(measured["small_sound"]["rss_growth"] / MB, 1),
        "met": growth <= 30 and sound_growth <= 30,
    }


def main() -> None:
    result = run()
    save("reference_probe", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
