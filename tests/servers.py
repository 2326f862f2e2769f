"""Starting real server processes in tests: free ports, a production environment, waiting, process trees."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    # Set by the browser fixtures for Playwright in the test process; never in a deployment.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
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


@dataclass(frozen=True)
class Prepared:
    """A migrated embedded database and a folder of collected static files, made once per test run."""

    database: Path
    static: Path

    def copy_database(self, var_dir: Path) -> Path:
        """The migrated, empty database as var_dir's own db.sqlite3 (settings.SQLITE_PATH)."""
        var_dir.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(self.database, var_dir / "db.sqlite3"))

    def copy_static(self, static_root: Path) -> Path:
        """The hashed, compressed static files and their manifest, as collectstatic leaves them."""
        shutil.copytree(self.static, static_root, dirs_exist_ok=True)
        return static_root


def prepare(folder: Path) -> Prepared:
    """Run `migrate` and `collectstatic` with production settings in folder (side by side).

    Every production process a test starts on the embedded database (gunicorn, the worker, nginx in
    front) needs the same migrated tables and the same collected files, and making them costs
    seconds of CPU: the session fixture `prepared_site` (tests/conftest.py) makes them once per run
    and each test copies them. Tests whose subject is migrating or collecting run the commands.
    """
    var, static = folder / "var", folder / "static"
    env = production_environment(var, DJANGO_SECRET_KEY="prepared-" + "p" * 50, STATIC_ROOT=str(static))
    collect = subprocess.Popen(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    assert collect.wait(timeout=300) == 0, "collectstatic failed"
    # migrate's connection closed cleanly, so its write-ahead log is already folded into the file.
    wal = var / "db.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    return Prepared(database=var / "db.sqlite3", static=static)


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


def postgres_programs() -> Path:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl): Debian keeps them off PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: tuple(int(part) for part in p.parts[-3].split(".") if part.isdigit()),
    )
    on_path = shutil.which("pg_ctl")
    if found:
        return found[-1].parent
    if on_path:
        return Path(on_path).parent
    raise AssertionError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql"
    )


class ThrowawayPostgres:
    """A PostgreSQL server of a test's own: a fresh cluster in a temporary folder on a free loopback port.

    For tests that stop and start the database under a running app. The machine's own server on 5432
    is shared by other test runs and must never be stopped. PostgreSQL refuses to run as root (CI
    runs as root), so as root its programs run as the `postgres` user, in a folder that user owns.
    """

    def __init__(self) -> None:
        self.programs = postgres_programs()
        # Not pytest's tmp_path: its parents are the owner's only, so `postgres` could not reach it.
        self.folder = Path(tempfile.mkdtemp(prefix="playground-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.programs / program), *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{program} failed: {done.stdout}{done.stderr}"

    def start(self) -> None:
        # fsync off: a test's data need not survive a power cut, and the machine is shared.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """As an outage would: `-m fast` ends every open connection at once."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
