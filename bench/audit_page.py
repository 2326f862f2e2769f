"""Benchmark 13: the audit page and its CSV export at 100,000 events, against the same at 10.

    .venv/bin/python -m bench.audit_page [--sizes 10,100000] [--database-url URL]

For each size, a fresh database gets that many audit lines from 20 people over a year (every
kind, each line naming an actor and a subject, a few failed sign-ins under typed names), then
the audit page is fetched through Django's test client, signed in as an admin, 25 times after a
warm-up: the first page, one kind, one person, a deep page (an "Older" cursor near the oldest
line), and a typed name with no account (read from the copied names, which no index covers).
Reported: medians, SQL query counts, and each page as a ratio to the same page at the smallest
size in the same run. The CSV export of the whole record is then read to the end once, with its
time and its Python memory peak (tracemalloc), against the same at the smallest size.
Writes var/bench/audit_page.json (audit_page-postgresql.json).
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

from bench.common import django_script, environment, fresh_database, machine, manage, save

RUNS = 25

SEED_AND_MEASURE = r"""
import json, statistics, sys, time, tracemalloc
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playground.team.models import AuditEvent, AuditKind
from playground.team.roles import set_role
from playground.team.models import Role

size, runs = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
people = [User.objects.create_user(f"member{i}", f"member{i}@example.com") for i in range(20)]
admin = people[0]
admin.is_staff = True
admin.save()
set_role(admin, Role.ADMIN)
kinds = list(AuditKind)
start = timezone.now() - timedelta(days=365)
step = timedelta(days=365) / max(size, 1)

def line(i):
    actor, subject = people[i % 20], people[(i * 7) % 20]
    kind = kinds[i % len(kinds)]
    if kind == AuditKind.SIGN_IN_FAILED:
        typed = "intruder" if (i // len(kinds)) % 100 == 7 else subject.username
        return AuditEvent(at=start + step * i, kind=kind, subject_name=typed, ip="198.51.100.7",
                          summary=f"Failed sign-in as “{typed}”")
    return AuditEvent(at=start + step * i, kind=kind, actor=actor, actor_name=actor.username,
                      subject=subject, subject_name=subject.username, ip="203.0.113.7",
                      summary=f"{actor.username} did thing {i} to {subject.username}")

batch = []
for i in range(size):
    batch.append(line(i))
    if len(batch) == 5000:
        AuditEvent.objects.bulk_create(batch)
        batch = []
AuditEvent.objects.bulk_create(batch)
connection.cursor().execute("ANALYZE")

client = Client()
client.force_login(admin)
oldest = list(AuditEvent.objects.order_by("at", "id").values_list("pk", flat=True)[:60])
pages = {
    "first page": {},
    "one kind": {"kind": "deletion"},
    "one person": {"person": "member7"},
    "deep page": {"before": oldest[-1]},
    "a name with no account": {"person": "intruder"},
}
results = {}
for name, params in pages.items():
    client.get("/team/audit/", params)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        response = client.get("/team/audit/", params)
        times.append(time.perf_counter() - t)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get("/team/audit/", params)
    results[name] = {
        "median_ms": statistics.median(times) * 1000,
        "queries": len(queries),
        "lines": response.content.decode().count("data-line="),
    }

tracemalloc.start()
t = time.perf_counter()
response = client.get("/team/audit/export.csv")
read = sum(len(piece) for piece in response.streaming_content)
seconds = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
results["csv"] = {"seconds": seconds, "bytes": read, "python_peak_mb": peak / 2**20}
print(json.dumps(results))
"""


def run(sizes: list[int], database_url: str = "") -> dict[str, Any]:
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    results: dict[str, Any] = {"engine": engine, "machine": machine(), "runs_per_page": RUNS, "sizes": {}}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-audit-") as var:
            url = fresh_database(database_url, var) if database_url else f"sqlite:///{var}/bench.sqlite3"
            env = environment(url, var)
            manage(env, "migrate", "-v0")
            manage(env, "collectstatic", "--noinput")  # production settings serve hashed static names
            results["sizes"][size] = django_script(env, SEED_AND_MEASURE, str(size), str(RUNS))
    base = results["sizes"][sizes[0]]
    for size, measured in results["sizes"].items():
        for name, row in measured.items():
            if name == "csv":
                row["peak_ratio"] = round(row["python_peak_mb"] / base["csv"]["python_peak_mb"], 2)
                continue
            row["ratio"] = round(row["median_ms"] / base[name]["median_ms"], 2)
            row["met"] = size == sizes[0] or (row["ratio"] <= 2 and row["queries"] <= base[name]["queries"])
    return results


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary table's rows (bench/__main__.py)."""
    sizes = sorted(result["sizes"])
    small, large = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
    engine = result["engine"]
    out = []
    for name, row in large.items():
        if name == "csv":
            continue
        indexed = name != "a name with no account"
        out.append(
            {
                "benchmark": f"15 Audit page, {name}, {sizes[-1]:,} events ({engine})",
                "measured": f"{row['median_ms']:.1f} ms, {row['queries']} queries, {row['lines']} lines",
                "baseline": f"{small[name]['median_ms']:.1f} ms, {small[name]['queries']} queries "
                f"at {sizes[0]}",
                "ratio": f"{row['ratio']:.2f}",
                "target": "≤ 2, same query count" if indexed else "(no target: no index on copied names)",
                "result": ("met" if row["met"] else "**missed**") if indexed else "—",
            }
        )
    csv_large, csv_small = large["csv"], small["csv"]
    out.append(
        {
            "benchmark": f"15 Audit CSV, all {sizes[-1]:,} events, streamed ({engine})",
            "measured": f"{csv_large['seconds']:.1f} s, {csv_large['bytes'] / 2**20:.1f} MB, "
            f"Python peak {csv_large['python_peak_mb']:.1f} MB",
            "baseline": f"{sizes[0]} events: Python peak {csv_small['python_peak_mb']:.1f} MB",
            "ratio": f"{csv_large['peak_ratio']:.2f}",
            "target": "flat memory (≤ 20 MB peak)",
            "result": "met" if csv_large["python_peak_mb"] <= 20 else "**missed**",
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100000")
    parser.add_argument(
        "--database-url", default="", help="postgres://user@host:5432/dbname (default: SQLite)"
    )
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.database_url)
    save("audit_page" if not args.database_url else "audit_page-postgresql", result)
    for row in rows(result):
        print(" | ".join(str(v) for v in row.values()))


if __name__ == "__main__":
    main()
