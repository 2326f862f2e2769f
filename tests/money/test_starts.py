"""Starting videos is one service (money/starts.py): the check and the making share one transaction."""

from __future__ import annotations

import pytest

from playground.generations.models import Batch, Generation
from playground.money import starts
from tests.factories import generation

pytestmark = pytest.mark.django_db


def test_a_start_over_the_allowance_makes_nothing_and_says_why(user, settings):
    settings.MONTHLY_GENERATION_CAP = 2
    generation(user, prompt="earlier")
    called = []
    with pytest.raises(starts.Refused) as refused:
        starts.start(user, "video-01", 2, lambda: called.append(1))
    assert called == []
    assert "you have 1 of your 2 left" in refused.value.sentence


def test_what_make_saves_is_undone_when_it_fails(user):
    def make() -> None:
        Batch.objects.create(created_by=user, model="video-01", prompt="x", pictures=0, takes_per_picture=1)
        raise RuntimeError("the disk filled up")

    with pytest.raises(RuntimeError):
        starts.start(user, "video-01", 1, make)
    assert Batch.objects.count() == 0


def test_a_start_that_fits_returns_what_make_made(user):
    made = starts.start(user, "video-01", 1, lambda: generation(user, prompt="now"))
    assert Generation.objects.get() == made
