"""Benchmark 8: what one-click picture fixes cost in memory, one at a time and eight at once.

    .venv/bin/python -m bench.fix_memory [--fixes 8]

The picture is the one from the defects issue: a 24 KB PNG declaring 10190×2540 (26 MP, too wide),
fixed with "Add borders". Each figure is measured in a fresh interpreter: the growth of its peak
resident size (VmHWM, reset through /proc/self/clear_refs) while the work runs, and what it still
holds after (memory not returned). The baseline, in the same run, is decoding that picture once
with Pillow: the "decoded picture" the issue bounds a fix by (≤ ~2× it). Eight fixes at once go
through the process's fixing slots (PICTURE_FIXES_AT_ONCE, 2 by default), so their peak stays near
that of two; the ones that waited too long are counted as "busy".
Writes var/bench/fix_memory.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from PIL import Image

from bench.common import ROOT, save

MB = 1024 * 1024
SIZE = (10190, 2540)

MEASURE = r"""
import io, json, sys, threading
from PIL import Image
from playground.pictures import fixing
from tests.imagecorpus import _proc_status, peak_memory

data = open(sys.argv[1], "rb").read()
mode, count = sys.argv[2], int(sys.argv[3])
warm = io.BytesIO()
Image.new("RGB", (1200, 200), "teal").save(warm, "PNG")
fixing.apply_fix(warm.getvalue(), "borders")  # plugins, caches, first-touch page faults
busy = []


def fix():
    try:
        fixing.apply_fix(data, "borders")
    except fixing.FixerBusy:
        busy.append(1)


before = _proc_status("VmRSS")
with peak_memory(trace_python=False) as peak:
    if mode == "decode":
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            del image
    else:
        threads = [threading.Thread(target=fix) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
after = _proc_status("VmRSS")
print(json.dumps({"rss_growth": peak.rss, "retained": after - before, "busy": len(busy)}))
"""


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", SIZE, (40, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def measure(path: str, mode: str, count: int) -> dict[str, Any]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PICTURE_FIX_WAIT_SECONDS": "60"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, path, mode, str(count)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(fixes: int = 8) -> dict[str, Any]:
    data = picture()
    with tempfile.NamedTemporaryFile(suffix=".png") as file:
        file.write(data)
        file.flush()
        decode = measure(file.name, "decode", 1)
        one = measure(file.name, "fix", 1)
        many = measure(file.name, "fix", fixes)
    decoded = decode["rss_growth"] / MB
    return {
        "picture": f"{SIZE[0]}×{SIZE[1]} PNG, {len(data) / 1024:.0f} KB",
        "decoded_mb": round(decoded, 1),
        "one_fix_peak_mb": round(one["rss_growth"] / MB, 1),
        "one_fix_ratio": round(one["rss_growth"] / MB / decoded, 2),
        "fixes": fixes,
        "concurrent_peak_mb": round(many["rss_growth"] / MB, 1),
        "concurrent_ratio": round(many["rss_growth"] / MB / decoded, 2),
        "concurrent_retained_mb": round(many["retained"] / MB, 1),
        "busy": many["busy"],
        "met": one["rss_growth"] <= 2.2 * decode["rss_growth"]
        and many["rss_growth"] <= 2 * 2.2 * decode["rss_growth"]
        and many["retained"] <= decode["rss_growth"] / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixes", type=int, default=8)
    result = run(parser.parse_args().fixes)
    save("fix_memory", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
