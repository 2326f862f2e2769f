"""A create whose answer was lost is looked up in the usage log: adopted, sent once more, or failed honestly.

Everything runs over real HTTP against the stand-in, whose usage log lags and rate-limits like
the real one; the pacing of look-ups is held in the database, shared by every worker.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from playground.generations.models import CLIENT_REQUEST_ID, Generation, State, new_client_request_id
from playground.worker.loop import AMBIGUOUS, FAILED_UPSTREAM_TWICE, RESENT, WORKER_LOST, Worker
from playground.worker.models import UsageLogCall
from playground.worker.recovery import finish_log_slot, take_log_slot
from tests.faults import Fault
from tests.worker.test_worker import creates, drive, jobs, make


def log_calls(upstream: Any) -> list[Any]:
    return [c for c in upstream.app.calls if c.endpoint == "logs"]


# --- Correlation ---------------------------------------------------------------------------


def test_every_create_carries_the_generations_own_id_and_the_answer_headers_are_kept(worker, upstream, user):
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert CLIENT_REQUEST_ID.fullmatch(gen.client_request_id)
    assert gen.client_request_id.startswith(f"gen-{gen.pk}-")
    [row] = [r for r in upstream.app.usage_log() if r["client_request_id"] is not None]
    assert row["client_request_id"] == gen.client_request_id  # what the service saw
    assert gen.inference_id == gen.upstream_id == row["inference_id"]
    assert str(gen.usd_spent) == "0.430000000"  # the create's x-aimlapi-usd-spent, not a poll's 0
    assert gen.credits_spent == 860_000


def test_a_resent_job_gets_a_new_client_request_id(upstream, user):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(fail=True, close=True))
    gen = make(user)
    drive(worker)
    sent = [r["client_request_id"] for r in upstream.app.usage_log() if r["client_request_id"]]
    assert len(sent) == 2 and sent[0] != sent[1]
    assert all(CLIENT_REQUEST_ID.fullmatch(value) for value in sent)
    gen.refresh_from_db()
    assert gen.client_request_id == sent[1]


@pytest.mark.parametrize("pk", [1, 42, 10**18, 2**63 - 1])
def test_client_request_ids_are_always_in_the_services_alphabet(pk):
    for _ in range(50):
        value = new_client_request_id(pk)
        assert CLIENT_REQUEST_ID.fullmatch(value) and len(value) <= 128


# --- The three outcomes ---------------------------------------------------------------------


def test_found_succeeded_adopts_the_id_and_the_video_arrives_after_one_create(upstream, user):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(process=True, close=True))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len(creates(upstream)) == 1
    [job] = jobs(upstream)
    assert gen.upstream_id == job["id"]
    assert gen.usd_spent is not None and str(gen.usd_spent.normalize()) == "0.43"  # from the log row
    assert gen.resends == 0 and gen.notice == ""
    assert log_calls(upstream)  # it was the log that told us


def test_found_failed_sends_it_once_more_and_the_page_says_so(upstream, user, client: Client):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(fail=True, close=True))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert gen.resends == 1
    assert gen.notice == RESENT
    assert len(creates(upstream)) == 2
    assert len(jobs(upstream)) == 1  # the first never made a job
    client.force_login(user)
    assert RESENT in unescape(client.get(gen.get_absolute_url()).content.decode())


def test_found_failed_twice_is_not_sent_a_third_time(upstream, user):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(fail=True, close=True), Fault(fail=True, close=True))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == FAILED_UPSTREAM_TWICE
    assert len(creates(upstream)) == 2
    assert jobs(upstream) == []


def test_not_found_when_the_window_closes_fails_honestly_without_a_second_create(
    standin_factory, user, settings
):
    # The log lags far longer than we look: "not there yet" is all it can say.
    slow_log = standin_factory(log_lag=60.0)
    settings.RECOVERY_WINDOW = 1.0
    worker = Worker(client=slow_log.client(timeout=1.0), name="w")
    slow_log.app.inject("create", Fault(process=True, close=True))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_code == "ambiguous"
    assert gen.failure_reason == AMBIGUOUS
    assert len(creates(slow_log)) == 1
    looks = log_calls(slow_log)
    assert len(looks) >= 2  # it kept asking while the window was open
    assert looks[-1].started <= gen.recovery_until.timestamp() + 2  # and stopped when it closed


# --- A gateway's answer to a create is no proof either way ----------------------------------

GATEWAY_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
    "</center><hr><center>nginx</center></body></html>"
)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(process=True, status=504, body=GATEWAY_504),
        Fault(process=True, status=504, body={"message": "Generation timeout", "statusCode": 504}),
        Fault(process=True, status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ],
    ids=["gateway-504-after-create", "generation-timeout-504-after-create", "gateway-502-after-create"],
)
def test_a_gateway_error_after_the_service_took_the_job_keeps_the_video_and_pays_once(
    standin_factory, user, fault
):
    # The stand-in makes (and charges) the job, then a gateway's error replaces its answer.
    upstream = standin_factory(credits=5)
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", fault)
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert len(creates(upstream)) == 1
    assert upstream.app.credits_left == 4
    assert gen.state == State.READY, gen.failure_reason
    [job] = jobs(upstream)
    assert gen.upstream_id == job["id"]  # adopted from the usage log
    assert f"HTTP {fault.status}" in gen.upstream_error
    assert gen.resends == 0 and gen.notice == ""
    assert log_calls(upstream)
    billed = [r for r in upstream.app.usage_log() if r["cost"]["usd"] > 0]
    assert [r["client_request_id"] for r in billed] == [gen.client_request_id]


def test_a_gateway_error_that_reached_nothing_fails_honestly_and_is_not_resent(upstream, user, settings):
    # The gateway answered without passing the request on: the log never shows it, so it fails
    # with the sentence that it may or may not have started, rather than risk paying twice.
    settings.RECOVERY_WINDOW = 1.0
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(status=502, body="<html>Bad Gateway</html>"))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == AMBIGUOUS
    assert "gateway" in AMBIGUOUS
    assert len(creates(upstream)) == 1
    assert jobs(upstream) == []


def test_a_job_whose_worker_died_after_sending_is_looked_up_not_resent(worker, upstream, user, settings):
    settings.RECOVERY_WINDOW = 1.0
    sent = timezone.now() - timedelta(seconds=0.5)
    gen = make(
        user,
        state=State.SUBMITTING,
        create_sent_at=sent,
        client_request_id="gen-1-never-arrived",
        lease_owner="dead-worker",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert gen.failure_reason == WORKER_LOST
    assert creates(upstream) == []
    assert log_calls(upstream)


def test_the_page_says_we_are_checking_while_recovering(signed_in: Client, user):
    gen = make(user, state=State.RECOVERING, create_sent_at=timezone.now())
    html = unescape(signed_in.get(gen.get_absolute_url(), headers={"HX-Request": "true"}).content.decode())
    assert "Checking with the video service whether this job started…" in html
    assert 'hx-trigger="every 2s"' in html  # still polling


def test_log_trouble_is_no_proof_and_the_job_keeps_waiting(upstream, user):
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(process=True, close=True))
    upstream.app.inject("logs", Fault(status=500), Fault(status=429))
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len(creates(upstream)) == 1


# --- Pacing under the log's rate limit, across workers -------------------------------------


def test_log_slots_are_counted_in_the_database(db, settings):
    settings.USAGE_LOG_REQUESTS = 3
    settings.USAGE_LOG_WINDOW = 60
    slots = [take_log_slot() for _ in range(3)]
    assert [slot.wait for slot in slots] == [0.0, 0.0, 0.0]
    for slot in slots:
        finish_log_slot(slot)
    wait = take_log_slot().wait
    assert 59 < wait <= 60.1
    assert UsageLogCall.objects.count() == 3


def test_a_slot_in_flight_holds_its_place_until_its_answer_is_back(db, settings):
    # The service counts arrivals, which come after the slot is taken: however long a request takes to
    # leave, the next window is measured from its end, never from when its slot was taken.
    settings.USAGE_LOG_REQUESTS = 1
    settings.USAGE_LOG_WINDOW = 1
    with time_machine.travel(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), tick=False) as clock:
        slot = take_log_slot()
        assert slot.wait == 0.0
        clock.shift(5)  # still in flight five seconds later (a slow trip): no second slot
        assert take_log_slot().wait > 1
        finish_log_slot(slot)  # the answer came back at 00:00:04 on 1 January
        clock.shift(0.9)
        assert 0.1 <= take_log_slot().wait <= 0.2
        clock.shift(0.2)
        assert take_log_slot().wait == 0.0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_many_lost_creates_and_two_worker_processes_stay_under_the_logs_rate_limit(
    upstream, user, start_worker
):
    limit, window = 4, 1.0
    upstream.app.logs_rate_limit, upstream.app.logs_rate_window = limit, window
    upstream.app.log_lag = 30.0  # nothing is found: they keep looking for the whole test
    for i in range(6):
        make(
            user,
            prompt=f"lost {i}",
            state=State.RECOVERING,
            create_sent_at=timezone.now(),
            client_request_id=f"gen-x-{i}",
            recovery_until=timezone.now() + timedelta(seconds=60),
        )
    pacing = {
        "USAGE_LOG_REQUESTS": str(limit),
        "USAGE_LOG_WINDOW": str(window),
        "RECOVERY_LOOK_EVERY": "0.05",
    }
    workers = [start_worker(f"w{i}", threads=3, **pacing) for i in range(2)]
    deadline = time.monotonic() + 30
    # Enough looks to fill the limit several times over (worker start-up takes a while on a busy machine).
    while len(log_calls(upstream)) < 3 * limit and time.monotonic() < deadline:
        time.sleep(0.1)
    for w in workers:
        w.kill()
        w.wait(5)
    looks = sorted(c.started for c in log_calls(upstream))
    assert len(looks) >= 3 * limit  # they kept looking...
    assert all(c.status == 200 for c in log_calls(upstream))  # ...and the service never said 429
    for i, first in enumerate(looks):
        assert sum(1 for t in looks[i:] if t < first + window) <= limit
    assert creates(upstream) == []


def test_the_lost_create_is_found_past_the_first_page_of_the_log(standin_factory, user):
    upstream = standin_factory(log_lag=0.0)
    noise = upstream.client()
    for i in range(120):  # other creates in the same minutes fill more than one page (100 rows)
        noise.create(
            model="video-01", prompt=f"noise {i}", enhance=False, first_frame=None, client_request_id=f"n-{i}"
        )
    worker = Worker(client=upstream.client(timeout=1.0), name="w")
    upstream.app.inject("create", Fault(process=True, close=True))
    gen = make(user)
    # Newest rows come first, so make ours older than the noise: the noise goes out after it.
    drive(worker, until=lambda: Generation.objects.filter(pk=gen.pk, state=State.RECOVERING).exists())
    for i in range(120, 240):
        noise.create(
            model="video-01", prompt=f"noise {i}", enhance=False, first_frame=None, client_request_id=f"n-{i}"
        )
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert len([c for c in log_calls(upstream) if c.query.get("offset") not in (None, "0")]) >= 1
    assert len(creates(upstream)) == 241
