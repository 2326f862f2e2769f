"""What the benchmarks share: a production-like environment, fresh databases, results on disk."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "var" / "bench"


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
