"""Two-factor sign-in: authenticator-app codes from the shared secret, recovery codes, the lockout,
the team's rule and the set-up it leads to, an admin's reset, and the audit lines.

Codes are computed here from the secret the set-up page shows, with allauth's own HOTP function
(RFC 6238); the clock is held still and moved 30 seconds when a test needs the app's next code.
"""

from __future__ import annotations

import html
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from playground.team import mfa
from playground.team.codes import replayed
from playground.team.models import AuditEvent, AuditKind, Role, SecondFactorRule, TeamPolicy
from playground.team.roles import set_role
from tests.factories import PASSWORD, member, staff

pytestmark = pytest.mark.django_db

START = datetime(2026, 12, 10, 9, 0, 0, tzinfo=UTC)  # a step boundary (a multiple of 30 s)
SET_UP = "/accounts/2fa/"
SECOND_STEP = "/accounts/2fa/authenticate/"


@pytest.fixture(autouse=True)
def still_clock(time_machine: Any) -> Any:
    """The clock stands still at START; `clock.shift(30)` moves to the app's next code."""
    time_machine.move_to(START, tick=False)
    cache.clear()  # allauth's memory of used codes, from an earlier test in this process
    return time_machine


def committed() -> Any:
    """Run what allauth defers to the commit (its signals) when the request's work is done."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def code_for(secret: str, step_offset: int = 0) -> str:
    step = int(datetime.now(UTC).timestamp()) // 30 + step_offset
    return format_hotp_value(hotp_value(secret, step))


def wrong_for(secret: str) -> str:
    """A six-digit code that is not the app's current one."""
    return str((int(code_for(secret)) + 1) % 1_000_000).zfill(6)


def sign_in(client: Client, login: str, password: str = PASSWORD) -> Any:
    return client.post(reverse("login"), {"login": login, "password": password})


def set_up_app(client: Client, clock: Any) -> str:
    """Through the set-up page, as a person does: read the key, type the app's code. Returns the key."""
    page = client.get("/accounts/2fa/totp/activate/")
    if page.status_code == 302:  # allauth asks for the password again before a factor is added
        assert page["Location"].startswith("/accounts/reauthenticate/")
        confirmed = client.post(page["Location"], {"password": PASSWORD})
        assert confirmed["Location"] == "/accounts/2fa/totp/activate/"
        page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200, page.get("Location")
    text = page.content.decode()
    found = re.search(r'<code class="totp-secret" id="authenticator_secret">([A-Z2-7]+)</code>', text)
    assert found, "the set-up page shows the key for typing in"
    secret = found.group(1)
    assert 'src="data:image/svg+xml;base64,' in text  # the QR code, as a data URL the CSP allows
    with committed():
        done = client.post("/accounts/2fa/totp/activate/", {"code": code_for(secret)})
    assert done.status_code == 302, done.content.decode()
    assert done["Location"] == "/accounts/2fa/recovery-codes/"
    clock.shift(30)  # the set-up code is spent; sign-in needs the next one
    return secret


def person_with_app(client: Client, clock: Any, username: str = "bob", **fields: Any) -> tuple[User, str]:
    person = member(username, **fields)
    assert sign_in(client, username)["Location"] == "/"
    secret = set_up_app(client, clock)
    client.post(reverse("logout"))
    return person, secret


def recovery_codes(person: User) -> list[str]:
    codes = Authenticator.objects.get(user=person, type=Authenticator.Type.RECOVERY_CODES)
    return list(codes.wrap().get_unused_codes())


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def failures(username: str) -> int:
    return sum(a.failures_since_start for a in AccessAttempt.objects.filter(username=username))


def audit_lines(kind: AuditKind) -> list[str]:
    return list(AuditEvent.objects.filter(kind=kind).order_by("at", "pk").values_list("summary", flat=True))


def set_rule(rule: SecondFactorRule) -> None:
    policy = TeamPolicy.current()
    policy.require_second_factor = rule
    policy.save()


# --- Setting up an app and signing in with it ---------------------------------------------------


def test_an_app_set_up_from_the_shown_key_signs_in_with_its_codes(client: Client, still_clock: Any):
    person, secret = person_with_app(client, still_clock)
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()
    assert len(recovery_codes(person)) == 10

    first = sign_in(client, "bob")
    assert first.status_code == 302 and first["Location"] == SECOND_STEP
    assert signed_in_as(client) is None  # the password alone does not sign in
    step = client.get(SECOND_STEP)
    assert "Type the 6-digit code your authenticator app shows" in step.content.decode()

    done = client.post(SECOND_STEP, {"code": code_for(secret)})
    assert done.status_code == 302 and done["Location"] == "/"
    assert signed_in_as(client) == "bob"
    assert audit_lines(AuditKind.SECOND_FACTOR) == [
        "bob added an authenticator app",
        "bob got recovery codes",
    ]


def test_signing_in_by_email_address_asks_for_the_code_too(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    assert sign_in(client, "bob@example.com")["Location"] == SECOND_STEP
    assert client.post(SECOND_STEP, {"code": code_for(secret)})["Location"] == "/"


def test_a_code_typed_as_it_turned_over_still_signs_in(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    late = code_for(secret)
    still_clock.shift(30)  # the app has moved on while the person typed
    sign_in(client, "bob")
    assert client.post(SECOND_STEP, {"code": late})["Location"] == "/"


def test_a_wrong_code_is_refused_and_counted(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    sign_in(client, "bob")
    refused = client.post(SECOND_STEP, {"code": wrong_for(secret)})
    assert refused.status_code == 200
    assert "Incorrect code" in refused.content.decode()
    assert signed_in_as(client) is None
    assert failures("bob") == 1


def test_the_code_typed_at_set_up_does_not_sign_in(client: Client, still_clock: Any):
    person = member("bob")
    sign_in(client, "bob")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/").content.decode()
    secret = re.search(r'id="authenticator_secret">([A-Z2-7]+)<', page).group(1)
    code = code_for(secret)
    with committed():
        assert client.post("/accounts/2fa/totp/activate/", {"code": code}).status_code == 302
    client.post(reverse("logout"))
    sign_in(client, "bob")
    refused = client.post(SECOND_STEP, {"code": code})
    assert replayed() in html.unescape(refused.content.decode())
    assert signed_in_as(client) is None
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()


def test_a_replayed_code_is_refused_even_by_another_web_process(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    code = code_for(secret)
    sign_in(client, "bob")
    assert client.post(SECOND_STEP, {"code": code})["Location"] == "/"
    client.post(reverse("logout"))

    # Another web process has its own memory: allauth's record of used codes is not there.
    cache.clear()
    sign_in(client, "bob")
    refused = client.post(SECOND_STEP, {"code": code})
    assert refused.status_code == 200
    assert replayed() in html.unescape(refused.content.decode())
    assert signed_in_as(client) is None
    assert failures("bob") == 1
    # An older code (the step before) is no better than the used one.
    assert client.post(SECOND_STEP, {"code": code_for(secret, -1)}).status_code == 200
    still_clock.shift(30)
    assert client.post(SECOND_STEP, {"code": code_for(secret)})["Location"] == "/"


def test_wrong_codes_share_the_lockout_with_wrong_passwords(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    limit = settings.AXES_FAILURE_LIMIT
    assert sign_in(client, "bob", "wrong guess").status_code == 200
    assert sign_in(client, "bob", "wrong guess").status_code == 200
    assert sign_in(client, "bob")["Location"] == SECOND_STEP
    for _ in range(limit - 3):
        assert client.post(SECOND_STEP, {"code": wrong_for(secret)}).status_code == 200
    assert failures("bob") == limit - 1
    locked = client.post(SECOND_STEP, {"code": wrong_for(secret)})
    assert locked.status_code == 429
    assert "Too many wrong passwords or codes" in locked.content.decode()

    # Now even the right code is refused, and so is the right password.
    right = client.post(SECOND_STEP, {"code": code_for(secret)})
    assert right.status_code == 429
    assert "Too many wrong passwords or codes" in right.content.decode()
    assert signed_in_as(client) is None
    # A fresh sign-in from this address (a new browser session) meets the lockout at the password.
    again = sign_in(Client(), "bob")
    assert again.status_code == 429, again.get("Location")
    assert signed_in_as(client) is None


def test_a_recovery_code_signs_in_once(client: Client, still_clock: Any):
    person, _ = person_with_app(client, still_clock)
    code = recovery_codes(person)[0]
    sign_in(client, "bob")
    assert client.post(SECOND_STEP, {"code": code})["Location"] == "/"
    assert code not in recovery_codes(person) and len(recovery_codes(person)) == 9
    client.post(reverse("logout"))

    sign_in(client, "bob")
    refused = client.post(SECOND_STEP, {"code": code})
    assert refused.status_code == 200 and "Incorrect code" in refused.content.decode()
    assert signed_in_as(client) is None
    assert failures("bob") == 1


def test_confirming_with_a_code_before_a_change_is_counted_too(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    sign_in(client, "bob")
    client.post(SECOND_STEP, {"code": code_for(secret)})
    refused = client.post("/accounts/2fa/reauthenticate/", {"code": "123456"})
    assert refused.status_code == 200
    assert failures("bob") == 1


# --- Secrets stay on their own pages and out of the logs ------------------------------------------


def test_the_key_and_recovery_codes_are_in_no_log_line_and_no_other_page(
    client: Client, still_clock: Any, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="playground")
    caplog.set_level(logging.DEBUG, logger="axes")
    person, secret = person_with_app(client, still_clock)
    codes = recovery_codes(person)
    sign_in(client, "bob")
    client.post(SECOND_STEP, {"code": wrong_for(secret)})
    client.post(SECOND_STEP, {"code": codes[0]})
    client.post(reverse("logout"))
    sign_in(client, "bob")
    client.post(SECOND_STEP, {"code": codes[0]})  # a used one
    client.post(SECOND_STEP, {"code": code_for(secret)})
    secrets = [secret, *codes]

    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "the flow logs something (so this test would see a leak)"
    assert not [s for s in secrets if s in logged]
    kept = "\n".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert not [s for s in secrets if s in kept]

    for url in ["/", "/gallery/", SET_UP, "/accounts/2fa/webauthn/add/", "/usage/"]:
        page = client.get(url, follow=True).content.decode()
        assert not [s for s in secrets if s in page], url
    client.post(reverse("logout"))
    sign_in(client, "bob")
    page = client.get(SECOND_STEP).content.decode()
    assert not [s for s in secrets if s in page]


# --- The team's rule --------------------------------------------------------------------------------


def pages_that_lead_to_set_up() -> list[str]:
    """Every page of the app (sample ids) but allauth's own, sign-in, sign-out and /healthz."""
    samples = {"pk": "1", "name": "videos/2026/01/x.mp4", "staged_id": "a" * 32}
    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                if not route.startswith("accounts/"):
                    walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                route = route.replace("<str:name>", "x.png")
                for key, value in samples.items():
                    for converter in ("id", "int", "path", "str"):
                        route = route.replace(f"<{converter}:{key}>", value)
                route = route.replace("^", "").replace("$", "")
                if "<" in route or "(" in route or "\\" in route:
                    continue
                name = resolve("/" + route).view_name
                if name not in mfa.OPEN_NAMES and not name.startswith(mfa.OPEN_PREFIXES):
                    found.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return found


def test_the_rule_everyone_leads_a_person_without_a_factor_to_set_up_from_every_page(
    client: Client, still_clock: Any
):
    member("bob")
    set_rule(SecondFactorRule.EVERYONE)
    assert sign_in(client, "bob")["Location"] == "/"
    pages = pages_that_lead_to_set_up()
    assert {"/", "/gallery/", "/generate/", "/usage/", "/team/security/", "/admin/"} <= set(pages)
    for url in pages:
        for answer in (client.get(url), client.post(url, {})):
            assert answer.status_code in (302, 403), (url, answer.status_code)
            if answer.status_code == 302:
                assert answer["Location"] == SET_UP, url
    htmx = client.get("/gallery/cards/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"] == SET_UP

    page = client.get(SET_UP)
    assert page.status_code == 200
    assert "Your team requires a second factor for everyone: set one up to continue." in page.content.decode()
    assert client.get("/healthz").status_code in (200, 503)  # answers (503: no worker runs here)
    assert client.get(settings.STATIC_URL + "css/app.css").status_code == 200
    assert client.get("/accounts/password/change/").status_code == 200

    set_up_app(client, still_clock)
    assert client.get("/")["Location"] == "/gallery/"  # the home page's own way, no longer the set-up
    assert client.get("/gallery/").status_code == 200
    assert client.get("/usage/").status_code == 200
    assert "requires a second factor" not in client.get(SET_UP).content.decode()


def test_the_rule_everyone_asks_again_after_signing_out(client: Client, still_clock: Any):
    member("bob")
    set_rule(SecondFactorRule.EVERYONE)
    sign_in(client, "bob")
    assert client.post(reverse("logout")).status_code == 302
    assert signed_in_as(client) is None
    sign_in(client, "bob")
    assert client.get("/gallery/")["Location"] == SET_UP


def test_the_rule_admins_leads_admins_only_and_costs_members_nothing(client: Client, still_clock: Any):
    member("bob")
    staff("ann")
    set_rule(SecondFactorRule.ADMINS)
    sign_in(client, "bob")
    assert client.get("/gallery/").status_code == 200
    with CaptureQueriesContext(connection) as with_rule:
        client.get("/usage/")
    set_rule(SecondFactorRule.NOBODY)
    with CaptureQueriesContext(connection) as without_rule:
        client.get("/usage/")
    assert len(with_rule) == len(without_rule)
    assert not [q for q in with_rule.captured_queries if "mfa_authenticator" in q["sql"]]

    set_rule(SecondFactorRule.ADMINS)
    client.post(reverse("logout"))
    sign_in(client, "ann")
    assert client.get("/gallery/")["Location"] == SET_UP
    page = client.get(SET_UP).content.decode()
    assert "Your team requires a second factor for admins: set one up to continue." in page


def test_a_person_the_rule_concerns_pays_one_small_query_a_page(client: Client):
    bob = member("bob")
    Authenticator.objects.create(user=bob, type=Authenticator.Type.TOTP, data={"secret": "not used here"})
    client.force_login(bob)
    with CaptureQueriesContext(connection) as nobody:
        assert client.get("/usage/").status_code == 200
    set_rule(SecondFactorRule.EVERYONE)
    with CaptureQueriesContext(connection) as everyone:
        assert client.get("/usage/").status_code == 200
    added = [q["sql"] for q in everyone.captured_queries[len(nobody) :]]
    assert len(everyone) - len(nobody) == 1, added
    assert "mfa_authenticator" in " ".join(q["sql"] for q in everyone.captured_queries)


def test_the_rule_is_read_once_per_process_for_a_few_seconds(monkeypatch: pytest.MonkeyPatch):
    TeamPolicy.objects.update_or_create(pk=1, defaults={"require_second_factor": SecondFactorRule.NOBODY})
    mfa.remember_rule(None)
    with CaptureQueriesContext(connection) as first:
        assert mfa.current_rule() == SecondFactorRule.NOBODY
    with CaptureQueriesContext(connection) as then:
        assert mfa.current_rule() == SecondFactorRule.NOBODY
    assert (len(first), len(then)) == (1, 0)
    # Another process changed it (no signal reaches this one): seen once this process's copy is old.
    TeamPolicy.objects.filter(pk=1).update(require_second_factor=SecondFactorRule.EVERYONE)
    assert mfa.current_rule() == SecondFactorRule.NOBODY
    later = time.monotonic() + mfa.POLICY_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert mfa.current_rule() == SecondFactorRule.EVERYONE


# --- The admins' page and the reset -------------------------------------------------------------------


def test_an_admin_changes_the_rule_on_the_security_page_and_it_is_recorded(client: Client):
    ann = staff("ann")
    client.force_login(ann)
    page = client.get("/team/security/")
    assert page.status_code == 200
    assert "Who must sign in with a second factor" in page.content.decode()
    answer = client.post("/team/security/", {"require_second_factor": "admins"})
    assert answer.status_code == 302 and answer["Location"] == "/team/security/"
    assert TeamPolicy.current().require_second_factor == SecondFactorRule.ADMINS
    assert audit_lines(AuditKind.POLICY) == ["ann set who must use a second factor: admins (was nobody)"]
    event = AuditEvent.objects.get(kind=AuditKind.POLICY)
    assert event.actor == ann
    # ann has no factor herself, and the rule now includes her.
    assert client.get("/team/security/")["Location"] == SET_UP
    assert client.post("/team/security/", {"require_second_factor": "sometimes"})["Location"] == SET_UP


def test_a_rule_that_is_no_choice_is_refused_plainly(client: Client):
    client.force_login(staff("ann"))
    answer = client.post("/team/security/", {"require_second_factor": "sometimes"})
    assert answer.status_code == 200
    assert "Select a valid choice" in answer.content.decode()
    assert TeamPolicy.current().require_second_factor == SecondFactorRule.NOBODY


def test_an_admin_resets_a_persons_factors_and_it_is_recorded(client: Client, still_clock: Any):
    bob, _ = person_with_app(client, still_clock)
    ann = staff("ann")
    client.force_login(ann)
    url = reverse("team_reset_factors", args=[bob.pk])
    assert url == f"/team/people/{bob.pk}/reset-factors/"
    assert client.get(url).status_code == 405
    assert Authenticator.objects.filter(user=bob).count() == 2

    answer = client.post(url)
    assert answer.status_code == 302 and answer["Location"] == "/team/"
    assert not Authenticator.objects.filter(user=bob).exists()
    event = AuditEvent.objects.filter(kind=AuditKind.SECOND_FACTOR, actor=ann).get()
    assert event.summary == "ann reset bob's second factors"
    assert event.subject == bob

    # bob now signs in with his password alone.
    client.post(reverse("logout"))
    assert sign_in(client, "bob")["Location"] == "/"


def test_a_reset_of_a_passkey_removes_it_too(client: Client):
    bob = member("bob")
    Authenticator.objects.create(user=bob, type=Authenticator.Type.WEBAUTHN, data={"name": "Laptop"})
    client.force_login(staff("ann"))
    client.post(reverse("team_reset_factors", args=[bob.pk]))
    assert not Authenticator.objects.filter(user=bob).exists()
    assert client.post("/team/people/999999/reset-factors/").status_code == 404


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_may_not_open_the_security_page_nor_reset(client: Client, still_clock: Any, role):
    bob, _ = person_with_app(client, still_clock)
    carol = member("carol")
    set_role(carol, role)
    client.force_login(carol)
    assert client.get("/team/security/").status_code == 403
    assert client.post("/team/security/", {"require_second_factor": "everyone"}).status_code == 403
    assert client.post(reverse("team_reset_factors", args=[bob.pk])).status_code == 403
    assert TeamPolicy.current().require_second_factor == SecondFactorRule.NOBODY
    assert Authenticator.objects.filter(user=bob).count() == 2
    assert not AuditEvent.objects.filter(kind__in=[AuditKind.POLICY]).exists()
    assert not AuditEvent.objects.filter(summary__contains="reset").exists()


# --- A person's own changes are recorded ------------------------------------------------------------


def test_removing_the_app_and_new_recovery_codes_are_recorded(client: Client, still_clock: Any):
    _, secret = person_with_app(client, still_clock)
    sign_in(client, "bob")
    client.post(SECOND_STEP, {"code": code_for(secret)})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # allauth asks before changes
    with committed():
        made = client.post("/accounts/2fa/recovery-codes/generate/", {})
    assert made["Location"] == "/accounts/2fa/recovery-codes/"
    assert client.post("/accounts/2fa/totp/deactivate/", {})["Location"] == SET_UP
    assert audit_lines(AuditKind.SECOND_FACTOR) == [
        "bob added an authenticator app",
        "bob got recovery codes",
        "bob made new recovery codes (the old ones no longer work)",
        "bob removed their authenticator app",
        "bob no longer has recovery codes (they go with the last factor)",
    ]
    assert set(AuditEvent.objects.values_list("actor__username", flat=True)) == {"bob"}
