"""Money: what a video is expected to cost, what has been spent, and the monthly dollar budgets.

A job's cost is what the service reported for it (the x-aimlapi-usd-spent header of its create,
or its usage-log row when a lost create was recovered). Until a cost is known (0 or absent: the
service books video charges only after the job completes), the job counts at the estimate for
its model: the average of the most recent known costs, or the configured list price. For a
model priced by the second (H3, H3 Max) that estimate is per second, times the length the job
asked for (its model's default when it asked for none): ten 15 s jobs in flight are 150 s.

Counted against a budget: jobs the service made (ready, or made but not kept), and jobs still in
flight at their expected cost. Not counted: jobs it refused or failed, jobs never sent, and lost
creates the usage log never showed (the service has no record of charging them).

The budgets read this month's running totals (totals.py: a cache of the rows, kept in the same
transactions that change them), so a check costs the same at a thousand videos a month as at a
million; `committed()` sums the rows themselves (any period), and the two agree.

`check()` is the one place a start is judged; callers that create rows hold `lock()` in the same
transaction, so two submits at once cannot both squeeze under the same remaining dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground.generations.models import Generation
from playground.lib.models import Lock
from playground.money.models import Allowance, SpendTotal, TeamBudget, month_start
from playground.money.totals import ASKED_SECONDS, COUNTED, KNOWN, KNOWN_NANO, dollars_of, month_of
from playground.upstream import catalogue

CENT = Decimal("0.01")
ESTIMATE_STEP = Decimal("0.000001")  # estimates per job are kept to a millionth of a dollar
RATE_STEP = Decimal("0.000000001")  # and per second to a nanodollar (the costs' own precision)
ZERO = Decimal(0)

__all__ = ["COUNTED", "KNOWN"]
_KNOWN = KNOWN


def dollars(amount: Decimal | None) -> str:
    """$0.43, $1,250.00; amounts under a cent keep their significant digits ($0.0012)."""
    if amount is None:
        return ""
    if ZERO < amount < CENT:
        smallest = Decimal("0.00001")
        shown = amount.quantize(smallest, ROUND_HALF_UP)
        return f"${shown.normalize():f}" if shown else f"less than ${smallest:f}"
    return f"${amount.quantize(CENT, ROUND_HALF_UP):,.2f}"


@dataclass(frozen=True)
class Guess:
    """A model's estimate: per job, or, for a model priced by the second, per second asked for."""

    per_job: Decimal  # one job at the model's default length
    per_second: Decimal | None = None  # the models priced by the second (ModelSpec.price_per_second)
    default_seconds: int = 0

    def of(self, jobs: int, seconds: int) -> Decimal:
        """What `jobs` jobs asking for `seconds` seconds between them are expected to cost.

        By the second where the model is priced so (ten 15 s jobs are 150 s), by the job otherwise.
        Exact (both estimates have a fixed number of decimals), so however the jobs are grouped
        before pricing (per person, per day, per month) the sums agree to the last digit."""
        if not jobs:
            return ZERO
        if self.per_second is None:
            return self.per_job * jobs
        return self.per_second * (seconds or self.default_seconds * jobs)


def guess(model: str) -> Guess:
    """`model`'s estimate from its recent known costs, or the configured price while it has none.

    For a model priced by the second the recent costs are read per second of the length each job
    asked for; the configured price is then for its default length."""
    described = catalogue.get(model)
    rows = (
        Generation.objects.filter(model=model)
        .filter(_KNOWN)
        .order_by("-created_at", "-id")
        .values_list("usd_spent", "duration_seconds")[: settings.ESTIMATE_FROM_LAST]
    )
    if described is not None and described.price_per_second is not None:
        default = described.default_duration
        rates = [usd / (asked or default) for usd, asked in rows if usd is not None]
        rate = sum(rates, ZERO) / len(rates) if rates else Decimal(settings.VIDEO_PRICES_USD[model]) / default
        rate = rate.quantize(RATE_STEP, ROUND_HALF_UP)
        return Guess(rate * default, rate, default)
    recent: list[Decimal] = [usd for usd, _ in rows if usd is not None]
    if not recent:
        return Guess(Decimal(settings.VIDEO_PRICES_USD[model]))
    average: Decimal = sum(recent, ZERO) / len(recent)
    return Guess(average.quantize(ESTIMATE_STEP, ROUND_HALF_UP))


class Guesses(dict[str, Guess]):
    """Each model's estimate, looked up once however many sums ask for it (one request, one check)."""

    def __missing__(self, model: str) -> Guess:
        self[model] = value = guess(model)
        return value


def estimate(model: str, seconds: int | None = None) -> Decimal:
    """What one `model` video is expected to cost (guess()): for `seconds` where the model is
    priced by the second (its default length when None)."""
    return guess(model).of(1, seconds or 0)


def estimates() -> dict[str, Decimal]:
    return {model: estimate(model) for model in settings.VIDEO_PRICES_USD}


def committed(
    *, user: User | None = None, since: datetime | None = None, until: datetime | None = None
) -> Decimal:
    """Dollars spent plus expected for in-flight jobs, for one person (or the team), in a period."""
    rows = Generation.objects.filter(COUNTED)
    if user is not None:
        rows = rows.filter(created_by=user.pk)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    grouped = rows.values("model").annotate(
        known=Sum(KNOWN_NANO, filter=_KNOWN),
        unknown=Count("pk", filter=~_KNOWN),
        seconds=Sum(ASKED_SECONDS, filter=~_KNOWN),
    )
    guesses = Guesses()
    total = ZERO
    for group in grouped:
        total += dollars_of(group["known"] or 0)
        if group["unknown"]:
            total += guesses[group["model"]].of(group["unknown"], group["seconds"] or 0)
    return total


def committed_this_month(user: User | None = None, guesses: Guesses | None = None) -> Decimal:
    """committed(user=user, since=month_start()), read from the month's running totals.

    `guesses` keeps the estimates already looked up (check() shares one between its sums)."""
    guesses = Guesses() if guesses is None else guesses
    rows = SpendTotal.objects.filter(
        person=user.pk if user is not None else None, month=month_of(timezone.now())
    )
    total = ZERO
    for model, nano, at_estimate, seconds in rows.values_list(
        "model", "spent_nano", "at_estimate", "at_estimate_seconds"
    ):
        total += dollars_of(nano)
        if at_estimate:
            total += guesses[model].of(at_estimate, seconds)
    return total


def cost_of(gen: Generation) -> Decimal | None:
    """The reported cost of a job, or None while unknown."""
    return gen.usd_spent if gen.usd_spent is not None and gen.usd_spent > 0 else None


@dataclass(frozen=True)
class Budget:
    limit: Decimal | None  # None: no budget
    committed: Decimal

    @property
    def left(self) -> Decimal | None:
        return None if self.limit is None else max(ZERO, self.limit - self.committed)


def person_budget(user: User, guesses: Guesses | None = None) -> Budget:
    override = Allowance.objects.filter(user=user.pk).values_list("usd_per_month", flat=True).first()
    limit = override if override is not None else settings.MONTHLY_BUDGET_USD
    return Budget(limit, committed_this_month(user, guesses))


def _team_limit() -> Decimal | None:
    override = TeamBudget.objects.values_list("usd_per_month", flat=True).first()
    return override if override is not None else settings.TEAM_MONTHLY_BUDGET_USD


def team_budget(guesses: Guesses | None = None) -> Budget:
    return Budget(_team_limit(), committed_this_month(None, guesses))


def lock() -> None:
    """Serialise budget checks with the rows they allow; call inside transaction.atomic()."""
    Lock.hold("budget")


def check(user: User, model: str, count: int = 1, seconds: int | None = None) -> str | None:
    """A sentence saying why `count` more `model` videos may not start now, or None if they may.

    `seconds`: the length asked for, for the models priced by the second."""
    guesses = Guesses()
    cost = guesses[model].of(1, seconds or 0) * count
    what = "This video" if count == 1 else f"These {count} videos"
    again = format_date(month_start(months_back=-1), "j F")
    mine = person_budget(user, guesses)
    if mine.limit is not None and mine.committed + cost > mine.limit:
        return (
            f"{what} would cost about {dollars(cost)}; you have {dollars(mine.left)} of your "
            f"{dollars(mine.limit)} left this month. Your budget starts again on {again}; "
            "an admin can raise it sooner."
        )
    team_limit = _team_limit()
    team = Budget(team_limit, committed_this_month(None, guesses)) if team_limit is not None else None
    if team is not None and team.limit is not None and team.committed + cost > team.limit:
        return (
            f"{what} would cost about {dollars(cost)}; the team has {dollars(team.left)} of its "
            f"{dollars(team.limit)} left this month. The team budget starts again on {again}; "
            "an admin can raise it sooner."
        )
    return None
