"""Money's rows and the calendar they count by: allowances, the team budget, and where a month starts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def month_start(moment: datetime | None = None, months_back: int = 0) -> datetime:
    """Midnight on the first day of this month (or an earlier one), in the site's time zone."""
    local = timezone.localtime(moment or timezone.now())
    # Count months from year 0 so that going back past January or forward past December (a
    # negative months_back is a later month) wraps the year in either direction.
    year, month0 = divmod(local.year * 12 + local.month - 1 - months_back, 12)
    first = datetime(year, month0 + 1, 1)
    # make_aware picks the offset in force on that day (DST differs from `local`'s).
    return timezone.make_aware(first, timezone.get_current_timezone())


class Allowance(models.Model):
    """An admin-set monthly limit on how many videos one person may start."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="allowance")
    generations_per_month = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Leave empty to use the team default (the MONTHLY_GENERATION_CAP setting).",
    )
    usd_per_month = models.DecimalField(
        "dollars per month",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Leave empty to use the default budget (the MONTHLY_BUDGET_USD setting).",
    )

    def __str__(self) -> str:
        return f"{self.user_id}: {self.generations_per_month}"


@dataclass(frozen=True)
class AllowanceStatus:
    used: int
    cap: int | None  # None: no limit

    @property
    def left(self) -> int | None:
        return None if self.cap is None else max(0, self.cap - self.used)

    @property
    def exhausted(self) -> bool:
        return self.cap is not None and self.used >= self.cap


def allowance_for(user: User) -> AllowanceStatus:
    override = Allowance.objects.filter(user=user.pk).values_list("generations_per_month", flat=True).first()
    cap: int | None = override if override is not None else settings.MONTHLY_GENERATION_CAP
    # This month's running totals (money/totals.py), not a count of the rows.
    this_month = timezone.localtime().date().replace(day=1)
    used = SpendTotal.objects.filter(person=user.pk, month=this_month).aggregate(n=models.Sum("videos"))["n"]
    return AllowanceStatus(used=int(used or 0), cap=cap)


class TeamBudget(models.Model):
    """The team's monthly budget in dollars, set in the admin (one row; empty: TEAM_MONTHLY_BUDGET_USD)."""

    usd_per_month = models.DecimalField(
        "dollars per month",
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Leave empty to use the TEAM_MONTHLY_BUDGET_USD setting.",
    )

    class Meta:
        verbose_name = "team budget"

    def __str__(self) -> str:
        return f"Team: {self.usd_per_month}"


class SpendTotal(models.Model):
    """A running total of one budget month's generations of one model, for one person or the team.

    A cache of the rows (money/totals.py): each generation holds its part (`Generation.held_*`),
    and the write that changes what a row holds updates these totals in the same transaction.
    `recompute_money_totals` rebuilds them from the rows. Dollars are kept in whole nanodollars
    (the reported costs have 9 decimal places), so adding them up in SQL is exact on SQLite too.
    """

    # Empty: the team's row for that month and model.
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(help_text="The budget month's first day, in the site's time zone.")
    model = models.CharField(max_length=32)
    # Known costs of the rows that count against a budget.
    spent_nano = models.BigIntegerField(default=0)
    # Rows that count but whose cost is not known yet: they count at the model's estimate.
    at_estimate = models.BigIntegerField(default=0)
    # Rows that count toward the monthly allowance (a count of videos).
    videos = models.BigIntegerField(default=0)
    # The seconds the rows at the estimate asked for, added up: a model priced by the second
    # counts them at its estimate per second, so a 15 s job in flight counts as 15 s, not 6.
    at_estimate_seconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "month", "model"], name="spend_total_person_uniq"),
            models.UniqueConstraint(
                fields=["month", "model"],
                condition=models.Q(person__isnull=True),
                name="spend_total_team_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id or 'team'} {self.month:%Y-%m} {self.model}"
