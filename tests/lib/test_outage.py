"""The outage page in-process, with the pass's own database made unreachable (a folder or port that is not there).

tests/lib/test_database_outage.py stops a real PostgreSQL server under gunicorn; these are the quick
checks of the same middleware on either engine, and of what does not count as an outage.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from playground.lib.outage import SENTENCE, database_down
from tests.factories import ready
from tests.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def unreachable() -> Iterator[None]:
    """The next connection goes nowhere: a SQLite file in a missing folder, or a port nothing listens on."""
    key, nowhere = (
        ("NAME", "/nonexistent-outage-test/db.sqlite3")
        if connection.vendor == "sqlite"
        else ("PORT", free_port())
    )
    kept = connection.settings_dict[key]
    connection.close()
    connection.settings_dict[key] = nowhere
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict[key] = kept


@pytest.fixture
def video(user: User) -> Any:
    return ready(user, prompt="A red fox in the snow")


def test_signed_in_pages_are_a_plain_503_that_reads_nothing_from_the_database(
    signed_in: Client, video: Any, caplog: pytest.LogCaptureFixture
):
    pages = [reverse("gallery"), reverse("generation", args=[video.pk]), reverse("usage")]
    caplog.set_level(logging.WARNING)
    with unreachable():
        answers = [signed_in.get(page) for page in pages]
    for answer in answers:
        page = html.unescape(answer.content.decode())
        assert answer.status_code == 503
        assert answer["Retry-After"] == "60" and answer["Cache-Control"] == "no-store"
        assert SENTENCE in page
        assert "Traceback" not in page and "alice" not in page and "Sign out" not in page
        assert [t.name for t in answer.templates] == ["503.html", "base.html"]
    # One warning per request, and not Django's "Service Unavailable" error line besides.
    assert [(r.name, r.levelname) for r in caplog.records] == [("playground.lib.outage", "WARNING")] * len(
        pages
    )
    assert signed_in.get(reverse("gallery")).status_code == 200


def test_htmx_gets_the_sentence_alone_so_a_poll_swaps_nothing_and_goes_on(signed_in: Client, video: Any):
    with unreachable():
        poll = signed_in.get(reverse("generation", args=[video.pk]), headers={"HX-Request": "true"})
        star = signed_in.post(reverse("star", args=[video.pk]), headers={"HX-Request": "true"})
    for answer in (poll, star):
        assert answer.status_code == 503
        assert answer["Content-Type"] == "text/plain; charset=utf-8"
        assert answer.content.decode() == SENTENCE


def test_a_post_offers_to_try_again_from_the_gallery_not_the_posted_address(signed_in: Client, video: Any):
    with unreachable():
        got = signed_in.get(reverse("generation", args=[video.pk]) + "?a=1")
        posted = signed_in.post(reverse("star", args=[video.pk]))
    assert f'href="{reverse("generation", args=[video.pk])}?a=1">Try again' in got.content.decode()
    assert 'href="/">Try again' in posted.content.decode()


def test_healthz_with_a_session_cookie_is_a_503_not_a_server_error(signed_in: Client):
    with unreachable():
        response = signed_in.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"database": "unreachable", "worker": "unknown"}


def test_failing_queries_on_a_working_connection_are_not_an_outage(user: User):
    # A missing table (a bug or a migration not run) and a broken constraint stay server errors.
    with pytest.raises(DatabaseError) as missing, connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")
    assert not database_down(missing.value)
    with pytest.raises(IntegrityError) as duplicate, transaction.atomic():
        User.objects.create(username=user.username)
    assert not database_down(duplicate.value)

    with unreachable(), pytest.raises(DatabaseError) as gone:
        User.objects.count()
    assert database_down(gone.value)


def test_a_real_bug_on_a_working_database_is_still_a_500(signed_in: Client, video: Any):
    # The generation page's query on a table that is gone: a working connection, so not "try again".
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE playground_generation RENAME TO playground_generation_away")
    try:
        quiet = Client(raise_request_exception=False)
        quiet.cookies = signed_in.cookies
        answer = quiet.get(reverse("generation", args=[video.pk]))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE playground_generation_away RENAME TO playground_generation")
    assert answer.status_code == 500
    assert SENTENCE not in html.unescape(answer.content.decode())


def test_an_address_that_is_no_page_is_the_503_too_and_try_again_never_links_to_another_site(
    signed_in: Client,
):
    # The 404 page would read the user for its header, so the outage page comes first.
    with unreachable():
        # The raw path as a server would pass it (the test client would read '//host' as a host).
        answer = signed_in.get("/", PATH_INFO="//elsewhere.example/")
    assert answer.status_code == 503
    assert 'href="/%2Felsewhere.example/">Try again' in answer.content.decode()
