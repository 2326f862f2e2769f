"""Leases: how workers take rows to work on, so that no two take the same one.

A row is free while nobody holds a lease on it (or the lease has run out). A worker reads a few
free candidates, then takes each with one conditional UPDATE that repeats the conditions it was
read under plus "still free": the row count says who won. It works the same on SQLite and
PostgreSQL and needs no lock held across the work. A worker that dies loses its rows when their
leases end. Generations, webhook deliveries and film exports are all taken this way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

_M = TypeVar("_M", bound=models.Model)


class LeasedQuerySet(models.QuerySet[_M]):
    """For models with `lease_owner` and `lease_until` fields."""

    def free(self, now: datetime) -> LeasedQuerySet[_M]:
        return self.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))

    def lease(self, owner: str, limit: int, lease_seconds: float, *, order_by: str, **also: Any) -> list[int]:
        """Lease up to `limit` of these rows to `owner`, in `order_by` order; the ids this owner won.

        `also`: more fields the winning UPDATE sets (a new state, say).
        """
        now = timezone.now()
        candidates = list(self.free(now).order_by(order_by).values_list("pk", flat=True)[: limit * 2])
        until = now + timedelta(seconds=lease_seconds)
        won: list[int] = []
        for pk in candidates:
            if self.filter(pk=pk).free(now).update(lease_owner=owner, lease_until=until, **also):
                won.append(pk)
                if len(won) >= limit:
                    break
        return won
