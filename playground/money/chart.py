"""The Costs page's bar chart, laid out on the server and drawn as inline SVG by a template.

No script and no outside request: this module works out where each bar, axis label and budget
line goes; templates/playground/costs_chart.html writes the SVG. Colours come from CSS classes
(app.css, with its dark-mode variables), never from style attributes, which the site's CSP forbids.

A page draws two of these, a wide one and a narrow one with fewer labels, and CSS shows the one
that fits, so the labels stay readable on a 360-pixel phone without shrinking to nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from playground.money.budgets import dollars
from playground.money.costs import Report, bucket_label
from playground.money.spend import Spent


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Rule:
    """A horizontal budget line."""

    y: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    key: str  # "wide" or "narrow": the ids inside the SVG
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    ticks: list[Label]  # the dollar axis, with the grid line's y
    days: list[Label]  # the time axis
    rules: list[Rule]
    running: str  # SVG polyline points of the month-to-date line ("" when by month)
    title: str
    description: str


SIZES = {"wide": (720, 300, 12), "narrow": (300, 260, 5)}  # width, height, most time labels


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` steps up to `top`."""
    raw = top / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return float(multiple * power)
    return 10.0 * power


def axis_dollars(value: float, step: float) -> str:
    if step >= 1 and float(value).is_integer():
        return f"${value:,.0f}"
    return f"${value:,.2f}"


def draw(report: Report, key: str) -> Chart:
    width, height, most_labels = SIZES[key]
    left, right, top, bottom = (58.0 if key == "wide" else 48.0), width - 8.0, 12.0, height - 28.0
    points = report.points
    budget_lines = [
        (report.budgets.team, "chart-team", "Team monthly budget"),
        (report.budgets.person, "chart-person", report.budgets.person_label),
    ]
    budget_lines = [(amount, css, name) for amount, css, name in budget_lines if amount is not None]
    highest = max(
        [float(p.spent.usd) for p in points]
        + [float(v) for v in report.running]
        + [float(amount) for amount, _, _ in budget_lines if amount is not None]
        + [0.0]
    )
    step = nice_step(highest if highest > 0 else 1.0)
    ceiling = step * math.ceil((highest if highest > 0 else 1.0) / step - 1e-9)

    def y_of(amount: Decimal | float) -> float:
        return bottom - (bottom - top) * float(amount) / ceiling

    slot = (right - left) / max(1, len(points))
    gap = min(slot * 0.2, 6.0)
    bars = [
        Bar(
            x=round(left + n * slot + gap / 2, 2),
            y=round(y_of(p.spent.usd), 2),
            width=round(max(slot - gap, 1.0), 2),
            height=round(bottom - y_of(p.spent.usd), 2),
            title=f"{bucket_label(report.period, p.day)}: {dollars(p.spent.usd)}, {_videos(p.spent)}",
        )
        for n, p in enumerate(points)
        if p.spent.usd > 0
    ]
    ticks = [
        Label(left - 6, round(y_of(step * n), 2), axis_dollars(step * n, step))
        for n in range(round(ceiling / step) + 1)
    ]
    every = max(1, math.ceil(len(points) / most_labels))
    days = [
        Label(round(left + (n + 0.5) * slot, 2), height - 10, _short(report, p.day, n))
        for n, p in enumerate(points)
        if n % every == 0
    ]
    rules = [
        Rule(round(y_of(amount), 2), css, f"{name}: {dollars(amount)}")
        for amount, css, name in budget_lines
        if amount is not None
    ]
    running = " ".join(
        f"{round(left + (n + 0.5) * slot, 2)},{round(y_of(v), 2)}" for n, v in enumerate(report.running)
    )
    unit = "day" if report.period.by == "day" else "month"
    title = f"Dollars spent by {unit}, {report.period.title}, {report.who}"
    sentences = [f"{dollars(report.total.usd)} in all over {len(points)} {unit}s."]
    if points:
        sentences.append(f"The highest {unit} was {dollars(max(p.spent.usd for p in points))}.")
    sentences.extend(f"{name}: {dollars(amount)}." for amount, _, name in budget_lines if amount is not None)
    if report.running:
        sentences.append("The line is each month's running total.")
    sentences.append(f"The same figures are in the table “Spent by {unit}” below.")
    description = " ".join(sentences)
    return Chart(
        key=key,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        ticks=ticks,
        days=days,
        rules=rules,
        running=running,
        title=title,
        description=description,
    )


def _videos(spent: Spent) -> str:
    return f"{spent.videos} video{'' if spent.videos == 1 else 's'}"


def _short(report: Report, day: date, n: int) -> str:
    if report.period.by == "month":
        return f"{day:%b %Y}" if n == 0 or day.month == 1 else f"{day:%b}"
    return f"{day.day} {day:%b}" if n == 0 or day.day == 1 else str(day.day)
