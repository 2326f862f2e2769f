"""Who made how many videos, and what the service reported they cost, per calendar month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, Sum

from playground.models import ACTIVE_STATES, Generation, State, month_start


@dataclass(frozen=True)
class UsageRow:
    who: str
    ready: int
    failed: int
    in_progress: int
    credits: float
    tokens: float

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
            credits=Sum("credits_used"),
            tokens=Sum("tokens_used"),
        )
        .order_by("created_by__username")
    )
    rows = [
        UsageRow(
            who=g["created_by__username"] or "former members",
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
    )
    return MonthUsage(start=start, rows=rows, team=team)
