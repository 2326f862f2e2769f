"""Who made how many videos, and what the service reported they cost, per calendar month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Case, Count, F, FloatField, Q, Sum, When
from django.db.models.functions import Cast

from playground.generations.models import ACTIVE_STATES, Generation, State
from playground.money.models import month_start

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
    usd = _dollars_by_person(start, end)
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
        usd=sum((r.usd for r in rows), Decimal(0)),
    )
    return MonthUsage(start=start, rows=rows, team=team)


def _dollars_by_person(start: datetime, end: datetime) -> dict[str | None, Decimal]:
    """Dollars per person, in one grouped query, by the rule the Costs page prices by (spend.py)."""
    from playground.money.spend import priced

    rows = Generation.objects.filter(created_at__gte=start, created_at__lt=end)
    return {who: spent.usd for (who,), spent in priced(rows, "created_by__username").items()}
