"""Starting videos: the one place that decides whether a batch may start, and starts it.

Every start (the Generate form's batch, retrying a batch's failed takes) goes through `start`:
in one transaction it takes the person's row lock and the team budget's lock, so two tabs or two
people cannot both squeeze under a limit, asks `refusal` (the monthly allowance, the dollar
budgets, the per-minute brake, for the whole batch's count), and only then makes the rows. The
sentence the page shows before Generate (`plan_words`) and the early check while a form is
cleaned read the same rules. The key's own limits (in-flight slots, creates per minute) are not
a reason to refuse a start: the worker's fair queue waits for them (worker/keylimits.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground.generations.models import Generation
from playground.money import budgets
from playground.money.models import AllowanceStatus, allowance_for, month_start

T = TypeVar("T")


class Refused(Exception):
    """The start was refused and nothing was saved; `sentence` says why, with the numbers."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def start(user: User, model: str, count: int, make: Callable[[], T], seconds: int | None = None) -> T:
    """Make `count` videos of `model` for `user` with `make()` if they fit; else raise Refused.

    `make` runs inside the same transaction as the check, under the locks, so what was checked is
    what is saved; if it raises, nothing is kept.
    """
    with transaction.atomic():
        # Two tabs submitting at once must not both squeeze under the allowance: lock this person's
        # row (SQLite's IMMEDIATE transactions already serialise writers). NO KEY UPDATE: the lock
        # starts take among themselves, which still lets a worker add a row pointing at this person
        # (a month's first money total) meanwhile, instead of the two waiting on each other.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()
        # The team budget is shared by everyone: its lock makes concurrent starts take turns.
        budgets.lock()
        problem = refusal(user, model, count, seconds)
        if problem:
            raise Refused(problem)
        return make()


def plan_words(model: str, count: int, allowance: AllowanceStatus, seconds: int | None = None) -> str:
    """What Generate will do: "4 videos · about $1.72 · 4 of your 96 left"."""
    parts = [f"{count} video{'s' if count != 1 else ''}"]
    parts.append(f"about {budgets.dollars(budgets.estimate(model, seconds) * count)}")
    if allowance.left is not None:
        parts.append(f"{count} of your {allowance.left} left")
    return " · ".join(parts)


def submits_in_last_minute(user: User) -> int:
    """Submits, not takes: each batch counts once, and so does a job made outside a batch."""
    since = timezone.now() - timedelta(minutes=1)
    counted = Generation.objects.filter(created_by=user.pk, created_at__gte=since).aggregate(
        batches=Count("batch", distinct=True), single=Count("pk", filter=Q(batch__isnull=True))
    )
    return int(counted["batches"]) + int(counted["single"])


def refusal(user: User, model: str, count: int, seconds: int | None = None) -> str | None:
    """Why a batch of `count` videos can't be made now, in a sentence; None when it fits."""
    status = allowance_for(user)
    if status.cap is not None and (status.left or 0) < count:
        next_month = format_date(month_start(months_back=-1), "j F")
        if status.exhausted:
            return (
                f"You have used all {status.cap} of your videos for this month. "
                f"Your allowance starts again on {next_month}; an admin can raise it sooner."
            )
        return (
            f"This would make {count} videos, but you have {status.left} of your {status.cap} left "
            f"this month, so nothing was started. Make fewer takes or pictures, or wait for your "
            f"allowance to start again on {next_month}."
        )
    budget = budgets.check(user, model, count, seconds)
    if budget:
        return budget
    recent = submits_in_last_minute(user)
    if recent >= settings.SUBMISSIONS_PER_MINUTE:
        return (
            f"You have pressed Generate {recent} times in the last minute (at most "
            f"{settings.SUBMISSIONS_PER_MINUTE}; a batch counts once). "
            "Please wait a moment before starting more."
        )
    return None
