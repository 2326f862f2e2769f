#!/usr/bin/env python3
"""The project's two commands; needs only Python 3.11+ and Node 18+ (npm).

    python3 dev.py start   install into .venv, migrate, start web server + worker on http://127.0.0.1:8000
    python3 dev.py test    install test tools, then lint, type-check and run the whole test suite
    python3 dev.py install install the app's packages only (for a production host)
    python3 dev.py bench   run every benchmark (bench/__main__.py; --quick for a short run)
    python3 dev.py manage  run a manage.py command with the same local settings as start
                           (e.g. python3 dev.py manage seed_demo)

Both are safe to run again: installs are skipped while pyproject.toml, constraints.txt and
package-lock.json are unchanged.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # noqa: UP036 (this is the check that says so plainly)
    sys.exit("Video Playground needs Python 3.11 or newer.")

import hashlib
import os
import shutil
import signal
import subprocess
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run(*args: object, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def fingerprint(*paths: str, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update((ROOT / path).read_bytes())
    return digest.hexdigest()


def ensure_python(extra: str = "") -> None:
    if not PY.exists():
        say("Creating the virtual environment in .venv")
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{extra or 'app'}"
    wanted = fingerprint("pyproject.toml", "constraints.txt", extra=extra)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("Installing Python packages" + (f" (with {extra} tools)" if extra else ""))
    # The app runs from this folder, so only its dependencies are installed, not the app itself.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    packages = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    pip = [PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "--upgrade", "pip")
    run(*pip, "-c", "constraints.txt", *packages)
    stamp.write_text(wanted)


def ensure_node() -> None:
    npm = shutil.which("npm")
    if not npm:
        sys.exit("npm was not found. Install Node.js 18 or newer (it brings npm), then run this again.")
    stamp = ROOT / "node_modules" / ".installed"
    wanted = fingerprint("package.json", "package-lock.json")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("Installing front-end packages (htmx) from the npm registry")
    run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
    stamp.write_text(wanted)


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run(PY, "manage.py", *args, env=env)


def local_environment() -> dict[str, str]:
    """The environment of a local run: development settings unless the caller's says otherwise."""
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start() -> None:
    ensure_python()
    ensure_node()
    env = local_environment()
    port = env.get("PORT", "8000")
    say("Preparing the database")
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("collectstatic", "--noinput", "-v", "0", env=env)
    if not env.get("AIMLAPI_KEY"):
        manage("demo_account", "--url", f"http://127.0.0.1:{port}/", env=env)
    say(f"Starting the web server on http://127.0.0.1:{port} and the worker (Ctrl-C stops both)")
    procs = [
        subprocess.Popen(
            [str(PY), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env
        ),
        subprocess.Popen([str(PY), "manage.py", "worker"], cwd=ROOT, env=env),
    ]

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a service manager's SIGTERM stops both children, as Ctrl-C does

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        say("One of the processes stopped; stopping the other")
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    sys.exit(
        max((p.returncode or 0) for p in procs)
        if any(p.returncode not in (0, -15, None) for p in procs)
        else 0
    )


def test(pytest_args: list[str]) -> None:
    ensure_python("test")
    ensure_node()
    say("Lint (ruff)")
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    say("Types (mypy)")
    run(BIN / "mypy", "playground", "tests", "bench", "dev.py")
    say("Tests (pytest: unit, worker, browser)")
    run(BIN / "pytest", *pytest_args)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "start":
        start()
    elif command == "install":
        ensure_python()
        ensure_node()
    elif command == "test":
        test(sys.argv[2:])
    elif command == "manage":
        ensure_python()
        ensure_node()
        manage(*sys.argv[2:], env=local_environment())
    elif command == "bench":
        # The end-to-end benchmark drives Chromium through Playwright, a test tool.
        ensure_python("test")
        ensure_node()
        run(PY, "-m", "bench", *sys.argv[2:])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
