"""Second factors: who must have one, leading them to set one up, an admin's reset, and the record.

The factors themselves (authenticator-app codes with recovery codes, and passkeys) are
django-allauth's `mfa` pages at /accounts/2fa/. What the team adds is here:

- the admins' rule (TeamPolicy.require_second_factor: nobody, admins or everyone), read from a
  copy each web process keeps for POLICY_SECONDS, so a request by someone the rule does not
  concern costs nothing; a change made in this process applies at once, in the others within
  that many seconds;
- SecondFactorMiddleware: a signed-in person the rule concerns who has no authenticator app and
  no passkey is sent to the set-up page from every page but the set-up itself, sign-in and
  sign-out (one small query per request, only for the people the rule concerns);
- reset_factors: an admin removes a person's factors (a lost phone), recorded;
- audit lines for every factor a person adds, removes or renews (allauth's signals).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from playground.team.audit import record
from playground.team.codes import spend_current_step
from playground.team.models import AuditKind, SecondFactorRule, TeamPolicy

# The kinds that count as a second factor (recovery codes only back one up).
FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)

# How long each web process trusts its copy of the rule before reading it again.
POLICY_SECONDS = 10.0

# Pages a person who must still set up a factor may open: allauth's own (the set-up, sign-in,
# password and e-mail pages) and sign-in and sign-out. /healthz and static files answer before
# any view is chosen.
OPEN_NAMES = frozenset({"login", "logout", "healthz"})
OPEN_PREFIXES = ("account_", "mfa_")

REQUIREMENT_SENTENCES = {
    SecondFactorRule.EVERYONE: "Your team requires a second factor for everyone: set one up to continue.",
    SecondFactorRule.ADMINS: "Your team requires a second factor for admins: set one up to continue.",
}

_rule_copy: tuple[float, SecondFactorRule] | None = None


def current_rule() -> SecondFactorRule:
    """The team's rule, from this process's copy when it is fresh (one tiny query when it is not)."""
    global _rule_copy
    now = time.monotonic()
    copy = _rule_copy
    if copy is not None and now - copy[0] < POLICY_SECONDS:
        return copy[1]
    found = TeamPolicy.objects.filter(pk=1).values_list("require_second_factor", flat=True).first()
    rule = SecondFactorRule(found or SecondFactorRule.NOBODY)
    _rule_copy = (now, rule)
    return rule


def remember_rule(rule: SecondFactorRule | str | None) -> None:
    """Set this process's copy (None: read it again at the next request)."""
    global _rule_copy
    _rule_copy = None if rule is None else (time.monotonic(), SecondFactorRule(rule))


@receiver(post_save, sender=TeamPolicy, dispatch_uid="team-second-factor-rule-changed")
def _rule_changed(sender: type[TeamPolicy], instance: TeamPolicy, **kwargs: Any) -> None:
    remember_rule(instance.require_second_factor)


def concerns(user: User | AnonymousUser, rule: SecondFactorRule) -> bool:
    """Whether the rule asks this person for a second factor (admin is Django's staff flag)."""
    if not user.is_authenticated:
        return False
    if rule == SecondFactorRule.EVERYONE:
        return True
    return rule == SecondFactorRule.ADMINS and bool(user.is_staff)


def has_factor(user: User) -> bool:
    return bool(Authenticator.objects.filter(user_id=user.pk, type__in=FACTOR_TYPES).exists())


def missing_factor(request: HttpRequest) -> str:
    """Why this person must set up a second factor now, or "" (read once per request)."""
    cached = getattr(request, "team_missing_factor", None)
    if cached is not None:
        return str(cached)
    user = request.user
    rule = current_rule()
    reason = ""
    if isinstance(user, User) and concerns(user, rule) and not has_factor(user):
        reason = REQUIREMENT_SENTENCES[rule]
    setattr(request, "team_missing_factor", reason)  # noqa: B010 (a per-request cache the set-up pages read)
    return reason


class SecondFactorMiddleware:
    """Leads a person the team's rule concerns to set up a second factor before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if match is None or not request.user.is_authenticated:
            return None
        open_page = match.view_name in OPEN_NAMES or match.view_name.startswith(OPEN_PREFIXES)
        if open_page and not match.view_name.startswith("mfa_"):
            return None  # the set-up pages read the reason to show it; the others need not ask
        if not missing_factor(request) or open_page:
            return None
        set_up = reverse("mfa_index")
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(set_up)
        return HttpResponseRedirect(set_up)


def reset_factors(person: User, *, request: HttpRequest) -> int:
    """Remove every second factor of a person (app, recovery codes, passkeys); returns how many."""
    with transaction.atomic():
        removed: int = Authenticator.objects.filter(user_id=person.pk).delete()[0]
        if removed:
            actor = request.user if isinstance(request.user, User) else None
            name = actor.get_username() if actor else "An admin"
            record(
                AuditKind.SECOND_FACTOR,
                f"{name} reset {person.get_username()}'s second factors",
                actor=actor,
                subject=person,
                request=request,
            )
    return removed


# --- The record of changes a person makes to their own factors (allauth's signals) -----------

ADDED = {
    Authenticator.Type.TOTP: "added an authenticator app",
    Authenticator.Type.RECOVERY_CODES: "got recovery codes",
    Authenticator.Type.WEBAUTHN: "added a passkey",
}
REMOVED = {
    Authenticator.Type.TOTP: "removed their authenticator app",
    Authenticator.Type.RECOVERY_CODES: "no longer has recovery codes (they go with the last factor)",
    Authenticator.Type.WEBAUTHN: "removed a passkey",
}


def _factor_line(user: User, authenticator: Any, did: str, request: HttpRequest | None) -> None:
    what = did
    if authenticator.type == Authenticator.Type.WEBAUTHN:
        what = f"{did} ({authenticator.wrap().name})"
    record(
        AuditKind.SECOND_FACTOR,
        f"{user.get_username()} {what}",
        actor=user,
        subject=user,
        request=request,
    )


@receiver(mfa_signals.authenticator_added, dispatch_uid="team-factor-added")
def _added(sender: Any, request: HttpRequest | None, user: User, authenticator: Any, **kw: Any) -> None:
    if authenticator.type == Authenticator.Type.TOTP:
        spend_current_step(authenticator)  # the code typed to set it up does not sign in again
    _factor_line(user, authenticator, ADDED[Authenticator.Type(authenticator.type)], request)


@receiver(mfa_signals.authenticator_removed, dispatch_uid="team-factor-removed")
def _removed(
    sender: Any, request: HttpRequest | None, user: User, authenticator: Authenticator, **kw: Any
) -> None:
    _factor_line(user, authenticator, REMOVED[Authenticator.Type(authenticator.type)], request)


@receiver(mfa_signals.authenticator_reset, dispatch_uid="team-factor-reset")
def _reset(sender: Any, request: HttpRequest | None, user: User, authenticator: Any, **kw: Any) -> None:
    _factor_line(user, authenticator, "made new recovery codes (the old ones no longer work)", request)
