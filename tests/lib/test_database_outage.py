"""A database outage under a running site: a plain 503 page for people, 503 for /healthz, nothing lost.

The real thing: gunicorn and the worker with production settings on a PostgreSQL server of the
test's own (tests/servers.py's ThrowawayPostgres), which the test stops with `pg_ctl stop -m fast`
while a member is signed in and starts again. The machine's shared server on 5432 is never touched.

It runs in the SQLite pass only: it brings its own PostgreSQL whatever the pass's database, so the
PostgreSQL pass would only repeat it (as tests/site/test_start.py does with its own processes).
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from playground.lib.outage import SENTENCE
from tests.factories import PASSWORD
from tests.servers import ROOT, Prepared, ThrowawayPostgres, free_port, production_environment, stop, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

# trust authentication accepts any password, so the URL can carry one the logs and pages must never show.
DATABASE_PASSWORD = "never-shown-db-password"


@dataclass
class Site:
    base: str
    database: ThrowawayPostgres
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    web_log: Path
    worker_log: Path
    video: int


@pytest.fixture
def site(tmp_path: Path, prepared_site: Prepared) -> Iterator[Site]:
    with ThrowawayPostgres() as database:
        database.start()
        port = free_port()
        env = production_environment(
            tmp_path / "var",
            DATABASE_URL=database.url.replace("postgres@", f"postgres:{DATABASE_PASSWORD}@"),
            DJANGO_SECRET_KEY="outage-test-secret-" + "k" * 40,
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_LOOPBACK_HTTP="true",
            MEDIA_ROOT=str(tmp_path / "media"),
            STATIC_ROOT=str(tmp_path / "static"),
            GUNICORN_BIND=f"127.0.0.1:{port}",
            GUNICORN_THREADS="2",
            GUNICORN_ACCESS_LOG=str(tmp_path / "access.log"),
            # A keep-alive connection left open by a failed test would otherwise hold the stop for 30 s.
            GUNICORN_GRACEFUL_TIMEOUT="3",
        )
        # The static files need no database: the run's collected copy (tests/servers.py, Prepared).
        prepared_site.copy_static(tmp_path / "static")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        made = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-v",
                "0",
                "-c",
                "from django.contrib.auth.models import User; from playground.generations.models import Generation;"
                f"u = User.objects.create_user('alice', password='{PASSWORD}');"
                "g = Generation.objects.create(created_by=u, model='video-01', prompt='A red fox in the snow',"
                " state='ready', video='videos/fox.mp4'); print(g.pk)",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
        with web_log.open("ab") as out:
            web = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        with worker_log.open("ab") as out:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "worker"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/healthz", web)
            yield Site(base, database, web, worker, web_log, worker_log, int(made.stdout.strip()))
        finally:
            stop(worker)
            stop(web)


def sign_in(member: httpx.Client) -> None:
    page = member.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    signed = member.post(
        "/sign-in/", data={"csrfmiddlewaretoken": token[1], "login": "alice", "password": PASSWORD}
    )
    assert signed.status_code == 302, signed.text


def healthy(client: httpx.Client, seconds: float = 60) -> bool:
    # The worker's heartbeat may be a few seconds behind the database coming back.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.get("/healthz").status_code == 200:
            return True
        time.sleep(0.2)
    return False


def test_with_the_database_down_signed_in_pages_are_a_plain_503_and_all_comes_back(site: Site):
    # Closed at the end: gunicorn waits for idle keep-alive connections when it stops.
    with (
        httpx.Client(base_url=site.base, timeout=10) as member,
        httpx.Client(base_url=site.base, timeout=10) as anonymous,
    ):
        sign_in(member)
        pages = [
            "/",
            "/gallery/",
            f"/videos/{site.video}/",
            "/generate/",
            "/usage/",
            "/queue/",
            "/collections/",
        ]
        assert healthy(member)
        for page in pages:
            assert member.get(page).status_code in {200, 302}, page
        assert "A red fox in the snow" in member.get(f"/videos/{site.video}/").text
        star_token = member.cookies["csrftoken"]

        site.database.stop()
        answered = 0
        for page in pages:
            down = member.get(page)
            answered += 1
            assert down.status_code == 503, (page, down.status_code)
            assert SENTENCE in html.unescape(down.text), page
            assert down.headers["content-type"].startswith("text/html")
            assert down.headers["retry-after"] == "60"
            assert "Traceback" not in down.text and "OperationalError" not in down.text
        # htmx (the video page's status poll, a star): a short answer it does not swap in, so polling goes on.
        poll = member.get(f"/videos/{site.video}/", headers={"HX-Request": "true"})
        star = member.post(
            f"/videos/{site.video}/star/", headers={"HX-Request": "true", "X-CSRFToken": star_token}
        )
        answered += 2
        for answer in (poll, star):
            assert answer.status_code == 503
            assert answer.text == SENTENCE
            assert answer.headers["retry-after"] == "60"
        for prober in (anonymous, member):
            health = prober.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {"database": "unreachable", "worker": "unknown"}
            answered += 1

        site.database.start()
        back = member.get("/gallery/")
        assert back.status_code == 200, "the same session, still signed in, once the database answers again"
        assert "A red fox in the snow" in back.text
        assert "A red fox in the snow" in member.get(f"/videos/{site.video}/").text
        starred = member.post(
            f"/videos/{site.video}/star/", headers={"HX-Request": "true", "X-CSRFToken": star_token}
        )
        assert starred.status_code == 200, "and it takes writes again"
        assert healthy(member) and healthy(anonymous)
        assert site.web.poll() is None and site.worker.poll() is None

        # One warning line per request answered 503, no error report, and never the database's password.
        log = site.web_log.read_text()
        assert "Traceback" not in log and "Internal Server Error" not in log, log
        assert len(re.findall(r"WARNING .*database unreachable", log)) == answered, log
        assert DATABASE_PASSWORD not in log + site.worker_log.read_text()
