"""Benchmark: the Team page at 1,000 people against the same page at 10.

    .venv/bin/python -m bench.team_page [--sizes 10,1000] [--database-url URL]

For each size, a fresh database gets that many people (a third with an authenticator app, a
sixth with a passkey, one in twenty deactivated, roles mixed, every one with a sign-in time) and
one invitation waiting for every ten people. Then, in one process, four Team pages are timed
through Django's test client, signed in as an admin, 25 times each after a warm-up, the sizes
taking turns request by request (so load from elsewhere on the machine falls on both alike): the
first page, a search that matches one person's address, one that matches nearly everyone (a full
page of them), and the last page. Reported:
medians, SQL query counts, and each page at the largest size as a ratio to the same page at the
smallest (target ≤ 2, and the same number of queries). SQLite by default (a file per size); with
--database-url postgres://.../name that database is dropped and made again, each size in its own
schema. Writes var/bench/team_page.json (team_page-postgresql.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from typing import Any

from bench.common import django_script, environment, fresh_database, manage, save

RUNS = 25

SEED = r"""
import json, sys
from datetime import timedelta
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from playground.team.models import Invitation, Membership, Role

size = int(sys.argv[1])
now = timezone.now()
admin = User.objects.create_user("admin", "admin@example.com", is_staff=True)
people = User.objects.bulk_create(
    User(
        username=f"person{i:05}",
        email=f"person{i:05}@example.com",
        first_name="Person",
        last_name=str(i),
        is_active=i % 20 != 7,
        last_login=now - timedelta(hours=i),
    )
    for i in range(size - 1)
)
roles = [Role.MEMBER, Role.MEMBER, Role.VIEWER, Role.ADMIN]
Membership.objects.bulk_create(Membership(user=p, role=roles[i % 4]) for i, p in enumerate(people))
Authenticator.objects.bulk_create(
    [Authenticator(user=p, type=Authenticator.Type.TOTP, data={}) for p in people[::3]]
    + [Authenticator(user=p, type=Authenticator.Type.RECOVERY_CODES, data={}) for p in people[::3]]
    + [Authenticator(user=p, type=Authenticator.Type.WEBAUTHN, data={}) for p in people[::6]]
)
Invitation.objects.bulk_create(
    Invitation(
        email=f"invited{i}@example.com", role=Role.MEMBER, token_hash=f"{i:064x}", invited_by=admin,
        expires_at=now + timedelta(days=7),
    )
    for i in range(max(1, size // 10))
)
connection.cursor().execute("ANALYZE")
print("{}")
"""

# Both databases are measured in one process, request by request in turn, so a burst of load on a
# shared machine falls on both sizes alike and the ratio stays meaningful.
MEASURE = r"""
import json, statistics, sys, time
import dj_database_url
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from playground.team.page import PAGE_SIZE

runs, urls = int(sys.argv[1]), json.loads(sys.argv[2])
connection = connections["default"]

def use(size):
    parsed = dj_database_url.parse(urls[size])
    connection.close()
    connection.settings_dict["NAME"] = parsed["NAME"]
    connection.settings_dict.setdefault("OPTIONS", {}).update(parsed.get("OPTIONS", {}))
    connection.ensure_connection()

clients, lasts = {}, {}
for size in urls:
    use(size)
    clients[size] = Client()
    clients[size].force_login(User.objects.get(username="admin"))
    lasts[size] = (User.objects.count() + PAGE_SIZE - 1) // PAGE_SIZE
results = {size: {} for size in urls}
pages = {
    "first page": lambda size: {},
    "search, one match": lambda size: {"q": "PERSON00003@"},
    "search, nearly all match": lambda size: {"q": "person"},
    "last page": lambda size: {"page": str(lasts[size])},
}
for name, params in pages.items():
    times = {size: [] for size in urls}
    for size in urls:
        use(size)
        assert clients[size].get("/team/", params(size)).status_code == 200  # warm-up
    for _ in range(runs):
        for size in urls:
            use(size)
            start = time.perf_counter()
            response = clients[size].get("/team/", params(size))
            times[size].append(time.perf_counter() - start)
    for size in urls:
        use(size)
        with CaptureQueriesContext(connection) as queries:
            response = clients[size].get("/team/", params(size))
        results[size][name] = {
            "median_ms": statistics.median(times[size]) * 1000,
            "queries": len(queries),
            "rows": response.content.decode().count('id="person-'),
        }
print(json.dumps(results))
"""


def database_for(database_url: str, var: str, size: int) -> str:
    """Each size's database: its own SQLite file, or its own schema in the named PostgreSQL database."""
    if not database_url.startswith("postgres"):
        return f"sqlite:///{var}/team-{size}.sqlite3"
    schema = f"team_{size}"
    # Extensions (the gallery's trigram search) live in public, which both schemas see.
    for statement in ("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public", f"CREATE SCHEMA {schema}"):
        subprocess.run(["psql", database_url, "-qc", statement], check=True)  # noqa: S607
    return f"{database_url}?options=-c%20search_path%3D{schema},public"


def run(sizes: list[int], database_url: str = "") -> dict[str, Any]:
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    with tempfile.TemporaryDirectory(prefix="bench-team-") as var:
        if database_url:
            fresh_database(database_url, var)
        urls = {size: database_for(database_url, var, size) for size in sizes}
        for size, url in urls.items():
            env = environment(url, var)
            manage(env, "migrate", "-v0")
            django_script(env, SEED, str(size))
        manage(environment(urls[sizes[0]], var), "collectstatic", "--noinput")  # hashed static names
        measured = django_script(environment(urls[sizes[0]], var), MEASURE, str(RUNS), json.dumps(urls))
    runs = {int(size): pages for size, pages in measured.items()}
    small, large = runs[sizes[0]], runs[sizes[-1]]
    for name, row in large.items():
        row["ratio"] = round(row["median_ms"] / small[name]["median_ms"], 2)
        row["met"] = row["ratio"] <= 2 and row["queries"] == small[name]["queries"]
    return {"engine": engine, "sizes": sizes, "runs_per_page": RUNS, "runs": runs}


def report(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    lines = [
        f"Team page on {result['engine']} (median of {RUNS}; ratio to the same page at {sizes[0]:,} people)",
        "",
        "| page | people | rows shown | queries | median ms | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for size, pages in result["runs"].items():
        for name, row in pages.items():
            ratio = f"{row['ratio']:.2f}" if "ratio" in row else "—"
            lines.append(
                f"| {name} | {size:,} | {row['rows']} | {row['queries']} | {row['median_ms']:.1f} | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument(
        "--database-url", default="", help="postgres://user@host:5432/dbname (default: SQLite)"
    )
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.database_url)
    print(report(result))
    save("team_page" if result["engine"] == "SQLite" else "team_page-postgresql", result)


if __name__ == "__main__":
    main()
