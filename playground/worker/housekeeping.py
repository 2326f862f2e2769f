"""Housekeeping on a stated schedule: the chores, how often they run, and who runs them.

Each chore is a management command, so an operator can run it by hand or from cron (as
healthchecks does with `pruneobjects`). The worker also runs them when they fall due, on a
thread of their own: a listing of a large bucket must never hold up claiming jobs, and a chore
that is still running is not started a second time.

The schedule (settings, seconds; 0 turns a chore off in the worker):
- `sweepstaging` every HOUSEKEEPING_STAGING_EVERY (default 3600): staged pictures nobody used
  for a day are deleted. It first runs when the worker starts.
- `sweepfilms` on the same schedule: folders a film export left on this machine (its worker
  died mid-export) are deleted once no export is using them. It too runs when the worker
  starts, which is when a machine's leftovers from before a crash are found.
- `orphans --delete` every HOUSEKEEPING_ORPHANS_EVERY (default 86400): unowned files older
  than an hour are deleted and rows whose files are gone are repaired. It first runs ten
  minutes after the worker starts, so restarts in a row do not each walk the whole storage.
- `prunedeliveries` every HOUSEKEEPING_DELIVERIES_EVERY (default 86400): webhook deliveries
  delivered or given up on more than 30 days ago are deleted. First run as for `orphans`.

The time a chore last started is kept in memory, so each worker process keeps the schedule on
its own; every chore is safe to run from several workers at once.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import connections

log = logging.getLogger(__name__)

ORPHANS_FIRST_AFTER = 600.0


@dataclass(frozen=True)
class Chore:
    command: str
    every: float  # seconds between starts; 0 means the worker never runs it
    args: tuple[str, ...] = ()
    first_after: float = 0.0  # seconds after the worker starts before the first run


def schedule() -> list[Chore]:
    return [
        Chore("sweepstaging", settings.HOUSEKEEPING_STAGING_EVERY),
        # Scratch on this machine, swept as often as staged pictures (a setting fewer to learn).
        Chore("sweepfilms", settings.HOUSEKEEPING_STAGING_EVERY),
        Chore("orphans", settings.HOUSEKEEPING_ORPHANS_EVERY, ("--delete",), first_after=ORPHANS_FIRST_AFTER),
        Chore("prunedeliveries", settings.HOUSEKEEPING_DELIVERIES_EVERY, first_after=ORPHANS_FIRST_AFTER),
    ]


class Housekeeper:
    """Starts each chore when it falls due by `clock` (monotonic seconds), never more often."""

    def __init__(
        self, chores: list[Chore] | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.chores = schedule() if chores is None else chores
        self.clock = clock
        started = clock()
        self._next: dict[str, float] = {c.command: started + c.first_after for c in self.chores}
        self.runs: Counter[str] = Counter()
        self._thread: threading.Thread | None = None

    def due(self) -> list[Chore]:
        now = self.clock()
        return [c for c in self.chores if c.every > 0 and now >= self._next[c.command]]

    def run_due(self) -> None:
        """Start the chores that are due on a background thread, unless the last batch still runs."""
        if self._thread is not None and self._thread.is_alive():
            return
        due = self.due()
        if not due:
            return
        now = self.clock()
        for chore in due:
            # Counted from the start, and also when the chore fails: a broken chore waits for
            # its next turn rather than being retried on every loop turn.
            self._next[chore.command] = now + chore.every
            self.runs[chore.command] += 1
        self._thread = threading.Thread(target=self._run, args=(due,), name="housekeeping", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @staticmethod
    def _run(chores: list[Chore]) -> None:
        try:
            for chore in chores:
                out = io.StringIO()
                try:
                    call_command(chore.command, *chore.args, stdout=out, stderr=out)
                except Exception:
                    log.exception("Housekeeping chore %s failed; it runs again on schedule", chore.command)
                else:
                    log.info("Housekeeping %s: %s", chore.command, " ".join(out.getvalue().split()))
        finally:
            connections.close_all()
