"""/healthz: what a load balancer asks before it sends people to this server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.lib.models import WorkerHeartbeat
from playground.worker import health

URL = reverse("healthz")


def test_it_is_200_when_the_database_answers_and_a_worker_was_seen(client: Client, db):
    WorkerHeartbeat.beat("worker-1")
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "worker": "ok"}


def test_it_is_503_when_no_worker_has_ever_beaten(client: Client, db):
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "worker": "none seen in the last 60 s"}


def test_it_is_503_when_the_last_heartbeat_is_too_old(client: Client, db):
    WorkerHeartbeat.objects.create(name="gone", seen_at=timezone.now() - timedelta(seconds=61))
    assert client.get(URL).status_code == 503
    WorkerHeartbeat.beat("fresh")
    assert client.get(URL).status_code == 200


def test_it_is_503_when_the_database_is_unreachable(client: Client, db, monkeypatch: pytest.MonkeyPatch):
    class Unreachable:
        def cursor(self) -> Any:
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Unreachable())
    response = client.get(URL)
    assert response.status_code == 503
    assert response.json() == {"database": "unreachable", "worker": "unknown"}


def test_it_needs_no_sign_in_is_never_cached_and_costs_two_queries(client: Client, db):
    WorkerHeartbeat.beat("worker-1")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert len(queries) == 2


def test_plain_http_probes_are_not_redirected_to_https(db, settings: Any):
    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # its handler reads the security settings when it starts
    WorkerHeartbeat.beat("worker-1")
    assert client.get(URL).status_code == 200
    assert client.get(reverse("login")).status_code == 301


def test_a_worker_that_stops_cleanly_stops_counting_at_once(client: Client, worker: Any, db):
    worker._heartbeat()
    assert client.get(URL).status_code == 200
    worker.run(idle_sleep=0.01, until=lambda: True)
    assert client.get(URL).status_code == 503


def test_a_probe_with_a_session_cookie_reads_no_session(signed_in: Client):
    # Answered before the session middleware: while the database is down, the session table
    # cannot be read, and the probe must still be the view's 503 (tests/lib/test_outage.py).
    WorkerHeartbeat.beat("worker-1")
    with CaptureQueriesContext(connection) as queries:
        response = signed_in.get(URL)
    assert response.status_code == 200
    assert [q["sql"] for q in queries if "session" in q["sql"] or "auth_user" in q["sql"]] == []
    assert len(queries) == 2
