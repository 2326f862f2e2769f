"""Starting real server processes in tests: free ports, a production environment, waiting, process trees."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

# Set by tests/settings.py or pytest-django for the test process itself; a production process
# started by a test must not inherit them.
TEST_ONLY_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_DEBUG",
    "AIMLAPI_KEY",
    "AIMLAPI_BASE_URL",
    "DATABASE_URL",
    "MEDIA_ROOT",
    "PORT",
    "GUNICORN_BIND",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def production_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    env.update(PLAYGROUND_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", WEB_CONCURRENCY="1")
    env.update(extra)
    return env


def wait_for(
    url: str, proc: subprocess.Popen[bytes], *, seconds: float = 90, verify: bool | ssl.SSLContext = True
) -> float:
    """Seconds until url answers at all (any status); fails if the process ends first."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if proc.poll() is not None:
            raise AssertionError(f"the server stopped with exit code {proc.returncode} before answering")
        try:
            httpx.get(url, timeout=1, verify=verify)
            return time.monotonic() - started
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {seconds:.0f} s")


def descendants(pid: int) -> set[int]:
    """Every process below pid (children, grandchildren), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
