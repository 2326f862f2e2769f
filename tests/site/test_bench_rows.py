"""The benchmarks' shared timed row (bench/common.py): the one shape a benchmark's own table, its
JSON and the summary table (bench/__main__.py) are made from."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

import bench.__main__ as suite
from bench import image_checks
from bench.common import Timed, median_ms

REFUSING = Timed(
    case="Fix refuses a PNG of 100,000 empty parts (1.2 MB)",
    time_ms=12.345,
    fastest_ms=11.0,
    baseline="fixing an ordinary 1000×200 PNG (Crop to fit)",
    baseline_ms=4.5,
)
PREVIEW = Timed(
    case="Preview (9.9 MB)",
    time_ms=250.6,
    fastest_ms=240.2,
    baseline="decoding it whole",
    baseline_ms=900.4,
    target="≤ 0.5",
    result="met",
)
MISSED = Timed("Made up", 99.5, 98.0, "b", 10.0, target="≤ 2", result="missed")


def test_the_ratio_is_the_time_over_the_same_runs_baseline():
    assert REFUSING.ratio == pytest.approx(12.345 / 4.5)
    assert list(asdict(REFUSING)) == [
        "case",
        "time_ms",
        "fastest_ms",
        "baseline",
        "baseline_ms",
        "ratio",
        "target",
        "result",
    ]


def test_a_row_read_back_from_json_is_the_row_written():
    for row in (REFUSING, PREVIEW, MISSED):
        assert Timed.from_json(json.loads(json.dumps(asdict(row)))) == row


def test_its_summary_row_in_words():
    assert REFUSING.summary_row("3") == {
        "benchmark": "3 Fix refuses a PNG of 100,000 empty parts (1.2 MB)",
        "measured": "12 ms",
        "baseline": "fixing an ordinary 1000×200 PNG (Crop to fit) 4 ms",
        "ratio": "2.74",
        "target": "(no target)",
        "result": "—",
    }
    assert [PREVIEW.summary_row("3")[k] for k in ("measured", "ratio", "target", "result")] == [
        "251 ms",
        "0.28",
        "≤ 0.5",
        "met",
    ]
    assert MISSED.summary_row("3")["result"] == "**missed**"


def test_the_image_benchmarks_fix_table_and_the_summary_read_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert image_checks.fix_markdown([REFUSING, PREVIEW]).splitlines()[2:] == [
        "| Fix refuses a PNG of 100,000 empty parts (1.2 MB) | 12 / 11 "
        "| fixing an ordinary 1000×200 PNG (Crop to fit) | 4 | 2.74 | —  |",
        "| Preview (9.9 MB) | 251 / 240 | decoding it whole | 900 | 0.28 | ≤ 0.5 met |",
    ]
    saved = {"rows": [], "fixes": [asdict(REFUSING), asdict(MISSED)]}
    (tmp_path / "image_checks.json").write_text(json.dumps(saved))
    monkeypatch.setattr(suite, "RESULTS", tmp_path)
    # The benchmark itself is not run: its saved file stands in for it.
    monkeypatch.setattr(suite, "subprocess", SimpleNamespace(run=lambda *args, **kwargs: None, DEVNULL=None))
    assert suite.table(suite.image_rows()).splitlines()[2:] == [
        "| 3 Fix refuses a PNG of 100,000 empty parts (1.2 MB) | 12 ms "
        "| fixing an ordinary 1000×200 PNG (Crop to fit) 4 ms | 2.74 | (no target) | — |",
        "| 3 Made up | 100 ms | b 10 ms | 9.95 | ≤ 2 | **missed** |",
    ]


def test_median_ms_warms_up_once_then_times_each_run():
    calls = []
    median, fastest = median_ms(lambda: calls.append(1), 5)
    assert len(calls) == 6
    assert 0 <= fastest <= median
