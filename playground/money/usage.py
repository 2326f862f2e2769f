"""Who made how many videos, and what the service reported they cost, per calendar month.

The counts by state come from the rows (one grouped query); the dollars from the month's running
totals (money/totals.py), which equal the rows' sums exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, F, FloatField, Q, Sum, When
from django.db.models.functions import Cast

from playground.generations.models import ACTIVE_STATES, Generation, State
from playground.money.budgets import Guesses
from playground.money.models import SpendTotal, month_start
from playground.money.totals import dollars_of, month_of

# Generation.credits_reported in SQL: the x-aimlapi-credits-used header's number, the poll
# answer's usage only where no header gave more than a free poll's 0.
CREDITS_REPORTED = Case(
    When(
        Q(credits_spent__gt=0) | Q(credits_spent__isnull=False, credits_used__isnull=True),
        then=Cast("credits_spent", FloatField()),
    ),
    default=F("credits_used"),
    output_field=FloatField(),
)


@dataclass(frozen=True)
class UsageRow:
    who: str
    ready: int
    failed: int
    in_progress: int
    credits: float
    tokens: float
    # What the service charged (or will, for jobs still under way), at the estimate where unknown.
    usd: Decimal = Decimal(0)

    @property
    def total(self) -> int:
        return self.ready + self.failed + self.in_progress


@dataclass(frozen=True)
class MonthUsage:
    start: datetime
    rows: list[UsageRow]
    team: UsageRow


def month_usage(months_back: int = 0) -> MonthUsage:
    start = month_start(months_back=months_back)
    end = month_start(months_back=months_back - 1)
    # One grouped query for the whole team, whatever its size.
    grouped = (
        Generation.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("created_by__username")
        .annotate(
            ready=Count("pk", filter=Q(state=State.READY)),
            failed=Count("pk", filter=Q(state=State.FAILED)),
            in_progress=Count("pk", filter=Q(state__in=ACTIVE_STATES)),
            credits=Sum(CREDITS_REPORTED),
            tokens=Sum("tokens_used"),
        )
        .order_by("created_by__username")
    )
    usd, team_usd = _dollars_by_person(start)
    rows = [
        UsageRow(
            who=g["created_by__username"] or "former members",
            usd=usd.get(g["created_by__username"], Decimal(0)),
            ready=g["ready"],
            failed=g["failed"],
            in_progress=g["in_progress"],
            credits=g["credits"] or 0.0,
            tokens=g["tokens"] or 0.0,
        )
        for g in grouped
    ]
    team = UsageRow(
        who="Team",
        ready=sum(r.ready for r in rows),
        failed=sum(r.failed for r in rows),
        in_progress=sum(r.in_progress for r in rows),
        credits=sum(r.credits for r in rows),
        tokens=sum(r.tokens for r in rows),
        usd=team_usd,
    )
    return MonthUsage(start=start, rows=rows, team=team)


def _dollars_by_person(start: datetime) -> tuple[dict[str | None, Decimal], Decimal]:
    """Each person's dollars and the team's for the month starting at `start`, from its running
    totals (totals.py: a few rows per person and model, whatever the number of videos), priced by
    the rule the Costs page prices the rows by (budgets.Guess; exact, so the two agree to the
    cent). None: former members, what the team's totals hold beyond everyone's own."""
    guesses = Guesses()
    people: dict[str | None, Decimal] = {}
    team = Decimal(0)
    month_totals = SpendTotal.objects.filter(month=month_of(start)).values_list(
        "person", "person__username", "model", "spent_nano", "at_estimate", "at_estimate_seconds"
    )
    for person, username, model, nano, jobs, seconds in month_totals:
        usd = dollars_of(nano) + guesses[model].of(jobs, seconds)
        if person is None:
            team += usd
        else:
            people[username] = people.get(username, Decimal(0)) + usd
    people[None] = team - sum(people.values(), Decimal(0))
    return people, team
