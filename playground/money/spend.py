"""What videos cost, added up in groups: the one rule the Usage page and the Costs page both price by.

A video counts when budgets.COUNTED says so (made by the service, or still under way); it counts
at its reported cost when one is known and at its model's estimate while it is not. Both pages
call `priced()`, so the dollars they show for the same rows cannot drift apart.

The database does the adding (one grouped query per call, grouped by the caller's fields and the
model); Python only multiplies each model's count of not-yet-known costs by that model's estimate,
so the work grows with the number of groups, never with the number of videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum

from playground.generations.models import Generation
from playground.money.budgets import _KNOWN, COUNTED, ZERO, estimate


@dataclass(frozen=True)
class Spent:
    videos: int = 0
    usd: Decimal = ZERO

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.videos + other.videos, self.usd + other.usd)


class Estimates(dict[str, Decimal]):
    """Each model's estimate, read once per request however many groups ask for it."""

    def __missing__(self, model: str) -> Decimal:
        self[model] = value = estimate(model)
        return value


def priced(
    rows: QuerySet[Generation], *fields: str, estimates: Estimates | None = None
) -> dict[tuple[Any, ...], Spent]:
    """Videos and dollars of the counted `rows`, per distinct value of `fields` (one query)."""
    guesses = Estimates() if estimates is None else estimates
    grouping = list(dict.fromkeys([*fields, "model"]))
    grouped = (
        rows.filter(COUNTED)
        .order_by()
        .values(*grouping)
        .annotate(
            videos=Count("pk"), known=Sum("usd_spent", filter=_KNOWN), unknown=Count("pk", filter=~_KNOWN)
        )
    )
    totals: dict[tuple[Any, ...], Spent] = {}
    for group in grouped:
        amount: Decimal = group["known"] or ZERO
        if group["unknown"]:
            amount += guesses[group["model"]] * group["unknown"]
        key = tuple(group[field] for field in fields)
        totals[key] = totals.get(key, Spent()) + Spent(group["videos"], amount)
    return totals
