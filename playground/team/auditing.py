"""The audit record's lines written where things happen: sign-ins, failed sign-ins, and account changes.

Connected at start-up (PlaygroundConfig.ready). Each receiver writes one line through audit.record,
which copies the names and the client's address (read as the sign-in lockout reads it, trusting
X-Forwarded-For only from our own proxies). Second factors, invitations, roles and SSO write their
own lines where they happen; model changes (budgets, webhooks, deletions) come from history.py.

What is never written: a password (Django hands a failed sign-in's credentials over with the
password already blanked, and only the login field is read), a reset or confirmation link, or a key.
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from playground.team.audit import record
from playground.team.models import AuditKind
from playground.team.signin import typed_login


def _name(user: User | AnonymousUser | None) -> str:
    return user.get_username() if isinstance(user, User) else "someone"


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    event = record(AuditKind.SIGN_IN, f"{_name(user)} signed in", actor=user, subject=user, request=request)
    if request is not None:
        request._audit_sign_in = event  # type: ignore[attr-defined]  # SSO names its way (team/sso.py)


def _account_named(login: str) -> User | None:
    """The account a typed login names (its username, or else its e-mail address), if any."""
    found = User.objects.filter(username=login).first()
    if found is None and "@" in login:
        found = User.objects.filter(email__iexact=login).order_by("pk").first()
    return found


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the login field: Django blanks the password in `credentials`, and nothing else is read.
    login = typed_login(request, {key: credentials.get(key) for key in ("username", "email", "login")})
    account = _account_named(login) if login else None
    shown = login if len(login) <= 80 else login[:79] + "…"
    summary = f"Failed sign-in as “{shown}”" if login else "Failed sign-in with no username"
    if account is not None and account.get_username() != login:
        summary += f" (the account {account.get_username()})"
    elif login and account is None:
        summary += " (no such account)"
    if getattr(request, "axes_locked_out", False):
        summary += ": refused, too many failed attempts"
    record(
        AuditKind.SIGN_IN_FAILED,
        summary,
        subject=account,
        subject_name=login,
        request=request,
    )


def _account_line(summary: str, request: HttpRequest | None, user: User | None) -> None:
    """A line about a person's own account: done by whoever is signed in, else by the person."""
    signed_in = getattr(request, "user", None)
    actor = signed_in if isinstance(signed_in, User) and signed_in.is_authenticated else user
    record(AuditKind.ACCOUNT, summary, actor=actor, subject=user, request=request)


@receiver(account_signals.password_changed, dispatch_uid="audit-password-changed")
def _password_changed(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    _account_line(f"{_name(user)} changed their password", request, user)


@receiver(account_signals.password_set, dispatch_uid="audit-password-set")
def _password_set(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    _account_line(f"{_name(user)} set a password", request, user)


@receiver(account_signals.password_reset, dispatch_uid="audit-password-reset")
def _password_reset(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    _account_line(f"{_name(user)} chose a new password with an e-mailed reset link", request, user)


@receiver(account_signals.email_added, dispatch_uid="audit-email-added")
def _email_added(
    sender: Any, request: HttpRequest | None, user: User, email_address: Any, **kwargs: Any
) -> None:
    owner = email_address.user
    if email_address.verified:
        summary = f"{_name(owner)} added the confirmed address {email_address.email}"
    else:
        summary = (
            f"{_name(owner)} asked to use {email_address.email} as their address "
            "(a confirmation link was sent there; the old address stays until it is opened)"
        )
    _account_line(summary, request, owner)


@receiver(account_signals.email_confirmed, dispatch_uid="audit-email-confirmed")
def _email_confirmed(sender: Any, request: HttpRequest | None, email_address: Any, **kwargs: Any) -> None:
    owner = email_address.user
    _account_line(f"{_name(owner)} confirmed the address {email_address.email}", request, owner)


@receiver(account_signals.email_changed, dispatch_uid="audit-email-changed")
def _email_changed(
    sender: Any,
    request: HttpRequest | None,
    user: User,
    from_email_address: Any,
    to_email_address: Any,
    **kwargs: Any,
) -> None:
    before = f"from {from_email_address.email} " if from_email_address is not None else ""
    _account_line(
        f"{_name(user)}'s e-mail address changed {before}to {to_email_address.email}", request, user
    )


@receiver(account_signals.email_removed, dispatch_uid="audit-email-removed")
def _email_removed(
    sender: Any, request: HttpRequest | None, user: User, email_address: Any, **kwargs: Any
) -> None:
    _account_line(f"{_name(user)} removed the address {email_address.email}", request, user)
