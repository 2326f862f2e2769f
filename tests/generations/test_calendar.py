"""The calendar is input: month arithmetic at every month's start, middle and last second.

The clock is frozen with time-machine (never today's date), in UTC and in zones ahead of and
behind it, so the suite passes whatever day it runs on. Every moment (3 zones × 12 months × start,
middle and last second) checks the month arithmetic and what is built on it: the allowance count,
the Usage page's two months and the "starts again on …" sentence, read from the functions the pages
call. A handful of moments (each zone's first second of the year, the end of February and the last
second of the year) then drive the real pages and the Generate button, proving the wiring.
"""

from __future__ import annotations

import calendar
import uuid
import zoneinfo
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import State
from playground.money import starts
from playground.money.models import allowance_for, month_start
from playground.money.usage import month_usage
from tests.factories import generation

ZONES = ["UTC", "Pacific/Auckland", "America/Los_Angeles"]
YEAR = 2027


def moments() -> list[tuple[str, int, str]]:
    return [
        (zone, month, when) for zone in ZONES for month in range(1, 13) for when in ("start", "mid", "end")
    ]


def local_moment(zone: str, month: int, when: str, year: int = YEAR) -> datetime:
    tz = zoneinfo.ZoneInfo(zone)
    last_day = calendar.monthrange(year, month)[1]
    naive = {
        "start": datetime(year, month, 1, 0, 0, 0),
        "mid": datetime(year, month, 15, 12, 0, 0),
        "end": datetime(year, month, last_day, 23, 59, 59),
    }[when]
    return naive.replace(tzinfo=tz)


def shifted(year: int, month: int, by: int) -> tuple[int, int]:
    """(year, month) `by` months later, counted the obvious way, as the test's own oracle."""
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


@pytest.mark.parametrize(("zone", "month", "when"), moments())
def test_month_start_at_every_month_boundary(settings, zone, month, when):
    settings.TIME_ZONE = zone
    moment = local_moment(zone, month, when)
    with time_machine.travel(moment, tick=False):
        for by in (-1, 0, 1, 2, 12, 13):
            start = timezone.localtime(month_start(months_back=by))
            year, expected = shifted(YEAR, month, -by)
            assert (start.year, start.month, start.day, start.hour, start.minute) == (year, expected, 1, 0, 0)
            assert start.tzinfo is not None and str(start.tzinfo) == zone
        assert month_start() <= timezone.now() < month_start(months_back=-1)


def submit(client: Client) -> Any:
    return client.post(
        reverse("generate"),
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01",
            "prompt": "Dawn",
            "enhance_prompt": "on",
        },
    )


def seed_three_months(user: Any, moment: datetime, when: str) -> None:
    """One video a second ago (this month unless it is the first second), one on the last second of
    the previous month, one at the start of the month before that."""
    this_month = moment if when == "start" else moment - timedelta(seconds=1)
    last_month = month_start() - timedelta(seconds=1)
    two_back = month_start(months_back=2)
    for created in (this_month, last_month, two_back):
        generation(user, prompt="x", state=State.READY, created_at=created)


@pytest.mark.parametrize(("zone", "month", "when"), moments())
def test_allowance_and_usage_months_at_every_month_boundary(user, settings, zone, month, when):
    settings.TIME_ZONE = zone
    settings.MONTHLY_GENERATION_CAP = 1
    moment = local_moment(zone, month, when)
    with time_machine.travel(moment, tick=False):
        seed_three_months(user, moment, when)
        assert allowance_for(user).used == 1

        months = [month_usage(0), month_usage(1)]
        prev_year, prev_month = shifted(YEAR, month, -1)
        assert [(m.start.year, m.start.month) for m in months] == [(YEAR, month), (prev_year, prev_month)]
        assert months[0].team.total == 1
        assert months[1].team.total == 1  # the last second of last month, not the one before

        _, next_month = shifted(YEAR, month, 1)
        sentence = starts.refusal(user, "video-01", 1) or ""
        assert f"Your allowance starts again on 1 {calendar.month_name[next_month]};" in sentence


WIRING_MOMENTS = [
    (zone, month, when) for zone in ZONES for month, when in ((1, "start"), (2, "end"), (12, "end"))
]


@pytest.mark.parametrize(("zone", "month", "when"), WIRING_MOMENTS)
def test_usage_and_allowance_on_any_day(client: Client, user, settings, zone, month, when):
    settings.TIME_ZONE = zone
    settings.MONTHLY_GENERATION_CAP = 2
    moment = local_moment(zone, month, when)
    with time_machine.travel(moment, tick=False):
        client.force_login(user)  # signed in at that moment, so the session is fresh then
        signed_in = client
        seed_three_months(user, moment, when)
        assert allowance_for(user).used == 1

        response = signed_in.get(reverse("usage"))
        assert response.status_code == 200
        html = response.content.decode()
        this_name = f"{calendar.month_name[month]} {YEAR}"
        prev_year, prev_month = shifted(YEAR, month, -1)
        prev_name = f"{calendar.month_name[prev_month]} {prev_year}"
        assert f"{this_name} (this month)" in html
        months = response.context["months"]
        assert months[0].team.total == 1
        assert months[1].team.total == 1  # the last second of last month, not the one before
        assert prev_name in html

        # Used 1 of 2: one more goes through; then the cap's sentence names next month's first day.
        assert submit(signed_in).status_code == 302
        refused = submit(signed_in)
        assert refused.status_code == 200
        _, next_month = shifted(YEAR, month, 1)
        assert (
            f"Your allowance starts again on 1 {calendar.month_name[next_month]};" in refused.content.decode()
        )


@pytest.mark.parametrize("zone", ZONES)
def test_new_year_rolls_the_usage_months_over(client: Client, user, settings, zone):
    settings.TIME_ZONE = zone
    tz = zoneinfo.ZoneInfo(zone)
    with time_machine.travel(datetime(2026, 12, 31, 23, 59, 59, tzinfo=tz), tick=False) as traveller:
        client.force_login(user)
        signed_in = client
        generation(user, prompt="old", state=State.READY)
        months = signed_in.get(reverse("usage")).context["months"]
        assert [m.start.month for m in months] == [12, 11]
        assert months[0].team.total == 1

        traveller.move_to(datetime(2027, 1, 1, 0, 0, 0, tzinfo=tz))
        generation(user, prompt="new", state=State.READY)
        response = signed_in.get(reverse("usage"))
        months = response.context["months"]
        assert [(m.start.year, m.start.month) for m in months] == [(2027, 1), (2026, 12)]
        assert [m.team.total for m in months] == [1, 1]
        assert "January 2027 (this month)" in response.content.decode()
        assert allowance_for(user).used == 1
