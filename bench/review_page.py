"""Benchmark 16: a video's page with 10,000 comments against the same page with 10, and drawing
their markers on the seek bar in Chromium.

    .venv/bin/python -m bench.review_page [--comments 10000] [--database-url URL]

A fresh database gets two ready 6-second videos: one with 10 comment threads, one with 10,000
(one in five with a reply, a third resolved). Each video's page is fetched through Django's test
client, signed in as a member, 25 times after a warm-up, the two taking turns request by request
so a burst of load from elsewhere falls on both. Reported: medians, SQL query counts, the threads
drawn and the markers' JSON size, and the ratio large / small (target ≤ 1.5, same queries).

Then each page's HTML is opened in Chromium with static/js/review.js, and the markers are drawn
25 times (window.reviewMarkers.draw(), which returns its own time): the median for 10,000
comments against 10 (target: the page never freezes, i.e. one drawing well under a frame, 16 ms).
Writes var/bench/review_page.json (review_page-postgresql.json).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from typing import Any

from bench.common import ROOT, django_script, environment, fresh_database, machine, manage, save
from tests.chromium import CHROMIUM_ARGS, chromium_path

RUNS = 25

SEED_AND_MEASURE = r"""
import json, statistics, sys, time
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playground.generations.models import Generation
from playground.review.models import Comment

large, runs = int(sys.argv[1]), int(sys.argv[2])
User = get_user_model()
alice = User.objects.create_user("alice", "alice@example.com")
bob = User.objects.create_user("bob", "bob@example.com")
now = timezone.now()

def video(n):
    gen = Generation.objects.create(created_by=alice, model="video-01", prompt=f"A take with {n} comments",
                                    state="ready", finished_at=now, duration=6.0,
                                    video="videos/x.mp4", poster="posters/x.jpg")
    threads = Comment.objects.bulk_create(
        [Comment(generation=gen, author=bob, author_name="bob", at_ms=(i * 6000) // n,
                 text=f"Comment {i}: see https://example.com/{i}", resolved_at=now if i % 3 == 0 else None)
         for i in range(n)], batch_size=2000)
    Comment.objects.bulk_create(
        [Comment(generation=gen, parent=t, author=alice, author_name="alice", at_ms=t.at_ms, text="Reply")
         for t in threads[::5]], batch_size=2000)
    return gen

pages = {"small": video(10), "large": video(large)}
connection.cursor().execute("ANALYZE")
client = Client()
client.force_login(alice)
for gen in pages.values():
    client.get(gen.get_absolute_url())  # warm-up
times = {name: [] for name in pages}
html = {}
for _ in range(runs):
    for name, gen in pages.items():
        t = time.perf_counter()
        response = client.get(gen.get_absolute_url())
        times[name].append(time.perf_counter() - t)
        assert response.status_code == 200, response.status_code
        html[name] = response.content.decode()
results = {}
for name, gen in pages.items():
    with CaptureQueriesContext(connection) as queries:
        client.get(gen.get_absolute_url())
    page = html[name]
    start = page.index('data-markers="')
    results[name] = {
        "median_ms": statistics.median(times[name]) * 1000,
        "queries": len(queries),
        "threads_drawn": page.count('<li class="thread'),
        "markers_json_bytes": page.index('"', start + 14) - start - 14,
        "page_bytes": len(page),
        "html": page,
    }
print(json.dumps(results))
"""


def draw_times(html: str) -> dict[str, float]:
    """Median time of drawing the markers from this page's JSON, in Chromium."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("Chromium is needed (apt-get install chromium).")
    script = (ROOT / "static" / "js" / "review.js").read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(html.replace("<script src=", "<script data-off src="), wait_until="domcontentloaded")
        page.add_script_tag(content=script)
        drawn = int(page.eval_on_selector("#marker-strip", "el => Number(el.dataset.drawn)"))
        times = [float(page.evaluate("window.reviewMarkers.draw()")) for _ in range(RUNS)]
        browser.close()
    return {"median_ms": statistics.median(times), "max_ms": max(times), "markers": drawn}


def run(large: int, database_url: str = "") -> dict[str, Any]:
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    with tempfile.TemporaryDirectory(prefix="bench-review-") as var:
        url = fresh_database(database_url, var) if database_url else f"sqlite:///{var}/bench.sqlite3"
        env = environment(url, var)
        manage(env, "migrate", "-v0")
        manage(env, "collectstatic", "--noinput")
        measured = django_script(env, SEED_AND_MEASURE, str(large), str(RUNS))
    small, big = measured["small"], measured["large"]
    for row in (small, big):
        row["draw"] = draw_times(row.pop("html"))
    return {
        "engine": engine,
        "machine": machine(),
        "comments": {"small": 10, "large": large},
        "small": small,
        "large": big,
        "page_ratio": round(big["median_ms"] / small["median_ms"], 2),
        "draw_ratio": round(big["draw"]["median_ms"] / max(small["draw"]["median_ms"], 0.001), 2),
        "met": big["median_ms"] / small["median_ms"] <= 1.5 and big["queries"] <= small["queries"],
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary table's rows (bench/__main__.py)."""
    small, big, engine = result["small"], result["large"], result["engine"]
    n = f"{result['comments']['large']:,}"
    return [
        {
            "benchmark": f"16 A video's page, {n} comments ({engine})",
            "measured": f"{big['median_ms']:.1f} ms, {big['queries']} queries, "
            f"{big['threads_drawn']} threads shown",
            "baseline": f"10 comments: {small['median_ms']:.1f} ms, {small['queries']} queries",
            "ratio": f"{result['page_ratio']:.2f}",
            "target": "≤ 1.5, same query count",
            "result": "met" if result["met"] else "**missed**",
        },
        {
            "benchmark": f"16 Drawing the markers of {n} comments in Chromium",
            "measured": f"{big['draw']['median_ms']:.2f} ms ({big['draw']['markers']} markers)",
            "baseline": f"10 comments: {small['draw']['median_ms']:.2f} ms",
            "ratio": f"{result['draw_ratio']:.2f}",
            "target": "one drawing < 16 ms (a frame)",
            "result": "met" if big["draw"]["max_ms"] < 16 else "**missed**",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    result = run(args.comments, args.database_url)
    save("review_page-postgresql" if args.database_url else "review_page", result)
    for row in rows(result):
        print(row)


if __name__ == "__main__":
    main()
