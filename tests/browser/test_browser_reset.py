"""Chromium: a forgotten password reset by e-mail, the link read from a real SMTP server's inbox."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import factories
from tests.factories import PASSWORD
from tests.mailserver import links_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a brand new passphrase 7"


def test_a_forgotten_password_is_reset_from_the_e_mailed_link(page: Any, smtp_server: Any) -> None:
    factories.member("carol")
    page.goto("/sign-in/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(re.compile(r"/accounts/password/reset/$"))
    assert page.title().startswith("Reset your password")
    page.get_by_label("E-mail address").fill("carol@example.com")
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url(re.compile(r"/accounts/password/reset/done/$"))
    assert "If the address you typed belongs to an account here" in page.inner_text("main")

    link = next(u for u in links_in(smtp_server.wait_for("carol@example.com")) if "/reset/key/" in u)
    page.goto(link)
    page.wait_for_url(re.compile(r"-set-password/$"))  # the key is out of the address bar
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("The new password again").fill("short")
    page.get_by_role("button", name="Save the new password").click()
    assert "too short" in page.inner_text("main")  # the rule, named, on the same page
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("The new password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    page.wait_for_url(re.compile(r"/accounts/password/reset/key/done/$"))
    page.get_by_role("link", name="Sign in").click()

    page.get_by_label("Username or e-mail address").fill("carol")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.locator(".form-errors").wait_for()  # the old password no longer works
    assert urlsplit(page.url).path == "/sign-in/"
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/gallery/$"))  # home, for a member
    assert "Signed in as carol" in page.inner_text("header")

    page.goto(link)  # the same link, again
    assert "This link no longer works" in page.inner_text("main")
