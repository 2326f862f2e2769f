"""Benchmark: what the dollar-budget check costs a start, at a thousand and a million videos a month.

    .venv/bin/python -m bench.budget_check [--sizes 1000,1000000] [--database-url URL]

For each size, a fresh database gets that many generations this month from 50 members (a mix of
ready, failed and in-flight rows, half with a reported cost), inserted by one INSERT ... SELECT
over a generated series (the ORM one row at a time would take an hour at a million), then the
running totals are built from them as the migration does (money/totals.py recount). Then two
checks every start makes are timed 200 times after a warm-up: the count allowance
(`allowance_for`, the baseline) and the budget check (`budgets.check`: the estimate and the
person's month, and with a team budget set also the team's). Both read the month's running
totals, so neither should grow with the month. Reported: medians, SQL query counts, each check
as a ratio to the baseline in the same run, and `growth`: the check at the largest size over
the check at the smallest (target: at most 1.2). Writes var/bench/budget_check.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from bench.common import django_script, environment, fresh_database, machine, manage, save

SEED_AND_MEASURE = r"""
import json, statistics, sys, time
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import fields as F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playground.money import budgets, totals
from playground.generations.models import Generation
from playground.money.models import allowance_for, month_start

size, runs = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
members = [User.objects.create_user(f"member{i}") for i in range(50)]
first_member = members[0].pk
assert [m.pk for m in members] == list(range(first_member, first_member + 50))
start = month_start()
span = max(1, int((timezone.now() - start).total_seconds()) - 60)
pg = connection.vendor == "postgresql"

# One INSERT ... SELECT over a generated series: a million rows without a million round trips.
# Every NOT NULL column gets a value; the ones the check reads follow the mix below.
states = ["ready"] * 6 + ["failed", "running", "queued", "recovering"]
mix = {
    "created_by_id": f"{first_member} + (i % 50)",
    "model": "CASE WHEN i % 3 = 0 THEN 'video-01-live2d' ELSE 'video-01' END",
    "prompt": "'bench ' || i" if not pg else "'bench ' || i::text",
    "state": "CASE i % 10 " + " ".join(f"WHEN {n} THEN '{s}'" for n, s in enumerate(states)) + " END",
    "usd_spent": "CASE WHEN i % 2 = 1 THEN 0.43 END",
    "submission_token": "md5(i::text)::uuid" if pg else "printf('%032x', i)",
}
# (No query parameters: the statement is all ours, and its % signs stay as they are.)
moment = (
    f"('{start.isoformat()}'::timestamptz + (i::bigint * {span} / {size}) * interval '1 second')"
    if pg
    else f"strftime('%Y-%m-%d %H:%M:%S', {int(start.timestamp())} + i * {span} / {size}, 'unixepoch')"
)
columns, values = [], []
for field in Generation._meta.concrete_fields:
    if field.primary_key:
        continue
    columns.append(connection.ops.quote_name(field.column))
    if field.attname in mix:
        values.append(mix[field.attname])
    elif isinstance(field, F.DateTimeField) and not field.null:
        values.append(moment)
    elif field.null:
        values.append("NULL")
    elif isinstance(field, F.BooleanField):
        values.append("false" if pg else "0")
    elif isinstance(field, (F.IntegerField, F.FloatField, F.DecimalField)):
        values.append("0")
    else:
        values.append("''")
series = (
    f"generate_series(0, {size - 1}) AS i"
    if pg
    else "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
    f"WHERE i < {size - 1}) SELECT i FROM s)"
)
table = Generation._meta.db_table
sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {series}"
t = time.perf_counter()
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute(sql)
inserted = time.perf_counter() - t
t = time.perf_counter()
recount = totals.recount(fix=True)  # the running totals, as the migration and the command make them
rebuilt = time.perf_counter() - t
if pg:  # what autovacuum does soon after a million new rows (and the rebuild's million updates)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Generation._meta.db_table}")
assert Generation.objects.count() == size and recount.stale_rows == size
who = members[7]
# The totals agree with the rows (to the cent: SQLite sums the rows in floating point, the totals
# add whole nanodollars).
agree = budgets.committed_this_month() - budgets.committed(since=start)
assert abs(agree) < Decimal("0.01"), agree

def timed(fn):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    with CaptureQueriesContext(connection) as queries:
        fn()
    return {"median_ms": statistics.median(times) * 1000, "queries": len(queries)}

from django.test import override_settings
with override_settings(TEAM_MONTHLY_BUDGET_USD=None):
    person_only = timed(lambda: budgets.check(who, "video-01"))
print(json.dumps({
    "seed_seconds": round(inserted, 1),
    "totals_rebuild_seconds": round(rebuilt, 1),
    "allowance_for (baseline)": timed(lambda: allowance_for(who)),
    "budgets.check, person budget": person_only,
    "budgets.check, person and team budgets": timed(lambda: budgets.check(who, "video-01")),
}))
"""


def run(sizes: list[int], database_url: str = "") -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "sizes": {}}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-budget-") as var:
            url = fresh_database(database_url, var) if database_url else f"sqlite:///{var}/bench.sqlite3"
            env = environment(url, var, TEAM_MONTHLY_BUDGET_USD="100000", MONTHLY_BUDGET_USD="100000")
            manage(env, "migrate", "-v0")
            measured = django_script(env, SEED_AND_MEASURE, str(size), "200")
            base = measured["allowance_for (baseline)"]["median_ms"]
            for row in measured.values():
                if isinstance(row, dict):
                    row["ratio_to_baseline"] = round(row["median_ms"] / base, 2)
            results["sizes"][size] = measured
    # The target: the check at the largest size within 1.2x the check at the smallest.
    small, large = results["sizes"][sizes[0]], results["sizes"][sizes[-1]]
    results["growth"] = {
        key: round(large[key]["median_ms"] / small[key]["median_ms"], 2)
        for key in ("budgets.check, person budget", "budgets.check, person and team budgets")
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.database_url)
    save("budget_check" if not args.database_url else "budget_check-postgresql", result)
    print(json.dumps({"sizes": result["sizes"], "growth": result["growth"]}, indent=2))


if __name__ == "__main__":
    main()
