"""What videos cost, added up in groups: the one rule the Usage page and the Costs page both price by.

A video counts when budgets.COUNTED says so (made by the service, or still under way); it counts
at its reported cost when one is known and at its model's estimate while it is not. The Costs
page calls `priced()` on the rows; the Usage page reads the same month from the running totals
(totals.py), which hold the same parts. Both price them with budgets.Guess, whose arithmetic is
exact (known costs summed as whole nanodollars, estimates to a fixed decimal), so the same videos
cost the same to the last digit however they are grouped.

The database does the adding (one grouped query per call, grouped by the caller's fields and the
model); Python only prices each model's not-yet-known costs at that model's estimate (per job, or
per second asked for where the model is priced by the second, as the budgets count them), so the
work grows with the number of groups, never with the number of videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum

from playground.generations.models import Generation
from playground.money.budgets import _KNOWN, COUNTED, ZERO, Guesses
from playground.money.totals import ASKED_SECONDS, KNOWN_NANO, dollars_of


@dataclass(frozen=True)
class Spent:
    videos: int = 0
    usd: Decimal = ZERO

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.videos + other.videos, self.usd + other.usd)


def priced(
    rows: QuerySet[Generation], *fields: str, estimates: Guesses | None = None
) -> dict[tuple[Any, ...], Spent]:
    """Videos and dollars of the counted `rows`, per distinct value of `fields` (one query)."""
    guesses = Guesses() if estimates is None else estimates
    grouping = list(dict.fromkeys([*fields, "model"]))
    grouped = (
        rows.filter(COUNTED)
        .order_by()
        .values(*grouping)
        .annotate(
            videos=Count("pk"),
            known=Sum(KNOWN_NANO, filter=_KNOWN),
            unknown=Count("pk", filter=~_KNOWN),
            seconds=Sum(ASKED_SECONDS, filter=~_KNOWN),
        )
    )
    totals: dict[tuple[Any, ...], Spent] = {}
    for group in grouped:
        amount = dollars_of(group["known"] or 0)
        if group["unknown"]:
            amount += guesses[group["model"]].of(group["unknown"], group["seconds"] or 0)
        key = tuple(group[field] for field in fields)
        totals[key] = totals.get(key, Spent()) + Spent(group["videos"], amount)
    return totals
