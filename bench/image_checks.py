"""Benchmarks 3 and 4 of the hardening issue: what checking a first frame costs, and a 1 GB upload.

    .venv/bin/python -m bench.image_checks

Prints a Markdown table and writes var/bench/image_checks.json. Machines are noisy, so every
time is shown beside a baseline measured in the same run on the same bytes: SHA-256 of the file,
which every accepted picture pays anyway (CheckedImage.sha256) and which no whole-file check can
beat by much. Times are the median of several runs after a warm-up. Memory is the growth of the
peak resident size during one check in a fresh interpreter (it sees libjpeg and zlib too; in this
process, which built the inputs, freed buffers would be reused unseen), beside the peak of
Python's own allocations (tracemalloc).

Targets: a 20 MB PNG and a 20 MB JPEG near the pixel cap in at most 100 ms and 30 MB each; a 1 GB
upload refused after reading at most ~21 MB, with flat memory.

The one-click fixes' cheap paths are timed here too, each beside its own same-run baseline (the
tests show them without a clock: the walk stops at the part past MAX_PARTS, the preview's JPEG
is decoded at 1/8 scale): a preview of a 32-megapixel photo-like JPEG against decoding that JPEG
whole, and refusing files of 100,000 empty parts against fixing an ordinary 1000×200 picture.
Neither has a target yet: the first is bounded by reading every compressed byte (1/8 scale saves
the pixels, not the entropy decoding), the second by MAX_PARTS, not by the file.
`--fixes` runs only these (written to var/bench/image_fixes.json).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import PIL
from PIL import Image, ImageFilter, features

from bench import common
from bench.common import Timed
from playground.pictures import MAX_BYTES, ImageRejected, check_image
from tests import imagecorpus as corpus
from tests.imagefiles import image_bytes

RUNS = 7
MB = 1024 * 1024
OUTPUT = Path(__file__).resolve().parent.parent / "var" / "bench" / "image_checks.json"


@dataclass
class Row:
    case: str
    file_mb: float
    megapixels: float
    verdict: str
    time_ms: float  # median
    fastest_ms: float
    baseline_ms: float  # SHA-256 of the same bytes, median
    ratio: float
    rss_growth_mb: float | None
    python_peak_mb: float
    target: str  # "met", "missed" or "" where the issue sets none


def median_ms(work: Callable[[], object]) -> tuple[float, float]:
    """(median, fastest) in ms of RUNS timings after a warm-up."""
    return common.median_ms(work, RUNS)


def verdict(data: bytes) -> str:
    try:
        checked = check_image(data)
    except ImageRejected as exc:
        return "refused: " + exc.messages[0]
    return f"accepted {checked.width}×{checked.height}"


def measure(case: str, data: bytes, megapixels: float, *, targeted: bool) -> Row:
    def check() -> None:
        with contextlib.suppress(ImageRejected):
            check_image(data)

    time_ms, fastest_ms = median_ms(check)
    baseline_ms, _ = median_ms(lambda: hashlib.sha256(data).digest())
    with corpus.peak_memory() as peak:
        check()
    growth = corpus.rss_growth_of_check(data)
    rss = None if growth is None else growth / MB
    met = time_ms <= 100 and max(rss or 0, peak.python / MB) <= 30
    return Row(
        case=case,
        file_mb=len(data) / MB,
        megapixels=megapixels,
        verdict=verdict(data),
        time_ms=time_ms,
        fastest_ms=fastest_ms,
        baseline_ms=baseline_ms,
        ratio=time_ms / baseline_ms,
        rss_growth_mb=rss,
        python_peak_mb=peak.python / MB,
        target=("met" if met else "missed") if targeted else "",
    )


# --- Inputs ------------------------------------------------------------------------------------


def photo_like(width: int, height: int) -> Image.Image:
    """Gradients under grain: compresses about as badly as a sharp, noisy photo (seeded)."""
    grain = Image.frombytes("L", (width, height), random.Random(1).randbytes(width * height))  # noqa: S311
    ramp = Image.linear_gradient("L").resize((width, height))
    red = Image.blend(ramp, grain, 0.5)
    green = Image.blend(ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grain, 0.5)
    return Image.merge("RGB", (red, green, grain.filter(ImageFilter.BoxBlur(1))))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def largest_under(limit: int, make: Callable[[int], bytes], settings: range) -> bytes:
    """The largest encoding under `limit` bytes among increasing quality settings."""
    best = b""
    for setting in settings:
        data = make(setting)
        if len(data) > limit:
            break
        best = data
    return best


def image_cases() -> list[tuple[str, bytes, float, bool]]:
    width, height = corpus.near_cap()
    megapixels = width * height / 1e6
    photo = photo_like(width, height)
    smooth = photo.resize((width // 8, height // 8)).resize((width, height), Image.Resampling.BILINEAR)
    jpeg = largest_under(MAX_BYTES, lambda q: encode(photo, "JPEG", quality=q), range(90, 100))
    png = largest_under(MAX_BYTES, lambda k: encode(Image.blend(smooth, photo, k / 100), "PNG"), range(2, 10))
    # As many restart markers as fit in 20 MB: CMYK 4:4:4 progressive, one after every block.
    hostile_size = (5600, 4300)
    grain = Image.frombytes("L", hostile_size, random.Random(2).randbytes(5600 * 4300)).point(  # noqa: S311
        lambda v: 100 + v // 16
    )
    dense_restarts = encode(
        Image.merge("CMYK", (grain,) * 4),
        "JPEG",
        progressive=True,
        subsampling=0,
        restart_marker_blocks=1,
        quality=10,
    )
    restarts = sum(dense_restarts.count(bytes((0xFF, marker))) for marker in range(0xD0, 0xD8))
    return [
        (
            f"JPEG baseline {width}×{height}, padded to 20 MB",
            corpus.pad_jpeg(jpeg, MAX_BYTES),
            megapixels,
            True,
        ),
        (
            f"JPEG progressive 4:2:0 {width}×{height}",
            largest_under(
                MAX_BYTES, lambda q: encode(photo, "JPEG", quality=q, progressive=True), range(88, 100)
            ),
            megapixels,
            True,
        ),
        (
            f"JPEG progressive 4:4:4 {width}×{height}",
            largest_under(
                MAX_BYTES,
                lambda q: encode(photo, "JPEG", quality=q, progressive=True, subsampling=0),
                range(80, 100),
            ),
            megapixels,
            True,
        ),
        (f"PNG 8-bit RGB {width}×{height}, photo-like", png, megapixels, True),
        (
            f"PNG 16-bit RGBA {width}×{height} (208 MB of rows)",
            corpus.raw_png(width, height, color_type=6, depth=16),
            megapixels,
            False,
        ),
        (
            f"JPEG with {restarts:,} restart markers 5600×4300 (hostile)",
            dense_restarts,
            5600 * 4300 / 1e6,
            False,
        ),
    ]


# --- A 1 GB upload -----------------------------------------------------------------------------

UPLOAD_FIELDS = {"submission_token": "x", "model": "video-01-live2d", "prompt": "A fox"}


def refuse_upload() -> int:
    """Post a lazily made 1 GB upload through the project's upload handlers; the bytes read."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIRequest

    from playground.pictures import uploads

    body = corpus.LazyMultipart(UPLOAD_FIELDS, size=1024**3)
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/generate/",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "CONTENT_TYPE": f"multipart/form-data; boundary={body.boundary}",
            "CONTENT_LENGTH": str(body.length),
            "wsgi.input": body,
            "wsgi.url_scheme": "http",
        }
    )
    request.POST  # noqa: B018 - the multipart parser, as the Generate view runs it
    if not uploads.too_large(request):
        raise AssertionError("the upload was not stopped")
    return body.consumed


def upload_row() -> Row:
    read = refuse_upload()
    time_ms, fastest_ms = median_ms(refuse_upload)
    same_bytes = bytes(read)
    baseline_ms, _ = median_ms(lambda: hashlib.sha256(same_bytes).digest())
    with corpus.peak_memory() as peak:
        refuse_upload()
    answer = subprocess.run(
        [sys.executable, "-m", "bench.image_checks", "--rss-of-upload"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rss = None if answer == "n/a" else int(answer) / MB
    return Row(
        case=f"1 GB upload, lazily generated: {read:,} bytes read ({read / MB:.2f} MB)",
        file_mb=1024.0,
        megapixels=0.0,
        verdict="refused: too large",
        time_ms=time_ms,
        fastest_ms=fastest_ms,
        baseline_ms=baseline_ms,
        ratio=time_ms / baseline_ms,
        rss_growth_mb=rss,
        python_peak_mb=peak.python / MB,
        target="met" if read <= 21 * MB and max(rss or 0, peak.python / MB) <= 30 else "missed",
    )


def rss_of_upload() -> str:
    refuse_upload()  # warm-up: Django's imports and the first request's caches
    with corpus.peak_memory(trace_python=False) as peak:
        refuse_upload()
    return "n/a" if peak.rss is None else str(peak.rss)


# --- The one-click fixes' cheap paths ----------------------------------------------------------


def fix_rows() -> list[Timed]:
    from playground.pictures import fixing  # reads Django's settings (the fixing slots)

    def refusing(data: bytes) -> Callable[[], None]:
        def work() -> None:
            with contextlib.suppress(ImageRejected):
                fixing.apply_fix(data, "crop")

        return work

    wide_png, wide_jpeg = image_bytes(1000, 200), image_bytes(1000, 200, "JPEG")
    chunks = corpus.png_chunks(wide_png)
    png_parts = corpus.build_png([chunks[0], *[(b"tiNy", b"")] * 100_000, *chunks[1:]])
    jpeg_parts = corpus.insert_segments(wide_jpeg, *[corpus.jpeg_segment(0xFE, b"")] * 100_000)
    ordinary_ms, _ = median_ms(lambda: fixing.apply_fix(wide_png, "crop"))
    rows = []
    for kind, data in (("PNG", png_parts), ("JPEG", jpeg_parts)):
        time_ms, fastest_ms = median_ms(refusing(data))
        rows.append(
            Timed(
                case=f"Fix refuses a {kind} of 100,000 empty parts ({len(data) / MB:.1f} MB)",
                time_ms=time_ms,
                fastest_ms=fastest_ms,
                baseline="fixing an ordinary 1000×200 PNG (Crop to fit)",
                baseline_ms=ordinary_ms,
            )
        )

    big = encode(photo_like(8000, 4000), "JPEG", quality=90)  # detail everywhere, as in a photo

    def decode_whole() -> None:
        with Image.open(io.BytesIO(big)) as image:
            image.load()

    time_ms, fastest_ms = median_ms(lambda: fixing.preview(big))
    whole_ms, _ = median_ms(decode_whole)
    rows.append(
        Timed(
            case=f"Preview of an 8000×4000 photo-like JPEG ({len(big) / MB:.1f} MB, 480 px long)",
            time_ms=time_ms,
            fastest_ms=fastest_ms,
            baseline="decoding the same JPEG whole with Pillow",
            baseline_ms=whole_ms,
        )
    )
    return rows


def fix_markdown(rows: list[Timed]) -> str:
    lines = [
        "| Case | ms (median / fastest) | Baseline | Baseline ms | Ratio | Target |",
        "|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.case} | {row.time_ms:.0f} / {row.fastest_ms:.0f} | {row.baseline} "
            f"| {row.baseline_ms:.0f} | {row.ratio:.2f} | {row.target or '—'} {row.result} |"
        )
    return "\n".join(lines)


# --- Report ------------------------------------------------------------------------------------


def markdown(rows: list[Row]) -> str:
    lines = [
        "| Case | File MB | MP | Verdict | Check ms (median / fastest) | SHA-256 ms | Ratio "
        "| Peak RSS growth MB | Python peak MB | Target |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        rss = "n/a" if row.rss_growth_mb is None else f"{row.rss_growth_mb:.1f}"
        lines.append(
            f"| {row.case} | {row.file_mb:.1f} | {row.megapixels:.1f} | {row.verdict[:40]} "
            f"| {row.time_ms:.0f} / {row.fastest_ms:.0f} | {row.baseline_ms:.1f} | {row.ratio:.1f}× "
            f"| {rss} | {row.python_peak_mb:.1f} | {row.target or '—'} |"
        )
    return "\n".join(lines)


def main(*, fixes_only: bool = False) -> int:
    rows = [] if fixes_only else [measure(*case[:3], targeted=case[3]) for case in image_cases()]
    if not fixes_only:
        rows.append(upload_row())
        print(markdown(rows))
    fixes = fix_rows()
    print(fix_markdown(fixes))
    # --fixes alone leaves the last full run's file as it was.
    output = OUTPUT.with_name("image_fixes.json") if fixes_only else OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "pillow": PIL.__version__,
                    "libjpeg": features.version("jpg"),
                    "zlib": zlib.ZLIB_RUNTIME_VERSION,
                },
                "runs": RUNS,
                "baseline": "SHA-256 of the same bytes",
                "rows": [asdict(row) for row in rows],
                "fixes": [asdict(row) for row in fixes],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nWritten to {output}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--rss-of-upload"]:
        print(rss_of_upload())
        raise SystemExit(0)
    raise SystemExit(main(fixes_only=sys.argv[1:] == ["--fixes"]))
