"""The Team page and what an admin does to people: roles, deactivation, sign-out-everywhere, "Your account".

Sessions are made by signing in through the real sign-in form (allauth lists those sessions), and
"signed out" means a later request of that very client is sent to the sign-in page.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import Generation
from playground.team import people
from playground.team.models import AuditEvent, AuditKind, Invitation, Role
from playground.team.page import PAGE_SIZE
from playground.team.roles import LAST_ADMIN_SENTENCE, role_of, set_role
from tests.factories import PASSWORD, member, ready, staff


@pytest.fixture
def ann(db: None) -> User:
    return staff("ann")


@pytest.fixture
def admin(client: Client, ann: User) -> Client:
    client.force_login(ann)
    return client


@pytest.fixture
def bob(db: None) -> User:
    return member("bob")


def signed_in_as(username: str) -> Client:
    """A browser signed in through the sign-in form (so allauth lists its session)."""
    browser = Client()
    response = browser.post(reverse("login"), {"login": username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    assert browser.get(reverse("gallery")).status_code == 200
    return browser


def is_signed_out(browser: Client) -> bool:
    response = browser.get(reverse("gallery"))
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


def audit_lines(kind: AuditKind) -> list[str]:
    return list(AuditEvent.objects.filter(kind=kind).values_list("summary", flat=True))


# --- The page ------------------------------------------------------------------------------


def test_the_page_lists_people_with_role_state_second_factor_and_last_sign_in(admin, ann, bob):
    member("cy", is_active=False)
    viewer = member("dee")
    set_role(viewer, Role.VIEWER)
    Authenticator.objects.create(user=bob, type=Authenticator.Type.TOTP, data={})
    Authenticator.objects.create(user=viewer, type=Authenticator.Type.RECOVERY_CODES, data={})
    User.objects.filter(pk=bob.pk).update(last_login=timezone.now())
    page = admin.get(reverse("team"))
    assert page.status_code == 200
    rows = {
        name: page_text(page).split(f'id="person-{User.objects.get(username=name).pk}"')[1].split("</tr>")[0]
        for name in ("ann", "bob", "cy", "dee")
    }
    assert "bob@example.com" in rows["bob"]
    assert "Authenticator app" in rows["bob"] and "<time datetime=" in rows["bob"]
    assert "None" in rows["dee"]  # recovery codes alone are not a second factor
    assert "Never" in rows["dee"]
    assert "Deactivated" in rows["cy"] and "Reactivate" in rows["cy"]
    assert '<option value="viewer" selected>' in rows["dee"]
    assert '<option value="admin" selected>' in rows["ann"]
    assert "(you)" in rows["ann"] and "Deactivate" not in rows["ann"]
    # The reset button posts to the second-factor helper's route (team/mfa.py) for people with one.
    assert f'action="/team/people/{bob.pk}/reset-factors/"' in rows["bob"]
    assert "reset-factors" not in rows["dee"]
    text = page_text(page)
    assert 'href="/team/security/"' in text and 'href="/team/audit/"' in text
    for sentence in ("Watches, downloads and stars videos", "Makes videos (spending the team's key)"):
        assert sentence in text


def test_each_button_posts_to_its_actions_url_and_the_list_posts_every_rows_role(admin, ann, bob):
    cy = member("cy", is_active=False)
    page = page_text(admin.get(reverse("team")))
    for name in ("team_set_role", "team_deactivate", "team_sign_out"):
        assert f'formaction="{reverse(name, args=[bob.pk])}"' in page
    assert f'formaction="{reverse("team_reactivate", args=[cy.pk])}"' in page
    # What a browser sends from the one form: every row's select, and the button's own URL.
    sent = {
        "q": "",
        "page": "1",
        f"role-{ann.pk}": "admin",
        f"role-{bob.pk}": "viewer",
        f"role-{cy.pk}": "member",
    }
    admin.post(reverse("team_set_role", args=[bob.pk]), sent)
    assert role_of(User.objects.get(pk=bob.pk)) == Role.VIEWER
    assert role_of(User.objects.get(pk=ann.pk)) == Role.ADMIN


def queries_for_the_page(admin: Client, **params: str) -> int:
    admin.get(reverse("team"), params)  # warm
    with CaptureQueriesContext(connection) as queries:
        assert admin.get(reverse("team"), params).status_code == 200
    return len(queries)


def crowd(count: int, start: int = 0) -> None:
    users = User.objects.bulk_create(
        [
            User(username=f"person{i:04}", email=f"person{i:04}@example.com")
            for i in range(start, start + count)
        ]
    )
    Authenticator.objects.bulk_create(
        Authenticator(user=u, type=Authenticator.Type.TOTP, data={}) for u in users[::2]
    )
    Invitation.objects.bulk_create(
        Invitation(
            email=f"invited{i}@example.com",
            token_hash=f"{i:064}",
            invited_by=User.objects.get(username="ann"),
            expires_at=timezone.now() + timedelta(days=1),
        )
        for i in range(start, start + count // 10)
    )


def test_the_page_costs_the_same_queries_at_10_people_and_at_300(admin, ann):
    crowd(9)
    few = queries_for_the_page(admin)
    crowd(300, start=9)
    many = queries_for_the_page(admin)
    assert many == few <= 8
    page = admin.get(reverse("team")).content.decode()
    assert page.count('id="person-') == PAGE_SIZE
    assert queries_for_the_page(admin, q="person02", page="2") == few


def test_search_by_name_or_email_and_the_pages(admin, ann):
    crowd(120)
    User.objects.filter(username="person0042").update(email="zed@elsewhere.org")
    found = page_text(admin.get(reverse("team"), {"q": "ELSEWHERE"}))
    assert found.count('id="person-') == 1 and "person0042" in found
    found = page_text(admin.get(reverse("team"), {"q": "person004"}))
    assert found.count('id="person-') == 10
    second = page_text(admin.get(reverse("team"), {"page": "2"}))
    assert f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} of 121" in second
    last = 121 % PAGE_SIZE or PAGE_SIZE
    assert page_text(admin.get(reverse("team"), {"page": "999"})).count('id="person-') == last
    assert "Nobody's name or e-mail contains “nobody-at-all”" in page_text(
        admin.get(reverse("team"), {"q": "nobody-at-all"})
    )


# --- Roles ---------------------------------------------------------------------------------


def test_an_admin_changes_a_role_and_the_audit_says_who_and_what(admin, bob):
    response = admin.post(reverse("team_set_role", args=[bob.pk]), {"role": "viewer", "q": "b", "page": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("team") + "?q=b&page=1"
    bob.refresh_from_db()
    assert role_of(bob) == Role.VIEWER
    assert "bob is now a viewer (was member)." in page_text(admin.get(response["Location"]))
    assert audit_lines(AuditKind.ROLE) == ["ann made bob a viewer (was member)"]
    admin.post(reverse("team_set_role", args=[bob.pk]), {"role": "admin"})
    assert User.objects.get(pk=bob.pk).is_staff


def test_demoting_the_last_admin_is_refused_and_changes_nothing(admin, ann):
    response = admin.post(reverse("team_set_role", args=[ann.pk]), {"role": "member"}, follow=True)
    assert LAST_ADMIN_SENTENCE in page_text(response)
    ann.refresh_from_db()
    assert ann.is_staff and role_of(ann) == Role.ADMIN
    assert audit_lines(AuditKind.ROLE) == []


def test_an_admin_who_makes_themselves_a_member_lands_on_the_gallery(admin, ann, bob):
    set_role(bob, Role.ADMIN)
    response = admin.post(reverse("team_set_role", args=[ann.pk]), {"role": "member"})
    assert response["Location"] == reverse("gallery")
    assert admin.get(reverse("team")).status_code == 403


def test_an_unknown_role_is_refused(admin, bob):
    response = admin.post(reverse("team_set_role", args=[bob.pk]), {"role": "owner"}, follow=True)
    assert "Choose one of the roles listed." in page_text(response)
    assert role_of(User.objects.get(pk=bob.pk)) == Role.MEMBER


# --- Deactivation and sign-out-everywhere ------------------------------------------------------


def test_deactivating_signs_the_person_out_everywhere_and_keeps_their_videos(admin, bob):
    laptop, phone = signed_in_as("bob"), signed_in_as("bob")
    forced = Client()
    forced.force_login(bob)  # a session allauth never listed: refused all the same, as inactive
    video = ready(bob)
    assert UserSession.objects.filter(user=bob).count() == 2
    keys = set(UserSession.objects.filter(user=bob).values_list("session_key", flat=True))

    response = admin.post(reverse("team_deactivate", args=[bob.pk]), follow=True)
    assert "bob is deactivated and signed out of 2 sessions" in page_text(response)
    assert not User.objects.get(pk=bob.pk).is_active
    assert is_signed_out(laptop) and is_signed_out(phone) and is_signed_out(forced)
    assert not UserSession.objects.filter(user=bob).exists()
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert Generation.objects.filter(pk=video.pk, created_by=bob).exists()
    assert audit_lines(AuditKind.ACCOUNT) == [
        "ann deactivated bob (signed out of 2 sessions; their videos stay)"
    ]
    refused = Client().post(reverse("login"), {"login": "bob", "password": PASSWORD})
    assert refused.status_code != 302 or "inactive" in refused["Location"]
    assert is_signed_out(Client())

    response = admin.post(reverse("team_reactivate", args=[bob.pk]), follow=True)
    assert "bob is active again, as a member, and can sign in." in page_text(response)
    assert signed_in_as("bob")
    assert audit_lines(AuditKind.ACCOUNT)[0] == "ann reactivated bob (as a member)"


def test_nobody_deactivates_themselves(admin, ann):
    response = admin.post(reverse("team_deactivate", args=[ann.pk]), follow=True)
    assert people.NOT_YOURSELF in page_text(response)
    assert User.objects.get(pk=ann.pk).is_active


def test_the_last_active_admin_is_never_deactivated(ann, bob):
    # On the page an admin's only way to the last admin is themselves (refused above); any other
    # caller of the rule is held to it too.
    with pytest.raises(people.Refused, match=LAST_ADMIN_SENTENCE):
        people.deactivate(bob, ann)
    assert User.objects.get(pk=ann.pk).is_active
    second = staff("sue")
    people.deactivate(second, ann)
    with pytest.raises(people.Refused, match=LAST_ADMIN_SENTENCE):
        people.deactivate(ann, second)
    assert User.objects.get(pk=second.pk).is_active


def test_an_admin_signs_someone_out_everywhere_and_they_stay_active(admin, bob):
    laptop, phone = signed_in_as("bob"), signed_in_as("bob")
    response = admin.post(reverse("team_sign_out", args=[bob.pk]), follow=True)
    assert "Signed bob out everywhere (2 sessions ended)." in page_text(response)
    assert is_signed_out(laptop) and is_signed_out(phone)
    assert User.objects.get(pk=bob.pk).is_active
    assert signed_in_as("bob")
    assert audit_lines(AuditKind.SIGN_OUT_EVERYWHERE) == ["ann signed bob out everywhere (2 sessions)"]
    assert admin.get(reverse("team")).status_code == 200  # the admin's own session is untouched


def test_your_account_page_links_to_allauths_pages_and_signs_you_out_everywhere(bob):
    laptop, phone = signed_in_as("bob"), signed_in_as("bob")
    page = laptop.get(reverse("team_me"))
    assert page.status_code == 200
    text = page_text(page)
    assert "You are a member: Makes videos" in text
    for url in ("/accounts/password/change/", "/accounts/email/", "/accounts/2fa/", "/accounts/sessions/"):
        assert f'href="{url}"' in text
    response = laptop.post(reverse("team_me_sign_out"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "You are signed out everywhere (2 sessions ended)" in page_text(response)
    assert is_signed_out(laptop) and is_signed_out(phone)
    assert audit_lines(AuditKind.SIGN_OUT_EVERYWHERE) == ["bob signed out everywhere (2 sessions)"]


# --- Who may ---------------------------------------------------------------------------------


def admin_routes(person: User, invitation: Invitation) -> list[tuple[str, dict[str, str]]]:
    return [
        (reverse("team"), {}),
        (reverse("team_invite"), {"email": "eve@example.com", "role": "admin"}),
        (reverse("team_resend", args=[invitation.pk]), {}),
        (reverse("team_revoke", args=[invitation.pk]), {}),
        (reverse("team_set_role", args=[person.pk]), {"role": "admin"}),
        (reverse("team_deactivate", args=[person.pk]), {}),
        (reverse("team_reactivate", args=[person.pk]), {}),
        (reverse("team_sign_out", args=[person.pk]), {}),
        (reverse("team_security"), {"require_second_factor": "everyone"}),
        (reverse("team_reset_factors", args=[person.pk]), {}),
        (reverse("team_audit"), {}),
        (reverse("team_audit_csv"), {}),
    ]


def state() -> list[Any]:
    return [
        list(
            User.objects.order_by("pk").values_list("username", "is_active", "is_staff", "membership__role")
        ),
        list(
            Invitation.objects.order_by("pk").values_list("email", "token_hash", "expires_at", "revoked_at")
        ),
        sorted(UserSession.objects.values_list("session_key", flat=True)),
        AuditEvent.objects.count(),
    ]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_get_403_at_every_team_url_and_change_nothing(ann, bob, role):
    mallory = member("mallory")
    set_role(mallory, role)
    invitation = Invitation.objects.create(
        email="eve@example.com",
        token_hash="f" * 64,
        invited_by=ann,
        expires_at=timezone.now() + timedelta(days=1),
    )
    victim = signed_in_as("bob")
    browser = signed_in_as("mallory")
    before = state()
    routes = admin_routes(bob, invitation)
    from django.urls import get_resolver

    team_names = {
        name for name in get_resolver().reverse_dict if isinstance(name, str) and name.startswith("team")
    }
    open_to_all = {"team_join", "team_join_form", "team_me", "team_me_sign_out"}
    assert len(routes) == len(team_names - open_to_all), "a Team URL is missing from this test"
    for url, data in routes:
        assert browser.get(url).status_code == 403, url
        response = browser.post(url, data)
        assert response.status_code == 403, url
        assert "Only the team's admins can open this page." in page_text(response)
    assert state() == before
    assert not is_signed_out(victim)


def test_team_posts_need_the_csrf_token(ann, bob):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ann)
    assert strict.post(reverse("team_deactivate", args=[bob.pk])).status_code == 403
    assert (
        strict.post(reverse("team_invite"), {"email": "eve@example.com", "role": "admin"}).status_code == 403
    )
    assert User.objects.get(pk=bob.pk).is_active
    assert not Invitation.objects.exists()


def test_people_who_are_not_signed_in_are_sent_to_sign_in(db, client):
    for name in ("team", "team_me"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
