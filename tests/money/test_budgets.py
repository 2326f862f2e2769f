"""Dollars: estimates, what counts as spent, the budget refusal, and parallel submits at the edge."""

from __future__ import annotations

import threading
import uuid
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.money import budgets
from playground.money.models import Allowance, TeamBudget, month_start
from tests.factories import PASSWORD, generation

GENERATE = reverse("generate")
USAGE = reverse("usage")


def submit(client: Client, model: str = "video-01") -> Any:
    return client.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": model,
            "prompt": "A lighthouse in fog",
            "enhance_prompt": "on",
        },
    )


def job(user: Any, state: str = State.READY, usd: str | None = "0.43", **kw: Any) -> Generation:
    kw.setdefault("created_at", timezone.now() - timedelta(minutes=5))
    return generation(user, state, prompt="p", usd_spent=Decimal(usd) if usd is not None else None, **kw)


def text(response: Any) -> str:
    return unescape(response.content.decode())


# --- Estimates and sums ----------------------------------------------------------------------


def test_the_estimate_is_the_configured_price_until_costs_are_known(db, settings):
    settings.VIDEO_PRICES_USD = {"video-01": Decimal("0.50"), "video-01-live2d": Decimal("0.60")}
    assert budgets.estimate("video-01") == Decimal("0.50")


def test_the_estimate_follows_the_most_recent_known_costs_of_that_model(user, settings):
    settings.ESTIMATE_FROM_LAST = 2
    job(user, usd="1.00", created_at=timezone.now() - timedelta(days=3))
    job(user, usd="0.40")
    job(user, usd="0.46")
    job(user, usd="9.00", model="video-01-live2d")  # another model's price does not leak in
    job(user, usd=None)  # unknown costs are not zero costs
    assert budgets.estimate("video-01") == Decimal("0.43")
    # A batch multiplies it.
    assert budgets.estimate("video-01") * 3 == Decimal("1.29")


def test_uncharged_jobs_count_nothing_and_in_flight_jobs_count_their_expected_cost(user, settings):
    settings.VIDEO_PRICES_USD = {"video-01": Decimal("0.43"), "video-01-live2d": Decimal("0.56")}
    job(user, State.READY, "0.40")
    job(user, State.FAILED, None, failure_code="refused")
    job(user, State.FAILED, "0.43", failure_code="upstream_error")  # the service rolled it back
    job(user, State.FAILED, None, failure_code="never_started")
    job(user, State.FAILED, None, failure_code="ambiguous")  # the log never showed it
    job(user, State.FAILED, "0.43", failure_code="not_saved", completed_at=timezone.now())  # made, so billed
    job(user, State.RUNNING, None)  # expected: the estimate (recent known costs: 0.40, 0.43)
    job(user, State.RECOVERING, None)
    expected = Decimal("0.40") + Decimal("0.43") + 2 * budgets.estimate("video-01")
    assert budgets.committed(user=user) == expected


def test_dollars_are_written_as_people_read_prices():
    assert budgets.dollars(Decimal("0.430000000")) == "$0.43"
    assert budgets.dollars(Decimal("1250")) == "$1,250.00"
    assert budgets.dollars(Decimal("0.001240000")) == "$0.00124"
    assert budgets.dollars(Decimal("0.000000400")) == "less than $0.00001"
    assert budgets.dollars(Decimal(0)) == "$0.00"


# --- Where a person sees dollars ---------------------------------------------------------------


def test_the_video_page_shows_its_cost(signed_in: Client, user):
    gen = job(user, usd="0.430000000")
    assert '<dd class="cost">$0.43</dd>' in signed_in.get(gen.get_absolute_url()).content.decode()


def test_a_finished_job_from_the_worker_shows_the_cost_the_service_reported(signed_in: Client, user, worker):
    from tests.worker.test_worker import drive, make

    gen = make(user)
    drive(worker)
    assert '<dd class="cost">$0.43</dd>' in signed_in.get(gen.get_absolute_url()).content.decode()
    assert "$0.43" in signed_in.get(reverse("gallery")).content.decode()


def test_usage_shows_dollars_per_person_and_team_this_month_and_last(signed_in: Client, user, other_user):
    job(user, usd="0.43")
    job(user, usd="0.50")
    job(other_user, usd="0.56", model="video-01-live2d")
    job(user, usd="2.00", created_at=month_start(months_back=1) + timedelta(hours=1))
    html = signed_in.get(USAGE).content.decode()
    this_month, last_month = html.split('id="month-2"')
    assert '<td class="usd">$0.93</td>' in this_month  # alice
    assert '<td class="usd">$0.56</td>' in this_month  # bob
    assert '<td class="usd">$1.49</td>' in this_month  # the team
    assert '<td class="usd">$2.00</td>' in last_month


def test_the_generate_page_shows_an_estimate_and_the_budget_left(signed_in: Client, user, settings):
    settings.MONTHLY_BUDGET_USD = Decimal("25.00")
    settings.VIDEO_PRICES_USD = {"video-01": Decimal("0.43"), "video-01-live2d": Decimal("0.56")}
    job(user, usd="0.43")
    html = signed_in.get(GENERATE).content.decode()
    assert "about $0.43 a video" in html
    assert "about $0.56 a video" in html
    assert "$24.57 of $25.00</strong> to spend" in html


def test_the_admin_lists_costs(client: Client, user):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)
    job(user, usd="0.43")
    assert "$0.43" in client.get(reverse("admin:playground_generation_changelist")).content.decode()


# --- The budget refusal ------------------------------------------------------------------------


def test_over_the_personal_budget_a_start_is_refused_with_the_numbers_and_nothing_is_sent(
    signed_in: Client, user, settings, upstream
):
    settings.MONTHLY_BUDGET_USD = Decimal("25.00")
    job(user, usd="0.43")
    job(user, usd="24.37", model="video-01-live2d")  # $24.80 spent in all
    response = submit(signed_in)
    assert response.status_code == 200
    assert "This video would cost about $0.43; you have $0.20 of your $25.00 left this month." in text(
        response
    )
    assert Generation.objects.count() == 2
    assert upstream.app.calls == []


def test_a_personal_override_in_the_admin_wins_over_the_default(signed_in: Client, user, settings):
    settings.MONTHLY_BUDGET_USD = Decimal("1.00")
    Allowance.objects.create(user=user, usd_per_month=Decimal("50.00"))
    job(user, usd="5.00")
    assert submit(signed_in).status_code == 302


def test_over_the_team_budget_a_start_is_refused_with_the_teams_numbers(
    signed_in: Client, user, other_user, settings
):
    settings.MONTHLY_BUDGET_USD = None
    TeamBudget.objects.create(usd_per_month=Decimal("10.00"))
    job(other_user, usd="0.43")
    job(other_user, usd="9.37", model="video-01-live2d")
    response = submit(signed_in)
    assert "This video would cost about $0.43; the team has $0.20 of its $10.00 left this month." in text(
        response
    )
    assert Generation.objects.count() == 2


def test_jobs_in_flight_count_against_the_budget(signed_in: Client, user, settings):
    settings.MONTHLY_BUDGET_USD = Decimal("1.00")
    job(user, State.RUNNING, None)
    job(user, State.QUEUED, None)
    assert "you have $0.14 of your $1.00 left" in text(submit(signed_in))


def test_in_flight_h3_jobs_count_at_the_length_they_asked_for_not_the_default(user, other_user, settings):
    settings.MONTHLY_GENERATION_CAP = None
    settings.MONTHLY_BUDGET_USD = Decimal("10.00")
    settings.TEAM_MONTHLY_BUDGET_USD = None
    for _ in range(8):  # 8 x 15 s at the guessed $0.08 a second: $9.60, not 8 x 6 s ($3.84)
        job(user, State.RUNNING, None, model="minimax/h3", duration_seconds=15)
    assert budgets.committed(user=user) == Decimal("9.60") == budgets.committed_this_month(user)
    assert budgets.check(user, "minimax/h3", 1, 4) is None  # $0.32 fits in the $0.40 left
    assert budgets.check(user, "minimax/h3", 1, 6) == (
        "This video would cost about $0.48; you have $0.40 of your $10.00 left this month. "
        f"Your budget starts again on {timezone.localtime(month_start(months_back=-1)):%-d %B}; "
        "an admin can raise it sooner."
    )
    # One that asked for no length counts its model's default (6 s). A known cost ends one job's
    # guess and teaches the estimate: $1.50 for 15 s is $0.10 a second for the 126 s still in flight.
    job(user, State.QUEUED, None, model="minimax/h3")
    done = job(user, State.RUNNING, None, model="minimax/h3", duration_seconds=15)
    done.usd_spent = Decimal("1.50")
    done.save()
    expected = Decimal("12.60") + Decimal("1.50")
    assert budgets.committed(user=user) == expected == budgets.committed_this_month(user)
    # The team's budget reads the same seconds, whoever asked for them.
    settings.MONTHLY_BUDGET_USD = None
    TeamBudget.objects.create(usd_per_month=Decimal("15.00"))
    assert budgets.committed() == expected == budgets.committed_this_month(None)
    assert budgets.check(other_user, "minimax/h3", 2, 4) is None  # 2 x $0.40 under the $0.90 left
    refusal = budgets.check(other_user, "minimax/h3", 1, 15)
    assert refusal is not None
    assert "would cost about $1.50; the team has $0.90 of its $15.00 left this month" in refusal


def test_with_the_count_allowance_off_the_budget_still_holds(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = None
    settings.MONTHLY_BUDGET_USD = Decimal("0.50")
    assert submit(signed_in).status_code == 302
    assert "left this month" in text(submit(signed_in))
    assert Generation.objects.count() == 1


def test_the_count_allowance_is_still_a_second_fence(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 1
    settings.MONTHLY_BUDGET_USD = Decimal("100.00")
    job(user, usd="0.43")
    assert "You have used all 1 of your videos for this month." in text(submit(signed_in))


@pytest.mark.parametrize(
    ("zone", "moment"),
    [
        ("UTC", datetime(2027, 1, 31, 23, 59, 59)),
        ("Pacific/Auckland", datetime(2027, 12, 31, 23, 59, 59)),
        ("America/Los_Angeles", datetime(2028, 2, 29, 23, 59, 59)),
        ("America/Los_Angeles", datetime(2027, 1, 1, 0, 0, 0)),
    ],
)
def test_the_budget_month_follows_the_site_calendar(signed_in: Client, user, settings, zone, moment):
    settings.TIME_ZONE = zone
    settings.MONTHLY_BUDGET_USD = Decimal("1.00")
    now = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    with time_machine.travel(now, tick=False):
        start = month_start()
        job(user, usd="0.90", created_at=start - timedelta(seconds=1))  # last month: not counted
        job(user, usd="0.50", created_at=start)  # this month's first second: counted
        refusal = budgets.check(user, "video-01")
        assert refusal is not None and "you have $0.50 of your $1.00 left" in refusal
        following = timezone.localtime(month_start(months_back=-1))
        assert f"starts again on {following.day} {following:%B}" in refusal
        assert following.day == 1 and (following.month - timezone.localtime(start).month) % 12 == 1


# --- Parallel submits at the edge --------------------------------------------------------------


def parallel_submits(clients: list[Client]) -> list[int]:
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def go(c: Client) -> None:
        try:
            barrier.wait()
            statuses.append(submit(c).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


@pytest.mark.django_db(transaction=True)
def test_parallel_submits_by_one_person_at_the_edge_never_overspend(user, settings):
    settings.MONTHLY_BUDGET_USD = Decimal("1.00")  # room for two $0.43 videos, not three
    settings.SUBMISSIONS_PER_MINUTE = 50
    clients = []
    for _ in range(6):
        c = Client()
        c.force_login(user)
        clients.append(c)
    statuses = parallel_submits(clients)
    assert sorted(statuses) == [200] * 4 + [302] * 2
    assert Generation.objects.count() == 2
    assert budgets.committed(user=user) <= Decimal("1.00")


@pytest.mark.django_db(transaction=True)
def test_parallel_submits_by_many_people_at_the_team_edge_never_overspend(settings):
    settings.MONTHLY_BUDGET_USD = None
    settings.TEAM_MONTHLY_BUDGET_USD = Decimal("1.30")  # three $0.43 videos, not four
    clients = []
    for i in range(6):
        person = get_user_model().objects.create_user(f"member{i}", password=PASSWORD)
        c = Client()
        c.force_login(person)
        clients.append(c)
    statuses = parallel_submits(clients)
    assert sorted(statuses) == [200] * 3 + [302] * 3
    assert Generation.objects.count() == 3
    assert budgets.committed() <= Decimal("1.30")
