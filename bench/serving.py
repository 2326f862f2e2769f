"""Benchmark 1: the status fragment against the framework's floor, under gunicorn.

    .venv/bin/python -m bench.serving [--seconds 10] [--clients 32] [--database-url URL]

Gunicorn runs with gunicorn.conf.py and the production settings (DEBUG off, hashed static files,
HTTPS as a TLS proxy reports it) on loopback; the only addition is bench/urls.py's constant view.
32 clients on keep-alive connections send requests back to back for a fixed time at (a) the
constant view and (b) the htmx status fragment of a running generation, signed in, at the poll URL
its page hands out (with the poll token that lets it skip the session: generations/poll.py). The two
alternate in short rounds so drift on a noisy machine hits both alike. The load generator shares
the machine's cores with the server; it is one asyncio loop, far cheaper per request than Django.
Two more targets put the fragment in context: the constant view behind sign-in (what any signed-in
page pays first), and the constant view plus one primary-key read in one round trip (bench/urls.py),
the one small read a poll may make. On PostgreSQL that round trip to a server process sharing the
same cores costs more CPU than the whole constant view (2026-12-06, in process: 170 µs on both
sides against 145 µs), so the fragment's ratio to it says what the poll adds to its one read.
The poll's own SELECT is its connection's health check, and a token's signature is checked once
per token and cookie (generations/poll.py). On PostgreSQL the poll's SELECT is a prepared
statement; a last row runs it in process both ways and says what CPU each side spends per read.
Writes var/bench/serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    ROOT,
    django_script,
    environment,
    free_port,
    fresh_database,
    manage,
    percentile,
    save,
    wait_for_port,
)

SETUP = r"""
import html, json, re
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from playground.generations.models import Generation, State
user = get_user_model().objects.create_user("bench", password="bench-only-password-123")
gen = Generation.objects.create(
    created_by=user, model="video-01", prompt="A lighthouse at dusk, cinematic",
    state=State.RUNNING, upstream_id="bench-job", upstream_status="generating",
)
client = Client()
client.force_login(user)
# The poll URL as the page hands it out (with its poll token: playground/generations/poll.py).
page = client.get(f"/videos/{gen.pk}/", secure=True).content.decode()
poll = html.unescape(re.search(r'id="status"[^>]*hx-get="([^"]+)"', page)[1])
names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
cookies = "; ".join(f"{name}={client.cookies[name].value}" for name in names)
print(json.dumps({"cookie": cookies, "pk": gen.pk, "poll": poll}))
"""

QUERIES = r"""
import html, json, re, sys
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.contrib.auth import get_user_model
client = Client()
client.force_login(get_user_model().objects.get(username="bench"))
path = sys.argv[1]
page = client.get(path.split("?")[0], secure=True)  # the session the poll token is bound to
path = html.unescape(re.search(r'id="status"[^>]*hx-get="([^"]+)"', page.content.decode())[1])
client.get(path, headers={"HX-Request": "true"}, secure=True)
with CaptureQueriesContext(connection) as queries:
    response = client.get(path, headers={"HX-Request": "true"}, secure=True)
assert response.status_code == 200, response.status_code
body = response.content.decode()
sql = " ".join(query["sql"] for query in queries)
print(json.dumps({
    "queries": len(queries),
    "reads_session_or_user": "django_session" in sql or "auth_user" in sql,
    "polls": 'hx-trigger="every 2s"' in body,
}))
"""

# PostgreSQL: the poll's SELECT run in process, prepared (as polls send it) and as text, alternating,
# with the CPU each side spends: this process's, and the server process's (read from /proc, the
# database being on this machine).
POLL_READ = r"""
import json, math, os, time
from django.conf import settings
from django.db import connection
from playground.generations import poll
from playground.generations.models import Generation
pk = Generation.objects.get(upstream_id="bench-job").pk
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    backend = cursor.fetchone()[0]
tick = os.sysconf("SC_CLK_TCK")
def server_cpu():
    try:
        fields = open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()
    except OSError:  # the database runs on another machine: its side is not measured
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / tick
spent = {"prepared": [0.0, 0.0], "text": [0.0, 0.0]}
reads = 3000
for turn in range(6):
    way = "prepared" if turn % 2 else "text"
    settings.DATABASE_PREPARED_POLLS = way == "prepared"
    poll.status_row(pk)
    server, client = server_cpu(), time.process_time()
    for _ in range(reads):
        poll.status_row(pk)
    spent[way][0] += (time.process_time() - client) / reads / 3 * 1e6
    spent[way][1] += (server_cpu() - server) / reads / 3 * 1e6
print(json.dumps({
    way: {"client_us": round(c), "server_us": None if math.isnan(s) else round(s)}
    for way, (c, s) in spent.items()
}))
"""


@dataclass
class Load:
    requests: int = 0
    errors: int = 0
    retries: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "retries": self.retries,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(percentile(self.latencies, 0.5) * 1000, 2),
            "p95_ms": round(percentile(self.latencies, 0.95) * 1000, 2),
        }


async def _one_client(port: int, request: bytes, stop_at: float, load: Load, expect: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                writer.write(request)
                status = await reader.readline()
                if not status:
                    raise ConnectionResetError("closed before answering")
            except ConnectionError:
                # A kept-alive connection the server closed (a worker restarting after max_requests)
                # before it began answering: like a browser, send the idempotent GET again.
                writer.close()
                load.retries += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            length, chunked, close = 0, False, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif name == "connection" and "close" in value.lower():
                    close = True
            if chunked:
                body = b""
                while size := int((await reader.readline()).split(b";")[0], 16):
                    body += await reader.readexactly(size + 2)
                await reader.readline()
            else:
                body = await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            load.requests += 1
            if not status.startswith(b"HTTP/1.1 200") or expect not in body:
                load.errors += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _drive(port: int, request: bytes, clients: int, seconds: float, expect: bytes) -> Load:
    load = Load()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_one_client(port, request, stop_at, load, expect) for _ in range(clients)))
    load.seconds = time.perf_counter() - started
    return load


def drive(port: int, request: bytes, clients: int, seconds: float, expect: bytes) -> Load:
    return asyncio.run(_drive(port, request, clients, seconds, expect))


def request_bytes(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "X-Forwarded-Proto: https", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def run(seconds: float, clients: int, database_url: str, rounds: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as var_dir:
        env = environment(
            fresh_database(database_url, var_dir),
            var_dir,
            DJANGO_BEHIND_HTTPS_PROXY="true",
            DJANGO_SECURE_SSL_REDIRECT="true",
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        setup = django_script(env, SETUP)
        fragment_path = setup["poll"]
        counted = django_script({**env, "DJANGO_SETTINGS_MODULE": "bench.settings"}, QUERIES, fragment_path)
        poll_read = django_script(env, POLL_READ) if database_url.startswith("postgres") else None
        port = free_port()
        server_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            # The access log is written as in production, just not kept.
            "GUNICORN_ACCESS_LOG": "-",
        }
        # The server's log goes to a file: a pipe nobody reads until the end fills up (64 KiB) and
        # then blocks the server mid-request, which stalled the run.
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
            cookie = f"Cookie: {setup['cookie']}"
            targets = {
                "floor": (request_bytes("/bench/constant/"), b"ok"),
                "signed_in": (request_bytes("/bench/signed-in/", cookie), b"ok"),
                "one_read": (request_bytes(f"/bench/one-read/{setup['pk']}/"), b"running"),
                "fragment": (request_bytes(fragment_path, "HX-Request: true", cookie), b'id="status"'),
            }
            # Warm-up: every worker process and thread opens its database connection, loads templates.
            for request, expect in targets.values():
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
    floor, fragment, one_read = loads["floor"], loads["fragment"], loads["one_read"]
    ratio = fragment.rps / floor.rps if floor.rps else 0.0
    errors = sum(load.errors for load in loads.values())
    return {
        "clients": clients,
        "seconds_each": seconds,
        "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
        "gunicorn": gunicorn_shape(),
        "floor": floor.summary(),
        "signed_in": {**loads["signed_in"].summary(), "ratio": round(loads["signed_in"].rps / floor.rps, 3)},
        "one_read": {**one_read.summary(), "ratio": round(one_read.rps / floor.rps, 3)},
        "fragment": {**fragment.summary(), **counted},
        "ratio": round(ratio, 3),
        "ratio_to_one_read": round(fragment.rps / one_read.rps, 3) if one_read.rps else 0.0,
        "poll_read": poll_read,
        "met": ratio >= 0.8
        and errors == 0
        and counted["queries"] <= 1
        and not counted["reads_session_or_user"],
        "server_errors": [
            line for line in stderr.decode(errors="replace").splitlines() if "Traceback" in line
        ],
    }


def gunicorn_shape() -> dict[str, Any]:
    """The workers and threads gunicorn.conf.py chose on this machine."""
    namespace: dict[str, Any] = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own config file
    return {key: namespace[key] for key in ("worker_class", "workers", "threads", "keepalive")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run(args.seconds, args.clients, args.database_url)
    save("serving", result)
    print(f"gunicorn {result['gunicorn']}, {args.clients} clients, {result['database']}")
    for name, row in (
        ("(a) constant view", result["floor"]),
        ("    the same behind sign-in", result["signed_in"]),
        ("    the same with one primary-key read", result["one_read"]),
        ("(b) status fragment", result["fragment"]),
    ):
        print(
            f"{name}: {row['rps']:.0f} req/s, {row['errors']} errors, "
            f"p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms"
        )
    print(
        f"ratio (b)/(a) = {result['ratio']:.2f} (target ≥ 0.8); "
        f"sign-in alone {result['signed_in']['ratio']:.2f}; "
        f"one read alone {result['one_read']['ratio']:.2f}, "
        f"(b) against it {result['ratio_to_one_read']:.2f}\n"
        f"fragment queries: {result['fragment']['queries']}"
        f"{' (session or user read)' if result['fragment']['reads_session_or_user'] else ''}"
    )
    if read := result["poll_read"]:
        prepared, text = read["prepared"], read["text"]
        print(
            f"the poll's read in process, CPU per read: prepared {prepared['client_us']} µs here + "
            f"{prepared['server_us'] or '?'} µs in the database; "
            f"as text {text['client_us']} + {text['server_us'] or '?'} µs"
        )


if __name__ == "__main__":
    main()
