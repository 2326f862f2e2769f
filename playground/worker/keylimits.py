"""The API key's limits, held across every worker process and machine, in the database.

The key allows UPSTREAM_MAX_IN_FLIGHT jobs created and not yet finished, and
UPSTREAM_CREATES_PER_MINUTE creates in any 60 seconds. One process's memory can't hold a limit
shared by several workers, so each limit is a fixed set of permit rows (UpstreamPermit):

- a **slot** is busy while its holder generation is in flight (Generation.objects.in_flight(),
  the one definition) or its `until` lies ahead (the moment between taking it and recording
  "create sent"); a finished, failed or cancelled holder frees it with no write at all, so a
  worker that dies can't leak a slot for longer than its lease;
- a **create ticket** is spent until `until`, a minute after it was taken: at most N creates
  in any sliding minute.

A permit is taken by compare-and-swap: read a free row's (holder, until), then UPDATE it
WHERE both are still what was read. The row count says who won, exactly like the worker's
lease on a generation, and works the same on SQLite and PostgreSQL. A broker or a
rate-limit library would need a second service, or would count one process only.

Waiting jobs are taken in fair turns (generations/turns.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.generations.turns import TurnLine
from playground.worker.models import UpstreamPermit

SLOT = "slot"
CREATE = "create"
TICKET_SECONDS = 60.0
UNCHOSEN = 0  # a permit's holder between taking it and choosing the job


def _cap(kind: str) -> int | None:
    return settings.UPSTREAM_MAX_IN_FLIGHT if kind == SLOT else settings.UPSTREAM_CREATES_PER_MINUTE


def _free_q(kind: str, now: datetime) -> Q:
    """A permit of `kind` that may be taken at `now` (its rows: number up to the setting)."""
    free = Q(kind=kind, number__lte=_cap(kind) or 0) & (Q(until__isnull=True) | Q(until__lte=now))
    if kind == SLOT:
        free &= ~Q(Exists(Generation.objects.in_flight().filter(pk=OuterRef("holder"))))
    return free


def _free(kind: str, now: datetime) -> QuerySet[UpstreamPermit]:
    return UpstreamPermit.objects.filter(_free_q(kind, now))


def _ensure(kind: str) -> None:
    """Make the permit rows the setting asks for (numbers above the setting are ignored)."""
    cap = _cap(kind)
    if cap:
        UpstreamPermit.objects.bulk_create(
            [UpstreamPermit(kind=kind, number=n) for n in range(1, cap + 1)], ignore_conflicts=True
        )


def _counts(kinds: list[str], now: datetime) -> dict[str, int]:
    """Free permits of each kind, in one query; rows a setting asks for that are missing are made first.

    One query, because the worker's loop asks this on every turn (twice: to claim, and to know
    how long it may sleep): on PostgreSQL each query is a round trip to another process, and
    with the key full the old per-kind counts and the check for missing rows made six of them.
    """
    aggregates: dict[str, Any] = {}
    for kind in kinds:
        aggregates[f"{kind}_rows"] = Count("pk", filter=Q(kind=kind, number__lte=_cap(kind) or 0))
        aggregates[kind] = Count("pk", filter=_free_q(kind, now))
    found = UpstreamPermit.objects.aggregate(**aggregates)
    missing = [kind for kind in kinds if found[f"{kind}_rows"] < (_cap(kind) or 0)]
    if missing:
        for kind in missing:
            _ensure(kind)
        found = UpstreamPermit.objects.aggregate(**aggregates)
    return {kind: int(found[kind]) for kind in kinds}


def _limited() -> list[str]:
    return [kind for kind in (SLOT, CREATE) if _cap(kind) is not None]


def free_count(kind: str, now: datetime | None = None) -> int | None:
    """How many permits of `kind` are free now; None when the setting says no limit."""
    if _cap(kind) is None:
        return None
    return _counts([kind], now or timezone.now())[kind]


def room(now: datetime | None = None) -> int | None:
    """How many creates may start now under both limits (one query); None when neither limits them."""
    kinds = _limited()
    if not kinds:
        return None
    return min(_counts(kinds, now or timezone.now()).values())


def _take(kind: str, until: datetime) -> int | None:
    """Take a free permit for this worker (holder 0 until a job is chosen); its id, or None."""
    now = timezone.now()
    free = _free(kind, now).order_by("until", "number").values_list("pk", "holder", "until")
    for pk, was_holder, was_until in free[:8]:
        if UpstreamPermit.objects.filter(pk=pk, holder=was_holder, until=was_until).update(
            holder=UNCHOSEN, until=until
        ):
            return pk
    return None


def _give_back(pk: int | None, until: datetime) -> None:
    if pk is not None:
        UpstreamPermit.objects.filter(pk=pk, holder=UNCHOSEN, until=until).update(holder=None, until=None)


def settle(gen_pk: int) -> None:
    """The create step is over: its slot now stays busy only while the job is in flight."""
    UpstreamPermit.objects.filter(kind=SLOT, holder=gen_pk).update(until=None)


def claim_submits(owner: str, limit: int, lease_seconds: float) -> list[Generation]:
    """Lease up to `limit` waiting jobs to `owner`, in fair turns, each with a slot and a ticket.

    The permits are taken first and the job second: whichever worker wins a permit gets the
    job whose turn it is then, so a worker losing the race for a permit never lets a job
    further down the line jump ahead.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    space = room(now)
    if space is not None:
        limit = min(limit, space)
    until = now + timedelta(seconds=lease_seconds)
    won: list[int] = []
    candidates: list[int] = []
    while len(won) < limit:
        slot = _take(SLOT, until) if _cap(SLOT) else None
        if _cap(SLOT) and slot is None:
            break
        spent = timezone.now() + timedelta(seconds=TICKET_SECONDS)
        ticket = _take(CREATE, spent) if _cap(CREATE) else None
        if _cap(CREATE) and ticket is None:
            _give_back(slot, until)
            break
        chosen = _lease_next(owner, candidates, until, limit)
        if chosen is None:
            _give_back(slot, until)
            _give_back(ticket, spent)
            break
        held = [p for p in (slot, ticket) if p]
        if held:
            UpstreamPermit.objects.filter(pk__in=held).update(holder=chosen)
        won.append(chosen)
    taken = Generation.objects.in_bulk(won)
    return [taken[pk] for pk in won if pk in taken and taken[pk].lease_owner == owner]


def _lease_next(owner: str, candidates: list[int], until: datetime, limit: int) -> int | None:
    """Lease the first waiting job in turn order that no other worker holds.

    `candidates` is this claim's list in turn order, consumed as it goes and read afresh once
    when it runs out (other workers may have taken every job on it).
    """
    fetched = False
    while True:
        if not candidates:
            if fetched:
                return None
            now = timezone.now()
            # Jobs other workers are sending right now are part of the line too: they hold
            # their person's place in the round (free_only leaves them out of the answer).
            waiting = Generation.objects.filter(state=State.QUEUED, next_attempt_at__lte=now)
            candidates.extend(TurnLine(waiting, free_only=True)[: limit * 2 + 2])
            fetched = True
            continue
        pk = candidates.pop(0)
        now = timezone.now()
        if (
            Generation.objects.filter(pk=pk, state=State.QUEUED)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_owner=owner, lease_until=until)
        ):
            return pk


def next_submit_at() -> datetime | None:
    """When the earliest waiting job may be taken, or None while the key has no room."""
    space = room()
    if space is not None and space <= 0:
        return None
    return Generation.objects.next_claimable_at((State.QUEUED,))
