"""Invitations end to end: an admin invites, a real SMTP server receives the message, the link in it joins.

Every refused link (used, expired, revoked, resent away, forged) answers with the reason and nothing
the invitation held; the token is never kept readable (only its hash) and never logged.
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import secrets
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.team import invitations, mail
from playground.team.join import ACCOUNT_EXISTS
from playground.team.models import AuditEvent, AuditKind, Invitation, Role
from playground.team.roles import role_of
from tests.factories import PASSWORD, member, staff
from tests.mailserver import body_text, links_in

NEW = "new.person@example.com"
NEW_PASSWORD = "plum orchard at dawn 7"


@pytest.fixture
def ann(db: None) -> User:
    return staff("ann", first_name="Ann", last_name="Admin")


@pytest.fixture
def admin(client: Client, ann: User) -> Client:
    client.force_login(ann)
    return client


def invite(admin: Client, email: str = NEW, role: str = "member") -> Any:
    return admin.post(reverse("team_invite"), {"email": email, "role": role})


def join_path(message: Any) -> str:
    [link] = [link for link in links_in(message) if "/team/join/" in link]
    return urlsplit(link).path


FORM = "/team/join/"


def open_link(browser: Client, path: str) -> Any:
    """Open the link as a browser does: it moves to the form (the token leaves the address)."""
    response = browser.get(path)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == FORM
    form = browser.get(FORM)
    assert form.status_code == 200
    return form


def join(path: str, username: str = "newbie", **extra: str) -> tuple[Client, Any]:
    browser = Client()
    open_link(browser, path)
    data = {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **extra}
    return browser, browser.post(FORM, data)


def assert_refused(response: Any, sentence: str, status: int, *hidden: str) -> None:
    assert response.status_code == status
    page = html.unescape(response.content.decode())
    assert sentence in page
    assert 'name="password1"' not in page
    for secret in hidden:
        assert secret.lower() not in page.lower()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.ADMIN])
def test_an_invitation_arrives_by_smtp_and_its_link_joins_with_the_role(admin, ann, smtp_server, role):
    response = invite(admin, NEW.upper(), role.value)
    assert response.status_code == 302
    message = smtp_server.wait_for(NEW)
    text = body_text(message)
    assert "Ann Admin invited you" in text
    assert role.label.lower() in text
    invitation = Invitation.objects.get()
    assert invitation.email == NEW
    assert f"expires on {mail.when(invitation.expires_at)}" in text

    browser, response = join(join_path(message))
    assert response.status_code == 302
    assert response["Location"] == reverse("gallery")
    person = User.objects.get(username="newbie")
    assert person.email == NEW
    assert role_of(person) == role
    assert person.is_staff == (role == Role.ADMIN)
    assert EmailAddress.objects.filter(user=person, email=NEW, verified=True, primary=True).count() == 1
    assert browser.get(reverse("gallery")).status_code == 200
    assert int(browser.session["_auth_user_id"]) == person.pk
    invitation.refresh_from_db()
    assert invitation.accepted_by == person
    summaries = list(AuditEvent.objects.filter(kind=AuditKind.INVITATION).values_list("summary", flat=True))
    article = "an" if role == Role.ADMIN else "a"
    assert (
        f"newbie joined as {article} {role.label.lower()} (accepted ann's invitation to {NEW})" in summaries
    )
    assert f"ann invited {NEW} as {article} {role.label.lower()}" in summaries


def test_a_used_link_is_refused_and_says_nothing_of_what_it_held(admin, smtp_server):
    invite(admin, role="viewer")
    path = join_path(smtp_server.wait_for(NEW))
    join(path)
    again = Client().get(path)
    assert_refused(again, invitations.USED, 410, NEW, "viewer", "ann")


def test_an_expired_link_is_refused(admin, smtp_server, settings):
    invite(admin, role="viewer")
    path = join_path(smtp_server.wait_for(NEW))
    later = timezone.now() + timedelta(days=settings.INVITATION_DAYS, minutes=1)
    with time_machine.travel(later, tick=False):
        response = Client().get(path)
    assert_refused(response, invitations.EXPIRED.format(days=settings.INVITATION_DAYS), 410, NEW, "viewer")
    with time_machine.travel(later - timedelta(minutes=2), tick=False):
        assert Client().get(path).status_code == 302  # a minute before, it still opened


def test_a_link_that_expires_while_the_form_is_open_makes_no_account(admin, smtp_server, settings):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    browser = Client()
    open_link(browser, path)
    with time_machine.travel(timezone.now() + timedelta(days=settings.INVITATION_DAYS, seconds=1)):
        response = browser.post(
            FORM, {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        )
    assert response.status_code == 410
    assert not User.objects.filter(username="late").exists()


def test_a_revoked_link_is_refused(admin, smtp_server):
    invite(admin, role="viewer")
    path = join_path(smtp_server.wait_for(NEW))
    invitation = Invitation.objects.get()
    response = admin.post(reverse("team_revoke", args=[invitation.pk]))
    assert response.status_code == 302
    assert_refused(Client().get(path), invitations.REVOKED, 410, NEW, "viewer")
    assert AuditEvent.objects.filter(summary=f"ann revoked the invitation to {NEW}").exists()


def test_resend_makes_a_new_link_and_the_old_one_stops_working(admin, smtp_server):
    invite(admin, role="viewer")
    old = join_path(smtp_server.wait_for(NEW))
    opened = Client()
    open_link(opened, old)  # a form opened before the resend
    invitation = Invitation.objects.get()
    first_expiry = invitation.expires_at
    admin.post(reverse("team_resend", args=[invitation.pk]))
    new = join_path(smtp_server.wait_for(NEW, count=2))
    assert new != old
    assert_refused(Client().get(old), invitations.UNKNOWN, 404, NEW, "viewer")
    late = opened.post(FORM, {"username": "stale", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert late.status_code == 404
    assert not User.objects.filter(username="stale").exists()
    invitation.refresh_from_db()
    assert invitation.expires_at > first_expiry
    _, response = join(new)
    assert response.status_code == 302
    assert role_of(User.objects.get(username="newbie")) == Role.VIEWER


@pytest.mark.parametrize("token", ["x", secrets.token_urlsafe(32), "a" * 201, "%00"], ids=str.__len__)
def test_a_forged_link_is_refused(db, client, token):
    assert_refused(client.get(f"/team/join/{token}/"), invitations.UNKNOWN, 404)


def test_the_form_without_an_opened_link_is_refused(db, client):
    assert_refused(client.get("/team/join/"), invitations.UNKNOWN, 404)
    assert_refused(client.post("/team/join/", {"username": "x"}), invitations.UNKNOWN, 404)
    assert not User.objects.filter(username="x").exists()


def test_the_email_is_fixed_to_the_invitations_whatever_is_posted(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    page = open_link(Client(), path).content.decode()
    assert NEW in page and "disabled" in page
    join(path, email="someone.else@example.com")
    person = User.objects.get(username="newbie")
    assert person.email == NEW
    assert list(EmailAddress.objects.filter(user=person).values_list("email", flat=True)) == [NEW]


def test_a_weak_password_is_refused_with_djangos_rules_and_the_invitation_stays(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    browser = Client()
    open_link(browser, path)
    response = browser.post(FORM, {"username": "newbie", "password1": "12345", "password2": "12345"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "too short" in page and "entirely numeric" in page
    assert not User.objects.filter(username="newbie").exists()
    assert invitations.find(path.split("/")[-2]).problem == ""


def test_two_tabs_join_once(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    first, second = Client(), Client()
    open_link(first, path)
    open_link(second, path)
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert first.post(FORM, {"username": "one", **data}).status_code == 302
    refused = second.post(FORM, {"username": "two", **data})
    assert_refused(refused, invitations.USED, 410)
    assert list(User.objects.filter(email=NEW).values_list("username", flat=True)) == ["one"]


@pytest.mark.django_db(transaction=True)
def test_two_tabs_posting_at_the_same_moment_make_one_account(smtp_server):
    ann = staff("ann")
    invitation, token = invitations.invite(NEW, Role.MEMBER, ann)
    path = reverse("team_join", args=[token])
    tabs = [Client(), Client(), Client()]
    for tab in tabs:
        open_link(tab, path)
    start = threading.Barrier(len(tabs))
    statuses: list[int] = []

    def post(tab: Client, name: str) -> None:
        try:
            start.wait()
            data = {"username": name, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
            statuses.append(tab.post(FORM, data).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(tab, f"tab{i}")) for i, tab in enumerate(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 410, 410]
    assert User.objects.filter(email=NEW).count() == 1
    assert EmailAddress.objects.filter(email=NEW).count() == 1
    invitation.refresh_from_db()
    assert invitation.accepted_by is not None


def test_an_address_that_got_an_account_meanwhile_is_told_to_sign_in(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    member("already", email=NEW)
    _, response = join(path)
    assert response.status_code == 200
    assert ACCOUNT_EXISTS in html.unescape(response.content.decode())
    assert not User.objects.filter(username="newbie").exists()


def test_a_signed_in_person_opening_a_link_is_asked_to_sign_out_first(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    response = admin.get(path)
    assert response.status_code == 200
    assert "You are already signed in" in response.content.decode()
    assert invitations.find(path.split("/")[-2]).problem == ""


def test_allauths_own_sign_up_page_stays_closed_even_with_an_invitation_open(admin, smtp_server):
    invite(admin)
    path = join_path(smtp_server.wait_for(NEW))
    browser = Client()
    open_link(browser, path)
    data = {"email": NEW, "username": "sneaky", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = browser.post(reverse("account_signup"), data)
    assert "No open sign-up" in response.content.decode()
    assert not User.objects.filter(username="sneaky").exists()


# --- The invite form's refusals -------------------------------------------------------------


def test_a_malformed_address_is_refused(admin):
    response = invite(admin, "not an address")
    assert response.status_code == 400
    assert "That is not an e-mail address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_address_with_an_account_is_refused_naming_the_account(admin):
    member("bob", email="bob@example.com")
    response = invite(admin, "BOB@example.com")
    assert response.status_code == 400
    assert "bob@example.com already has an account (bob)" in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_address_with_a_waiting_invitation_is_refused_and_resend_offered(admin, smtp_server):
    invite(admin)
    smtp_server.wait_for(NEW)
    response = invite(admin, NEW, "admin")
    page = response.content.decode()
    assert response.status_code == 400
    assert f"{NEW} already has an invitation waiting" in page
    invitation = Invitation.objects.get()
    assert reverse("team_resend", args=[invitation.pk]) in page
    admin.post(reverse("team_resend", args=[invitation.pk]))
    smtp_server.wait_for(NEW, count=2)
    assert Invitation.objects.count() == 1


def test_an_address_whose_invitation_expired_can_be_invited_again(admin, smtp_server, settings):
    invite(admin)
    old = join_path(smtp_server.wait_for(NEW))
    with time_machine.travel(timezone.now() + timedelta(days=settings.INVITATION_DAYS + 1)):
        assert invite(admin, NEW, "viewer").status_code == 302
        new = join_path(smtp_server.wait_for(NEW, count=2))
        assert Client().get(old).status_code == 410
        _, response = join(new)
    assert response.status_code == 302
    assert role_of(User.objects.get(username="newbie")) == Role.VIEWER


# --- No mail server, a failing one, and where the token never goes ------------------------------


def test_without_a_mail_server_the_message_is_a_file_and_the_page_shows_the_link(admin, settings, tmp_path):
    settings.EMAIL_SENDS = False
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    response = invite(admin, role="viewer")
    assert response.status_code == 200
    page = response.content.decode()
    assert mail.NO_MAIL_SERVER in page
    [written] = list(Path(settings.EMAIL_FILE_PATH).iterdir())
    text = written.read_text()
    assert NEW in text
    link = next(word for word in text.split() if "/team/join/" in word)
    assert f'value="{link}"' in page
    # The page shows it once: the next visit does not.
    assert link not in admin.get(reverse("team")).content.decode()
    _, joined = join(urlsplit(link).path)
    assert joined.status_code == 302
    assert role_of(User.objects.get(username="newbie")) == Role.VIEWER


def test_a_mail_server_that_cannot_be_reached_leaves_the_link_on_the_page(admin, settings, caplog):
    from tests.mailserver import free_port

    settings.EMAIL_SENDS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    with caplog.at_level(logging.DEBUG):
        response = invite(admin)
    page = response.content.decode()
    assert response.status_code == 200
    assert "The mail server did not take the message (nothing answered at EMAIL_URL" in page
    link = page.split('id="join-link" readonly value="')[1].split('"')[0]
    token = urlsplit(link).path.split("/")[-2]
    assert all(token not in record.getMessage() for record in caplog.records)
    assert any("was not sent" in record.getMessage() for record in caplog.records)


def test_the_token_is_kept_only_as_its_hash_and_never_logged(admin, smtp_server, caplog):
    with caplog.at_level(logging.DEBUG):
        invite(admin)
        path = join_path(smtp_server.wait_for(NEW))
        token = path.split("/")[-2]
        browser, _ = join(path)
        browser.get(reverse("gallery"))
        assert Client().get(path).status_code == 410  # refused answers are logged too, without the path
        assert Client().post(path).status_code == 405
        assert Client().get(path.replace(token, token[:-1])).status_code == 404
    assert len(token) >= 43
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    everything = io.StringIO()
    call_command("dumpdata", stdout=everything)
    assert invitation.token_hash in everything.getvalue()
    assert token not in everything.getvalue()
    assert any(
        token in record.getMessage() for record in caplog.records if record.name.startswith("mail.log")
    ), "the SMTP server's own log shows the link, so a token in a log line would be seen"
    # What the app and the libraries in it logged (the test's own SMTP server, "mail.log", is the outside).
    logged = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert all(token not in record.getMessage() for record in logged)
    assert all(token not in str(record.args) for record in logged)
    assert any("invitation link was refused" in record.getMessage() for record in logged)


def test_a_person_who_joined_signs_in_again_with_their_password(admin, smtp_server):
    invite(admin)
    join(join_path(smtp_server.wait_for(NEW)))
    fresh = Client()
    response = fresh.post(reverse("login"), {"login": NEW, "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert fresh.get(reverse("gallery")).status_code == 200
    assert PASSWORD != NEW_PASSWORD
