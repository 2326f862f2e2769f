"""Zip downloads against a real gunicorn (the shipped gunicorn.conf.py, one process of 4 threads).

A member opens 24 connections that each POST the zip of a few 8 MB videos and then read nothing.
Each zip that is let through holds a web thread until its reader takes the bytes or the stall
bound gives it up, so these show that zips keep to their share of the threads, that pages and
/healthz still answer meanwhile, and that a stalled zip lets go of its thread and its slot.
"""

from __future__ import annotations

import io
import re
import selectors
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest

from tests.servers import ROOT, Prepared, free_port, production_environment, stop, wait_for

# They start their own processes on the embedded SQLite default, whatever the pass's database:
# the PostgreSQL pass would only repeat them.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

PASSWORD = "a-long-member-password-for-zips"
VIDEO_BYTES = 8 * 1024 * 1024
STALL_SECONDS = 8
MAKE = (
    "from django.contrib.auth.models import User; from playground.generations.models import Generation;"
    f"m = User.objects.create_user('member', password='{PASSWORD}');"
    "print(' '.join(str(Generation.objects.create(created_by=m, model='video-01', prompt=f'Harbour take {{i}}',"
    f" state='ready', video=f'videos/big-{{i}}.mp4', video_size={VIDEO_BYTES}).pk) for i in range(3)))"
)


@dataclass
class Site:
    base: str
    port: int
    ids: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, prepared_site: Prepared) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("zips")
    var, media = tmp / "var", tmp / "media"
    # The run's migrated database and collected static files (pages need the manifest), copied.
    prepared_site.copy_database(var)
    prepared_site.copy_static(tmp / "static")
    (media / "videos").mkdir(parents=True)
    for i in range(3):
        (media / "videos" / f"big-{i}.mp4").write_bytes(bytes([i]) * VIDEO_BYTES)
    port = free_port()
    env = production_environment(
        var,
        DJANGO_SECRET_KEY="zip-test-secret-" + "z" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_LOOPBACK_HTTP="true",
        MEDIA_ROOT=str(media),
        STATIC_ROOT=str(tmp / "static"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_THREADS="4",
        GUNICORN_ACCESS_LOG=str(tmp / "access.log"),
        ZIP_STALL_SECONDS=str(STALL_SECONDS),
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", MAKE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    log = tmp / "gunicorn.log"  # the stalled zips' timeouts are logged there
    web = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", web)
        yield Site(base=base, port=port, ids=made.stdout.split())
    finally:
        stop(web)


def sign_in(site: Site) -> tuple[httpx.Client, str]:
    """A signed-in member and the CSRF token their forms carry."""
    member = httpx.Client(base_url=site.base, timeout=10)
    page = member.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    signed = member.post(
        "/sign-in/", data={"csrfmiddlewaretoken": token[1], "login": "member", "password": PASSWORD}
    )
    assert signed.status_code == 302, signed.text
    gallery = member.get("/gallery/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', gallery.text)
    assert token
    return member, token[1]


def slow_reader(site: Site, member: httpx.Client, token: str) -> socket.socket:
    """A connection that asks for the zip and then takes almost nothing from it."""
    body = urlencode([("csrfmiddlewaretoken", token), *(("ids", i) for i in site.ids)]).encode()
    cookie = "; ".join(f"{name}={value}" for name, value in member.cookies.items())
    sock = socket.socket()
    # A small receive window, so the server's sends block after a little (as a stalled phone's do).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", site.port))
    sock.sendall(
        f"POST /bulk/zip/ HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\nCookie: {cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def statuses(socks: list[socket.socket], seconds: float) -> list[int | None]:
    """Each connection's status code, read from the first bytes only (None: no answer in time)."""
    found: dict[socket.socket, int | None] = dict.fromkeys(socks)
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.fileobj  # type: ignore[assignment]
                head = sock.recv(12)  # "HTTP/1.1 200"
                found[sock] = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else -1
                selector.unregister(sock)
    return [found[sock] for sock in socks]


def answers(url: str, seconds: float, **kwargs: object) -> int | None:
    try:
        return httpx.get(url, timeout=seconds, **kwargs).status_code  # type: ignore[arg-type]
    except httpx.TimeoutException:
        return None


def test_24_slow_zip_readers_leave_healthz_and_pages_answering_and_stalled_zips_let_go(site: Site):
    member, token = sign_in(site)
    readers = [slow_reader(site, member, token) for _ in range(24)]
    try:
        seen = statuses(readers, 10)
        # Answered at all (the database is fine; with no worker process running it says 503).
        assert answers(f"{site.base}/healthz", 5) in {200, 503}, "/healthz did not answer"
        gallery = answers(f"{site.base}/gallery/", 5, cookies=dict(member.cookies.items()))
        assert gallery == 200, "the gallery did not answer a signed-in member"
        # Two zips stream (the member's own limit, and half of the process's 4 threads); the
        # other 22 are told at once to try again, with 503 and Retry-After.
        assert sorted(seen, key=str) == [200] * 2 + [503] * 22, seen
        again = member.post("/bulk/zip/", data={"csrfmiddlewaretoken": token, "ids": site.ids})
        assert again.status_code == 503
        assert again.headers["retry-after"].isdigit()
        assert "You already have 2 zip downloads running" in again.text

        # A reader that takes nothing for STALL_SECONDS is given up: its thread and its slot come
        # back, and the member's next zip arrives whole.
        deadline = time.monotonic() + STALL_SECONDS + 20
        while True:
            with member.stream(
                "POST", "/bulk/zip/", data={"csrfmiddlewaretoken": token, "ids": site.ids}
            ) as zipped:
                if zipped.status_code == 200:
                    body = zipped.read()
                    length = int(zipped.headers["content-length"])
                    break
            assert time.monotonic() < deadline, "the stalled zips never let go of their slots"
            time.sleep(0.5)
        assert len(body) == length
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert len(archive.namelist()) == 4
            assert archive.read(archive.namelist()[0]) == bytes([0]) * VIDEO_BYTES

        # The server ended each stalled zip short of its length rather than keeping it open.
        for sock, status in zip(readers, seen, strict=True):
            if status == 200:
                sock.settimeout(10)
                received = 12
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
                assert received < length
    finally:
        for sock in readers:
            sock.close()
        member.close()
