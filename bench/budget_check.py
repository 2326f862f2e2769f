"""Benchmark: what the dollar-budget check adds to a start, at team scale.

    .venv/bin/python -m bench.budget_check [--sizes 1000,100000] [--database-url URL]

For each size, a fresh database gets that many generations this month from 50 members (a mix of
ready, failed and in-flight rows, half with a reported cost), then two checks every start makes
are timed 50 times after a warm-up: the existing count allowance (`allowance_for`, the baseline)
and the budget check (`budgets.check`: the estimate and the person's spent-plus-expected sum,
and with a team budget set also the whole team's). Reported: medians, SQL query counts, and
the budget check as a ratio to the baseline in the same run. Writes var/bench/budget_check.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from typing import Any

from bench.common import django_script, environment, fresh_database, machine, manage, save

SEED_AND_MEASURE = r"""
import json, statistics, sys, time
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playground.money import budgets
from playground.generations.models import Generation, State
from playground.money.models import allowance_for, month_start

size, runs = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
members = [User.objects.create_user(f"member{i}") for i in range(50)]
start = month_start()
span = max(1.0, (timezone.now() - start).total_seconds() - 60)
states = [State.READY] * 6 + [State.FAILED, State.RUNNING, State.QUEUED, State.RECOVERING]
rows = [
    Generation(
        created_by=members[i % 50],
        model="video-01" if i % 3 else "video-01-live2d",
        prompt=f"bench {i}",
        state=states[i % len(states)],
        created_at=start + timedelta(seconds=span * i / size),
        usd_spent=Decimal("0.43") if i % 2 else None,
    )
    for i in range(size)
]
Generation.objects.bulk_create(rows, batch_size=2000)
who = members[7]

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
            measured = django_script(env, SEED_AND_MEASURE, str(size), "50")
            base = measured["allowance_for (baseline)"]["median_ms"]
            for row in measured.values():
                row["ratio_to_baseline"] = round(row["median_ms"] / base, 2)
            results["sizes"][size] = measured
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run([int(s) for s in args.sizes.split(",")], args.database_url)
    save("budget_check" if not args.database_url else "budget_check-postgresql", result)
    print(json.dumps(result["sizes"], indent=2))


if __name__ == "__main__":
    main()
