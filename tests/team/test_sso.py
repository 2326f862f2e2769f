"""Single sign-on through a real OpenID Connect provider (node's oidc-provider, tests/oidc/).

Each test signs in over HTTP the way a browser does: the app's button, the provider's own sign-in
form, and back to the app's callback, which trades the code for tokens at the provider.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt
import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from playground.settings import content_security_policy, oidc_server_url
from playground.team import sso as sso_rules
from playground.team.invitations import invite, pending_for_email, revoke
from playground.team.models import AuditEvent, AuditKind, Role
from playground.team.roles import role_of
from tests.factories import PASSWORD, member, staff
from tests.oidc.fixtures import BUTTON_NAME, CALLBACK_PATH, KID, SignIn, new_key, s256
from tests.servers import ROOT, free_port

REFUSED_HEADING = "Not signed in"
FAILED = sso_rules.FAILED.format(provider=BUTTON_NAME)


def audit(kind: AuditKind) -> list[str]:
    return list(AuditEvent.objects.filter(kind=kind).order_by("pk").values_list("summary", flat=True))


def refused(response: httpx.Response, sentence: str) -> None:
    assert response.status_code == 403, response.text[:800]
    assert REFUSED_HEADING in response.text
    assert sentence.replace("'", "&#x27;") in response.text


# --- Who may enter -------------------------------------------------------------------------------


def test_an_invited_address_joins_with_the_invitations_role_through_the_code_flow_with_pkce(
    sso, browser_client: SignIn
):
    invitation, _ = invite("Ann@Invited.example", Role.VIEWER, by=None)
    mark = sso.mark()

    browser_client.sign_in("ann")

    assert browser_client.signed_in_as() == "ann"
    ann = User.objects.get(username="ann")
    assert role_of(ann) == Role.VIEWER
    invitation.refresh_from_db()
    assert invitation.accepted_by == ann and invitation.accepted_at is not None
    assert pending_for_email("ann@invited.example") is None  # used up
    assert not ann.has_usable_password()
    assert EmailAddress.objects.get(user=ann).verified
    # The authorization request carried an S256 challenge, and the token request its verifier.
    authorization = sso.wait_for_event(mark, "authorization")
    token = sso.wait_for_event(mark, "token")
    assert authorization["code_challenge_method"] == "S256"
    assert authorization["redirect_uri"].endswith(CALLBACK_PATH)
    assert token["grant_type"] == "authorization_code"
    assert token["code_verifier"] and s256(token["code_verifier"]) == authorization["code_challenge"]
    assert token["client_auth"] == "Basic"  # client_secret_basic, as the client is registered
    assert audit(AuditKind.INVITATION) == [
        f"ann joined as a viewer through {BUTTON_NAME} (accepted an admin's invitation to Ann@Invited.example)"
    ]
    assert audit(AuditKind.SIGN_IN) == [f"ann signed in with {BUTTON_NAME}"]

    # Next time the same identity signs in to the same account; nothing new is made.
    again = SignIn(browser_client.base_url)
    try:
        again.sign_in("ann")
        assert again.signed_in_as() == "ann"
    finally:
        again.close()
    assert User.objects.count() == 1
    assert role_of(User.objects.get()) == Role.VIEWER
    assert len(audit(AuditKind.SIGN_IN)) == 2


def test_an_allowed_domain_joins_as_member_with_a_username_made_unique(sso, browser_client):
    member("bob", email="robert@example.org")  # the name the address suggests is taken

    browser_client.sign_in("bob")

    newcomer = User.objects.get(email="bob@allowed.example")
    assert newcomer.username != "bob" and newcomer.username.startswith("bob")
    assert browser_client.signed_in_as() == newcomer.username
    assert role_of(newcomer) == Role.MEMBER
    assert audit(AuditKind.ACCOUNT) == [
        f"Joined through {BUTTON_NAME} as member: allowed.example is an allowed domain"
    ]


@pytest.mark.parametrize(
    ("login", "allowed", "address"),
    [
        ("carl", ["allowed.example"], "carl@elsewhere.example"),  # a refused domain
        ("bob", [], "bob@allowed.example"),  # invited addresses only: an uninvited address
        ("bob2", ["allowed.example"], "bob@other.allowed.example"),  # a subdomain is another domain
    ],
)
def test_an_address_neither_invited_nor_in_an_allowed_domain_is_refused(
    sso, browser_client, settings, login, allowed, address
):
    settings.SSO_ALLOWED_DOMAINS = allowed

    answer = browser_client.sign_in(login)

    refused(answer, f"{address} is not invited to this team. Ask an admin for an invitation.")
    assert browser_client.signed_in_as() is None
    assert not User.objects.exists() and not SocialAccount.objects.exists()
    assert audit(AuditKind.SIGN_IN_FAILED) == [
        f"SSO sign-in with {BUTTON_NAME} refused: {address} has no invitation and its domain is not allowed"
    ]


def test_a_revoked_invitation_does_not_let_its_address_in(sso, browser_client):
    invitation, _ = invite("ann@invited.example", Role.MEMBER, by=None)
    revoke(invitation)

    answer = browser_client.sign_in("ann")

    refused(answer, "ann@invited.example is not invited to this team.")
    assert not User.objects.exists()


def test_an_unverified_address_is_refused_even_in_an_allowed_domain(sso, browser_client):
    answer = browser_client.sign_in("una")

    refused(answer, f"{BUTTON_NAME} does not confirm that una@allowed.example is verified")
    assert browser_client.signed_in_as() is None
    assert not User.objects.exists()
    assert "una@allowed.example is verified" in audit(AuditKind.SIGN_IN_FAILED)[0]


def test_an_unverified_address_never_signs_in_to_the_existing_account_that_has_it(sso, browser_client):
    olga = member("olga", email="olga@example.com")

    answer = browser_client.sign_in("olga-unverified")

    refused(answer, "does not confirm that olga@example.com is verified")
    assert browser_client.signed_in_as() is None
    assert not SocialAccount.objects.exists()
    olga.refresh_from_db()
    assert olga.check_password(PASSWORD)  # untouched


def test_an_existing_account_is_connected_by_its_verified_address_and_signed_in(sso, browser_client):
    olga = member("olga", email="olga@example.com")
    EmailAddress.objects.create(user=olga, email="olga@example.com", verified=False, primary=True)

    browser_client.sign_in("olga")

    assert browser_client.signed_in_as() == "olga"
    assert SocialAccount.objects.get(provider="sso").user == olga
    assert User.objects.count() == 1
    assert role_of(olga) == Role.MEMBER
    assert EmailAddress.objects.get(user=olga).verified  # the provider has now proven it
    olga.refresh_from_db()
    # Nothing had proven the address was the password-setter's: allauth removes that password.
    assert not olga.has_usable_password()
    assert audit(AuditKind.ACCOUNT) == [
        f"Connected to {BUTTON_NAME} by the verified address olga@example.com"
    ]
    assert audit(AuditKind.SIGN_IN) == [f"olga signed in with {BUTTON_NAME}"]


def test_a_deactivated_person_is_refused(sso, browser_client):
    staff("sam", email="sam@example.com", is_active=False)

    answer = browser_client.sign_in("sam")

    refused(answer, "The account for sam@example.com is deactivated. Ask an admin to reactivate it.")
    assert browser_client.signed_in_as() is None
    assert not SocialAccount.objects.exists()


def test_an_address_someone_only_asked_to_change_to_is_not_connected_to_their_account(sso, browser_client):
    # Mallory asked to change her address to Sam's (not confirmed): Sam's SSO must not open her account.
    mallory = member("mallory", email="mallory@example.com")
    EmailAddress.objects.create(user=mallory, email="mallory@example.com", verified=True, primary=True)
    EmailAddress.objects.create(user=mallory, email="sam@example.com", verified=False, primary=False)

    answer = browser_client.sign_in("sam")

    refused(answer, "The account here that names sam@example.com cannot be joined to this sign-in")
    assert browser_client.signed_in_as() is None
    assert not SocialAccount.objects.exists()


def test_an_account_already_connected_to_one_identity_is_not_joined_to_another(sso, browser_client):
    olga = member("olga", email="olga@example.com")
    SocialAccount.objects.create(user=olga, provider="sso", uid="someone-else")

    answer = browser_client.sign_in("olga")

    refused(answer, "cannot be joined to this sign-in automatically")
    assert SocialAccount.objects.count() == 1


def test_a_replayed_callback_signs_nobody_in(sso, browser_client, live_server):
    invite("ann@invited.example", Role.MEMBER, by=None)
    browser_client.sign_in("ann")
    callback = next(str(r.url) for r in browser_client.pages if CALLBACK_PATH in str(r.url))

    stranger = SignIn(live_server.url)
    try:
        answer = stranger.client.get(callback)
        refused(answer, FAILED)
        assert stranger.signed_in_as() is None
    finally:
        stranger.close()
    assert "matches no sign-in started in this browser" in audit(AuditKind.SIGN_IN_FAILED)[0]


def test_a_sign_in_cancelled_at_the_provider_says_so(sso, browser_client):
    invite("ann@invited.example", Role.MEMBER, by=None)
    at_provider = browser_client.start()

    answer = browser_client.client.get(str(at_provider.url).rstrip("/") + "/abort")

    refused(answer, sso_rules.CANCELLED.format(provider=BUTTON_NAME))
    assert browser_client.signed_in_as() is None
    assert "the provider answered access_denied" in audit(AuditKind.SIGN_IN_FAILED)[0]


# --- ID tokens that fail their checks --------------------------------------------------------------


def _forgeries(sso) -> dict[str, Any]:
    other_key = new_key()
    return {
        "wrong audience": lambda claims: sso.sign({**claims, "aud": "some-other-app"}),
        "expired": lambda claims: sso.sign({**claims, "iat": time.time() - 7200, "exp": time.time() - 3600}),
        "signed with another key": lambda claims: sso.sign(claims, key=other_key),
        "unsigned": lambda claims: jwt.encode(claims, "", algorithm="none", headers={"kid": KID}),
        "shared-secret signature": lambda claims: sso.sign(claims, key="x" * 32, algorithm="HS256"),
        "another issuer": lambda claims: sso.sign({**claims, "iss": "http://127.0.0.1:1"}),
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "wrong audience",
        "expired",
        "signed with another key",
        "unsigned",
        "shared-secret signature",
        "another issuer",
    ],
)
def test_an_id_token_that_fails_its_checks_is_refused_with_a_plain_page(
    sso, token_proxy, browser_client, forgery
):
    invitation, _ = invite("ann@invited.example", Role.MEMBER, by=None)
    token_proxy.forge = _forgeries(sso)[forgery]

    answer = browser_client.sign_in("ann")

    assert token_proxy.forged == 1
    refused(answer, FAILED)
    assert browser_client.signed_in_as() is None
    assert not User.objects.exists()
    assert pending_for_email("ann@invited.example") == invitation  # not used up
    assert "Invalid id_token" in audit(AuditKind.SIGN_IN_FAILED)[0]


def test_the_token_proxy_passes_a_well_signed_token_so_the_refusals_above_are_the_checks(
    sso, token_proxy, browser_client
):
    invite("ann@invited.example", Role.MEMBER, by=None)
    token_proxy.forge = lambda claims: sso.sign(claims)

    browser_client.sign_in("ann")

    assert token_proxy.forged == 1
    assert browser_client.signed_in_as() == "ann"


# --- Secrets and failures --------------------------------------------------------------------------


def test_the_client_secret_never_reaches_a_page_a_log_line_or_the_audit_record(
    sso, token_proxy, browser_client, caplog
):
    caplog.set_level(logging.DEBUG)
    invite("ann@invited.example", Role.MEMBER, by=None)
    token_proxy.forge = lambda claims: sso.sign({**claims, "aud": "some-other-app"})
    refused(browser_client.sign_in("ann"), FAILED)
    token_proxy.forge = None
    browser_client.sign_in("ann")
    assert browser_client.signed_in_as() == "ann"

    assert len(caplog.records) > 0
    assert sso.client_secret not in caplog.text
    assert all(sso.client_secret not in text for text in browser_client.page_texts())
    assert all(sso.client_secret not in line for line in AuditEvent.objects.values_list("summary", flat=True))


def test_a_provider_that_cannot_be_reached_gets_a_plain_page(sso, browser_client, settings):
    closed = free_port()
    settings.SOCIALACCOUNT_PROVIDERS = sso.provider_settings(server_url=f"http://127.0.0.1:{closed}")

    answer = browser_client.start()

    assert answer.status_code == 502
    assert sso_rules.UNREACHABLE.format(provider=BUTTON_NAME) in answer.text
    assert "SSO sign-in with" in audit(AuditKind.SIGN_IN_FAILED)[0]


# --- SSO only ------------------------------------------------------------------------------------


def _password_post(client: SignIn, path: str, login: str, field: str = "login") -> httpx.Response:
    token = client.csrf_token("/sign-in/")
    return client.client.post(
        client.base_url + path,
        data={"csrfmiddlewaretoken": token, field: login, "password": PASSWORD},
        headers={"Referer": client.base_url + path},
    )


def test_sso_only_offers_sso_alone_and_no_password_signs_anyone_in(sso, browser_client, settings):
    staff("sam", email="sam@example.com")
    # A password post signs the admin in while passwords are in use: the posts below are well made.
    _password_post(browser_client, "/sign-in/", "sam")
    assert browser_client.signed_in_as() == "sam"
    browser_client.client.cookies.clear()

    settings.SSO_ONLY = True
    page = browser_client.client.get(browser_client.base_url + "/sign-in/")
    assert 'name="password"' not in page.text and "passkey" not in page.text.lower()
    assert f"Sign in with {BUTTON_NAME}" in page.text
    assert "passwords are not used here" in page.text

    for path in ("/sign-in/", "/accounts/login/"):
        answer = _password_post(browser_client, path, "sam")
        assert answer.status_code == 403
        assert sso_rules.PASSWORDS_OFF.format(provider=BUTTON_NAME) in answer.text
        assert browser_client.signed_in_as() is None
    _password_post(browser_client, "/admin/login/", "sam", field="username")
    assert browser_client.signed_in_as() is None
    assert browser_client.client.get(browser_client.base_url + "/admin/").url.path == "/sign-in/"
    assert len(audit(AuditKind.SIGN_IN_FAILED)) == 3

    # SSO itself still signs people in.
    browser_client.sign_in("sam")
    assert browser_client.signed_in_as() == "sam"


@pytest.mark.django_db
def test_with_sso_only_no_backend_accepts_a_password(settings, rf):
    staff("sam")
    assert authenticate(rf.post("/sign-in/"), username="sam", password=PASSWORD) is not None
    settings.SSO_ONLY = True
    assert authenticate(rf.post("/sign-in/"), username="sam", password=PASSWORD) is None


@pytest.mark.django_db
def test_the_passwords_off_backend_never_holds_a_session(client):
    # Django's test client keeps a forced sign-in under the first backend that can fetch a user.
    client.force_login(member("alice"))
    assert client.get("/gallery/").status_code == 200


def test_with_sso_only_the_password_pages_say_passwords_are_not_used(sso, browser_client, settings):
    settings.SSO_ONLY = True
    member("olga", email="olga@example.com")
    sentence = sso_rules.PASSWORDS_OFF.format(provider=BUTTON_NAME)

    for path in ("/accounts/password/reset/", "/accounts/password/reset/key/1-set-password/"):
        page = browser_client.client.get(browser_client.base_url + path)
        assert page.status_code == 200 and sentence in page.text
    token = browser_client.csrf_token()
    answer = browser_client.client.post(
        browser_client.base_url + "/accounts/password/reset/",
        data={"csrfmiddlewaretoken": token, "email": "olga@example.com"},
    )
    assert answer.status_code == 403 and sentence in answer.text
    assert mail.outbox == []

    browser_client.sign_in("olga")
    page = browser_client.client.get(browser_client.base_url + "/accounts/password/change/")
    assert sentence in page.text


# --- Settings --------------------------------------------------------------------------------------


def _start_settings(**env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "SSO_"))}
    return subprocess.run(
        [sys.executable, "-c", "import playground.settings as s; print(s.CONTENT_SECURITY_POLICY)"],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
    )


def test_sso_only_without_a_provider_is_refused_at_start_up():
    started = _start_settings(SSO_ONLY="true")
    assert started.returncode != 0
    assert "SSO_ONLY is true but no OIDC_SERVER_URL is set" in started.stderr


def test_a_malformed_provider_url_is_refused_at_start_up_and_a_good_one_opens_form_action():
    started = _start_settings(OIDC_SERVER_URL="login.example.com/realms/team", OIDC_CLIENT_ID="app")
    assert started.returncode != 0
    assert "OIDC_SERVER_URL must be the provider's issuer URL" in started.stderr

    started = _start_settings(
        OIDC_SERVER_URL="https://login.example.com/realms/team/", OIDC_CLIENT_ID="app", SSO_ONLY="true"
    )
    assert started.returncode == 0, started.stderr
    assert "form-action 'self' https://login.example.com;" in started.stdout


@pytest.mark.parametrize(
    "url",
    [
        "login.example.com",
        "ftp://login.example.com",
        "https://",
        "https://login.example.com?tenant=1",
        "https://user:pw@login.example.com",
        "https://[::1",
        "https://login.example.com:99999",
        "http://login.example.com",  # plain http away from this machine
    ],
)
def test_a_malformed_provider_url_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="OIDC_SERVER_URL"):
        oidc_server_url(url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://accounts.google.com", "https://accounts.google.com"),
        ("https://login.microsoftonline.com/TENANT/v2.0/", "https://login.microsoftonline.com/TENANT/v2.0"),
        ("http://127.0.0.1:9000/application/o/videos", "http://127.0.0.1:9000/application/o/videos"),
    ],
)
def test_a_provider_url_is_kept_without_its_last_slash(url, kept):
    assert oidc_server_url(url) == kept


def test_the_sso_origin_is_the_only_addition_to_the_policy():
    assert content_security_policy("", "").count("form-action 'self';") == 1
    assert "form-action 'self' https://idp.example.com;" in content_security_policy(
        "", "https://idp.example.com"
    )
