"""Benchmark: signing in with a second factor against signing in with a password alone.

    .venv/bin/python -m bench.second_factor [--runs 20] [--database-url URL]

A fresh database (production settings: the real password hasher, the lockout, every middleware)
gets people with a password only and people with an authenticator app as well. Each sign-in is
what a browser sends, through Django's test client in one process: the sign-in page, the
password, and, with a second factor, the second step's page and the app's code (computed from
the person's secret, as the app would). Every sign-in is a different person, so each code is
fresh (a code signs in once). The two kinds are timed alternately, and the ratio of the medians
is the figure (target ≤ 1.5); the ratio of this process's CPU time is given beside it, steadier
when other work shares the machine. Writes var/bench/second_factor.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from bench.common import django_script, environment, fresh_database, machine, manage, save

TARGET = 1.5

SEED_AND_MEASURE = r"""
import json, statistics, sys, time
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

runs = int(sys.argv[1])
password = "a bench password, long enough"
hashed = make_password(password)  # hashed once: every person gets the same (real) hash
plain = [User(username=f"plain{i}", email=f"plain{i}@example.com", password=hashed) for i in range(runs + 1)]
guarded = [User(username=f"app{i}", email=f"app{i}@example.com", password=hashed) for i in range(runs + 1)]
for person in plain + guarded:
    person.save()
secrets = {}
for person in guarded:
    secret = generate_totp_secret()
    TOTP.activate(person, secret)
    secrets[person.username] = secret


def code_now(secret):
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


addresses = iter(range(1, 60000))


def client_for(username):
    # Each sign-in comes from its own address, as a team's people do: one address would meet
    # allauth's 30 sign-ins a minute per address, which is not what is measured here.
    n = next(addresses)
    return Client(REMOTE_ADDR=f"10.0.{n // 250}.{n % 250 + 1}")


def password_only(username):
    client = client_for(username)
    assert client.get("/sign-in/").status_code == 200
    answer = client.post("/sign-in/", {"login": username, "password": password})
    assert answer.status_code == 302 and answer["Location"] == "/", answer
    return client


def with_app(username):
    client = client_for(username)
    assert client.get("/sign-in/").status_code == 200
    answer = client.post("/sign-in/", {"login": username, "password": password})
    assert answer["Location"] == "/accounts/2fa/authenticate/", answer
    assert client.get("/accounts/2fa/authenticate/").status_code == 200
    answer = client.post("/accounts/2fa/authenticate/", {"code": code_now(secrets[username])})
    assert answer.status_code == 302 and answer["Location"] == "/", answer.content.decode()[-300:]
    return client


def queries(flow, username):
    with CaptureQueriesContext(connection) as seen:
        flow(username)
    return len(seen)


# A warm-up of each (imports, templates, the first connection), then alternate.
plain_queries = queries(password_only, plain[-1].username)
app_queries = queries(with_app, guarded[-1].username)
a, b, a_cpu, b_cpu = [], [], [], []
for i in range(runs):
    for flow, person, wall, cpu in ((password_only, plain[i], a, a_cpu), (with_app, guarded[i], b, b_cpu)):
        t, c = time.perf_counter(), time.process_time()
        flow(person.username)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
print(json.dumps({
    "password_ms": [round(x * 1000, 1) for x in a],
    "second_factor_ms": [round(x * 1000, 1) for x in b],
    "password_median_ms": statistics.median(a) * 1000,
    "second_factor_median_ms": statistics.median(b) * 1000,
    "password_cpu_median_ms": statistics.median(a_cpu) * 1000,
    "second_factor_cpu_median_ms": statistics.median(b_cpu) * 1000,
    "password_queries": plain_queries,
    "second_factor_queries": app_queries,
}))
"""


def run(runs: int = 20, database_url: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-2fa-") as var:
        url = fresh_database(database_url, var) if database_url else f"sqlite:///{var}/bench.sqlite3"
        env = environment(url, var)
        manage(env, "migrate", "-v0")
        manage(env, "collectstatic", "--noinput")  # production settings serve hashed static names
        measured: dict[str, Any] = django_script(env, SEED_AND_MEASURE, str(runs))
    ratio = measured["second_factor_median_ms"] / measured["password_median_ms"]
    measured.update(
        {
            "machine": machine(),
            "engine": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
            "runs": runs,
            "ratio": round(ratio, 3),
            "added_ms": round(measured["second_factor_median_ms"] - measured["password_median_ms"], 1),
            # This process's CPU time: steadier than the clock on a busy machine (on PostgreSQL it
            # leaves out the database server's share).
            "cpu_ratio": round(
                measured["second_factor_cpu_median_ms"] / measured["password_cpu_median_ms"], 3
            ),
            "target": TARGET,
            "met": ratio <= TARGET,
        }
    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run(args.runs, args.database_url)
    save("second_factor" if not args.database_url else "second_factor-postgresql", result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2))


if __name__ == "__main__":
    main()
