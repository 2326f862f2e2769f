"""The production recipe with a real nginx in front of gunicorn: deploy/nginx/video-playground.conf.

The stack (nginx, gunicorn and the worker on loopback with the settings the config's header asks
for) is tests/nginx_stack.py's, one per run. Debian's nginx is needed: locally these tests are
skipped without it, under CI=true they fail.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.conf import settings

from playground.lib.numbers import megabytes
from playground.pictures import uploads
from tests.nginx_stack import CONFIG, PASSWORD, Stack, client, signed_in
from tests.servers import ROOT

# They start their own processes on the embedded SQLite default, whatever the pass's database:
# the PostgreSQL pass would only repeat them.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def healthy_within(url: str, seconds: float, *, verify: bool | ssl.SSLContext = True) -> bool:
    try:
        return httpx.get(url, timeout=seconds, verify=verify).status_code == 200
    except httpx.TimeoutException:
        return False


class SlowClients:
    """Clients that send a request body one byte a second, each from its own thread."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None, count: int = 10) -> None:
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._trickle, args=(host, port, tls), daemon=True) for _ in range(count)
        ]
        self.bytes_sent = 0
        self.lock = threading.Lock()

    def _trickle(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        raw = socket.create_connection((host, port), timeout=5)
        sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        try:
            sock.sendall(
                b"POST /sign-in/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
            )
            while not self.stopping.wait(1.0):
                sock.sendall(b"a")
                with self.lock:
                    self.bytes_sent += 1
        except OSError:
            pass
        finally:
            sock.close()

    def __enter__(self) -> SlowClients:
        for thread in self.threads:
            thread.start()
        time.sleep(1.5)  # every client connected and sending
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)


def test_slow_request_bodies_do_not_stop_healthz_behind_nginx(stack: Stack):
    # Baseline in the same run: straight at gunicorn (2 threads), ten trickling bodies hold every thread.
    with SlowClients("127.0.0.1", int(stack.gunicorn.rsplit(":", 1)[1]), tls=None):
        direct = healthy_within(f"{stack.gunicorn}/healthz", 3)
    print(
        f"/healthz straight at gunicorn under 10 slow clients: {'answered' if direct else 'no answer in 3 s'}"
    )
    assert not direct, "gunicorn alone kept answering; the baseline no longer shows the problem"
    time.sleep(1)  # the threads let go once their clients hang up
    assert healthy_within(f"{stack.gunicorn}/healthz", 10)

    with SlowClients("127.0.0.1", stack.host_port, tls=stack.tls) as slow:
        answers, took = [], []
        for _ in range(5):
            began = time.monotonic()
            answers.append(healthy_within(f"{stack.https}/healthz", 10, verify=stack.tls))
            took.append(time.monotonic() - began)
        sent = slow.bytes_sent
    print(f"/healthz behind nginx under 10 slow clients: slowest {max(took) * 1000:.0f} ms of 5")
    assert answers == [True] * 5
    assert sent >= 10  # the slow clients really were sending meanwhile


def test_a_signed_in_range_request_of_a_video_is_answered_206_by_nginx(stack: Stack):
    body = bytes(range(256)) * 4096  # 1 MiB
    (stack.media / "videos").mkdir(exist_ok=True)
    (stack.media / "videos" / "clip.mp4").write_bytes(body)
    with signed_in(stack) as member:
        ranged = member.get("/media/videos/clip.mp4", headers={"Range": "bytes=1000-1999"})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(body)}"
        assert ranged.content == body[1000:2000]
        assert ranged.headers["server"].startswith("nginx")
        assert ranged.headers["content-type"] == "video/mp4"
        assert ranged.headers["cache-control"] == "private, max-age=31536000, immutable"
        assert ranged.headers["x-content-type-options"] == "nosniff"
        assert "x-accel-redirect" not in ranged.headers
        whole = member.get("/media/videos/clip.mp4")
        assert whole.status_code == 200 and whole.content == body
        head = member.head("/media/videos/clip.mp4")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(body))
        assert head.content == b""
        assert member.get("/media/videos/missing.mp4").status_code == 404
        assert member.get("/media/first-frames/a%00.jpg").status_code in {400, 404}


def test_a_signed_out_media_request_gets_the_sign_in_redirect_and_the_files_stay_internal(stack: Stack):
    (stack.media / "videos").mkdir(exist_ok=True)
    (stack.media / "videos" / "private.mp4").write_bytes(b"\x00" * 4096)
    with client(stack) as visitor:
        answer = visitor.get("/media/videos/private.mp4", headers={"Range": "bytes=0-99"})
        assert answer.status_code == 302
        assert answer.headers["location"] == "/sign-in/?next=/media/videos/private.mp4"
        assert answer.content == b""
        # The folder nginx serves from answers only the app's X-Accel-Redirect, never a visitor.
        assert visitor.get("/protected-media/videos/private.mp4").status_code == 404


def test_plain_http_goes_to_https_and_the_app_trusts_the_forwarded_proto(stack: Stack):
    answer = httpx.get(f"{stack.http}/gallery/", headers={"Host": "videos.example.com"})
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://videos.example.com/gallery/"
    with client(stack) as visitor:
        page = visitor.get("/sign-in/")
        assert page.status_code == 200  # no redirect loop: Django sees the request came over HTTPS
        assert "strict-transport-security" in page.headers
        assert "secure" in page.headers["set-cookie"].lower()


def test_hashed_static_files_are_cached_for_a_year_by_nginx(stack: Stack):
    manifest = json.loads((stack.static / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/app.css"]
    with client(stack) as visitor:
        answer = visitor.get(f"/static/{hashed}", headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["server"].startswith("nginx")
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-encoding"] == "gzip"
        assert answer.text == (ROOT / "static" / "css" / "app.css").read_text()
        plain = visitor.get("/static/css/app.css")
        assert plain.headers["cache-control"] == "public, max-age=3600"


def test_bodies_over_the_apps_limits_are_refused_by_nginx_with_a_sentence(stack: Stack):
    raw = socket.create_connection(("127.0.0.1", stack.host_port), timeout=5)
    with stack.tls.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(
            b"POST /generate/check/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + f"Content-Length: {140 * 1024 * 1024}\r\n\r\n".encode()
        )
        # nginx answers at once, from the declared length, without waiting for the body.
        reply = b""
        while b"\n" not in reply.partition(b"\r\n\r\n")[2]:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"may add up to at most 130 MB; a picture may be at most 64 MB to check or fix" in reply


def test_nginx_lets_the_largest_valid_request_through():
    # The app's own limit on a request's files, with the fields beside them, fits nginx's.
    conf = CONFIG.read_text()
    found = re.search(r"location /generate/ \{\s+client_max_body_size (\d+)m;", conf)
    assert found
    allowed = int(found[1]) * 1024**2
    fields = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert uploads.request_max_bytes() + fields < allowed <= uploads.request_max_bytes() + fields + 1024**2
    assert f"at most {megabytes(uploads.request_max_bytes())} MB;" in conf


def test_a_download_through_nginx_keeps_the_apps_file_name_and_head_has_no_body(stack: Stack):
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(5000)
    (stack.media / "videos").mkdir(exist_ok=True)
    (stack.media / "videos" / "ready.mp4").write_bytes(body)
    made = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-v",
            "0",
            "-c",
            "from django.contrib.auth.models import User; from playground.generations.models import Generation;"
            "g = Generation.objects.create(created_by=User.objects.get(username='member'), model='video-01',"
            " prompt='A red fox in the snow', state='ready', video='videos/ready.mp4'); print(g.pk)",
        ],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    pk = made.stdout.strip()
    with signed_in(stack) as member:
        download = member.get(f"/videos/{pk}/download/")
        assert download.status_code == 200
        assert download.headers["server"].startswith("nginx")
        assert download.content == body
        assert download.headers["content-disposition"].startswith("attachment;")
        assert "video-01_a-red-fox-in-the-snow.mp4" in download.headers["content-disposition"]
        head = member.head(f"/videos/{pk}/download/")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(body))
        assert head.content == b""


def from_address(stack: Stack, address: str) -> httpx.Client:
    """A browser on another machine: loopback has all of 127.0.0.0/8, so bind another source address."""
    transport = httpx.HTTPTransport(local_address=address, verify=stack.tls)
    return httpx.Client(base_url=stack.https, transport=transport, timeout=10)


def try_password(stack: Stack, address: str, password: str, **headers: str) -> int:
    with from_address(stack, address) as browser:
        page = browser.get("/sign-in/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, page.text
        answer = browser.post(
            "/sign-in/",
            data={"csrfmiddlewaretoken": token[1], "login": "member", "password": password},
            headers={"Referer": f"{stack.https}/sign-in/", **headers},
        )
        return answer.status_code


def test_behind_nginx_the_lockout_counts_each_client_not_the_proxy(stack: Stack):
    # nginx connects to gunicorn from 127.0.0.1 (TRUSTED_PROXIES); the browsers come from elsewhere.
    for _ in range(5):
        try_password(stack, "127.0.0.2", "wrong guess", **{"X-Forwarded-For": "127.0.0.9"})
    assert try_password(stack, "127.0.0.2", PASSWORD) == 429
    # A forged header does not get the guesser out: nginx appends the address it really saw.
    assert try_password(stack, "127.0.0.2", PASSWORD, **{"X-Forwarded-For": "127.0.0.10"}) == 429
    # A colleague behind the same proxy is not locked out with them.
    assert try_password(stack, "127.0.0.3", PASSWORD) == 302
