"""Every benchmark of the scale issue, one after another, and one table of the results.

    .venv/bin/python -m bench [--quick] [--postgres postgres://user@127.0.0.1:5432/bench]

1 status fragment vs the framework's floor (gunicorn, 32 clients)   bench/serving.py
2 gallery at 100 and 100,000 generations                           bench/gallery.py
3, 4 image checks and a 1 GB upload                                 bench/image_checks.py
5 archiving a 200 MB video                                          bench/archive_memory.py
6 one worker tracking 500 in-flight generations                     bench/worker_capacity.py
7 stand-in completed → playable video in Chromium                   bench/end_to_end.py
8 the team queue: caps, fair turns, drain, watching, queue page      bench/queue_fairness.py
9 a zip download of 200 videos / 1 GB                              bench/zip_memory.py
10 eight one-click picture fixes at once                             bench/fix_memory.py
11 a film stitched from 30 clips vs 3                                bench/film_memory.py
12 the dollar-budget check at 1,000 and 1,000,000 generations         bench/budget_check.py
13 sign-in with a second factor vs with a password alone             bench/second_factor.py
14 the Team page at 1,000 people vs 10                                bench/team_page.py
15 the audit page and its CSV at 10 and 100,000 events               bench/audit_page.py
16 a video's page with 10,000 comments vs 10, and drawing their markers bench/review_page.py
17 a review link's guest page vs a signed-in video page               bench/guest_page.py
18 checking the largest allowed reference video and voice sample     bench/reference_probe.py

Each figure is shown beside a baseline measured in the same run, and as a ratio to it; machines
are noisy, so only the ratios compare across runs. Nothing is installed or fetched: the app's
packages, Debian's Chromium (for 7) and, with --postgres, a PostgreSQL server (the named
database is dropped and made again) must be there. --quick uses smaller sizes and shorter runs
to check the machinery (its figures are not the README's). With --postgres, every benchmark with a
database part runs on both engines (7, the browser's, on SQLite only). Prints every figure in one
Markdown table, then one line per target (ratio and result on SQLite and on PostgreSQL), and
writes var/bench/summary.json and var/bench/summary.md (the benchmarks page's "The last full run"
section: date, machine, versions, load, both tables); each benchmark also writes its own file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import (
    archive_memory,
    audit_page,
    budget_check,
    end_to_end,
    film_memory,
    fix_memory,
    gallery,
    guest_page,
    queue_fairness,
    reference_probe,
    review_page,
    second_factor,
    serving,
    team_page,
    worker_capacity,
    zip_memory,
)
from bench.common import RESULTS, ROOT, Row, Timed, machine, met, save


def serving_rows(quick: bool, postgres: str) -> list[Row]:
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = serving.run(4.0 if quick else 20.0, 32, url)
        save("serving-postgresql" if url else "serving", result)
        rows += serving_table_rows(result, "PostgreSQL" if url else "SQLite")
    return rows


def serving_table_rows(result: dict[str, Any], engine: str) -> list[Row]:
    floor, signed_in, fragment = result["floor"], result["signed_in"], result["fragment"]
    one_read = result["one_read"]
    return [
        {
            "benchmark": "1 Status fragment, 32 clients (gunicorn "
            f"{result['gunicorn']['workers']}×{result['gunicorn']['threads']} gthread) ({engine})",
            "measured": f"{fragment['rps']:.0f} req/s, p95 {fragment['p95_ms']:.0f} ms, "
            f"{fragment['errors']} errors, {fragment['queries']} queries",
            "baseline": f"constant view {floor['rps']:.0f} req/s, p95 {floor['p95_ms']:.0f} ms, "
            f"{floor['errors']} errors",
            "ratio": f"{result['ratio']:.2f}",
            "target": "≥ 0.8, no errors, 1 query, no session or user read",
            "result": met(result["met"]),
        },
        {
            "benchmark": f"1b The constant view behind sign-in (what any signed-in page pays) ({engine})",
            "measured": f"{signed_in['rps']:.0f} req/s, {signed_in['errors']} errors",
            "baseline": f"constant view {floor['rps']:.0f} req/s",
            "ratio": f"{signed_in['ratio']:.2f}",
            "target": "(context for 1)",
            "result": "—",
        },
        {
            "benchmark": f"1c The constant view plus one primary-key read, one round trip ({engine})",
            "measured": f"{one_read['rps']:.0f} req/s, {one_read['errors']} errors; "
            f"the fragment {result['ratio_to_one_read']:.2f} of it",
            "baseline": f"constant view {floor['rps']:.0f} req/s",
            "ratio": f"{one_read['ratio']:.2f}",
            "target": "(context for 1: the floor of a poll's one read)",
            "result": "—",
        },
    ]


def gallery_rows(quick: bool, postgres: str) -> list[Row]:
    sizes = [100, 10_000] if quick else [100, 100_000]
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = gallery.run(sizes, url)
        save("gallery" if not url else "gallery-postgresql", result)
        (RESULTS / f"gallery-{result['engine'].lower()}.md").write_text(gallery.report(result) + "\n")
        base, large = result["runs"][sizes[0]], result["runs"][sizes[-1]]
        for page, row in large.items():
            rows.append(
                {
                    "benchmark": f"2 Gallery {page}, {sizes[-1]:,} rows ({result['engine']})",
                    "measured": f"{row['median_ms']:.1f} ms, {row['queries']} queries",
                    "baseline": f"{base[page]['median_ms']:.1f} ms at {sizes[0]} rows",
                    "ratio": f"{row['ratio']:.2f}",
                    "target": "≤ 2, ≤ 6 queries",
                    "result": met(row["met"]),
                }
            )
    return rows


def image_rows() -> list[Row]:
    subprocess.run(
        [sys.executable, "-m", "bench.image_checks"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    data = json.loads((RESULTS / "image_checks.json").read_text())
    rows: list[Row] = []
    for row in data["rows"]:
        upload = row["case"].startswith("1 GB upload")
        rss = "n/a" if row["rss_growth_mb"] is None else f"{row['rss_growth_mb']:.1f} MB"
        rows.append(
            {
                "benchmark": ("4 " if upload else "3 ") + row["case"],
                "measured": f"{row['time_ms']:.0f} ms, RSS +{rss}, "
                f"Python peak {row['python_peak_mb']:.1f} MB",
                "baseline": f"SHA-256 of the same bytes {row['baseline_ms']:.1f} ms",
                "ratio": f"{row['ratio']:.1f}",
                "target": (
                    "≤ 21 MB read, flat memory"
                    if upload
                    else "≤ 100 ms, ≤ 30 MB"
                    if row["target"]
                    else "(no target)"
                ),
                "result": met(row["target"] == "met") if row["target"] else "—",
            }
        )
    rows += [Timed.from_json(fix).summary_row("3") for fix in data.get("fixes", [])]
    return rows


def archive_rows(quick: bool) -> list[Row]:
    result = archive_memory.run(50 if quick else 200)
    save("archive_memory", result)
    return [
        {
            "benchmark": f"5 Archive a {result['video_mb']:.0f} MB video from the stand-in",
            "measured": f"peak RSS +{result['rss_growth_mb']:.1f} MB, "
            f"Python peak {result['python_peak_mb']:.1f} MB",
            "baseline": f"a {result['baseline_video_mb'] * 1024:.0f} KB video: "
            f"+{result['baseline_rss_growth_mb']:.1f} MB",
            "ratio": f"{result['ratio']:.2f}",
            "target": "≤ 20 MB growth",
            "result": met(result["met"]),
        }
    ]


def reference_probe_rows() -> list[Row]:
    result = reference_probe.run()
    save("reference_probe", result)
    return [
        {
            "benchmark": f"18 Check a {result['video_mb']:.1f} MB, {result['video_seconds']:.0f} s "
            f"reference video and a {result['sound_mb']:.1f} MB voice sample",
            "measured": f"video: peak RSS +{result['rss_growth_mb']:.1f} MB; "
            f"voice sample: +{result['sound_rss_growth_mb']:.1f} MB",
            "baseline": f"the video's own {result['video_mb']:.1f} MB; 1 s files: "
            f"+{result['baseline_rss_growth_mb']:.1f} MB, +{result['baseline_sound_rss_growth_mb']:.1f} MB",
            "ratio": f"{result['ratio']:.2f}",
            "target": "≤ 30 MB growth each",
            "result": met(result["met"]),
        }
    ]


def fix_memory_rows() -> list[Row]:
    result = fix_memory.run(8)
    save("fix_memory", result)
    return [
        {
            "benchmark": f"10 {result['fixes']} one-click fixes at once (Add borders, {result['picture']})",
            "measured": f"peak RSS +{result['concurrent_peak_mb']:.0f} MB ({result['busy']} busy), "
            f"+{result['concurrent_retained_mb']:.0f} MB kept after; "
            f"one fix +{result['one_fix_peak_mb']:.0f} MB ({result['one_fix_ratio']:.2f}×)",
            "baseline": f"decoding the picture once: +{result['decoded_mb']:.0f} MB",
            "ratio": f"{result['concurrent_ratio']:.2f}",
            "target": "one fix ≤ 2.2×, 8 at once ≤ 2 slots × 2.2×, kept ≤ 0.5×",
            "result": met(result["met"]),
        }
    ]


def worker_rows(quick: bool, postgres: str) -> list[Row]:
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = worker_capacity.run(500, 15.0 if quick else 60.0, url, None)
        save("worker_capacity-postgresql" if url else "worker_capacity", result)
        rows += worker_table_rows(result)
    return rows


def worker_table_rows(result: dict[str, Any]) -> list[Row]:
    return [
        {
            "benchmark": f"6 One worker, {result['jobs']} in-flight jobs, "
            f"poll every {result['poll_interval_setting']:g} s ({result['database']})",
            "measured": f"interval p95 {result['interval_p95']:.2f} s (mean {result['interval_mean']:.2f}, "
            f"worst job's mean {result['worst_job_mean']:.2f}); "
            f"{result['polls_per_job_per_minute']:.1f} upstream calls per job per minute",
            "baseline": f"setting {result['poll_interval_setting']:g} s "
            f"({result['ideal_polls_per_job_per_minute']:.0f} calls per job per minute)",
            "ratio": f"{result['ratio_p95']:.2f}",
            "target": "≤ 1.2",
            "result": met(result["met"]),
        }
    ]


def end_to_end_rows(quick: bool) -> list[Row]:
    result = end_to_end.run(3 if quick else 7)
    save("end_to_end", result)
    return [
        {
            "benchmark": "7 Stand-in completed → playable <video> in Chromium (demo mode) (SQLite)",
            "measured": f"median {result['median_seconds']:.2f} s over {result['runs']} videos "
            f"({', '.join(f'{s:.1f}' for s in result['seconds'])})",
            "baseline": f"POLL_INTERVAL {result['poll_interval']:g} s",
            "ratio": f"{result['ratio']:.2f}",
            "target": f"≤ {result['target_seconds'] / result['poll_interval']:.1f} "
            f"(≤ {result['target_seconds']:g} s)",
            "result": met(result["met"]),
        }
    ]


def queue_rows(quick: bool, postgres: str) -> list[Row]:
    # The size: 1,000 takes at a 2 s render drain in about seven minutes (on each engine).
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = queue_fairness.run(40 if quick else 1000, 20, 1.0 if quick else 2.0, url)
        save("queue_fairness-postgresql" if url else "queue_fairness", result)
        rows += queue_fairness.rows(result)
    return rows


def zip_rows(quick: bool) -> list[Row]:
    result = zip_memory.run(40 if quick else 200, 5)
    save("zip_memory", result)
    return [
        {
            "benchmark": f"9 Zip download of {result['videos']} videos, {result['zip_mb']:.0f} MB, streamed",
            "measured": f"peak RSS +{result['rss_growth_mb']:.1f} MB, {result['mb_per_second']:.0f} MB/s "
            f"(one video: +{result['one_video_rss_growth_mb']:.1f} MB)",
            "baseline": f"the same zip built in memory: +{result['baseline_rss_growth_mb']:.0f} MB",
            "ratio": f"{result['ratio']:.4f}",
            "target": "≤ 20 MB growth",
            "result": met(result["met"]),
        }
    ]


def film_rows(quick: bool) -> list[Row]:
    result = film_memory.run(8 if quick else 30)
    save("film_memory", result)
    rows: list[Row] = []
    for way, label in (
        ("copy", "stream copy, clips alike"),
        ("re-encode", "re-encode, two sizes mixed"),
        ("copy with sound", "stream copy, two in three with sound"),
        ("re-encode with sound", "re-encode, two in three with sound"),
    ):
        r = result[way]
        ratio = r["ratio"]
        rows.append(
            {
                "benchmark": f"11 A film of {r['clips']} one-second clips ({label})",
                "measured": f"peak RSS +{r['rss_growth_mb']:.2f} MB, "
                f"Python peak {r['python_peak_mb']:.2f} MB",
                "baseline": f"{r['baseline_clips']} clips: +{r['baseline_rss_growth_mb']:.2f} MB",
                "ratio": f"{ratio:.2f}",
                "target": "≤ 1.5 (flat in the number of clips)",
                "result": met(ratio <= 1.5),
            }
        )
    return rows


def budget_rows(quick: bool, postgres: str) -> list[Row]:
    sizes = [1000, 10_000] if quick else [1000, 1_000_000]
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = budget_check.run(sizes, url)
        save("budget_check-postgresql" if url else "budget_check", result)
        engine = "PostgreSQL" if url else "SQLite"
        small, large = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
        for key, label in (
            ("budgets.check, person budget", "a person's budget"),
            ("budgets.check, person and team budgets", "a person's and the team's budgets"),
        ):
            growth = result["growth"][key]
            rows.append(
                {
                    "benchmark": f"12 Budget check, {label}, {sizes[-1]:,} generations this month ({engine})",
                    "measured": f"{large[key]['median_ms']:.1f} ms, {large[key]['queries']} queries",
                    "baseline": f"the same check at {sizes[0]:,}: {small[key]['median_ms']:.1f} ms, "
                    f"{small[key]['queries']} queries",
                    "ratio": f"{growth:.2f}",
                    "target": "≤ 1.2",
                    "result": met(growth <= 1.2),
                }
            )
    return rows


def second_factor_rows(quick: bool, postgres: str) -> list[Row]:
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = second_factor.run(5 if quick else 20, url)
        save("second_factor-postgresql" if url else "second_factor", result)
        rows.append(
            {
                "benchmark": f"13 Sign-in with an authenticator-app code ({result['engine']})",
                "measured": f"{result['second_factor_median_ms']:.0f} ms, 4 requests, "
                f"{result['second_factor_queries']} queries",
                "baseline": f"password alone: {result['password_median_ms']:.0f} ms, 2 requests, "
                f"{result['password_queries']} queries",
                "ratio": f"{result['ratio']:.2f} (CPU {result['cpu_ratio']:.2f})",
                "target": f"≤ {result['target']}",
                "result": met(result["met"]),
            }
        )
    return rows


def team_page_rows(postgres: str) -> list[Row]:
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = team_page.run([10, 1000], url)
        save("team_page-postgresql" if url else "team_page", result)
        small, large = result["runs"][10], result["runs"][1000]
        for page, row in large.items():
            rows.append(
                {
                    "benchmark": f"14 Team page, {page}, 1,000 people ({result['engine']})",
                    "measured": f"{row['median_ms']:.1f} ms, {row['queries']} queries, {row['rows']} rows",
                    "baseline": f"{small[page]['median_ms']:.1f} ms at 10 people, "
                    f"{small[page]['queries']} queries",
                    "ratio": f"{row['ratio']:.2f}",
                    "target": "≤ 2, same query count",
                    "result": met(row["met"]),
                }
            )
    return rows


def audit_rows(quick: bool, postgres: str) -> list[Row]:
    sizes = [10, 10_000] if quick else [10, 100_000]
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = audit_page.run(sizes, url)
        save("audit_page-postgresql" if url else "audit_page", result)
        rows += audit_page.rows(result)
    return rows


def guest_page_rows(quick: bool, postgres: str) -> list[Row]:
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = guest_page.run(4.0 if quick else 20.0, 32, url)
        save("guest_page-postgresql" if url else "guest_page", result)
        guest, signed_in = result["guest"], result["signed_in"]
        rows.append(
            {
                "benchmark": f"17 Review link's guest page, 32 clients ({result['database']})",
                "measured": f"{guest['rps']:.0f} req/s, p95 {guest['p95_ms']:.0f} ms, "
                f"{guest['errors']} errors, {guest['queries']} queries, "
                f"session read: {'yes' if guest['reads_session'] else 'no'}",
                "baseline": f"signed-in video page {signed_in['rps']:.0f} req/s, "
                f"p95 {signed_in['p95_ms']:.0f} ms",
                "ratio": f"{result['ratio']:.2f}",
                "target": "≥ 0.8, no errors, no session read, no cookie",
                "result": met(result["met"]),
            }
        )
    return rows


def review_rows(quick: bool, postgres: str) -> list[Row]:
    comments = 2_000 if quick else 10_000
    rows: list[Row] = []
    for url in ["", postgres] if postgres else [""]:
        result = review_page.run(comments, url)
        save("review_page-postgresql" if url else "review_page", result)
        rows += review_page.rows(result)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| Benchmark | Measured | Baseline (same run) | Ratio | Target | Result |",
        "|---|---|---|---:|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['benchmark']} | {row['measured']} | {row['baseline']} | {row['ratio']} "
            f"| {row['target']} | {row['result']} |"
        )
    return "\n".join(lines)


ENGINES = ("SQLite", "PostgreSQL")
ENGINE_SUFFIX = re.compile(r" \((SQLite|PostgreSQL)\)$")


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """Every row with a target, one per benchmark, with its ratio and result on each engine.

    A row named "… (SQLite)" or "… (PostgreSQL)" was measured on that engine; a row without
    either has no database part (memory, pictures, the browser), and its figure stands for both.
    Context rows (no target) are left out.
    """
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["result"] == "—":
            continue
        found = ENGINE_SUFFIX.search(row["benchmark"])
        name = ENGINE_SUFFIX.sub("", row["benchmark"])
        entry = merged.setdefault(name, {"benchmark": name, "target": row["target"], "engines": {}})
        entry["engines"][found[1] if found else ""] = f"{row['ratio']} {row['result']}"
    return list(merged.values())


def summary_table(rows: list[Row]) -> str:
    lines = [
        "| Benchmark | Target | SQLite: ratio, result | PostgreSQL: ratio, result |",
        "|---|---|---|---|",
    ]
    for entry in targets(rows):
        cells = entry["engines"]
        if "" in cells:
            sqlite, postgresql = cells[""], "— (no database part)"
        else:
            sqlite, postgresql = (cells.get(engine, "not run") for engine in ENGINES)
        lines.append(f"| {entry['benchmark']} | {entry['target']} | {sqlite} | {postgresql} |")
    return "\n".join(lines)


def versions(postgres: str) -> dict[str, str]:
    """The database engines' versions this run used (PostgreSQL's as the server reports it)."""
    import sqlite3

    found = {"sqlite": sqlite3.sqlite_version, "postgresql": "not used"}
    if postgres:
        base = postgres.rsplit("/", 1)[0]
        out = subprocess.run(
            ["psql", f"{base}/postgres", "-tAc", "SHOW server_version"],  # noqa: S607
            capture_output=True,
            text=True,
        )
        found["postgresql"] = out.stdout.strip().split()[0] if out.returncode == 0 else "unknown"
    return found


def summary_markdown(summary: dict[str, Any], rows: list[Row]) -> str:
    """The benchmarks page's "The last full run" section (docs/benchmarks.md), ready to paste."""
    m = summary["machine"]
    load = summary["load_average"]
    results = [cell for entry in targets(rows) for cell in entry["engines"].values()]
    met_count = sum(1 for cell in results if "missed" not in cell)
    return "\n".join(
        [
            f"The last full run, {summary['measured_at'][:10]} (`python -m bench"
            f"{' --quick' if summary['quick'] else ''}{' --postgres …' if summary['postgres'] else ''}`, "
            f"{summary['minutes']} min), on a {m['cpus']}-core machine ({m['platform']}): "
            f"Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL {m['postgresql']}; "
            f"load average {load['start']:.1f} at the start and {load['end']:.1f} at the end "
            "(the ratios compare across machines, the figures do not).",
            "",
            f"Targets met: {met_count} of {len(results)} (a row without a database part counts once).",
            "",
            summary_table(rows),
            "",
            "Every figure of the run, beside its baseline:",
            "",
            table(rows),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument("--postgres", default="", help="also measure on this PostgreSQL database")
    args = parser.parse_args()
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("1 serving", lambda: serving_rows(args.quick, args.postgres)),
        ("2 gallery", lambda: gallery_rows(args.quick, args.postgres)),
        ("3-4 image checks", image_rows),
        ("5 archive", lambda: archive_rows(args.quick)),
        ("6 worker", lambda: worker_rows(args.quick, args.postgres)),
        ("7 end to end", lambda: end_to_end_rows(args.quick)),
        ("8 queue", lambda: queue_rows(args.quick, args.postgres)),
        ("9 zip", lambda: zip_rows(args.quick)),
        ("10 fix memory", fix_memory_rows),
        ("11 film memory", lambda: film_rows(args.quick)),
        ("12 budget check", lambda: budget_rows(args.quick, args.postgres)),
        ("13 second factor", lambda: second_factor_rows(args.quick, args.postgres)),
        ("14 team page", lambda: team_page_rows(args.postgres)),
        ("15 audit page", lambda: audit_rows(args.quick, args.postgres)),
        ("16 review page", lambda: review_rows(args.quick, args.postgres)),
        ("17 guest page", lambda: guest_page_rows(args.quick, args.postgres)),
        ("18 reference probe", reference_probe_rows),
    ]
    rows: list[Row] = []
    for name, step in steps:
        print(f"==> {name}", file=sys.stderr, flush=True)
        rows += step()
    print(table(rows))
    summary = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "postgres": bool(args.postgres),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "machine": {**machine(), **versions(args.postgres)},
        "load_average": {"start": load_at_start, "end": os.getloadavg()[0]},
        "rows": rows,
    }
    path = save("summary", summary)
    markdown = RESULTS / "summary.md"
    markdown.write_text(summary_markdown(summary, rows))
    print("\n" + summary_table(rows))
    print(
        f"\nWritten to {path.relative_to(ROOT)} and {markdown.relative_to(ROOT)} in {summary['minutes']} min",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
