"""The demo gallery filler: every catalogue model gets real videos, each within its own rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from playground import catalogue
from playground.models import Generation, State


@pytest.mark.slow
@pytest.mark.django_db
def test_seed_demo_fills_the_gallery_with_every_model_of_the_catalogue(media_root):
    call_command("seed_demo", "--generations", "120", "--members", "3", stdout=StringIO())
    rows = list(Generation.objects.all())
    assert len(rows) == 120
    assert {g.model for g in rows} == set(catalogue.IDS)
    for gen in rows:
        model = catalogue.BY_ID[gen.model]
        if model.first_frame == "required":
            assert gen.first_frame, f"{gen.model} needs a first frame"
        assert gen.resolution in (model.resolutions if model.takes_resolution else ("",))
    ready = [g for g in rows if g.state == State.READY]
    assert ready and all(default_storage.exists(g.video.name) for g in ready[:5])
    assert all(g.usd_spent == catalogue.BY_ID[g.model].price_usd for g in ready)
