"""Password reset and e-mail change by e-mail, end to end through a real SMTP server (tests/mailserver.py)."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.test import Client

from playground.settings import email_settings
from playground.team import accountmail
from playground.team.models import AuditEvent, AuditKind
from tests import factories
from tests.factories import PASSWORD
from tests.mailserver import Inbox, body_text, free_port, links_in

NEW_PASSWORD = "a brand new passphrase 7"
ADDRESS = "203.0.113.9"


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    cache.clear()  # allauth counts resets and sign-ins per address in the cache


@pytest.fixture
def bob(db: None) -> User:
    return factories.member("bob")


def signs_in(password: str, login: str = "bob") -> bool:
    response = Client().post("/sign-in/", {"login": login, "password": password})
    return response.status_code == 302 and urlsplit(response["Location"]).path == "/"


def ask_reset(client: Client, email: str) -> Any:
    return client.post("/accounts/password/reset/", {"email": email}, REMOTE_ADDR=ADDRESS)


def reset_link(message: Any) -> str:
    links = [link for link in links_in(message) if "/accounts/password/reset/key/" in link]
    assert len(links) == 1, links_in(message)
    return urlsplit(links[0]).path


def test_a_reset_end_to_end(client, bob, smtp_server):
    elsewhere = Client()
    elsewhere.force_login(bob)
    assert elsewhere.get("/gallery/").status_code == 200

    response = ask_reset(client, "bob@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/done/"
    message = smtp_server.wait_for("bob@example.com")
    assert message["Subject"] == "Video Playground: Reset your password"
    assert "It works once, for 3 days. Your username is bob." in body_text(message)

    opened = client.get(reset_link(message))
    assert opened.status_code == 302  # the key moves into the session, out of the address bar
    form_url = opened["Location"]
    assert form_url.endswith("-set-password/")
    page = client.get(form_url)
    assert "Choose a new password" in page.text and "<strong>bob</strong>" in page.text
    done = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, REMOTE_ADDR=ADDRESS)
    assert done.status_code == 302
    assert "Your password is changed" in client.get(done["Location"]).text

    assert signs_in(NEW_PASSWORD)
    assert not signs_in(PASSWORD)
    assert urlsplit(elsewhere.get("/gallery/")["Location"]).path == "/sign-in/"  # signed out there
    line = AuditEvent.objects.get(kind=AuditKind.ACCOUNT)
    assert (line.subject, line.actor, line.ip) == (bob, bob, ADDRESS)
    assert line.summary == "bob chose a new password with an e-mailed reset link"
    assert "/reset/key/" not in line.summary


def test_a_used_reset_link_is_refused_with_a_sentence(client, bob, smtp_server):
    ask_reset(client, "bob@example.com")
    link = reset_link(smtp_server.wait_for("bob@example.com"))
    form_url = client.get(link)["Location"]
    client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    for replay in (client, Client()):
        again = replay.get(link, follow=True)
        assert again.status_code == 200
        assert "This link no longer works" in again.text
        assert "A password reset link works once, for 3 days" in again.text
        assert 'name="password1"' not in again.text
    # Posting a password straight to the form's address with the old key in a session is refused too.
    refused = client.post(
        form_url, {"password1": "yet another passphrase 9", "password2": "yet another passphrase 9"}
    )
    assert "This link no longer works" in refused.text
    assert signs_in(NEW_PASSWORD)


def test_a_forged_reset_link_is_refused(client, bob):
    page = client.get("/accounts/password/reset/key/1-forged-key/", follow=True)
    assert "This link no longer works" in page.text


def answer(client: Client, email: str) -> tuple[int, str, str]:
    response = ask_reset(client, email)
    page = client.get(response["Location"])
    # The page carries the session's own CSRF token (for htmx); everything else must be alike.
    text = re.sub(r'"X-CSRFToken": "[^"]+"', "", page.text)
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return response.status_code, response["Location"], text


def test_the_answer_does_not_say_whether_an_address_has_an_account(bob, smtp_server):
    unknown = answer(Client(), "nobody@example.com")
    known = answer(Client(), "bob@example.com")
    assert known == unknown
    assert "If the address you typed belongs to an account here" in known[2]
    smtp_server.wait_for("bob@example.com")
    # Same form, same errors, for a typo (the only thing the answer ever refuses).
    bad = [Client().post("/accounts/password/reset/", {"email": e}).text for e in ("bob@", "nobody@")]
    assert all("Enter a valid email address." in text for text in bad)
    assert [m["To"] for m in smtp_server.messages] == ["bob@example.com"]  # nothing to the unknown address


class HeldInbox(Inbox):
    """A mail server that accepts a message only once the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp_server(settings: Any) -> Iterator[HeldInbox]:
    inbox = HeldInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    for name, value in email_settings(f"smtp://127.0.0.1:{controller.port}?tls=off").items():
        setattr(settings, name, value)
    try:
        yield inbox
    finally:
        inbox.release.set()
        controller.stop()


def test_the_answer_for_a_known_address_does_not_wait_for_the_mail_server(client, bob, held_smtp_server):
    response = ask_reset(client, "bob@example.com")
    # Answered while the mail server still holds the message: a stopwatch cannot tell this answer
    # from the one for an unknown address, which sends nothing.
    assert response.status_code == 302
    assert held_smtp_server.messages == []
    held_smtp_server.release.set()
    assert reset_link(held_smtp_server.wait_for("bob@example.com"))


def test_a_mail_server_that_is_away_is_no_error_on_the_page(client, bob, settings, caplog):
    for name, value in email_settings(f"smtp://127.0.0.1:{free_port()}?tls=off").items():
        setattr(settings, name, value)  # nothing listens there
    response = ask_reset(client, "bob@example.com")
    assert response.status_code == 302
    assert accountmail.wait_until_sent(10)
    assert "A password reset e-mail could not be sent (ConnectionRefusedError)." in caplog.text
    assert "bob@example.com" not in caplog.text


def test_reset_mail_for_many_addresses_takes_one_thread_and_a_bounded_wait(held_smtp_server, caplog):
    # allauth limits asks per address; someone asking for many addresses while the mail server
    # is slow must not start a thread per ask or queue without end.
    assert accountmail.wait_until_sent(30)  # nothing left from an earlier test
    asked = accountmail.WAITING_LIMIT + 40
    for n in range(asked):
        message = EmailMessage("Reset", "link", "team@example.com", [f"person{n}@example.com"])
        accountmail.send_after_answer(message)
        assert accountmail.sender_threads() == 1
    assert held_smtp_server.messages == []  # the first is held at the server, the rest wait
    dropped = caplog.text.count("An account e-mail was dropped")
    # One in the sender's hands, WAITING_LIMIT waiting; the sender may not yet have taken the first.
    assert dropped in (asked - accountmail.WAITING_LIMIT - 1, asked - accountmail.WAITING_LIMIT)
    assert f"{accountmail.WAITING_LIMIT} are already waiting" in caplog.text
    assert "person" not in caplog.text  # no address in the log
    held_smtp_server.release.set()
    assert accountmail.wait_until_sent(30)
    assert len(held_smtp_server.messages) == asked - dropped
    assert accountmail.sender_threads() == 1


# --- E-mail change -----------------------------------------------------------------------------


@pytest.fixture
def confirmed_bob(bob: User) -> User:
    EmailAddress.objects.create(user=bob, email="bob@example.com", verified=True, primary=True)
    return bob


def confirm_link(message: Any) -> str:
    links = [link for link in links_in(message) if "/accounts/confirm-email/" in link]
    assert len(links) == 1, links_in(message)
    return urlsplit(links[0]).path


def change_email(client: Client, new: str) -> Any:
    return client.post("/accounts/email/", {"email": new, "action_add": ""}, REMOTE_ADDR=ADDRESS)


@pytest.mark.parametrize(
    "confirmed", [True, False], ids=["confirmed old address", "never-confirmed old address"]
)
def test_an_email_change_waits_for_the_link_sent_to_the_new_address(client, bob, smtp_server, confirmed):
    if confirmed:
        EmailAddress.objects.create(user=bob, email="bob@example.com", verified=True, primary=True)
    client.force_login(bob)
    page = client.get("/accounts/email/")
    assert "Your account's address is <strong>bob@example.com</strong>" in page.text

    assert change_email(client, "Robert@Example.org").status_code == 302
    message = smtp_server.wait_for("robert@example.org")
    assert message["Subject"] == "Video Playground: Confirm your e-mail address"
    assert smtp_server.to("bob@example.com") == []
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"  # not yet: the old address stays until the link is opened
    pending = client.get("/accounts/email/").text
    assert "Waiting for you to confirm robert@example.org." in pending
    assert "Until then, bob@example.com stays your address." in pending

    link = confirm_link(message)
    confirm_page = client.get(link)
    assert (
        "Use <strong>robert@example.org</strong> for the account <strong>bob</strong>?" in confirm_page.text
    )
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"  # opening the page alone (a mail scanner) changes nothing
    assert client.post(link, REMOTE_ADDR=ADDRESS).status_code == 302
    bob.refresh_from_db()
    assert bob.email == "robert@example.org"
    assert list(EmailAddress.objects.filter(user=bob).values_list("email", "verified", "primary")) == [
        ("robert@example.org", True, True)
    ]
    assert "This link no longer works" in client.get(link).text

    summaries = list(
        AuditEvent.objects.filter(kind=AuditKind.ACCOUNT).order_by("pk").values_list("summary", flat=True)
    )
    assert summaries == [
        "bob asked to use robert@example.org as their address (a confirmation link was sent there; "
        "the old address stays until it is opened)",
        "bob confirmed the address robert@example.org",
        "bob's e-mail address changed from bob@example.com to robert@example.org",
    ]
    assert set(AuditEvent.objects.filter(kind=AuditKind.ACCOUNT).values_list("actor", "subject", "ip")) == {
        (bob.pk, bob.pk, ADDRESS)
    }


def test_a_change_can_be_cancelled_before_it_is_confirmed(client, confirmed_bob, smtp_server):
    client.force_login(confirmed_bob)
    change_email(client, "robert@example.org")
    link = confirm_link(smtp_server.wait_for("robert@example.org"))
    client.post("/accounts/email/", {"email": "robert@example.org", "action_remove": ""})
    assert "The change to robert@example.org is cancelled." in client.get("/accounts/email/").text
    assert "This link no longer works" in client.get(link).text
    confirmed_bob.refresh_from_db()
    assert confirmed_bob.email == "bob@example.com"
