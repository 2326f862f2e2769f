"""`dev.py start` is the real server: gunicorn with production settings, the worker, a kept secret key.

Runs the same code as `python3 dev.py start` after its installs (dev.serve(); the installs
themselves write the shared .venv's stamp, which tests must not touch) as a separate process on a
free loopback port with its own data folder, like a team lead's first and second start.
"""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, alive, descendants, free_port, production_environment, stop, wait_for

# They start their own processes on the embedded SQLite default, whatever the pass's database:
# the PostgreSQL pass would only repeat them.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import dev; dev.serve()"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def sign_in(base: str, var_dir: Path) -> httpx.Client:
    password = (var_dir / "demo-account.txt").read_text().strip()
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    signed = client.post(
        "/sign-in/", data={"csrfmiddlewaretoken": token[1], "login": "demo", "password": password}
    )
    assert signed.status_code == 302, signed.text
    return client


def test_start_serves_with_gunicorn_debug_off_a_kept_secret_key_and_sigterm_stops_everything(tmp_path):
    var_dir = tmp_path / "var"
    port = free_port()
    env = production_environment(var_dir, PORT=str(port), GUNICORN_THREADS="2")
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "start.log"

    first = start(env, log)
    try:
        cold = wait_for(f"{base}/healthz", first)
        output = log.read_text()
        assert "Plain HTTP on http://127.0.0.1:" in output
        assert "allowed because it listens on loopback only" in output
        assert "Starting gunicorn" in output

        missing = httpx.get(f"{base}/no-such-page/")
        assert missing.status_code == 404
        assert missing.headers["server"] == "gunicorn"
        # The site's own page, not Django's debug page with its settings and traceback.
        assert "We can't find that page" in missing.text
        assert "Traceback" not in missing.text and "DEBUG = True" not in missing.text
        assert "URLconf" not in missing.text

        key_file = var_dir / "secret-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text()
        assert len(key.strip()) >= 50
        member = sign_in(base, var_dir)
        assert member.get("/gallery/").status_code == 200
        # Static files are the hashed, compressed copies WhiteNoise caches for a year.
        css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', member.get("/gallery/").text)
        assert css, "the page links the hashed stylesheet"
        assert "immutable" in httpx.get(base + css[1]).headers["cache-control"]

        cookies = dict(member.cookies)
        # An idle keep-alive connection makes gunicorn wait out its whole graceful_timeout.
        member.close()
        children = descendants(first.pid)
        assert len(children) >= 3  # gunicorn's master and worker, and the job worker
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=45)
    assert first.returncode == 0
    assert not [pid for pid in children if alive(pid)], "SIGTERM left processes behind"
    assert "Worker" in log.read_text() and "stopped" in log.read_text()

    # The second start on the same data: the same key (so the session still holds), ready quickly.
    second = start(env, log)
    try:
        rerun = wait_for(f"{base}/healthz", second)
        assert key_file.read_text() == key
        # Still signed in: the session cookie signed with the first start's key still holds.
        again = httpx.get(f"{base}/gallery/", cookies=cookies)
        assert again.status_code == 200
        assert "Sign out" in again.text or "sign-out" in again.text
        assert healthy(base)
    finally:
        stop(second)
    print(f"dev.py start: cold {cold:.1f} s, re-run {rerun:.1f} s")


def healthy(base: str) -> bool:
    # The worker's first heartbeat comes a moment after gunicorn answers (longer on a busy machine).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/healthz").status_code == 200:
            return True
        time.sleep(0.2)
    return False


def test_a_kept_key_readable_by_others_is_made_owner_only_again(tmp_path):
    import dev

    folder = tmp_path / "var"
    key = dev.secret_key(folder)
    (folder / "secret-key").chmod(0o644)
    assert dev.secret_key(folder) == key
    assert stat.S_IMODE((folder / "secret-key").stat().st_mode) == 0o600


def test_start_refuses_plain_http_on_an_address_others_can_reach(tmp_path):
    env = production_environment(tmp_path / "var", GUNICORN_BIND="0.0.0.0:8123")
    result = subprocess.run(
        [sys.executable, "-c", "import dev; dev.serve()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "plain HTTP is not allowed" in result.stderr
    assert "DJANGO_BEHIND_HTTPS_PROXY=true" in result.stderr


def test_behind_a_tls_proxy_start_says_so_and_keeps_the_https_rules(tmp_path):
    import dev

    base = production_environment(
        tmp_path / "var", GUNICORN_BIND="0.0.0.0:8123", DJANGO_BEHIND_HTTPS_PROXY="true"
    )
    prepared = dev.local_environment(base)
    assert "DJANGO_LOOPBACK_HTTP" not in prepared
    assert "HTTPS rules are on" in dev.transport_sentence(prepared)
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**prepared, "DJANGO_ALLOWED_HOSTS": "videos.example.com"},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_plain_http_on_loopback_turns_off_only_the_https_rules(tmp_path):
    import dev

    prepared = dev.local_environment(production_environment(tmp_path / "var", PORT="8124"))
    assert prepared["GUNICORN_BIND"] == "127.0.0.1:8124"
    assert prepared["DJANGO_DEBUG"] == "false"
    # What `dev.py manage` runs with: the same settings and the same kept key as `start`.
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS, "
        "s.SECRET_KEY == (s.VAR_DIR / 'secret-key').read_text().strip())"
    )
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=prepared,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.split() == ["False", "False", "False", "0", "DENY", "True"], shown.stderr
    refused = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"],
        cwd=ROOT,
        env={**prepared, "GUNICORN_BIND": "0.0.0.0:8124"},
        capture_output=True,
        text=True,
    )
    assert "may listen on loopback only" in refused.stderr
