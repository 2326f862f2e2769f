"""The shared test world builds rows that look like the ones the worker leaves behind."""

from __future__ import annotations

import pytest

from playground.generations.models import ACTIVE_STATES, Generation, State
from playground.money.models import allowance_for
from tests.factories import failed, generation, member, ready, staff


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(State))
def test_each_state_has_the_facts_a_real_row_in_it_has(state: State):
    gen = generation(member(), state)
    assert gen.is_active == (state in ACTIVE_STATES)
    assert bool(gen.finished_at) == (state in (State.READY, State.FAILED))
    assert bool(gen.upstream_id) == (state in (State.RUNNING, State.ARCHIVING, State.READY))
    assert bool(gen.failure_reason) == (state == State.FAILED)
    assert Generation.objects.active().filter(pk=gen.pk).exists() == gen.is_active


@pytest.mark.django_db
def test_explicit_fields_win_and_uncharged_failures_stay_uncharged():
    alice = member()
    ready(alice, prompt="mine", upstream_id="given")
    failed(alice, failure_code="refused")
    assert Generation.objects.get(prompt="mine").upstream_id == "given"
    assert allowance_for(alice).used == 1


@pytest.mark.django_db
def test_staff_can_delete_anyones_video_and_members_only_their_own():
    alice, bob, sam = member("alice"), member("bob"), staff()
    gen = ready(alice)
    assert [gen.can_be_deleted_by(u) for u in (alice, bob, sam)] == [True, False, True]
