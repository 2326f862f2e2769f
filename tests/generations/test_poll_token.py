"""The status poll's token: one small read per poll, and no more than the session would let through.

The page puts a signed token in its poll URL (playground/generations/poll.py); a poll carrying a
valid one is answered before the session is read. Every refusal here is the token not counting:
the request then goes through the ordinary chain (which reads django_session), where the session
alone decides.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.generations.poll import POLL_TOKEN_SECONDS, StatusQuery
from playground.lib.outage import SENTENCE
from playground.team.models import Role
from playground.team.roles import set_role
from tests.factories import PASSWORD, generation, member, staff
from tests.lib.test_outage import unreachable

HTMX = {"HX-Request": "true"}
POLL_URL = re.compile(r'hx-get="([^"]*\?poll=[^"]+)" hx-trigger="every 2s"')


def poll_url(client: Client, gen: Generation) -> str:
    """The poll URL the video's page hands out (the page, not a helper, makes the token)."""
    page = client.get(reverse("generation", args=[gen.pk])).content.decode()
    found = POLL_URL.search(page)
    assert found, "the page of a running job polls with a token"
    return html.unescape(found[1])


def poll(client: Client, url: str) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=HTMX)
    return response, [q["sql"] for q in queries.captured_queries]


def answered_by_token(sql: list[str]) -> bool:
    """One query, and it is not the session's or the person's."""
    return len(sql) == 1 and not any("django_session" in q or "auth_user" in q for q in sql)


def tampered(url: str) -> str:
    last = url[-1]
    return url[:-1] + ("A" if last != "A" else "B")


@pytest.fixture
def queued(user: User) -> Generation:
    return generation(user, prompt="A lighthouse in a storm")


@pytest.mark.parametrize(
    ("state", "shown", "polls_on"),
    [
        (State.QUEUED, "Waiting in queue", True),
        (State.RUNNING, "Generating", True),
        (State.ARCHIVING, "Saving the video", True),
        (State.READY, "Ready", False),
        (State.FAILED, "Failed", False),
        (State.CANCELLED, "Cancelled", False),
    ],
)
def test_a_poll_is_one_query_with_no_session_or_user_and_an_ended_job_stops_it(
    signed_in: Client,
    queued: Generation,
    django_assert_num_queries: Any,
    state: State,
    shown: str,
    polls_on: bool,
):
    url = poll_url(signed_in, queued)
    fields: dict[str, Any] = {"state": state, "upstream_status": "generating"}
    if state in (State.READY, State.FAILED, State.CANCELLED):
        fields |= {"finished_at": timezone.now(), "failure_reason": "The service said no."}
    Generation.objects.filter(pk=queued.pk).update(**fields)
    with django_assert_num_queries(1) as captured:
        response = signed_in.get(url, headers=HTMX)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    assert "django_session" not in sql and "auth_user" not in sql
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<title>")
    assert 'id="status"' in body and shown in body
    # While it runs the answer polls on with the same token; once ended the trigger is left out.
    assert ('hx-trigger="every 2s"' in body) is polls_on
    assert (html.escape(url) in body) is polls_on
    assert response["Cache-Control"] == "private, no-store"
    # Its length, as CommonMiddleware (which the answer skips) gives every page: without it a
    # server such as gunicorn sends the answer chunked, in more writes.
    assert response["Content-Length"] == str(len(response.content))


def test_the_steps_are_marked_as_the_page_marks_them(signed_in: Client, queued: Generation):
    url = poll_url(signed_in, queued)
    Generation.objects.filter(pk=queued.pk).update(state=State.RUNNING, upstream_status="generating")
    response, sql = poll(signed_in, url)
    assert answered_by_token(sql)
    assert (
        '<li class="step-done">Waiting in queue</li>\n'
        '<li class="step-current" aria-current="step">Generating</li>\n'
        '<li class="step-todo">Saving the video</li>'
    ) in response.content.decode()


def test_the_owner_sees_cancel_while_queued_and_the_form_works(user: User, queued: Generation):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    url = poll_url(browser, queued)
    response, sql = poll(browser, url)
    assert answered_by_token(sql)
    body = response.content.decode()
    assert ">Cancel</button>" in body
    assert f'name="next" value="{reverse("generation", args=[queued.pk])}"' in body
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert csrf
    answer = browser.post(
        reverse("cancel", args=[queued.pk]),
        {"csrfmiddlewaretoken": csrf[1], "next": reverse("generation", args=[queued.pk])},
    )
    assert answer.status_code == 302
    queued.refresh_from_db()
    assert queued.state == State.CANCELLED


@pytest.mark.parametrize("who", ["viewer", "other member"])
def test_someone_who_may_not_cancel_does_not_see_cancel(client: Client, queued: Generation, who: str):
    person = member("vera")
    if who == "viewer":
        set_role(person, Role.VIEWER)
    client.force_login(person)
    response, sql = poll(client, poll_url(client, queued))
    assert answered_by_token(sql)
    body = response.content.decode()
    assert "Waiting in queue" in body
    assert "Cancel</button>" not in body and "csrfmiddlewaretoken" not in body


def test_an_admin_sees_cancel_on_anyones(client: Client, queued: Generation):
    client.force_login(staff())
    response, sql = poll(client, poll_url(client, queued))
    assert answered_by_token(sql)
    assert ">Cancel</button>" in response.content.decode()


def test_a_viewer_is_not_offered_remix_when_the_job_ends(client: Client, queued: Generation):
    viewer = member("vera")
    set_role(viewer, Role.VIEWER)
    client.force_login(viewer)
    url = poll_url(client, queued)
    Generation.objects.filter(pk=queued.pk).update(state=State.FAILED, finished_at=timezone.now())
    response, sql = poll(client, url)
    assert answered_by_token(sql)
    assert 'id="again"' not in response.content.decode()
    client.force_login(queued.created_by)  # type: ignore[arg-type]
    Generation.objects.filter(pk=queued.pk).update(state=State.QUEUED, finished_at=None)
    owner_url = poll_url(client, queued)
    Generation.objects.filter(pk=queued.pk).update(state=State.FAILED, finished_at=timezone.now())
    response, sql = poll(client, owner_url)
    assert answered_by_token(sql) and 'id="again"' in response.content.decode()


def test_a_token_opens_its_own_video_only(signed_in: Client, user: User, queued: Generation):
    other = generation(user, prompt="A second secret video")
    url = poll_url(signed_in, queued).replace(f"/{queued.pk}/", f"/{other.pk}/")
    _, sql = poll(signed_in, url)
    assert not answered_by_token(sql)  # the session decided (and lets this member see it)
    assert any("django_session" in q for q in sql)


def test_a_tampered_token_is_not_taken(signed_in: Client, queued: Generation):
    response, sql = poll(signed_in, tampered(poll_url(signed_in, queued)))
    assert not answered_by_token(sql)
    assert any("django_session" in q for q in sql)
    assert response.status_code == 200  # the ordinary poll, for a person still signed in


def test_an_expired_token_falls_back_to_an_ordinary_poll_that_hands_out_a_fresh_one(
    signed_in: Client, queued: Generation
):
    url = poll_url(signed_in, queued)
    with time_machine.travel(timezone.now() + timedelta(seconds=POLL_TOKEN_SECONDS - 5)):
        response, sql = poll(signed_in, url)
        assert answered_by_token(sql)
    with time_machine.travel(timezone.now() + timedelta(seconds=POLL_TOKEN_SECONDS + 5)):
        response, sql = poll(signed_in, url)
        assert not answered_by_token(sql)
        body = response.content.decode()
        assert response.status_code == 200 and "Waiting in queue" in body  # never a dead page
        fresh = html.unescape(POLL_URL.search(body)[1])  # type: ignore[index]
        assert fresh != url
        assert answered_by_token(poll(signed_in, fresh)[1])


def test_another_persons_token_is_not_taken_and_shows_a_stranger_nothing(user: User, queued: Generation):
    alice = Client()
    alice.force_login(user)
    url = poll_url(alice, queued)
    bob = Client()
    bob.force_login(member("bob"))
    bob.get(reverse("generation", args=[queued.pk]))  # bob has the page's cookies too
    assert {"sessionid", "csrftoken"} <= set(bob.cookies)
    response, sql = poll(bob, url)
    assert not answered_by_token(sql)  # bob's own session decides, not alice's token
    stranger = Client()
    stranger.cookies["sessionid"] = "made-up-session-key-0123456789ab"
    stranger.cookies["csrftoken"] = alice.cookies["csrftoken"].value
    response, sql = poll(stranger, url)
    assert not answered_by_token(sql)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert "lighthouse" not in response.content.decode()


def test_signing_out_ends_this_browsers_tokens_at_once(signed_in: Client, queued: Generation):
    url = poll_url(signed_in, queued)
    signed_in.post(reverse("logout"))
    response, sql = poll(signed_in, url)
    assert not answered_by_token(sql)
    assert response.status_code == 302 and "lighthouse" not in response.content.decode()


def test_sign_out_everywhere_reaches_other_browsers_polls_within_the_window(user: User, queued: Generation):
    laptop, phone = Client(), Client()
    for browser in (laptop, phone):  # through the sign-in form, so allauth lists each session
        assert (
            browser.post(reverse("login"), {"login": user.username, "password": PASSWORD}).status_code == 302
        )
    url = poll_url(phone, queued)
    issued = timezone.now()
    assert laptop.post(reverse("team_me_sign_out")).status_code == 302
    # Within the window the phone's poll still reads this one video's status (docs/architecture.md).
    response, sql = poll(phone, url)
    assert answered_by_token(sql)
    with time_machine.travel(issued + timedelta(seconds=POLL_TOKEN_SECONDS + 1)):
        response, sql = poll(phone, url)
    assert not answered_by_token(sql)
    assert response.status_code == 302 and "lighthouse" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_tokened_poll_is_a_plain_503_when_the_database_is_down(signed_in: Client, queued: Generation):
    url = poll_url(signed_in, queued)
    with unreachable():
        response = signed_in.get(url, headers=HTMX)
    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == SENTENCE


def test_a_host_the_site_does_not_serve_is_refused_as_everywhere(signed_in: Client, queued: Generation):
    url = poll_url(signed_in, queued)
    response = signed_in.get(url, headers=HTMX, HTTP_HOST="elsewhere.example")
    assert response.status_code == 400
    assert "lighthouse" not in response.content.decode()


def test_a_full_page_load_with_a_token_is_the_ordinary_page(signed_in: Client, queued: Generation):
    url = poll_url(signed_in, queued)
    assert answered_by_token(poll(signed_in, url)[1])
    page = signed_in.get(url)
    assert page.status_code == 200 and "<h1>Video #" in page.content.decode()


@pytest.mark.parametrize("bad", ["²", "٣", "-1", "0", "9" * 30, str(2**63)])
def test_a_poll_for_an_id_that_is_not_one_is_a_plain_404(signed_in: Client, queued: Generation, bad: str):
    # The poll's path goes through the one id reader (lib/ids.py) before any token is looked at.
    response = signed_in.get(f"/videos/{bad}/", {"poll": "x"}, headers=HTMX)
    assert response.status_code == 404


CSRF_VALUE = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def without_token(url: str) -> str:
    return url.split("?")[0]


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("who", ["maker", "admin", "viewer", "other member"])
def test_a_tokened_answer_is_the_ordinary_chains_answer_in_every_state(
    client: Client, user: User, state: State, who: str
):
    """The shortcut draws the very fragment the ordinary chain draws, for each state and person.

    Time stands still (the elapsed time and the token's own timestamp are then the same in both
    answers); only the CSRF token differs, as it does between any two answers.
    """
    person = {"maker": user, "admin": staff(), "viewer": member("vera"), "other member": member("otto")}[who]
    if who == "viewer":
        set_role(person, Role.VIEWER)
    client.force_login(person)
    gen = generation(user, prompt="A lighthouse in a storm, seen from the sea at night with spray")
    with time_machine.travel(timezone.now() + timedelta(seconds=75), tick=False):
        url = poll_url(client, gen)
        fields: dict[str, Any] = {
            "state": state,
            "upstream_status": "generating",
            "notice": "The service is slow today.",
            "trouble": "The last poll timed out.",
        }
        if state in (State.READY, State.FAILED, State.CANCELLED):
            fields |= {
                "finished_at": timezone.now() - timedelta(seconds=3),
                "failure_reason": "The service said no.",
                "duration": 5.04,
                "tokens_used": 1200,
                "credits_spent": 3,
            }
        Generation.objects.filter(pk=gen.pk).update(**fields)
        tokened, sql = poll(client, url)
        assert answered_by_token(sql)
        ordinary, sql = poll(client, without_token(url))
        assert not answered_by_token(sql)
    assert tokened.status_code == ordinary.status_code == 200
    assert CSRF_VALUE.sub(r'\1…"', tokened.content.decode()) == CSRF_VALUE.sub(
        r'\1…"', ordinary.content.decode()
    )


@pytest.mark.django_db(transaction=True)
def test_a_poll_sends_no_health_check_of_its_own_and_a_broken_connection_is_replaced(
    signed_in: Client, queued: Generation, monkeypatch: pytest.MonkeyPatch
):
    url = poll_url(signed_in, queued)
    assert answered_by_token(poll(signed_in, url)[1])  # the thread's connection is open and kept
    checks: list[str] = []

    def is_usable() -> bool:
        checks.append("SELECT 1")
        return True

    db: Any = connection  # (the stubs lack the health check's attributes)
    monkeypatch.setattr(db, "is_usable", is_usable)
    db.health_check_done = False  # as at the start of each request (CONN_HEALTH_CHECKS)
    response, sql = poll(signed_in, url)
    assert answered_by_token(sql) and "Waiting in queue" in response.content.decode()
    assert checks == []  # the poll's own SELECT was the check: one round trip, not two

    # A connection the database server dropped meanwhile: the SELECT fails, the connection is
    # replaced and the SELECT sent again, as the health check would have done before it.
    broken = db.connection
    sent: list[int] = []
    execute = StatusQuery.execute

    def drops_once(self: StatusQuery, params: list[Any]) -> Any:
        sent.append(1)
        if len(sent) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(self, params)

    monkeypatch.setattr(StatusQuery, "execute", drops_once)
    db.health_check_done = False
    response = signed_in.get(url, headers=HTMX)
    assert response.status_code == 200 and "Waiting in queue" in response.content.decode()
    assert len(sent) == 2 and db.connection is not broken


def test_a_history_restore_with_a_token_goes_the_ordinary_way(signed_in: Client, queued: Generation):
    # htmx asks for the whole page again when its history cache missed: that is not a poll.
    url = poll_url(signed_in, queued)
    with CaptureQueriesContext(connection) as queries:
        response = signed_in.get(url, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert not answered_by_token([q["sql"] for q in queries.captured_queries])
    assert response.status_code == 200
