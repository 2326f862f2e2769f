"""What one turn of the worker's loop asks the database, with 10 jobs in flight and with 500.

A turn claims the due jobs and steps each: a first poll (it records the cost the answer carried,
so the running totals follow), a later poll, and the poll that finds the video made and settles
the job (saves the video, READY, its money moves from the estimate to the known cost). None of
these may ask more of the database because more jobs are in flight (benchmark 6 is one worker
with 500), and claiming k jobs is three statements, not one per job.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.money import totals
from playground.money.models import SpendTotal
from playground.worker.loop import Worker

THREADS = 4


def in_flight_elsewhere(user: Any, count: int) -> None:
    """Jobs running upstream that fall due in an hour: in flight, never claimed in these turns."""
    later = timezone.now() + timedelta(hours=1)
    Generation.objects.bulk_create(
        Generation(
            created_by=user,
            model="video-01",
            prompt=f"Elsewhere {i}",
            state=State.RUNNING,
            upstream_id=f"{uuid.uuid4()}:video-01",
            submitted_at=timezone.now(),
            create_sent_at=timezone.now(),
            next_attempt_at=later,
        )
        for i in range(count)
    )


def due_now(upstream: Any, user: Any, client: Any, *, finished: bool) -> list[int]:
    """THREADS jobs the stand-in knows, due now; `finished`: made upstream before the turn."""
    ids = [
        client.create(
            model="video-01",
            prompt=f"Due {i}",
            enhance=False,
            first_frame=None,
            client_request_id=f"due-{uuid.uuid4().hex}",
        ).upstream_id
        for i in range(THREADS)
    ]
    if finished:
        for upstream_id in ids:
            upstream.wait(client, model="video-01", upstream_id=upstream_id)
    now = timezone.now()
    made = Generation.objects.bulk_create(
        Generation(
            created_by=user,
            model="video-01",
            prompt=f"Due {i}",
            state=State.RUNNING,
            upstream_id=upstream_id,
            submitted_at=now,
            create_sent_at=now,
            next_attempt_at=now - timedelta(seconds=1),
        )
        for i, upstream_id in enumerate(ids)
    )
    return [gen.pk for gen in made]


def turn(worker: Worker) -> tuple[int, int, list[Generation]]:
    """One turn of the loop for THREADS free threads, stepped here: (claim's statements, the
    whole turn's statements, the jobs claimed)."""
    with CaptureQueriesContext(connection) as whole:
        with CaptureQueriesContext(connection) as claiming:
            claimed = worker._claim(THREADS)
        for gen in claimed:
            worker.step(gen)
    return len(claiming.captured_queries), len(whole.captured_queries), claimed


def three_turns(upstream: Any, user: Any, worker: Worker, client: Any) -> list[tuple[int, int]]:
    counts = []
    first = due_now(upstream, user, client, finished=False)
    claim, whole, claimed = turn(worker)  # their first polls: the cost the answer carried is recorded
    assert sorted(g.pk for g in claimed) == first
    counts.append((claim, whole))
    Generation.objects.filter(pk__in=first).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    claim, whole, claimed = turn(worker)  # their second polls: nothing about money moves
    assert sorted(g.pk for g in claimed) == first
    counts.append((claim, whole))
    Generation.objects.filter(pk__in=first).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    settled = due_now(upstream, user, client, finished=True)
    claim, whole, claimed = turn(worker)  # made upstream: saved, READY, the cost is known
    assert sorted(g.pk for g in claimed) == settled
    assert set(Generation.objects.filter(pk__in=settled).values_list("state", flat=True)) == {State.READY}
    counts.append((claim, whole))
    return counts


@pytest.mark.django_db(transaction=True)
def test_a_loop_turn_asks_the_same_of_the_database_with_10_or_500_jobs_in_flight(upstream, user):
    client = upstream.client()
    worker = Worker(client=client, threads=THREADS, name="counting")
    in_flight_elsewhere(user, 10 - THREADS)
    few = three_turns(upstream, user, worker, client)
    in_flight_elsewhere(user, 500 - Generation.objects.active().count() - THREADS)
    assert Generation.objects.active().count() == 500 - THREADS
    many = three_turns(upstream, user, worker, client)
    assert many == few, f"statements per turn (claim, whole turn): {few} with 10 in flight, {many} with 500"
    # Claiming THREADS jobs: read the due ones, lease them in one UPDATE, read the rows won.
    assert [claim for claim, _ in few] == [3, 3, 3]
    # And the totals kept up with every one of those turns.
    recount = totals.recount(fix=False)
    assert (recount.stale_rows, recount.differences) == (0, [])
    assert SpendTotal.objects.get(person=None).videos == Generation.objects.count()
    print(f"statements per turn of {THREADS} jobs (claim, whole turn): first poll, poll, settle: {few}")
