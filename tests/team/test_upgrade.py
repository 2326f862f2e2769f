"""Existing accounts keep working after the upgrade to team accounts (migrations 0011 and 0012).

The database is taken back to before the team tables, filled the way the app left it (a staff
person and a member, each signed in, one session per person), and brought forward again.
"""

from __future__ import annotations

from importlib import import_module

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from playground.team.models import Membership, Role
from playground.team.roles import role_of
from tests.factories import PASSWORD

BEFORE = [("playground", "0010_end_frame_type")]


def migrate_to(targets: list[tuple[str, str]] | None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_people_from_before_the_upgrade_keep_their_rights_addresses_and_sessions():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    # Made as the app made people then: Django's own users and nothing else (the model as it was
    # at that migration, so today's signal that gives a new person a role does not run).
    OldUser = executor.loader.project_state(BEFORE).apps.get_model("auth", "User")
    hashed = make_password(PASSWORD)
    sam = OldUser.objects.create(username="sam", email="sam@example.com", password=hashed, is_staff=True)
    alice = OldUser.objects.create(username="alice", email="Alice@Example.com", password=hashed)
    quiet = OldUser.objects.create(username="quiet", email="", password=hashed)
    User = get_user_model()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    sessions = {}
    for person in (sam, alice):
        session = store()
        session["_auth_user_id"] = str(person.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = User.objects.get(pk=person.pk).get_session_auth_hash()
        session.create()
        sessions[person.username] = session.session_key

    migrate_to(None)

    assert role_of(User.objects.get(pk=sam.pk)) == Role.ADMIN
    assert role_of(User.objects.get(pk=alice.pk)) == Role.MEMBER
    assert Membership.objects.count() == 3
    address = EmailAddress.objects.get(user_id=alice.pk)
    # Kept in lower case, the form allauth looks addresses up by (typed in any case at sign-in).
    assert (address.email, address.primary, address.verified) == ("alice@example.com", True, False)
    assert not EmailAddress.objects.filter(user_id=quiet.pk).exists()
    # Each live session is listed under its person, so "sign out everywhere" reaches it.
    assert set(UserSession.objects.values_list("session_key", "user_id")) == {
        (sessions["sam"], sam.pk),
        (sessions["alice"], alice.pk),
    }
    # A session from before the upgrade is still signed in, and the same password still works,
    # by username and now by e-mail address too.
    old = Client()
    old.cookies[settings.SESSION_COOKIE_NAME] = sessions["alice"]
    assert old.get("/gallery/").status_code == 200
    for login in ("alice", "alice@example.com", "ALICE@example.com"):
        fresh = Client()
        answer = fresh.post("/sign-in/", {"login": login, "password": PASSWORD})
        assert answer.status_code == 302, login
        assert fresh.get("/gallery/").status_code == 200
