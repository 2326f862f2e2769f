"""On PostgreSQL the status poll's one SELECT is a prepared statement (generations/poll.py, PreparedPoll).

Prepared once per connection and then only bound and run: the server's own record
(pg_prepared_statements) shows one statement, run again on each poll. If the server loses it (a
pooler in transaction mode hands the poll to another server connection), the poll still answers,
unprepared, and the log says why. The answers themselves are held to the ordinary chain's, byte
for byte, by test_poll_token.py, which runs in the PostgreSQL pass too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from playground.generations import poll as polls
from playground.generations.models import Generation, State
from tests.factories import generation
from tests.generations.test_poll_token import HTMX, answered_by_token, poll, poll_url

pytestmark = pytest.mark.postgresql_only


@pytest.fixture(autouse=True)
def preparing_again() -> Iterator[None]:
    polls.prepared.turned_off = False
    yield
    polls.prepared.turned_off = False


@pytest.fixture
def running(user: Any) -> Generation:
    return generation(
        user, prompt="A lighthouse in a storm", state=State.RUNNING, upstream_status="generating"
    )


def prepared_polls() -> list[tuple[str, int]]:
    """The poll's statements prepared on this connection, with how many times each was run."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s ORDER BY name",
            ['SELECT "playground_generation"."id"%'],
        )
        return list(cursor.fetchall())


def test_the_poll_is_prepared_once_and_then_only_run(signed_in: Client, running: Generation):
    url = poll_url(signed_in, running)
    for _ in range(3):
        response, sql = poll(signed_in, url)
        assert response.status_code == 200 and "Generating" in response.content.decode()
        assert answered_by_token(sql)  # still one query, seen by Django like any other
    statements = prepared_polls()
    assert len(statements) == 1, statements
    name, runs = statements[0]
    assert runs == 3
    # Another video is the same statement with other values.
    other = generation(running.created_by, prompt="A quiet harbour", state=State.QUEUED)
    response, _ = poll(signed_in, poll_url(signed_in, other))
    assert "Waiting in queue" in response.content.decode()
    assert prepared_polls() == [(name, 4)]


def test_turned_off_the_poll_is_sent_as_text(signed_in: Client, running: Generation, settings: Any):
    settings.DATABASE_PREPARED_POLLS = False
    url = poll_url(signed_in, running)
    for _ in range(2):
        response, sql = poll(signed_in, url)
        assert "Generating" in response.content.decode() and answered_by_token(sql)
    assert prepared_polls() == []


@pytest.mark.django_db(transaction=True)
def test_a_statement_the_server_lost_is_sent_as_text_and_preparing_stops(
    signed_in: Client, running: Generation, caplog: pytest.LogCaptureFixture
):
    url = poll_url(signed_in, running)
    assert "Generating" in poll(signed_in, url)[0].content.decode()
    [(name, _)] = prepared_polls()
    # What a pooler in transaction mode does: the next poll reaches a server connection that never
    # saw the statement. Here the statement is dropped behind the driver's back.
    with connection.cursor() as cursor:
        cursor.execute(f'DEALLOCATE "{name}"')
    Generation.objects.filter(pk=running.pk).update(state=State.ARCHIVING)
    with caplog.at_level(logging.WARNING, logger="playground.generations.poll"):
        response = signed_in.get(url, headers=HTMX)
    assert response.status_code == 200 and "Saving the video" in response.content.decode()
    assert "DATABASE_PREPARED_POLLS=0" in caplog.text and "InvalidSqlStatementName" in caplog.text
    assert polls.prepared.turned_off
    # From then on this process sends it as text, and the answers go on.
    Generation.objects.filter(pk=running.pk).update(state=State.RUNNING)
    response, sql = poll(signed_in, url)
    assert "Generating" in response.content.decode() and answered_by_token(sql)
    assert prepared_polls() == []
