"""A sequence as one film: clips stitched with PyAV by the worker, then probed like any video."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.films import sequences, stitching
from playground.films.sequences import ExportState, SequenceExport
from playground.generations.models import Generation
from playground.worker.loop import Worker
from tests.clips import ready_generation, write_clip


def chain(user: Any, tmp_path: Path, specs: list[dict[str, Any]]) -> list[Generation]:
    """Ready clips, each continuing the one before."""
    made: list[Generation] = []
    for i, spec in enumerate(specs):
        clip = write_clip(tmp_path / f"clip{i}.mp4", seed=i, **spec)
        made.append(
            ready_generation(user, clip, continues=made[-1] if made else None, prompt=f"Shot {i + 1}")
        )
    return made


def probe(name: str, tmp_path: Path) -> dict[str, Any]:
    """Open the film as a player would: duration, frames, a seek to the middle of the last clip."""
    local = tmp_path / "probe.mp4"
    with default_storage.open(name, "rb") as src:
        local.write_bytes(src.read())
    with av.open(str(local)) as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        duration = container.duration / av.time_base
        size = (stream.codec_context.width, stream.codec_context.height)
        frames = sum(1 for _ in container.decode(stream))
        container.seek(int(2.5 * av.time_base), backward=True)
        after_seek = next(f for f in container.decode(stream) if f.time is not None and f.time >= 2.5)
    return {"duration": duration, "size": size, "frames": frames, "seeked_to": after_seek.time}


@pytest.mark.django_db
def test_three_clips_that_continue_each_other_are_one_film(user: Any, tmp_path: Path):
    a, b, c = chain(user, tmp_path, [{"size": (320, 180), "frames": 24}] * 3)
    assert [g.pk for g in sequences.chain_of(b)] == [a.pk, b.pk, c.pk]

    job = sequences.start_export(sequences.chain_of(c), user)
    seen: list[float] = []
    original = SequenceExport._write

    def spy(self: SequenceExport, owner: str, **fields: Any) -> bool:
        if "progress" in fields and fields.get("state") is None:
            seen.append(fields["progress"])
        return original(self, owner, **fields)

    SequenceExport._write = spy  # type: ignore[method-assign]
    try:
        assert sequences.export_due("test-worker")
    finally:
        SequenceExport._write = original  # type: ignore[method-assign]
    job.refresh_from_db()
    assert job.state == ExportState.READY, job.failure_reason
    assert job.method == "copy"  # same codec parameters: packets copied, nothing re-encoded
    assert seen[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    info = probe(job.video.name, tmp_path)
    assert info["duration"] == pytest.approx(3.0, abs=0.1)  # ≈ the sum of the clips
    assert job.duration == pytest.approx(3.0, abs=0.1)
    assert info["frames"] == 72  # playable from start to end
    assert info["seeked_to"] == pytest.approx(2.5, abs=0.05)  # and seekable
    assert job.video.name.startswith("sequences/")


@pytest.mark.django_db
def test_clips_that_differ_are_re_encoded_to_the_first_ones_format(user: Any, tmp_path: Path):
    clips = chain(
        user,
        tmp_path,
        [
            {"size": (320, 180), "frames": 24, "fps": 24},
            {"size": (640, 360), "frames": 30, "fps": 30},
            {"size": (320, 180), "frames": 12, "fps": 12},
        ],
    )
    job = sequences.start_export(clips, user)
    assert sequences.export_due("test-worker")
    job.refresh_from_db()
    assert (job.state, job.method) == (ExportState.READY, "re-encode")
    info = probe(job.video.name, tmp_path)
    assert info["size"] == (320, 180)
    assert info["duration"] == pytest.approx(3.0, abs=0.15)  # each clip keeps its own length
    assert info["seeked_to"] == pytest.approx(2.5, abs=0.05)


@pytest.mark.django_db
def test_a_clip_deleted_meanwhile_fails_the_export_with_a_sentence(user: Any, tmp_path: Path):
    clips = chain(user, tmp_path, [{"size": (320, 180), "frames": 6}] * 3)
    job = sequences.start_export(clips, user)
    clips[1].delete()
    sequences.export_due("test-worker")
    job.refresh_from_db()
    assert job.state == ExportState.FAILED
    assert job.failure_reason.startswith("1 of the 3 clips are no longer ready")


@pytest.mark.django_db(transaction=True)
def test_the_worker_makes_the_film_and_the_page_plays_and_downloads_it(
    user: Any, tmp_path: Path, client: Client
):
    clips = chain(user, tmp_path, [{"size": (320, 180), "frames": 12}] * 3)
    client.force_login(user)
    page = client.get(reverse("sequence", args=[clips[1].pk])).content.decode()
    assert (
        page.index(f"Video #{clips[0].pk}")
        < page.index(f"Video #{clips[1].pk}")
        < page.index(f"Video #{clips[2].pk}")
    )
    assert 'src="/static/js/sequence.js"' in page or "js/sequence" in page
    detail = client.get(reverse("generation", args=[clips[1].pk])).content.decode()
    assert f'href="/videos/{clips[1].pk}/sequence/"' in detail

    started = client.post(reverse("start_export", args=[clips[1].pk]))
    job = SequenceExport.objects.get()
    assert started["Location"] == f"/films/{job.pk}/"
    assert "every 2s" in client.get(started["Location"]).content.decode()  # polls while it works

    worker = Worker(threads=1, name="film-worker")
    deadline = time.monotonic() + 30

    def done() -> bool:
        return time.monotonic() > deadline or SequenceExport.objects.get().state in ("ready", "failed")

    worker.run(idle_sleep=0.05, until=done)
    job.refresh_from_db()
    assert job.state == ExportState.READY
    status = client.get(started["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in status and "Download" in status
    download = client.get(reverse("sequence_download", args=[job.pk]), HTTP_RANGE="bytes=0-99")
    assert download.status_code == 206  # seekable in the browser: ranges are served
    assert b"ftyp" in b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert "attachment" in download["Content-Disposition"]


@pytest.mark.django_db
def test_asking_twice_for_the_same_film_gives_the_same_export(user: Any, tmp_path: Path):
    clips = chain(user, tmp_path, [{"size": (320, 180), "frames": 6}] * 2)
    first = sequences.start_export(clips, user)
    assert sequences.start_export(clips, user) == first
    sequences.export_due("w")
    assert sequences.start_export(clips, user) == first  # ready and still stored
    assert sequences.start_export(clips[:1], user) != first  # other clips, another film


@pytest.mark.django_db
def test_one_person_may_have_only_a_few_films_waiting(signed_in: Client, user: Any, tmp_path: Path):
    clips = chain(user, tmp_path, [{"size": (320, 180), "frames": 4}] * 4)
    for n in range(1, sequences.MAX_WAITING_PER_PERSON + 1):
        sequences.start_export(clips[:n], user)
    with pytest.raises(sequences.TooManyExports):
        sequences.start_export(clips, user)
    refused = signed_in.post(reverse("start_export", args=[clips[3].pk]), follow=True)
    assert "You already have 3 films being made; the most at once is 3." in refused.content.decode()
    assert SequenceExport.objects.count() == sequences.MAX_WAITING_PER_PERSON


@pytest.mark.django_db(transaction=True)
def test_a_short_lease_is_kept_while_one_long_clip_is_encoded(
    user: Any, tmp_path: Path, settings: Any, monkeypatch: Any
):
    settings.EXPORT_LEASE = 0.6
    # The first clip takes a few times the lease to re-encode, and no progress is written
    # meanwhile: only the heartbeat keeps the film from looking abandoned. How long the encode
    # takes depends on the machine (on a quiet one it once finished within two leases), so the
    # stitching starts only once the lease has been renewed twice: the work outlasts the lease
    # whatever the machine's speed.
    long = ready_generation(user, write_clip(tmp_path / "long.mp4", size=(1280, 720), frames=48))
    short = ready_generation(user, write_clip(tmp_path / "short.mp4", size=(320, 180), seed=1))
    renewed = threading.Event()
    real_stitch = stitching.stitch

    def stitch_after_renewals(*args: Any, **kwargs: Any) -> Any:
        assert renewed.wait(30), "the lease was never renewed while the film waited"
        return real_stitch(*args, **kwargs)

    monkeypatch.setattr(sequences, "stitch", stitch_after_renewals)
    sequences.start_export([long, short], user)
    job = SequenceExport.objects.claim_due("maker")
    assert job is not None

    def make() -> None:
        assert job is not None
        sequences.run_export(job, "maker")
        connection.close()

    maker = threading.Thread(target=make)
    maker.start()
    leases: set[Any] = set()
    ahead: list[float] = []
    while maker.is_alive():
        # Another worker looking for work all along never gets the film being made.
        assert SequenceExport.objects.claim_due("other") is None
        until = SequenceExport.objects.get(pk=job.pk).lease_until
        if until is not None:
            leases.add(until)
            ahead.append((until - timezone.now()).total_seconds())
        if len(leases) >= 3:
            renewed.set()
        time.sleep(0.05)
    maker.join()
    job.refresh_from_db()
    assert (job.state, job.method, job.lease_owner) == (ExportState.READY, "re-encode", "")
    assert len(leases) >= 3  # taken, then renewed while it worked
    assert max(ahead) <= settings.EXPORT_LEASE  # never held for longer than one lease ahead
