"""Leases (playground/lib/leases.py): a few rows taken in one UPDATE, and what a race leaves to each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from playground.generations.models import Generation, State
from tests import factories


def due_jobs(user: Any, count: int) -> list[int]:
    """`count` running jobs due a minute ago, oldest due first: their ids in lease order."""
    ago = timezone.now() - timedelta(minutes=1)
    rows = [factories.generation(created_by=user, state=State.RUNNING) for _ in range(count)]
    for n, gen in enumerate(rows):
        Generation.objects.filter(pk=gen.pk).update(next_attempt_at=ago + timedelta(seconds=n))
    return [gen.pk for gen in rows]


def due(ids: list[int]) -> Any:
    return Generation.objects.filter(pk__in=ids, next_attempt_at__lte=timezone.now())


@pytest.mark.django_db
def test_rows_are_leased_in_one_read_and_one_update_however_many(user):
    ids = due_jobs(user, 6)
    with CaptureQueriesContext(connection) as asked:
        won = due(ids).lease("w", 4, 60, order_by="next_attempt_at")
    assert won == ids[:4]
    assert len(asked) == 2, [q["sql"] for q in asked]
    held = dict(Generation.objects.filter(pk__in=ids).values_list("pk", "lease_owner"))
    assert [held[pk] for pk in ids] == ["w"] * 4 + ["", ""]


@pytest.mark.django_db
def test_a_row_another_worker_took_between_the_read_and_the_update_stays_with_it(user):
    ids = due_jobs(user, 3)
    stolen = ids[1]
    taken = False

    def steal_first(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        # Just before this worker's UPDATE, another takes the middle row, as a second process
        # could between the read and the write.
        nonlocal taken
        if not taken and sql.lstrip().upper().startswith("UPDATE"):
            taken = True
            Generation.objects.filter(pk=stolen).update(
                lease_owner="other", lease_until=timezone.now() + timedelta(seconds=60)
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(steal_first), CaptureQueriesContext(connection) as asked:
        won = due(ids).lease("w", 3, 60, order_by="next_attempt_at")
    assert taken
    assert won == [ids[0], ids[2]]
    held = dict(Generation.objects.filter(pk__in=ids).values_list("pk", "lease_owner"))
    assert held == {ids[0]: "w", stolen: "other", ids[2]: "w"}
    # The read, the other worker's UPDATE, this one's, and the read-back of what it won.
    assert len(asked) == 4, [q["sql"] for q in asked]


@pytest.mark.django_db
def test_nothing_due_or_nothing_won_leases_nothing(user):
    assert due([]).lease("w", 4, 60, order_by="next_attempt_at") == []
    ids = due_jobs(user, 2)
    assert due(ids).lease("w", 0, 60, order_by="next_attempt_at") == []
    assert due(ids).lease("first", 2, 60, order_by="next_attempt_at") == ids
    assert due(ids).lease("second", 2, 60, order_by="next_attempt_at") == []  # held, so not free
