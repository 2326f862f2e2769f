"""Single sign-on in real Chromium: the app's button, the provider's own sign-in page, and back.

The provider is node's oidc-provider on loopback (tests/oidc/); the page sends the browser there
through a form post answered with a redirect, which the Content-Security-Policy's form-action
must allow (settings.content_security_policy lists the provider's origin).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from playground.settings import content_security_policy
from playground.team.invitations import invite, pending_for_email
from playground.team.models import Role
from playground.team.roles import role_of
from tests.oidc.fixtures import BUTTON_NAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _through_the_provider(page: Any, login: str) -> None:
    page.goto("/gallery/")
    assert urlsplit(page.url).path == "/sign-in/"
    page.get_by_role("button", name=f"Sign in with {BUTTON_NAME}").click()
    page.wait_for_url(lambda url: url.startswith("http://127.0.0.1:"), wait_until="commit")
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def test_an_invited_person_signs_in_with_sso_and_joins_with_the_invitations_role(
    sso: Any, page: Any, settings: Any
) -> None:
    settings.CONTENT_SECURITY_POLICY = content_security_policy("", sso.url)
    invite("ann@invited.example", Role.VIEWER, by=None)

    _through_the_provider(page, "ann")

    page.wait_for_url(lambda url: urlsplit(url).path == "/gallery/")
    assert page.locator(".signed-in-as").inner_text() == "Signed in as ann"
    assert pending_for_email("ann@invited.example") is None
    assert role_of(User.objects.get(username="ann")) == Role.VIEWER


def test_sso_only_shows_one_button_and_an_uninvited_person_reads_why_they_are_refused(
    sso: Any, page: Any, settings: Any
) -> None:
    settings.CONTENT_SECURITY_POLICY = content_security_policy("", sso.url)
    settings.SSO_ONLY = True

    page.goto("/sign-in/")
    assert page.locator('input[type="password"]').count() == 0
    _through_the_provider(page, "carl")

    page.get_by_text("carl@elsewhere.example is not invited to this team.").wait_for()
    assert page.get_by_role("heading", name="Not signed in").is_visible()
    page.goto("/gallery/")
    assert urlsplit(page.url).path == "/sign-in/"
