"""Benchmark 2: the gallery at scale.

    .venv/bin/python -m bench.gallery [--sizes 100,10000,100000] [--database-url URL]

For each size, a fresh database is seeded with that many finished generations from 50 members
(seed_demo --no-media), then six gallery pages are measured through Django's test client,
signed in: the first page, a prompt search that matches nothing (every prompt must be ruled out),
a search for a word in one prompt in sixteen (thousands of matches to order), a filtered page (one
model, ready only), the same for one creator (at 100 rows a creator has only a card or two, so
that baseline page is nearly empty) and a deep page (a "Load more" cursor near the oldest row). Each is run 25
times after a warm-up; the median is reported, with its SQL query count, and as a ratio to the
same page at the smallest size measured in the same run (machines are noisy, so only ratios
compare across runs).

SQLite by default (a temporary file); give --database-url postgres://... to measure PostgreSQL
(the named database is dropped and created for each size). Writes var/bench/gallery.json
(gallery-postgresql.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.common import ROOT, environment, fresh_database, manage, save

RUNS = 25
MEMBERS = 50

MEASURE = r"""
import json, statistics, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from playground.generations.models import Generation

runs = int(sys.argv[1])
member = get_user_model().objects.filter(generations__isnull=False).order_by("username").first()
client = Client()
client.force_login(member)
oldest = list(Generation.objects.order_by("created_at", "id").values_list("pk", flat=True)[:30])
pages = {
    "first page": {},
    "search": {"q": "lighthouse dusk"},
    "search, common word": {"q": "lighthouse"},
    "filtered": {"model": "video-01", "state": "ready"},
    "filtered by creator": {"creator": "mine", "state": "ready"},
    "deep page": {"before": oldest[-1]},
}
results = {}
for name, params in pages.items():
    client.get("/gallery/", params)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get("/gallery/", params)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get("/gallery/", params)
    results[name] = {
        "median_ms": statistics.median(times) * 1000,
        "queries": len(queries),
        "cards": response.content.decode().count('class="card-item"'),
        "sql": queries.captured_queries[-1]["sql"],
    }
print(json.dumps(results))
"""

PLAN = r"""
import django, json, sys
django.setup()
from django.db import connection
sql = json.loads(sys.stdin.read())
with connection.cursor() as cursor:
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    cursor.execute(prefix + sql)
    print(json.dumps([" ".join(str(c) for c in row) for row in cursor.fetchall()]))
"""


def measure(size: int, url: str) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as var_dir:
        env = environment(fresh_database(url, var_dir), var_dir)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")  # production settings serve hashed static names
        started = time.perf_counter()
        manage(env, "seed_demo", "--generations", str(size), "--members", "10", "--no-media", "--days", "365")
        extra_members = MEMBERS - 10
        script = (
            "import django; django.setup();"
            "from django.contrib.auth import get_user_model;"
            "from playground.generations.models import Generation;"
            "import random; rng = random.Random(3); U = get_user_model();"
            f"people = [U.objects.get_or_create(username=f'member{{i}}')[0] for i in range({extra_members})];"
            "ids = list(Generation.objects.values_list('pk', flat=True));"
            "[Generation.objects.filter(pk__in=ids[i::len(people)+10]).update(created_by=p)"
            " for i, p in enumerate(people)];"
            # A live database has planner statistics (autovacuum, or SQLite's optimize); a bulk
            # load measured at once would not, and the plans would be guesses.
            "from django.db import connection; connection.cursor().execute('ANALYZE')"
        )
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)
        seeded = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(RUNS)], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if out.returncode:
            raise SystemExit(out.stderr)
        results: dict[str, dict[str, Any]] = json.loads(out.stdout)
        for row in results.values():
            plan = subprocess.run(
                [sys.executable, "-c", PLAN],
                cwd=ROOT,
                env=env,
                input=json.dumps(row.pop("sql")),
                capture_output=True,
                text=True,
                check=True,
            )
            row["plan"] = json.loads(plan.stdout)
            row["seed_seconds"] = round(seeded, 1)
        return results


def run(sizes: list[int], database_url: str) -> dict[str, Any]:
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    runs = {size: measure(size, database_url) for size in sizes}
    base = runs[sizes[0]]
    for size, results in runs.items():
        for name, row in results.items():
            ratio = float(row["median_ms"]) / float(base[name]["median_ms"])
            row["ratio"] = round(ratio, 2)
            row["met"] = int(row["queries"]) <= 6 and (size == sizes[0] or ratio <= 2)
    return {"engine": engine, "sizes": sizes, "runs_per_page": RUNS, "runs": runs}


def report(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    lines = [
        f"Gallery pages on {result['engine']} "
        f"(median of {RUNS}; ratio to the same page at {sizes[0]:,} rows)",
        "",
        "| page | rows | queries | median ms | ratio | target (≤ 6 queries, ratio ≤ 2) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for size, results in result["runs"].items():
        for name, row in results.items():
            lines.append(
                f"| {name} | {size:,} | {row['queries']} | {float(row['median_ms']):.1f} "
                f"| {row['ratio']:.2f} | {'met' if row['met'] else 'MISSED'} |"
            )
    largest = result["runs"][sizes[-1]]
    lines += ["", f"Query plans at {sizes[-1]:,} rows:"]
    for name, row in largest.items():
        lines.append(f"- {name}: " + " / ".join(row["plan"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument(
        "--database-url", default="", help="postgres://user@host:5432/dbname (default: SQLite)"
    )
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.database_url)
    print(report(result))
    path = save("gallery" if result["engine"] == "SQLite" else "gallery-postgresql", result)
    print(f"\nWrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
