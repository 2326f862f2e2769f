"""Second factors in Chromium: an authenticator app set up from the key on the page, and a passkey
made and used with Chromium's virtual authenticator. No page breaks the Content-Security-Policy.

The live server listens on http://localhost, which Chromium counts as a secure context (WebAuthn
needs one) and python-fido2 accepts as an origin, so the tests run with the production setting
(MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN stays off). The passkey's relying party is "localhost".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import User

from playground.team.models import AuditEvent, AuditKind
from tests.browser_fixtures import sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(datetime.now(UTC).timestamp()) // 30))


@pytest.fixture
def console(page: Any) -> list[str]:
    """What the page says in the console and any script error (a CSP violation shows up here)."""
    said: list[str] = []
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: said.append(f"pageerror: {error}"))
    return said


def no_trouble(console: list[str]) -> None:
    trouble = [
        line for line in console if line.startswith(("error", "pageerror")) or "Content Security" in line
    ]
    assert not trouble, trouble


def path_of(page: Any) -> str:
    return urlsplit(page.url).path


def confirm_password_if_asked(page: Any) -> None:
    """allauth asks for the password again before a factor is added."""
    if path_of(page) == "/accounts/reauthenticate/":
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_load_state()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/sign-in/")


def test_an_authenticator_app_set_up_from_the_page_signs_in(page: Any, console: list[str], time_machine: Any):
    time_machine.move_to(datetime.now(UTC), tick=True)
    sign_in(page, "dora")
    page.goto("/accounts/2fa/")
    page.get_by_role("link", name="Set up an authenticator app").click()
    confirm_password_if_asked(page)
    assert path_of(page) == "/accounts/2fa/totp/activate/"
    qr = page.locator("img.totp-qr")
    assert page.evaluate("document.querySelector('img.totp-qr').naturalWidth") > 0  # the data: URL loaded
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    secret = page.locator("#authenticator_secret").inner_text().strip()
    assert len(secret) >= 16

    page.get_by_label("Code from the app").fill(code_for(secret))
    page.get_by_role("button", name="Turn on").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/2fa/recovery-codes/")
    assert page.locator(".recovery-codes li").count() == 10
    page.get_by_role("link", name="Done: go to the site").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/gallery/")
    sign_out(page)

    page.get_by_label("Username or e-mail address").fill("dora")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/2fa/authenticate/")
    assert page.get_by_role("heading", name="One more step").is_visible()
    time_machine.shift(30)  # the code typed at set-up is spent: the app's next one
    page.get_by_label("Code").fill(code_for(secret))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/gallery/")
    assert page.locator(".signed-in-as").inner_text() == "Signed in as dora"
    no_trouble(console)


def test_a_passkey_is_added_and_signs_in_with_chromiums_virtual_authenticator(page: Any, console: list[str]):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    sign_in(page, "eve")
    page.goto("/accounts/2fa/")
    page.get_by_role("link", name="Add a passkey").click()
    confirm_password_if_asked(page)
    assert path_of(page) == "/accounts/2fa/webauthn/add/"
    page.get_by_label("Name").fill("Test laptop")
    page.get_by_label("Also sign in with this passkey alone").check()
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/2fa/recovery-codes/")
    eve = User.objects.get(username="eve")
    passkey = Authenticator.objects.get(user=eve, type=Authenticator.Type.WEBAUTHN)
    assert passkey.wrap().name == "Test laptop"
    assert passkey.wrap().is_passwordless
    assert AuditEvent.objects.filter(
        kind=AuditKind.SECOND_FACTOR, summary="eve added a passkey (Test laptop)"
    )
    sign_out(page)

    # The passkey alone signs in, from the sign-in page.
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/gallery/")
    assert page.locator(".signed-in-as").inner_text() == "Signed in as eve"
    sign_out(page)

    # And it is the second step after the password.
    page.get_by_label("Username or e-mail address").fill("eve")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/2fa/authenticate/")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/gallery/")
    no_trouble(console)


def test_the_rule_leads_to_set_up_and_the_page_says_why(page: Any, console: list[str]):
    from playground.team.models import SecondFactorRule, TeamPolicy

    TeamPolicy.objects.update_or_create(pk=1, defaults={"require_second_factor": SecondFactorRule.EVERYONE})
    from playground.team import mfa

    mfa.remember_rule(SecondFactorRule.EVERYONE)
    User.objects.create_user("finn", "finn@example.com", PASSWORD)
    page.goto("/sign-in/")
    page.get_by_label("Username or e-mail address").fill("finn")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/accounts/2fa/")
    note = page.locator(".requirement")
    assert note.inner_text() == "Your team requires a second factor for everyone: set one up to continue."
    page.goto("/collections/")
    assert path_of(page) == "/accounts/2fa/"
    no_trouble(console)
