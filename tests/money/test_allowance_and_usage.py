"""Monthly allowances, the per-minute brake, and the Usage page."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.money.models import Allowance, allowance_for, month_start
from tests.factories import generation

GENERATE = reverse("generate")


def submit(client: Client, prompt: str = "A sunrise over the sea") -> Any:
    return client.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01",
            "prompt": prompt,
            "enhance_prompt": "on",
        },
    )


def past(user: Any, n: int, *, when: Any = None) -> None:
    """`n` finished videos by `user`, a few minutes ago (or `when`)."""
    for i in range(n):
        generation(
            created_by=user,
            model="video-01",
            prompt=f"p{i}",
            created_at=when or timezone.now() - timedelta(minutes=5),
            state=State.READY,
        )


def test_the_generate_page_says_how_many_are_left(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 10
    past(user, 3)
    assert "<strong>7 of 10</strong> left this month" in signed_in.get(GENERATE).content.decode()


def test_at_the_cap_a_submit_is_refused_and_nothing_is_saved_or_sent(
    signed_in: Client, user, settings, upstream
):
    settings.MONTHLY_GENERATION_CAP = 3
    past(user, 3)
    response = submit(signed_in)
    html = response.content.decode()
    assert response.status_code == 200
    assert "You have used all 3 of your videos for this month." in html
    assert "Your allowance starts again on 1 " in html
    assert Generation.objects.count() == 3
    assert upstream.app.calls == []


def test_one_below_the_cap_goes_through(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 3
    past(user, 2)
    assert submit(signed_in).status_code == 302


def test_failures_the_service_did_not_charge_for_do_not_count(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 2
    for code in ("never_started", "refused"):
        generation(user, prompt="x", state=State.FAILED, failure_code=code)
    # A failure after the service accepted the job was charged, so it counts.
    generation(
        created_by=user,
        model="video-01",
        prompt="x",
        state=State.FAILED,
        failure_code="upstream_error",
        upstream_id="u1",
    )
    # So does an ambiguous create: it may have been charged.
    generation(user, prompt="x", state=State.FAILED, failure_code="ambiguous")
    assert allowance_for(user).used == 2
    assert submit(signed_in).status_code == 200


def test_the_count_resets_with_the_month(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 2
    last_month = month_start() - timedelta(days=3)
    past(user, 5, when=last_month)
    assert allowance_for(user).used == 0
    assert submit(signed_in).status_code == 302


def test_other_peoples_videos_do_not_count(signed_in: Client, user, other_user, settings):
    settings.MONTHLY_GENERATION_CAP = 1
    past(other_user, 4)
    assert submit(signed_in).status_code == 302


def test_an_admin_set_allowance_beats_the_team_default(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = 100
    Allowance.objects.create(user=user, generations_per_month=1)
    past(user, 1)
    assert "You have used all 1 of your videos" in submit(signed_in).content.decode()
    Allowance.objects.filter(user=user).update(generations_per_month=None)  # back to the default
    assert submit(signed_in).status_code == 302


def test_no_cap_means_no_limit(signed_in: Client, user, settings):
    settings.MONTHLY_GENERATION_CAP = None
    past(user, 3)
    assert "No monthly limit" in signed_in.get(GENERATE).content.decode()
    assert submit(signed_in).status_code == 302


def test_too_many_starts_in_a_minute_are_refused_with_a_sentence(signed_in: Client, user, settings):
    settings.SUBMISSIONS_PER_MINUTE = 3
    for i in range(3):
        assert submit(signed_in, f"Quick {i}").status_code == 302
    html = submit(signed_in, "One too many").content.decode()
    assert "You have pressed Generate 3 times in the last minute (at most 3" in html
    assert Generation.objects.count() == 3
    Generation.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    assert submit(signed_in, "After a pause").status_code == 302


# --- Usage page -----------------------------------------------------------------------------


def test_usage_needs_sign_in(client: Client, db):
    assert client.get(reverse("usage")).status_code == 302


def test_usage_shows_each_person_and_the_team_this_month_and_last(signed_in: Client, user, other_user):
    now = timezone.now()
    last_month = month_start() - timedelta(days=2)
    rows = [
        (user, State.READY, 10, 5, now),
        (user, State.READY, 10, 5, now),
        (user, State.FAILED, None, None, now),
        (other_user, State.READY, 7, 3, now),
        (other_user, State.RUNNING, 7, None, now),
        (other_user, State.READY, 99, 99, last_month),
    ]
    for who, state, credits, tokens, when in rows:
        generation(
            created_by=who,
            model="video-01",
            prompt="x",
            state=state,
            credits_used=credits,
            tokens_used=tokens,
            created_at=when,
        )
    html = signed_in.get(reverse("usage")).content.decode().replace("\n", "")
    this_month, last = (
        html.split("(this month)")[1].split("<h2")[0],
        html.split("(this month)")[1].split("<h2")[1],
    )
    import re

    def row(section: str, who: str) -> list[str]:
        match = re.search(rf'<th scope="row">{who}</th>(.*?)</tr>', section)
        assert match, who
        return re.findall(r"<td>([^<]*)</td>", match.group(1))

    assert row(this_month, "alice") == ["2", "1", "0", "3", "20", "10"]
    assert row(this_month, "bob") == ["1", "0", "1", "2", "14", "3"]
    assert row(this_month, "Team") == ["3", "1", "1", "5", "34", "13"]
    assert row(last, "bob") == ["1", "0", "0", "1", "99", "99"]
    assert row(last, "Team") == ["1", "0", "0", "1", "99", "99"]


@pytest.mark.parametrize("months_back", [0, 1])
def test_month_start_is_midnight_on_the_first(months_back):
    start = month_start(months_back=months_back)
    local = timezone.localtime(start)
    assert (local.day, local.hour, local.minute, local.second) == (1, 0, 0, 0)
    assert start <= timezone.now()
