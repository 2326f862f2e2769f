"""Invitations: the only way in besides SSO's rules. A link carries a 256-bit token; only its hash is kept.

A link is refused once used, revoked, expired, or replaced by a resend (which makes a new token).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from playground.team.models import AuditKind, Invitation, Role

TOKEN_BYTES = 32  # 256 bits from the operating system's generator


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def invite(email: str, role: Role, by: User | None) -> tuple[Invitation, str]:
    """A new invitation; returns it with the token (shown once: in the e-mail, or to the admin)."""
    token, hashed = _new_token()
    now = timezone.now()
    invitation = Invitation.objects.create(
        email=email.strip(),
        role=role,
        token_hash=hashed,
        invited_by=by,
        created_at=now,
        sent_at=now,
        expires_at=now + timedelta(days=settings.INVITATION_DAYS),
    )
    return invitation, token


def renew(invitation: Invitation) -> str:
    """Resend: a new token and a new expiry; the old link stops working."""
    token, hashed = _new_token()
    now = timezone.now()
    invitation.token_hash = hashed
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(days=settings.INVITATION_DAYS)
    invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
    return token


def revoke(invitation: Invitation) -> None:
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


@dataclass(frozen=True)
class Lookup:
    invitation: Invitation | None
    problem: str  # "" when the invitation may be used


# What a refused link says: never whose it was or what it held.
USED = "This invitation has already been used. Sign in instead, or ask your admin for a new one."
REVOKED = "This invitation was withdrawn. Ask your team's admin for a new one."
EXPIRED = "This invitation has expired (links are valid for {days} days). Ask your team's admin to resend it."
UNKNOWN = "This invitation link is not valid. Check that the whole link was copied, or ask for a new one."


def find(token: str) -> Lookup:
    if not token or len(token) > 200:
        return Lookup(None, UNKNOWN)
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).first()
    if invitation is None:
        return Lookup(None, UNKNOWN)
    return Lookup(invitation, problem_of(invitation))


def problem_of(invitation: Invitation) -> str:
    """Why this invitation can no longer be used, or "" when it can."""
    if invitation.accepted_at is not None:
        return USED
    if invitation.revoked_at is not None:
        return REVOKED
    if invitation.expires_at <= timezone.now():
        return EXPIRED.format(days=settings.INVITATION_DAYS)
    return ""


def pending_for_email(email: str) -> Invitation | None:
    """The newest usable invitation for this address (SSO joins through it)."""
    return (
        Invitation.objects.filter(
            email__iexact=email.strip(), accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .order_by("-created_at")
        .first()
    )


def outstanding() -> QuerySet[Invitation]:
    """Invitations neither used nor revoked (expired ones included: they may be resent)."""
    return Invitation.objects.filter(accepted_at=None, revoked_at=None)


def accept(invitation: Invitation, user: User, request: HttpRequest | None = None, *, way: str = "") -> bool:
    """Marks the invitation used by this person and gives them its role; False if it was used meanwhile.

    The one accepting update is conditional, so of two tabs (or an SSO sign-in and a form) only one
    wins; the audit record gets its line here, whichever way the person joined (`way` names it:
    "through Company sign-in").
    """
    from playground.team.audit import record
    from playground.team.roles import set_role

    with transaction.atomic():
        taken = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
            accepted_at=timezone.now(), accepted_by=user
        )
        if not taken:
            return False
        role = Role(invitation.role)
        set_role(user, role)
        inviter = invitation.invited_by.get_username() if invitation.invited_by else "an admin"
        record(
            AuditKind.INVITATION,
            f"{user.get_username()} joined as {'an' if role == Role.ADMIN else 'a'} {role.label.lower()} "
            f"{way + ' ' if way else ''}(accepted {inviter}'s invitation to {invitation.email})",
            actor=user,
            subject=user,
            request=request,
        )
    return True


def is_refusal_gone(problem: str) -> bool:
    """A link that was real but can no longer be used (410), against one that never was (404)."""
    return bool(problem) and problem != UNKNOWN
