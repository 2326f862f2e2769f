"""The Costs page's figures: where the money went in a period, over time and by person, model and collection.

A period is whole days in the site's time zone (settings.TIME_ZONE): from midnight on its first
day to midnight after its last, so a video made at 23:30 on 31 January in Los Angeles is January's
even though it is already February in UTC. Dollars come from spend.priced(), the rule the Usage
page prices its running totals by, so a month here and on Usage agree to the cent.

Members see their own videos, admins everyone's: the scope is decided here from the person
asking, never from the query string. Each table is one grouped query, whatever the number of
videos, and the day or month buckets are made by the database in the site's zone.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.db.models.functions import TruncDate, TruncMonth
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground.generations.models import MODEL_CHOICES, Generation
from playground.money.budgets import CENT, ZERO, Guesses
from playground.money.models import Allowance, TeamBudget
from playground.money.spend import Spent, priced

Grouping = Literal["day", "month"]

MAX_MONTHS = 24  # the longest range, in calendar months touched
MAX_DAYS = 93  # the longest range drawn day by day (about a quarter)
FIRST_YEAR, LAST_YEAR = 2000, 2099

FORMER = "former members"
NO_COLLECTION = "Not in a collection"
MODEL_NAMES = dict(MODEL_CHOICES)


class PeriodError(ValueError):
    """A sentence naming the rule the asked-for period breaks."""


@dataclass(frozen=True)
class Period:
    first: date  # the first day counted
    last: date  # the last day counted (inclusive)
    by: Grouping
    kind: Literal["this", "last", "range"] = "this"

    @property
    def since(self) -> datetime:
        return _midnight(self.first)

    @property
    def until(self) -> datetime:
        return _midnight(self.last + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def title(self) -> str:
        if self.first.day == 1 and self.last == _month_end(self.first):
            return format_date(self.first, "F Y")
        return f"{_long(self.first)} to {_long(self.last)}"

    @property
    def slug(self) -> str:
        return f"{self.first:%Y-%m-%d}_to_{self.last:%Y-%m-%d}_by-{self.by}"

    def buckets(self) -> list[date]:
        """Every day (or the first of every month) in the period, empty ones included."""
        if self.by == "day":
            return [self.first + timedelta(days=n) for n in range(self.days)]
        months = _months_touched(self.first, self.last)
        return [_add_months(self.first.replace(day=1), n) for n in range(months)]


def _midnight(day: date) -> datetime:
    # make_aware picks the offset in force on that day, so DST changes inside a period are right.
    return timezone.make_aware(datetime.combine(day, time()), timezone.get_current_timezone())


def _long(day: date) -> str:
    return format_date(day, "j F Y")


def _add_months(first: date, months: int) -> date:
    year, month0 = divmod(first.year * 12 + first.month - 1 + months, 12)
    return date(year, month0 + 1, 1)


def _month_end(day: date) -> date:
    return _add_months(day.replace(day=1), 1) - timedelta(days=1)


def _months_touched(first: date, last: date) -> int:
    return (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1


def _parse_day(value: str, which: str) -> date:
    value = value.strip()
    if not value:
        article = "an" if which == "end" else "a"
        raise PeriodError(
            f"A range needs {article} {which} date as well: pick both, or choose this month or last month."
        )
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PeriodError(_not_a_day(value, which)) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise PeriodError(f"The {which} date must fall between the years {FIRST_YEAR} and {LAST_YEAR}.")
    return day


def _not_a_day(value: str, which: str) -> str:
    """Why `value` is not a day: a day missing from the calendar is named so; else the form."""
    written = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", value)
    if written and int(written[1]) >= 1:
        year, month = int(written[1]), int(written[2])
        if not 1 <= month <= 12:
            return f"The {which} date “{value}” has no such month: months run from 01 to 12."
        days = calendar.monthrange(year, month)[1]
        month_name = f"{date(year, month, 1):%B %Y}"
        return f"The {which} date “{value}” is not in the calendar: {month_name} has {days} days."
    return (
        f"The {which} date “{value[:40]}” is not a date: write it as year-month-day, for example 2026-03-01."
    )


def period_from(query: QueryDict) -> Period:
    """The period the page's form asks for (this month by day when it asks for nothing)."""
    by_value = query.get("by", "") or ""
    if by_value not in ("", "day", "month"):
        raise PeriodError("Group by day or by month.")
    kind = query.get("period", "") or "this"
    today = timezone.localdate()
    if kind == "this":
        return Period(
            today.replace(day=1), _month_end(today), "month" if by_value == "month" else "day", "this"
        )
    if kind == "last":
        first = _add_months(today.replace(day=1), -1)
        return Period(first, _month_end(first), "month" if by_value == "month" else "day", "last")
    if kind != "range":
        raise PeriodError("Choose this month, last month, or a range of dates.")
    first = _parse_day(query.get("from", ""), "start")
    last = _parse_day(query.get("to", ""), "end")
    if last < first:
        raise PeriodError(
            f"The range ends on {_long(last)}, before it starts on {_long(first)}: "
            "the end date must be on or after the start date."
        )
    months = _months_touched(first, last)
    if months > MAX_MONTHS:
        raise PeriodError(
            f"A range can cover at most {MAX_MONTHS} months; {_long(first)} to {_long(last)} "
            f"covers {months}. Pick a shorter range."
        )
    days = (last - first).days + 1
    by: Grouping = "month" if by_value == "month" else "day"
    if by_value == "" and days > MAX_DAYS:
        by = "month"  # a long range asked for without a grouping is shown by month
    if by == "day" and days > MAX_DAYS:
        raise PeriodError(
            f"Day by day shows at most {MAX_DAYS} days; this range has {days}. "
            "Group it by month, or pick a shorter range."
        )
    return Period(first, last, by, "range")


@dataclass(frozen=True)
class Row:
    name: str
    spent: Spent


@dataclass(frozen=True)
class Point:
    day: date  # the day, or the first of the month
    spent: Spent
    so_far: Decimal | None = None  # the month's running total up to this day (by day only)


@dataclass(frozen=True)
class Budgets:
    person: Decimal | None  # the person's monthly budget (a member) or the default one (an admin)
    person_label: str
    team: Decimal | None  # admins only


@dataclass
class Report:
    period: Period
    everyone: bool  # an admin's view of the whole team
    who: str  # whose videos: "the team" or the username
    points: list[Point]
    people: list[Row]
    models: list[Row]
    collections: list[Row]
    total: Spent
    budgets: Budgets
    # Month-to-date dollars day by day, up to today (by day only; shorter than points when the
    # period runs past today).
    running: list[Decimal] = field(default_factory=list)


def _local_day(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _sorted_rows(totals: dict[str, Spent]) -> list[Row]:
    """Most dollars first; ties by name, so the order is the same on every load."""
    return [Row(name, spent) for name, spent in sorted(totals.items(), key=lambda kv: (-kv[1].usd, kv[0]))]


def scope(user: User) -> QuerySet[Generation]:
    """The videos this person may see the costs of: everyone's for an admin, their own otherwise."""
    rows = Generation.objects.all()
    return rows if user.is_staff else rows.filter(created_by=user.pk)


def report(user: User, period: Period) -> Report:
    everyone = bool(user.is_staff)
    rows = scope(user).filter(created_at__gte=period.since, created_at__lt=period.until)
    estimates = Guesses()
    zone = timezone.get_current_timezone()
    bucket = (
        TruncDate("created_at", tzinfo=zone) if period.by == "day" else TruncMonth("created_at", tzinfo=zone)
    )
    by_bucket: dict[date, Spent] = {}
    for (when,), spent in priced(rows.annotate(bucket=bucket), "bucket", estimates=estimates).items():
        day = _local_day(when)
        by_bucket[day] = by_bucket.get(day, Spent()) + spent
    points = [Point(day, by_bucket.get(day, Spent())) for day in period.buckets()]

    people: dict[str, Spent] = {}
    for (name,), spent in priced(rows, "created_by__username", estimates=estimates).items():
        people[name or FORMER] = people.get(name or FORMER, Spent()) + spent
    models = {MODEL_NAMES.get(m, m): s for (m,), s in priced(rows, "model", estimates=estimates).items()}
    # A video in two collections is one row per entry here, so it counts in both.
    in_collections = priced(
        rows, "collection_entries__collection", "collection_entries__collection__name", estimates=estimates
    )
    collections = {name: s for (pk, name), s in in_collections.items() if pk is not None}
    loose = next((s for (pk, _), s in in_collections.items() if pk is None), None)

    total = sum((p.spent for p in points), Spent())
    running: list[Decimal] = []
    if period.by == "day":
        today = timezone.localdate()
        so_far = ZERO
        for n, point in enumerate(points):
            if point.day > today:
                break  # the running total stops today; the days ahead have spent nothing yet
            if n and point.day.day == 1:
                so_far = ZERO  # the budget starts again with each month
            so_far += point.spent.usd
            running.append(so_far)
        ahead: list[Decimal | None] = [None] * (len(points) - len(running))
        points = [Point(p.day, p.spent, r) for p, r in zip(points, [*running, *ahead], strict=True)]
    collection_rows = sorted(_sorted_rows(collections), key=lambda r: (-r.spent.usd, r.name.lower()))
    if loose is not None:
        collection_rows.append(Row(NO_COLLECTION, loose))
    return Report(
        period=period,
        everyone=everyone,
        who="the team" if everyone else user.get_username(),
        points=points,
        people=_sorted_rows(people),
        models=_sorted_rows(models),
        collections=collection_rows,
        total=total,
        budgets=_budgets(user, everyone),
        running=running,
    )


def _budgets(user: User, everyone: bool) -> Budgets:
    if everyone:
        team = TeamBudget.objects.values_list("usd_per_month", flat=True).first()
        return Budgets(
            person=settings.MONTHLY_BUDGET_USD,
            person_label="Each person's monthly budget (the default)",
            team=team if team is not None else settings.TEAM_MONTHLY_BUDGET_USD,
        )
    override = Allowance.objects.filter(user=user.pk).values_list("usd_per_month", flat=True).first()
    return Budgets(
        person=override if override is not None else settings.MONTHLY_BUDGET_USD,
        person_label="Your monthly budget",
        team=None,
    )


def cents(amount: Decimal) -> Decimal:
    """Dollars rounded to the cent the way the pages show them (half up)."""
    return amount.quantize(CENT, ROUND_HALF_UP)


def bucket_label(period: Period, day: date) -> str:
    return format_date(day, "D j M Y") if period.by == "day" else format_date(day, "F Y")


def csv_rows(report: Report) -> list[tuple[object, ...]]:
    """The page's tables as CSV rows: which table, the row's name, videos, dollars (to the cent)."""
    out: list[tuple[object, ...]] = [("Table", "Name", "Videos", "Dollars")]
    time_table = "Day" if report.period.by == "day" else "Month"
    for point in report.points:
        name = f"{point.day:%Y-%m-%d}" if report.period.by == "day" else f"{point.day:%Y-%m}"
        out.append((time_table, name, point.spent.videos, cents(point.spent.usd)))
    for table, rows in (
        ("Person", report.people),
        ("Model", report.models),
        ("Collection", report.collections),
    ):
        out.extend((table, row.name, row.spent.videos, cents(row.spent.usd)) for row in rows)
    out.append(
        (
            "Total",
            f"{report.period.first:%Y-%m-%d} to {report.period.last:%Y-%m-%d}",
            report.total.videos,
            cents(report.total.usd),
        )
    )
    return out
