"""Chromium: an admin invites from the Team page; the invitee opens the e-mailed link and joins."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from playground.team.models import Invitation, Role
from playground.team.roles import role_of
from tests.browser_fixtures import sign_in
from tests.factories import staff
from tests.mailserver import body_text, links_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INVITEE = "rosa@example.com"
PASSWORD = "lantern over the harbour 9"


def test_an_admin_invites_and_the_invitee_joins_from_the_emailed_link(
    page: Any, browser: Any, live_server: Any, smtp_server: Any
):
    staff("ann")
    sign_in(page, "ann", create=False)
    page.get_by_role("link", name="Team", exact=True).click()
    page.wait_for_url(re.compile(r"/team/$"))
    page.get_by_label("E-mail address").fill(INVITEE)
    page.get_by_role("radio", name=re.compile(r"^Viewer")).check()
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(re.compile(r"/team/$"))
    assert f"Invited {INVITEE} as a viewer." in page.locator(".messages").inner_text()
    invitation = Invitation.objects.get()
    assert INVITEE in page.locator(f"#invitation-{invitation.pk}").inner_text()

    message = smtp_server.wait_for(INVITEE)
    assert "as a viewer" in body_text(message)
    [link] = [link for link in links_in(message) if "/team/join/" in link]
    assert urlsplit(link).netloc == urlsplit(live_server.url).netloc

    # The invitee: another browser, nobody signed in.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    try:
        invitee = context.new_page()
        invitee.goto(link)
        invitee.wait_for_url(re.compile(r"/team/join/$"))  # the token has left the address bar
        assert "ann invited you to Video Playground as a viewer" in invitee.locator("main").inner_text()
        address = invitee.get_by_label("E-mail address")
        assert address.input_value() == INVITEE and address.is_disabled()
        invitee.get_by_label("Username").fill("rosa")
        invitee.get_by_label("Password", exact=True).fill(PASSWORD)
        invitee.get_by_label("Password (again)").fill(PASSWORD)
        invitee.get_by_role("button", name="Join the team").click()
        invitee.wait_for_url(re.compile(r"/gallery/$"))
        assert "Signed in as rosa" in invitee.locator(".account").inner_text()
        rosa = User.objects.get(username="rosa")
        assert rosa.email == INVITEE and role_of(rosa) == Role.VIEWER

        # The link was for one account: opened again, it says so.
        again = context.new_page()
        invitee.close()
        context.clear_cookies()
        response = again.goto(link)
        assert response is not None and response.status == 410
        assert "already been used" in again.locator("main").inner_text()
    finally:
        context.close()

    # Back on the admin's page: the invitation is no longer waiting, Rosa is listed as a viewer.
    page.reload()
    assert page.locator(f"#invitation-{invitation.pk}").count() == 0
    row = page.locator(f"#person-{rosa.pk}")
    assert row.get_by_label("Role of rosa").input_value() == "viewer"
    row.get_by_label("Role of rosa").select_option("member")
    row.get_by_role("button", name="Change role").click()
    page.wait_for_url(re.compile(r"/team/\?page=1$"))
    assert "rosa is now a member (was viewer)." in page.locator(".messages").inner_text()
    assert role_of(User.objects.get(pk=rosa.pk)) == Role.MEMBER
