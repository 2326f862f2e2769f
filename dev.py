#!/usr/bin/env python3
"""The project's commands; needs only Python 3.11+ and Node 18+ (npm).

    python3 dev.py start   install into .venv, migrate, serve with gunicorn (production settings,
                           DEBUG off) + the worker on http://127.0.0.1:8000
    python3 dev.py develop the same with Django's development server instead: DEBUG on, autoreload
    python3 dev.py test    install test tools, then lint, type-check and run the whole test suite
                           (in two pytest runs side by side: WAITING_HALF below; --database-pass:
                           only the tests that touch the database engine, for a second database's
                           run; other arguments go to one pytest run)
    python3 dev.py screenshots  take the README's screenshots again (docs/screenshots/)
    python3 dev.py install install the app's packages only (for a production host);
                           --test: with the test tools too (CI, before its passes run side by side)
    python3 dev.py bench   run every benchmark (bench/__main__.py; --quick for a short run)
    python3 dev.py manage  run a manage.py command with the same settings as start
                           (e.g. python3 dev.py manage seed_demo)

All are safe to run again: installs are skipped while pyproject.toml, constraints.txt and
package-lock.json are unchanged, and start keeps its data, secret key and collected static files.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 11):  # noqa: UP036 (this is the check that says so plainly)
    sys.exit("Video Playground needs Python 3.11 or newer.")

import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
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


def var_dir(env: dict[str, str]) -> Path:
    """Where the data live (settings.VAR_DIR): var/ unless PLAYGROUND_VAR_DIR says otherwise."""
    return Path(env.get("PLAYGROUND_VAR_DIR") or ROOT / "var")


def secret_key(folder: Path) -> str:
    """The site's secret key: made on the first start, kept in var/secret-key (owner only), reused."""
    path = folder / "secret-key"
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # copied or restored with looser permissions: others must not read it
        return path.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Created with owner-only permissions from the start, so the key is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_bind(bind: str) -> tuple[str, str]:
    host, _, port = bind.rpartition(":")
    return host, port


def keep_secret_key(env: dict[str, str]) -> None:
    """Without a DJANGO_SECRET_KEY, use the kept one (made on first use): start, manage and manage.py."""
    if not env.get("DJANGO_SECRET_KEY"):
        env["DJANGO_SECRET_KEY"] = secret_key(var_dir(env))


def local_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `start` and `manage`: production settings, DEBUG off, a kept secret key.

    Plain HTTP is allowed only while gunicorn listens on loopback (nobody else can reach it); on
    any other address a TLS proxy must be in front (DJANGO_BEHIND_HTTPS_PROXY=true) and Django's
    HTTPS rules stay on.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("DJANGO_DEBUG", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    port = env.setdefault("PORT", "8000")
    host, _ = split_bind(env.setdefault("GUNICORN_BIND", f"127.0.0.1:{port}"))
    keep_secret_key(env)
    if env.get("DJANGO_BEHIND_HTTPS_PROXY", "").strip().lower() not in {"1", "true", "yes", "on"}:
        if not is_loopback(host):
            sys.exit(
                f"GUNICORN_BIND is {env['GUNICORN_BIND']}, which other machines can reach, so plain HTTP "
                "is not allowed. Put a TLS proxy in front (deploy/nginx/video-playground.conf) and set "
                "DJANGO_BEHIND_HTTPS_PROXY=true, or listen on 127.0.0.1."
            )
        env.setdefault("DJANGO_LOOPBACK_HTTP", "true")
        env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
    return env


def transport_sentence(env: dict[str, str]) -> str:
    bind = env["GUNICORN_BIND"]
    if env.get("DJANGO_LOOPBACK_HTTP") == "true":
        return (
            f"Plain HTTP on http://{bind}: allowed because it listens on loopback only (this machine). "
            "To serve others, put the TLS proxy in front (docs/running.md, 'Running it for real')."
        )
    return (
        f"Listening on {bind} behind a TLS proxy (DJANGO_BEHIND_HTTPS_PROXY): HTTPS rules are on "
        "(plain HTTP is redirected, secure cookies, HSTS)."
    )


def static_stamp() -> str:
    """What collectstatic depends on: every source file's name, size and time, and the settings."""
    digest = hashlib.sha256()
    for folder in (ROOT / "static", ROOT / "node_modules" / "htmx.org" / "dist"):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update((ROOT / "playground" / "settings.py").read_bytes())
    return digest.hexdigest()


def supervise(procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until one stops, Ctrl-C or SIGTERM; then stop them all and exit with their verdict."""

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a service manager's SIGTERM stops the children, as Ctrl-C does

    signal.signal(signal.SIGTERM, stop_on_term)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.2)
        say("One of the processes stopped; stopping the other")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=35)  # gunicorn's graceful_timeout is 30 s
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    sys.exit(
        max((p.returncode or 0) for p in procs)
        if any(p.returncode not in (0, -15, None) for p in procs)
        else 0
    )


def serve() -> None:
    """`start` once the packages are installed: prepare the data, then gunicorn and the worker."""
    env = local_environment()
    host, port = split_bind(env["GUNICORN_BIND"])
    say("Preparing the database")
    manage("migrate", "--noinput", "-v", "0", env=env)
    # collectstatic hashes and compresses every file (seconds); skip it while nothing changed.
    stamp = Path(env.get("STATIC_ROOT") or ROOT / "staticfiles") / ".collected"
    wanted = static_stamp()
    if not (stamp.exists() and stamp.read_text() == wanted):
        say("Collecting static files")
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        stamp.write_text(wanted)
    if not env.get("AIMLAPI_KEY"):
        manage("demo_account", "--url", f"http://{host}:{port}/", env=env)
    say(transport_sentence(env))
    say("Starting gunicorn (gunicorn.conf.py) and the worker; Ctrl-C stops both")
    procs = [
        subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT, env=env),
        subprocess.Popen([str(PY), "manage.py", "worker"], cwd=ROOT, env=env),
    ]
    supervise(procs)


def start() -> None:
    ensure_python()
    ensure_node()
    serve()


def develop() -> None:
    """Django's development server: DEBUG on, reloads on every code change. Never for a shared box."""
    ensure_python()
    ensure_node()
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    port = env.get("PORT", "8000")
    say("Preparing the database")
    manage("migrate", "--noinput", "-v", "0", env=env)
    if not env.get("AIMLAPI_KEY"):
        manage("demo_account", "--url", f"http://127.0.0.1:{port}/", env=env)
    say(f"Development server (DEBUG on, autoreload) on http://127.0.0.1:{port} and the worker")
    procs = [
        subprocess.Popen([str(PY), "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, env=env),
        subprocess.Popen([str(PY), "manage.py", "worker"], cwd=ROOT, env=env),
    ]
    supervise(procs)


# The whole suite's pytest runs in two halves side by side. The tests that drive Chromium or start
# real processes (marked browser or slow) spend most of their time waiting on them, not on the
# cores, while the rest keep the cores busy; one after the other, each half left the cores idle
# while the other waited. `-m` puts every test in exactly one half, and each run has its own
# temporary folder and test database (tests/settings.py), as CI's two database passes do.
WAITING_HALF = "browser or slow"


def pytest_halves() -> int:
    """Both halves at once; the waiting half's output is printed when it ends. Their worse exit code."""
    with tempfile.TemporaryFile() as log:
        waiting = subprocess.Popen(
            [str(BIN / "pytest"), "-m", WAITING_HALF], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            say(f"pytest -m 'not ({WAITING_HALF})' here; -m '{WAITING_HALF}' alongside, printed after")
            rest = subprocess.run([str(BIN / "pytest"), "-m", f"not ({WAITING_HALF})"], cwd=ROOT, check=False)
            waiting.wait()
        finally:
            if waiting.poll() is None:
                waiting.terminate()
                waiting.wait()
        say(f"pytest -m '{WAITING_HALF}': its output")
        sys.stdout.flush()
        log.seek(0)
        shutil.copyfileobj(log, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    say(f"pytest halves: exit {rest.returncode} (the rest), {waiting.returncode} ({WAITING_HALF})")
    return rest.returncode or waiting.returncode


def test(pytest_args: list[str]) -> None:
    ensure_python("test")
    ensure_node()
    if "--database-pass" in pytest_args:
        # A further database's pass (CI's PostgreSQL run): lint, types, the browser and the tests
        # that need no database ran in the first pass, so only the engine's tests run again.
        say("Tests that touch the database engine (pytest --database-pass)")
        run(BIN / "pytest", *pytest_args)
        return
    say("Lint (ruff)")
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    say("Types (mypy)")
    run(BIN / "mypy", "playground", "tests", "bench", "dev.py")
    say("Tests (pytest: unit, worker, browser)")
    if pytest_args:
        run(BIN / "pytest", *pytest_args)
    elif code := pytest_halves():
        sys.exit(code)


def screenshots() -> None:
    """Take the README's screenshots with a real journey and copy them into docs/screenshots/."""
    ensure_python("test")
    ensure_node()
    say("Screenshots (tests/browser/test_browser_screenshots.py --screenshots)")
    run(BIN / "pytest", "--screenshots", "tests/browser/test_browser_screenshots.py")
    taken = ROOT / "var" / "test-artifacts" / "screens"
    for shot in sorted(taken.glob("*.png")):
        shutil.copyfile(shot, ROOT / "docs" / "screenshots" / shot.name)
        print(f"docs/screenshots/{shot.name}")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "start":
        start()
    elif command == "develop":
        develop()
    elif command == "install":
        ensure_python("test" if "--test" in sys.argv[2:] else "")
        ensure_node()
    elif command == "test":
        test(sys.argv[2:])
    elif command == "screenshots":
        screenshots()
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
