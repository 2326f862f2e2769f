"""Fair turns (TurnLine) against the rule said once more in plain Python, on mixed lines."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from playground.generations.models import Generation, GenerationQuerySet, State
from playground.generations.turns import TurnLine
from tests import factories

pytestmark = pytest.mark.django_db


def fair_turns(waiting: GenerationQuerySet, *, free_only: bool = False) -> list[int]:
    """The rule in plain Python, straight from its statement, to hold the SQL to.

    Round-robin: everyone's oldest job comes before anyone's second; within a round the person
    served longest ago (their latest create sent, or a job of theirs leased right now, whichever is
    later; never served first) goes first, then the older job, then the lower id. A leased job
    keeps its place in its person's round; `free_only` leaves it out of the answer only.
    """
    now = timezone.now()
    rows = list(waiting.order_by().values_list("pk", "created_by", "created_at", "lease_until"))
    served: dict[int | None, datetime] = {}
    for who, sent in Generation.objects.values_list("created_by", "create_sent_at"):
        if who is not None and sent is not None:  # a former member's jobs have no one's history
            served[who] = max(served.get(who, sent), sent)
    leased = set()
    for pk, who, _, lease in rows:
        if lease is not None and lease > now:  # a worker is sending it right now
            leased.add(pk)
            served[who] = max(served.get(who, lease), lease)
    turns: dict[int | None, int] = {}
    keyed = []
    for pk, who, created, _ in sorted(rows, key=lambda row: (row[2], row[0])):
        turns[who] = turns.get(who, 0) + 1
        last = served.get(who)
        keyed.append((turns[who], last is not None, last or created, created, pk))
    return [key[-1] for key in sorted(keyed) if not (free_only and key[-1] in leased)]


def mixed_line(seed: int) -> GenerationQuerySet:
    """Waiting jobs from several people, with every kind of tie, turn, lease and history in it."""
    rng = random.Random(seed)  # noqa: S311 (the same line on every run)
    people = [factories.member(f"p{seed}-{name}") for name in ("ann", "ben", "cy", "dee", "gone")]
    ann, ben, cy, dee, gone = people
    start = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    # Served before, at various times (ann and dee never; ben before any of these jobs was made,
    # so "never served first" is not the same as "older job first"); the gone one was served too.
    for who, minutes in [(ben, -30), (cy, 10), (cy, 70), (gone, 90)]:
        factories.generation(who, State.READY, create_sent_at=start + timedelta(minutes=minutes))
    for i in range(60):
        # Whole seconds and repeated times: ties in created_at fall to the id, and SQLite's text
        # times with and without a fraction must still sort as times.
        at = start + timedelta(seconds=rng.choice([0, 30, 30, 61]) * i, microseconds=rng.choice([0, 0, 5]))
        factories.generation(rng.choice(people), prompt=f"job {i}", created_at=at)
    waiting = Generation.objects.filter(state=State.QUEUED)
    now = timezone.now()
    # Leases held right now (a worker sending the job), some of them on a person's first job, and
    # leases run out (the worker died): a few of each, on anyone's jobs but dee's (she stays
    # never served), the gone person's too.
    ids = list(waiting.exclude(created_by=dee).order_by("id").values_list("pk", flat=True))
    for pk in rng.sample(ids, 8):
        held = rng.random() < 0.6
        until = now + timedelta(minutes=rng.choice([1, 2, 3])) if held else now - timedelta(minutes=1)
        waiting.filter(pk=pk).update(lease_owner="w", lease_until=until)
    for who in (ann, cy):  # and each's first job for sure: it must still count as their first turn
        first = waiting.filter(created_by=who).order_by("created_at", "id").first()
        assert first is not None
        waiting.filter(pk=first.pk).update(lease_owner="w", lease_until=now + timedelta(minutes=1))
    gone.delete()  # their jobs stay, made by no one (created_by NULL)
    assert waiting.filter(created_by=None).exists() and waiting.filter(created_by=dee).exists()
    return waiting


@pytest.mark.parametrize("seed", [8, 21, 34])
@pytest.mark.parametrize("free_only", [False, True], ids=["whole", "free"])
def test_the_line_keeps_the_rule_however_mixed(seed: int, free_only: bool) -> None:
    waiting = mixed_line(seed)
    expected = fair_turns(waiting, free_only=free_only)
    line = TurnLine(waiting, free_only=free_only)
    held = waiting.filter(lease_until__gt=timezone.now()).count()
    assert held >= 2 and len(expected) == (60 - held if free_only else 60)  # leased jobs left out
    assert line.count() == len(expected)
    assert line[0 : len(expected) + 5] == expected
    # Any slice is the same places of the same line: LIMIT and OFFSET count the jobs shown.
    for size in (1, 7, 25):
        pieces: list[int] = []
        for at in range(0, len(expected) + size, size):
            pieces += line[at : at + size]
        assert pieces == expected
    assert line[3] == expected[3] and list(line) == expected


def test_a_leased_job_keeps_its_persons_place_but_is_not_offered() -> None:
    # Ann's first job is being sent right now: her second waits for the next round, after Ben's
    # second (he has never been served), though Ann's second is older than both of Ben's.
    ann, ben = factories.member("ann"), factories.member("ben")
    start = timezone.now() - timedelta(hours=1)
    a0, a1 = (factories.generation(ann, created_at=start + timedelta(seconds=s)) for s in (0, 1))
    b0, b1 = (factories.generation(ben, created_at=start + timedelta(seconds=s)) for s in (2, 3))
    Generation.objects.filter(pk=a0.pk).update(
        lease_owner="w", lease_until=timezone.now() + timedelta(minutes=1)
    )
    waiting = Generation.objects.filter(state=State.QUEUED)
    assert TurnLine(waiting)[0:10] == [b0.pk, a0.pk, b1.pk, a1.pk]
    free = TurnLine(waiting, free_only=True)
    assert free[0:10] == [b0.pk, b1.pk, a1.pk] == fair_turns(waiting, free_only=True)
    assert free[1:2] == [b1.pk] and free.count() == 3


def test_the_oracle_states_the_rule(user: Any, other_user: Any) -> None:
    # The Python statement above is what the SQL is held to, so it is checked on its own too.
    for i in range(3):
        factories.generation(user, prompt=f"alice {i}")
    factories.generation(other_user, prompt="bob 0")
    order = [
        Generation.objects.get(pk=pk).prompt
        for pk in fair_turns(Generation.objects.filter(state=State.QUEUED))
    ]
    assert order == ["alice 0", "bob 0", "alice 1", "alice 2"]
