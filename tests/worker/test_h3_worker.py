"""The worker sends an H3 row as H3's schema names it, and the stand-in makes its video."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from playground.generations import apicode
from playground.generations.models import State
from playground.lib import videofiles
from tests.worker.test_catalogue_worker import body_of
from tests.worker.test_worker import creates, drive, make

pytestmark = pytest.mark.django_db


def test_an_h3_row_at_16_9_and_10_seconds_sends_its_ratio_and_length_and_no_switch(worker, upstream, user):
    upstream.app.video_seconds = None  # the job's own length
    gen = make(user, model="minimax/h3", duration_seconds=10, ratio="16:9", enhance_prompt=False)
    drive(worker, timeout=30)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    # The stand-in refuses any field H3's schema lacks (enhance_prompt among them).
    assert create.body == {"model": "minimax/h3", "prompt": gen.prompt, "duration": 10, "ratio": "16:9"}
    info = videofiles.inspect_video(Path(settings.MEDIA_ROOT) / gen.video.name)
    assert info.duration == pytest.approx(10.0, abs=0.3)
    assert info.width / info.height == pytest.approx(16 / 9, rel=0.05)


def test_an_h3_max_row_at_480p_sends_its_resolution_and_no_ratio(worker, upstream, user):
    upstream.app.video_seconds = None
    gen = make(user, model="minimax/h3-max", duration_seconds=5, resolution="480P", enhance_prompt=False)
    drive(worker, timeout=30)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    assert create.body == {
        "model": "minimax/h3-max",
        "prompt": gen.prompt,
        "duration": 5,
        "resolution": "480P",
    }


def test_the_api_code_of_an_h3_video_has_its_ratio_and_no_switch(user, png):
    gen = make(user, model="minimax/h3", frame=png, duration_seconds=12, ratio="adaptive")
    assert body_of(apicode.for_generation(gen).python) == {
        "model": "minimax/h3",
        "prompt": gen.prompt,
        "image_url": apicode.IMAGE_PLACEHOLDER,
        "duration": 12,
        "ratio": "adaptive",
    }


def test_the_api_code_of_an_h3_video_with_references_has_an_example_link_for_each(user, png):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from playground.generations.references import Reference

    gen = make(user, model="minimax/h3", duration_seconds=8, ratio="16:9")
    for kind, position in (("images", 0), ("images", 1), ("audios", 0)):
        name = default_storage.save("first-frames/test/ref.bin", ContentFile(b"x"))
        Reference.objects.create(
            generation=gen, kind=kind, position=position, file=name, mime="x/y", sha256="0"
        )
    code = apicode.for_generation(gen)
    assert body_of(code.python) == {
        "model": "minimax/h3",
        "prompt": gen.prompt,
        "duration": 8,
        "ratio": "16:9",
        "reference_image_urls": [
            "https://example.com/your-reference-1.jpg",
            "https://example.com/your-reference-2.jpg",
        ],
        "audio_urls": ["https://example.com/your-voice-1.mp3"],
    }
    assert "Put a link to your file" in code.python
