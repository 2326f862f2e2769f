"""Real worker processes for tests: `manage.py worker` against the test database and the stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.standin_fixtures import API_KEY

ROOT = Path(__file__).resolve().parent.parent
LEASE = 3.0


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def start_worker(upstream: Any) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "AIMLAPI_BASE_URL": upstream.url,
        "AIMLAPI_KEY": API_KEY,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "POLL_INTERVAL": "0.1",
        "WORKER_LEASE": str(LEASE),
        "AIMLAPI_TIMEOUT": "1.5",
        "WORKER_RETRY_BASE": "0.05",
        "ARCHIVE_RETRY_BASE": "0.05",
        "ARCHIVE_RETRY_CAP": "0.2",
        "WORKER_THREADS": "2",
    }

    def start(name: str, threads: int = 2, **more_env: str) -> subprocess.Popen[bytes]:
        # Each worker's log is kept beside the test database, to read when a test fails.
        log = open(Path(settings.VAR_DIR) / f"worker-{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--name", name, "--threads", str(threads)],
            cwd=ROOT,
            env={**env, **more_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
