"""Benchmark 16: a review link's guest page against a signed-in video page, under gunicorn.

    .venv/bin/python -m bench.guest_page [--seconds 10] [--clients 32] [--database-url URL]

The same ready video is opened two ways, in alternating rounds of one run (as bench/serving.py
does): (a) its page in the app, /videos/<id>/, by a signed-in member (session and user read, the
role, the page's own queries); (b) its review link's guest page, /s/<token>/, by a visitor with no
account (no session or user read: review/guest.py). The link lets guests comment and set the
status, and holds 20 threads, so both pages draw the same comments and (b) its Review section.
Target: (b) serves at least 0.8× the requests per second of (a). Also counted, once, outside the
load: the guest page's queries and whether any reads the session table, and whether the answer
sets a cookie. Writes var/bench/guest_page.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from typing import Any

from bench.common import (
    ROOT,
    django_script,
    environment,
    free_port,
    fresh_database,
    manage,
    save,
    wait_for_port,
)
from bench.serving import Load, drive, gunicorn_shape, request_bytes

SETUP = r"""
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from playground.generations.models import Generation, State
from playground.review import links
user = get_user_model().objects.create_user("bench", password="bench-only-password-123")
video = default_storage.save("videos/bench/take.mp4", ContentFile(bytes(4096)))
poster = default_storage.save("posters/bench/take.jpg", ContentFile(b"\xff\xd8\xff"))
gen = Generation.objects.create(
    created_by=user, model="video-01", prompt="A lighthouse at dusk, cinematic", state=State.READY,
    video=video, poster=poster, duration=5.0, video_size=4096,
)
link, token = links.make(by=user, generation=gen, days=7, guest_comments=True, guest_approval=True)
# Guest comments on: both pages draw the same 20 threads (the guest page: those of its link).
from playground.review.models import Comment
Comment.objects.bulk_create(
    Comment(generation=gen, guest_name="Ada", share_link_id=link.pk, at_ms=i * 200, text=f"Note {i}")
    for i in range(20)
)
client = Client()
client.force_login(user)
client.get(f"/videos/{gen.pk}/", secure=True)
names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
cookies = "; ".join(f"{name}={client.cookies[name].value}" for name in names if name in client.cookies)
print(json.dumps({"cookie": cookies, "pk": gen.pk, "token": token}))
"""

QUERIES = r"""
import json, sys
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
guest = Client()
path = sys.argv[1]
guest.get(path, secure=True)
with CaptureQueriesContext(connection) as queries:
    response = guest.get(path, secure=True)
assert response.status_code == 200, response.status_code
sql = " ".join(query["sql"] for query in queries)
print(json.dumps({
    "queries": len(queries),
    "reads_session": "django_session" in sql,
    "sets_cookie": bool(response.cookies),
}))
"""


def run(seconds: float, clients: int, database_url: str, rounds: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-guest-") as var_dir:
        env = environment(
            fresh_database(database_url, var_dir),
            var_dir,
            DJANGO_BEHIND_HTTPS_PROXY="true",
            DJANGO_SECURE_SSL_REDIRECT="true",
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        setup = django_script(env, SETUP)
        guest_path = f"/s/{setup['token']}/"
        counted = django_script(env, QUERIES, guest_path)
        port = free_port()
        server_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_ACCESS_LOG": "-"}
        server_log = open(f"{var_dir}/gunicorn.log", "w+b")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=server_log,
        )
        try:
            wait_for_port(port)
            targets = {
                "signed_in": (
                    request_bytes(f"/videos/{setup['pk']}/", f"Cookie: {setup['cookie']}"),
                    b"<video",
                ),
                "guest": (request_bytes(guest_path), b"<video"),
            }
            for request, expect in targets.values():  # warm-up: connections, templates
                drive(port, request, clients, 1.0, expect)
            loads = {name: Load() for name in targets}
            for _ in range(rounds):
                for name, (request, expect) in targets.items():
                    part = drive(port, request, clients, seconds / rounds, expect)
                    total = loads[name]
                    total.requests += part.requests
                    total.errors += part.errors
                    total.retries += part.retries
                    total.seconds += part.seconds
                    total.latencies += part.latencies
        finally:
            server.terminate()
            server.wait(timeout=30)
            server_log.seek(0)
            stderr = server_log.read()
            server_log.close()
    signed_in, guest = loads["signed_in"], loads["guest"]
    ratio = guest.rps / signed_in.rps if signed_in.rps else 0.0
    errors = signed_in.errors + guest.errors
    return {
        "clients": clients,
        "seconds_each": seconds,
        "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
        "gunicorn": gunicorn_shape(),
        "signed_in": signed_in.summary(),
        "guest": {**guest.summary(), **counted},
        "ratio": round(ratio, 3),
        "met": ratio >= 0.8 and errors == 0 and not counted["reads_session"] and not counted["sets_cookie"],
        "server_errors": [
            line for line in stderr.decode(errors="replace").splitlines() if "Traceback" in line
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run(args.seconds, args.clients, args.database_url)
    save("guest_page", result)
    print(f"gunicorn {result['gunicorn']}, {args.clients} clients, {result['database']}")
    for name, row in (("(a) signed-in video page", result["signed_in"]), ("(b) guest page", result["guest"])):
        print(
            f"{name}: {row['rps']:.0f} req/s, {row['errors']} errors, "
            f"p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms"
        )
    guest = result["guest"]
    print(
        f"ratio (b)/(a) = {result['ratio']:.2f} (target ≥ 0.8); guest queries {guest['queries']}, "
        f"session read: {guest['reads_session']}, cookie set: {guest['sets_cookie']}"
    )


if __name__ == "__main__":
    main()
