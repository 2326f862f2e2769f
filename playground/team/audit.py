"""The audit record: one call writes one line of who did what (see AuditEvent in models.py)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

from playground.lib.clientip import client_ip
from playground.team.models import AuditEvent, AuditKind


def record(
    kind: AuditKind,
    summary: str,
    *,
    actor: User | AnonymousUser | None = None,
    subject: User | None = None,
    subject_name: str = "",
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Write one line. The actor defaults to the request's signed-in person; names are copied.

    The subject's name is the `subject_name` given (what was typed, for a failed sign-in), else
    the subject's username.
    """
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    person = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        kind=kind,
        summary=summary[:500],
        actor=person,
        actor_name=person.get_username() if person else "",
        subject=subject,
        subject_name=(subject_name or (subject.get_username() if subject else ""))[:254],
        ip=client_ip(request) if request is not None else None,
    )
