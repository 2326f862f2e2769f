"""The demo gallery filler: every catalogue model gets real videos, each within its own rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from playground.generations.models import Generation, State
from playground.upstream import catalogue


@pytest.mark.slow
@pytest.mark.django_db
def test_seed_demo_fills_the_gallery_with_every_model_of_the_catalogue(media_root):
    call_command("seed_demo", "--generations", "120", "--members", "3", stdout=StringIO())
    rows = list(Generation.objects.all())
    assert len(rows) == 120
    assert {g.model for g in rows} == set(catalogue.IDS)
    for gen in rows:
        model = catalogue.BY_ID[gen.model]
        # The rules the Generate form enforces, read from the catalogue: the first frame, the
        # resolutions and lengths each model takes, and which lengths each resolution allows.
        ask = catalogue.Ask(
            model=gen.model,
            first_frame=bool(gen.first_frame),
            last_frame=bool(gen.end_frame),
            resolution=gen.resolution or None,
            duration=gen.duration_seconds,
        )
        assert catalogue.refusals(ask) == [], f"#{gen.pk} ({gen.model})"
        # Stored as the form stores a request: an option only for a model that takes it.
        assert bool(gen.resolution) == ("resolution" in model.options)
        assert (gen.duration_seconds is not None) == ("duration" in model.options)
        assert gen.length_seconds in model.durations_at(gen.resolution_name)
        if gen.state == State.READY:
            # The video itself is as long as the length the model makes.
            assert gen.duration is not None and round(gen.duration) == gen.length_seconds, f"#{gen.pk}"
    # Every length of a list, and a range's ends and default, so the demo gallery shows what each can do.
    made = {(g.model, g.length_seconds) for g in rows if g.state == State.READY}
    assert made == {(m.id, d) for m in catalogue.MODELS for d in m.sample_lengths}
    ready = [g for g in rows if g.state == State.READY]
    assert ready and all(default_storage.exists(g.video.name) for g in ready[:5])
    assert all(g.usd_spent == catalogue.BY_ID[g.model].price_usd for g in ready)
