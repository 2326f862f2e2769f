"""What the benchmarks share: a production-like environment, fresh databases, results on disk, and
the rows of their tables.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"

# One line of the summary table (bench/__main__.py): benchmark, measured, baseline, ratio, target
# and result, each already in words.
Row = dict[str, Any]


def environment(database_url: str, var_dir: str | Path, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off, hashed static files) on a private folder and database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "AIMLAPI_", "AWS_", "MEDIA_", "POLL_", "WORKER_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "playground.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "PLAYGROUND_VAR_DIR": str(var_dir),
            "MEDIA_ROOT": str(Path(var_dir) / "media"),
            "AIMLAPI_KEY": "bench-no-calls-are-made",
            # Clients here speak plain HTTP; a TLS proxy would say X-Forwarded-Proto: https.
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def fresh_database(url: str, var_dir: str | Path, name: str = "bench") -> str:
    """An empty database: a new SQLite file in var_dir, or the PostgreSQL one dropped and made again."""
    if url.startswith("postgres"):
        base, db = url.rsplit("/", 1)
        admin = f"{base}/postgres"
        for statement in (f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', f'CREATE DATABASE "{db}"'):
            subprocess.run(["psql", admin, "-qc", statement], check=True, stdout=subprocess.DEVNULL)  # noqa: S607
        return url
    return f"sqlite:///{var_dir}/{name}.sqlite3"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def django_script(env: dict[str, str], code: str, *args: str) -> Any:
    """Run `code` in a fresh interpreter with Django set up; it prints one JSON value, returned here."""
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def machine() -> dict[str, Any]:
    import platform

    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}


def met(ok: bool) -> str:
    """A target's result as the summary table shows it (a miss stands out)."""
    return "met" if ok else "**missed**"


def median_ms(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, fastest) of `runs` timings of `work` in milliseconds, after one warm-up run
    (imports, caches, first-touch page faults)."""
    work()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


@dataclass
class Timed:
    """One case timed beside a baseline measured in the same run: a benchmark's own table and the
    summary table's row are both made from it, and its fields are what the benchmark's JSON keeps."""

    case: str
    time_ms: float  # median
    fastest_ms: float
    baseline: str  # what the baseline is, in words
    baseline_ms: float  # median
    ratio: float = field(init=False)
    target: str = ""  # the ratio's target in words, or "" where none is set
    result: str = ""  # "met", "missed" or ""

    def __post_init__(self) -> None:
        self.ratio = self.time_ms / self.baseline_ms

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> Timed:
        """One read back from a benchmark's JSON (its ratio is worked out again, the same)."""
        return cls(**{name: value for name, value in saved.items() if name != "ratio"})

    def summary_row(self, number: str) -> Row:
        """Its row in the summary table, under the benchmark's number ("3")."""
        return {
            "benchmark": f"{number} {self.case}",
            "measured": f"{self.time_ms:.0f} ms",
            "baseline": f"{self.baseline} {self.baseline_ms:.0f} ms",
            "ratio": f"{self.ratio:.2f}",
            "target": self.target or "(no target)",
            "result": met(self.result == "met") if self.result else "—",
        }
