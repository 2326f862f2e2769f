"""The web side and worker processes writing to one database at the same time (SQLite in WAL mode)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation, State
from tests.factories import image_bytes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    if connection.vendor != "sqlite":
        assert connection.vendor == "postgresql"
        return
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_pages_and_submits_keep_working_while_workers_write(
    client: Client,
    user: Any,
    upstream: Any,
    settings: Any,
    start_worker: Callable[..., subprocess.Popen[bytes]],
):
    settings.SUBMISSIONS_PER_MINUTE = 100
    client.force_login(user)
    workers = [start_worker(f"busy-{i}", threads=3) for i in range(2)]
    frame = image_bytes(640, 480, "PNG")
    statuses: list[int] = []
    for i in range(24):
        response = client.post(
            reverse("generate"),
            {
                "submission_token": str(uuid.uuid4()),
                "model": "video-01-live2d",
                "prompt": f"Busy job {i}",
                "first_frame": SimpleUploadedFile("f.png", frame, "image/png"),
            },
        )
        statuses.append(response.status_code)
        # Meanwhile, people watch: the gallery and the newest job's status fragment.
        statuses.append(client.get(reverse("gallery")).status_code)
        newest = Generation.objects.order_by("-pk").first()
        assert newest is not None
        statuses.append(
            client.get(reverse("generation", args=[newest.pk]), headers={"HX-Request": "true"}).status_code
        )
    deadline = time.monotonic() + 90
    while Generation.objects.active().exists() and time.monotonic() < deadline:
        assert client.get(reverse("gallery"), {"state": "active"}).status_code == 200
        time.sleep(0.2)
    assert all(w.poll() is None for w in workers)
    assert set(statuses) <= {200, 302}
    assert statuses.count(302) == 24
    assert set(Generation.objects.values_list("state", flat=True)) == {State.READY}
