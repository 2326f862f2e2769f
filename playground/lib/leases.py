"""Leases: how workers take rows to work on, so that no two take the same one.

A row is free while nobody holds a lease on it (or the lease has run out). A worker reads a few
free candidates, then takes them all with one conditional UPDATE that repeats the conditions they
were read under plus "still free" (checked again on each row as it is written): the row count
says whether it won them all, and only when it did not is the set it won read back. It works the
same on SQLite and PostgreSQL and needs no lock held across the work. A worker that dies loses
its rows when their leases end. Generations, webhook deliveries and film exports are all taken
this way; a long piece of work can keep a short lease alive with a Heartbeat.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import DatabaseError, connection, models
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=models.Model)


class LeasedQuerySet(models.QuerySet[_M]):
    """For models with `lease_owner` and `lease_until` fields."""

    def free(self, now: datetime) -> LeasedQuerySet[_M]:
        return self.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))

    def lease(self, owner: str, limit: int, lease_seconds: float, *, order_by: str, **also: Any) -> list[int]:
        """Lease up to `limit` of these rows to `owner`, in `order_by` order; the ids this owner won.

        `also`: more fields the winning UPDATE sets (a new state, say).

        One read and one UPDATE, however many rows: leasing candidate by candidate cost a statement
        per row (a round trip on PostgreSQL, a write transaction on SQLite) on every turn of a
        worker's loop. A row another worker took between the read and the UPDATE fails the
        UPDATE's "still free" and stays with it; the ids won are then read back (a third statement,
        only in that race).
        """
        if limit <= 0:
            return []
        now = timezone.now()
        candidates = list(self.free(now).order_by(order_by).values_list("pk", flat=True)[:limit])
        if not candidates:
            return []
        until = now + timedelta(seconds=lease_seconds)
        taken = self.filter(pk__in=candidates).free(now).update(lease_owner=owner, lease_until=until, **also)
        if taken == len(candidates):
            return candidates
        if not taken:
            return []
        mine = set(
            self.model._default_manager.filter(
                pk__in=candidates, lease_owner=owner, lease_until=until
            ).values_list("pk", flat=True)
        )
        return [pk for pk in candidates if pk in mine]


class LeaseLost(Exception):
    """Another worker holds the row now (this one's lease ran out): stop working on it."""


class Heartbeat:
    """Keeps `owner`'s lease on one row while work runs, renewing it every third of its length on
    a thread of its own (`with Heartbeat(rows, owner, seconds) as beat:`).

    Renewals that do not depend on the work's progress let the lease be short: a step that takes
    longer than the lease (one long clip, a slow upload) keeps its row, yet when the process dies
    the renewals stop with it and another worker takes the row over one lease length later.
    `check()` raises LeaseLost once a renewal found the row in other hands.
    """

    def __init__(self, rows: models.QuerySet[Any], owner: str, seconds: float) -> None:
        self._rows = rows.filter(lease_owner=owner)
        self._seconds = seconds
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        if self._lost.is_set():
            raise LeaseLost

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._seconds / 3):
                try:
                    until = timezone.now() + timedelta(seconds=self._seconds)
                    renewed = self._rows.update(lease_until=until)
                except DatabaseError:
                    # The database may be back before the lease runs out. If it is not, the row
                    # goes to another worker, which is right: this one could not record its work.
                    log.warning("Could not renew a lease; will try again", exc_info=True)
                    connection.close()
                    continue
                if not renewed:
                    self._lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection
