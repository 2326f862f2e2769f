"""Sound from the service to the person: the archived MP4 keeps its audio track, the row says
whether it has one (read from the file, not the model), and downloads and zips carry it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation, State
from playground.lib import videofiles
from playground.upstream import catalogue
from playground.upstream.demo.render import tone_for
from playground.worker.loop import Worker
from tests.sound import decode_sound, has_audio, tone_strength, video_seconds
from tests.worker.test_worker import drive, make


@pytest.fixture
def sounding(standin_factory: Any, settings: Any) -> Any:
    """A stand-in whose video-01 is described with sound (no model in the catalogue has it yet)."""
    models = {**catalogue.BY_ID, "video-01": replace(catalogue.BY_ID["video-01"], sound=True)}
    upstream = standin_factory(models=models)
    settings.AIMLAPI_BASE_URL = upstream.url
    return upstream


@pytest.fixture
def sound_worker(sounding: Any) -> Iterator[Worker]:
    worker = Worker(client=sounding.client(), threads=2, name="test-worker")
    yield worker
    worker.client.close()


def tone_of(upstream: Any, gen: Generation) -> float:
    job = upstream.app.job(gen.upstream_id)
    return tone_for(job["token"])


def assert_sounds_like(data: bytes, tone: float) -> None:
    sound = decode_sound(io.BytesIO(data))
    assert sound.seconds == pytest.approx(video_seconds(io.BytesIO(data)), abs=0.05)
    assert tone_strength(sound.span(0.2, 0.8), tone) > 0.2


def test_a_video_with_sound_is_kept_with_its_track_and_marked(sound_worker, sounding, user):
    gen = make(user)
    drive(sound_worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert gen.has_sound
    kept = Path(settings.MEDIA_ROOT) / gen.video.name
    assert_sounds_like(kept.read_bytes(), tone_of(sounding, gen))
    # Posters and durations as for a silent video.
    assert gen.poster.name.startswith("posters/")
    assert gen.duration == pytest.approx(1.0, abs=0.1)


def test_a_video_without_sound_is_marked_silent(sound_worker, user):
    gen = make(user, model="minimax/hailuo-02")
    drive(sound_worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert not gen.has_sound
    assert not has_audio(str(Path(settings.MEDIA_ROOT) / gen.video.name))


def test_the_mark_comes_from_the_file_not_the_model(tmp_path):
    from tests.clips import write_clip

    silent = write_clip(tmp_path / "silent.mp4", size=(160, 90))
    sounding = write_clip(tmp_path / "sounding.mp4", size=(160, 90), tone_hz=500.0)
    assert not videofiles.inspect_video(silent).has_sound
    assert videofiles.inspect_video(sounding).has_sound


def test_the_download_and_the_zip_keep_the_sound(sound_worker, sounding, user, client: Client):
    gen = make(user)
    drive(sound_worker)
    gen.refresh_from_db()
    tone = tone_of(sounding, gen)
    client.force_login(user)

    response: Any = client.get(reverse("download", args=[gen.pk]))
    assert response.status_code == 200
    downloaded = b"".join(response.streaming_content)
    assert_sounds_like(downloaded, tone)

    response = client.post(reverse("bulk_zip"), {"ids": [gen.pk]})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    [name] = [n for n in archive.namelist() if n.endswith(".mp4")]
    assert_sounds_like(archive.read(name), tone)


def test_a_film_of_a_clip_with_sound_and_a_silent_one_keeps_the_sound_in_step(sound_worker, sounding, user):
    """The whole way: both clips made by the worker through the stand-in, then joined by the
    film export (their shapes differ, so the picture is re-encoded)."""
    from playground.films import sequences
    from playground.films.sequences import ExportState
    from tests.films.test_film_sound import EDGE, TAIL, edges
    from tests.sound import loudness

    first = make(user, prompt="Bells at dawn")
    drive(sound_worker)
    second = make(user, prompt="The quiet harbour", model="minimax/hailuo-02", continues=first)
    drive(sound_worker)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.has_sound, second.has_sound) == (True, False)
    assert [g.pk for g in sequences.chain_of(first)] == [first.pk, second.pk]

    job = sequences.start_export(sequences.chain_of(first), user)
    assert sequences.export_due("test-worker")
    job.refresh_from_db()
    assert (job.state, job.method) == (ExportState.READY, "re-encode"), job.failure_reason
    data = (Path(settings.MEDIA_ROOT) / job.video.name).read_bytes()
    end = video_seconds(io.BytesIO(data))
    assert end == pytest.approx(2.0, abs=0.05)  # two one-second clips
    sound = decode_sound(io.BytesIO(data))
    assert end - 0.001 <= sound.seconds <= end + TAIL
    assert tone_strength(sound.span(0.05, 0.95), tone_of(sounding, first)) > 0.15
    assert loudness(sound.span(1.05, 1.95)) < 0.005
    assert min(abs(1.0 - moment) for moment in edges(sound)) <= EDGE
