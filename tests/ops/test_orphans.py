"""`manage.py orphans`: files no row owns, rows whose files are gone, and what --delete does."""

from __future__ import annotations

import io
import os
import time
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.ops.filerefs import file_fields
from playground.ops.orphans import MISSING_VIDEO_REASON, find_orphans
from tests.factories import generation

pytestmark = pytest.mark.django_db


def save(name: str, *, hours_old: float = 0) -> str:
    stored = default_storage.save(name, ContentFile(b"bytes of " + name.encode()))
    if hours_old:
        then = time.time() - hours_old * 3600
        os.utime(default_storage.path(stored), (then, then))
    return stored


def ready(user: Any, n: int) -> Generation:
    return generation(
        created_by=user,
        model="video-01",
        prompt=f"A lighthouse in a storm, take {n}",
        state=State.READY,
        finished_at=timezone.now(),
        first_frame=save(f"first-frames/2026/01/{n}.png", hours_old=3),
        video=save(f"videos/2026/01/{n}.mp4", hours_old=3),
        poster=save(f"posters/2026/01/{n}.jpg", hours_old=3),
    )


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("orphans", *args, stdout=out)
    return out.getvalue()


def test_it_reports_a_stray_file_and_a_row_with_a_missing_video_and_changes_nothing(user):
    ready(user, 1)
    broken = ready(user, 2)
    default_storage.delete(broken.video.name)
    stray = save("videos/2026/01/stray.mp4", hours_old=2)

    said = run()

    assert "1 file no row references" in said
    assert stray in said
    assert "1 row points at a missing file" in said
    assert f"playground.Generation #{broken.pk} video: {broken.video.name}" in said
    assert "Nothing was changed" in said
    assert default_storage.exists(stray)
    broken.refresh_from_db()
    assert broken.state == State.READY


def test_delete_removes_the_stray_file_and_marks_the_ready_row_failed(user):
    fine = ready(user, 1)
    broken = ready(user, 2)
    default_storage.delete(broken.video.name)
    stray = save("videos/2026/01/stray.mp4")

    said = run("--delete", "--min-age", "0")

    assert "Deleted 1 unowned file." in said
    assert "Marked 1 ready video failed" in said
    assert not default_storage.exists(stray)
    broken.refresh_from_db()
    assert broken.state == State.FAILED
    assert broken.failure_code == "file_missing"
    assert broken.failure_reason == MISSING_VIDEO_REASON
    assert broken.video.name == ""
    assert broken.finished_at is not None
    assert default_storage.exists(broken.poster.name)
    fine.refresh_from_db()
    assert fine.state == State.READY
    assert all(default_storage.exists(getattr(fine, f).name) for f in ("first_frame", "video", "poster"))
    assert "No orphans" in run("--delete", "--min-age", "0")


def test_a_freshly_saved_file_is_kept_through_the_grace_period(user):
    fresh = save("first-frames/2026/01/just-uploaded.png")
    old = save("first-frames/2026/01/abandoned.png", hours_old=2)

    said = run("--delete")

    assert default_storage.exists(fresh)
    assert not default_storage.exists(old)
    assert f"{fresh}  (too new to delete)" in said
    assert "saved less than 1 hour ago and will be left alone" in said


def test_a_missing_first_frame_or_poster_is_cleared_and_the_row_kept(user):
    gen = ready(user, 1)
    default_storage.delete(gen.first_frame.name)
    default_storage.delete(gen.poster.name)

    said = run("--delete", "--min-age", "0")

    assert "Cleared 2 missing file names from rows." in said
    gen.refresh_from_db()
    assert (gen.state, gen.first_frame.name, gen.poster.name) == (State.READY, "", "")
    assert default_storage.exists(gen.video.name)


def test_shared_files_and_files_outside_the_media_folders_are_left_alone(user, media_root):
    frame = save("first-frames/2026/01/shared.png", hours_old=5)
    for n in (1, 2):
        generation(user, prompt=f"Take {n}", first_frame=frame)
    notes = save("notes/readme.txt", hours_old=5)

    report = find_orphans(min_age=0)
    run("--delete", "--min-age", "0")

    assert report.clean
    assert default_storage.exists(frame)
    assert default_storage.exists(notes)


def test_every_file_field_of_every_model_is_walked():
    walked = {(model._meta.label, f.name) for model, f in file_fields()}

    assert {("playground.Generation", name) for name in ("first_frame", "video", "poster")} <= walked
