"""The Queue page, Cancel and "Cancel all my waiting jobs"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from playground.generations.models import Generation, State
from playground.money.models import allowance_for
from playground.worker.loop import Worker
from tests import factories

pytestmark = pytest.mark.django_db


def jobs(owner: Any, count: int, state: State = State.QUEUED, **fields: Any) -> list[Generation]:
    return [
        factories.generation(owner, state, model="video-01", prompt=f"{owner.username} take {i}", **fields)
        for i in range(count)
    ]


def test_the_header_links_to_the_queue(signed_in: Client) -> None:
    assert 'href="/queue/"' in signed_in.get("/gallery/").content.decode()


def test_it_lists_waiting_jobs_in_the_workers_order_with_places(signed_in: Client, user, other_user) -> None:
    jobs(user, 3)
    jobs(other_user, 1)
    sent = factories.generation(other_user, State.RUNNING, model="video-01", prompt="sent")
    page = signed_in.get("/queue/").content.decode()
    order = [
        page.index(f"{who} take {i}") for who, i in [("alice", 0), ("bob", 0), ("alice", 1), ("alice", 2)]
    ]
    assert order == sorted(order)
    assert "Waiting (4)" in page and "With the video service (1)" in page
    assert f"#{sent.pk}" in page and "can't be called back" in page
    # Alice may cancel her own waiting jobs, not Bob's.
    assert page.count("Cancel</button>") == 3
    assert "Cancel all my waiting jobs (3)" in page


def test_its_query_count_is_the_same_at_1000_waiting_jobs(signed_in: Client, user, other_user) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert signed_in.get("/queue/").status_code == 200
        return len(captured)

    jobs(user, 5)
    few = queries()
    Generation.objects.bulk_create(
        Generation(created_by=u, model="video-01", prompt=f"bulk {i}")
        for i in range(1000)
        for u in [(user, other_user)[i % 2]]
    )
    assert queries() == few


def test_a_long_line_is_paged_with_places_running_on(signed_in: Client, user) -> None:
    jobs(user, 30)
    page = signed_in.get("/queue/?page=2").content.decode()
    assert '<td data-label="Place">26</td>' in page and '<td data-label="Place">30</td>' in page
    assert "Places 26–30 of 30" in page


def test_cancel_stops_a_waiting_job_for_good(signed_in: Client, user, worker: Worker, upstream: Any) -> None:
    [gen] = jobs(user, 1)
    response = signed_in.post(f"/videos/{gen.pk}/cancel/", {"next": "/queue/"}, follow=True)
    assert response.redirect_chain[-1][0] == "/queue/"
    assert "Nothing was sent and nothing was charged" in response.content.decode()
    gen.refresh_from_db()
    assert gen.state == State.CANCELLED and gen.finished_at is not None
    worker.run_until_idle(timeout=5)
    assert [c for c in upstream.app.calls if c.endpoint == "create"] == []
    assert allowance_for(user).used == 0
    assert "Cancelled" in signed_in.get(f"/videos/{gen.pk}/").content.decode()


def test_a_job_already_sent_cant_be_cancelled_and_the_page_says_so(signed_in: Client, user) -> None:
    [gen] = jobs(user, 1, state=State.RUNNING, upstream_id="x:video-01")
    page = signed_in.get(f"/videos/{gen.pk}/").content.decode()
    assert "Cancel</button>" not in page and "no way to call a job back" in page
    response = signed_in.post(f"/videos/{gen.pk}/cancel/", follow=True)
    assert "already sent to the video service" in response.content.decode()
    gen.refresh_from_db()
    assert gen.state == State.RUNNING


def test_only_the_maker_or_staff_may_cancel(client: Client, user, other_user) -> None:
    [gen] = jobs(user, 1)
    client.force_login(other_user)
    assert client.post(f"/videos/{gen.pk}/cancel/").status_code == 403
    gen.refresh_from_db()
    assert gen.state == State.QUEUED
    client.force_login(factories.staff())
    client.post(f"/videos/{gen.pk}/cancel/")
    gen.refresh_from_db()
    assert gen.state == State.CANCELLED


def test_cancel_loses_to_a_worker_that_already_recorded_the_create(user) -> None:
    [gen] = jobs(user, 1)
    assert Generation.objects.filter(pk=gen.pk).update(lease_owner="w") == 1
    gen.lease_owner = "w"
    assert gen.mark_create_sent("w")
    assert Generation.objects.cancel([gen.pk]) == 0


def test_a_worker_holding_a_cancelled_job_cannot_send_it(user) -> None:
    [gen] = jobs(user, 1)
    Generation.objects.filter(pk=gen.pk).update(lease_owner="w")
    gen.lease_owner = "w"
    assert Generation.objects.cancel([gen.pk]) == 1  # cancelled while the worker held it
    assert not gen.mark_create_sent("w")


def test_cancel_all_my_waiting_jobs_leaves_others_and_sent_ones(signed_in: Client, user, other_user) -> None:
    jobs(user, 3)
    [mine_sent] = jobs(user, 1, state=State.RUNNING)
    [theirs] = jobs(other_user, 1)
    response = signed_in.post("/queue/cancel-mine/", follow=True)
    assert "Cancelled 3 waiting jobs" in response.content.decode()
    assert Generation.objects.filter(created_by=user, state=State.CANCELLED).count() == 3
    assert Generation.objects.get(pk=mine_sent.pk).state == State.RUNNING
    assert Generation.objects.get(pk=theirs.pk).state == State.QUEUED


def test_the_gallery_filters_cancelled_jobs(signed_in: Client, user) -> None:
    [kept] = jobs(user, 1)
    [gone] = jobs(user, 1)
    Generation.objects.cancel([gone.pk])
    page = signed_in.get("/gallery/?state=cancelled").content.decode()
    assert f'id="card-{gone.pk}"' in page and f'id="card-{kept.pk}"' not in page
    assert '<option value="cancelled"' in signed_in.get("/gallery/").content.decode()


@pytest.mark.postgresql_only
def test_the_page_reads_its_own_rows_not_the_whole_line(signed_in: Client, user, other_user) -> None:
    def rows_read() -> int:
        read = 0

        def counting(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal read
            result = execute(sql, params, many, context)
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                read += max(context["cursor"].rowcount, 0)
            return result

        with connection.execute_wrapper(counting):
            assert signed_in.get("/queue/").status_code == 200
        return read

    jobs(user, 30)
    few = rows_read()
    Generation.objects.bulk_create(
        Generation(created_by=(user, other_user)[i % 2], model="video-01", prompt=f"bulk {i}")
        for i in range(1000)
    )
    # A page of 25 rows, whatever the length of the line (sorting the line in Python read all 1,030).
    assert rows_read() == few < 100
