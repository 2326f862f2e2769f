"""What an admin does to people: change a role, deactivate, reactivate, sign out everywhere.

Each action is refused in a plain sentence when it would break a rule (the last active admin stays
an active admin; nobody deactivates themselves), changes nothing when refused, and writes one
line of the audit record when done, in words naming who did what to whom.

Signing out everywhere ends every session django-allauth listed for the person (each of its rows
names a Django session, which `UserSession.end()` deletes with it). Deactivating does the same,
and Django refuses an inactive account's sessions anyway; the person's videos stay.
"""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest

from playground.team.audit import record
from playground.team.models import AuditKind, Membership, Role
from playground.team.roles import LAST_ADMIN_SENTENCE, LastAdminError, check_may_deactivate, set_role

NOT_YOURSELF = "You cannot deactivate your own account: ask another admin to do it."


class Refused(ValueError):
    """An action refused by a rule; its message is the sentence to show."""


def with_article(role: Role) -> str:
    label = role.label.lower()
    return f"{'an' if label[:1] in 'aeiou' else 'a'} {label}"


def stored_role(person: User) -> Role:
    """The role on record, also for an inactive person (role_of answers None for them)."""
    found = Membership.objects.filter(user_id=person.pk).values_list("role", flat=True).first()
    return Role(found) if found else (Role.ADMIN if person.is_staff else Role.MEMBER)


def change_role(actor: User, person: User, role: Role, request: HttpRequest | None = None) -> str:
    """Give `person` the role; the sentence saying what changed. Raises Refused for the last admin."""
    was = stored_role(person)
    if was == role:
        return f"{person.get_username()} is already {with_article(role)}."
    try:
        set_role(person, role)
    except LastAdminError as error:
        raise Refused(str(error)) from None
    record(
        AuditKind.ROLE,
        f"{actor.get_username()} made {person.get_username()} {with_article(role)} (was {was.label.lower()})",
        actor=actor,
        subject=person,
        request=request,
    )
    return f"{person.get_username()} is now {with_article(role)} (was {was.label.lower()})."


def end_sessions(person: User) -> int:
    """End every session allauth lists for the person (and the Django session each names)."""
    ended = 0
    for session in UserSession.objects.filter(user_id=person.pk):
        session.end()
        ended += 1
    return ended


def sessions_phrase(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'}"


def deactivate(actor: User, person: User, request: HttpRequest | None = None) -> str:
    if person.pk == actor.pk:
        raise Refused(NOT_YOURSELF)
    if not person.is_active:
        return f"{person.get_username()} is already deactivated."
    with transaction.atomic():
        # Two admins deactivating each other at once take turns here, so one of them stays.
        list(Membership.objects.select_for_update().filter(role=Role.ADMIN).values_list("pk", flat=True))
        try:
            check_may_deactivate(person)
        except LastAdminError:
            raise Refused(LAST_ADMIN_SENTENCE) from None
        User.objects.filter(pk=person.pk).update(is_active=False)
        person.is_active = False
    ended = end_sessions(person)
    record(
        AuditKind.ACCOUNT,
        f"{actor.get_username()} deactivated {person.get_username()} "
        f"(signed out of {sessions_phrase(ended)}; their videos stay)",
        actor=actor,
        subject=person,
        request=request,
    )
    return (
        f"{person.get_username()} is deactivated and signed out of {sessions_phrase(ended)}. "
        "They can no longer sign in; their videos stay."
    )


def reactivate(actor: User, person: User, request: HttpRequest | None = None) -> str:
    if person.is_active:
        return f"{person.get_username()} is already active."
    User.objects.filter(pk=person.pk).update(is_active=True)
    person.is_active = True
    role = stored_role(person)
    record(
        AuditKind.ACCOUNT,
        f"{actor.get_username()} reactivated {person.get_username()} (as {with_article(role)})",
        actor=actor,
        subject=person,
        request=request,
    )
    return f"{person.get_username()} is active again, as {with_article(role)}, and can sign in."


def sign_out_everywhere(actor: User, person: User, request: HttpRequest | None = None) -> int:
    """End all the person's sessions (the actor's own included when it is themselves); how many."""
    ended = end_sessions(person)
    if actor.pk == person.pk:
        summary = f"{actor.get_username()} signed out everywhere ({sessions_phrase(ended)})"
    else:
        summary = (
            f"{actor.get_username()} signed {person.get_username()} out everywhere ({sessions_phrase(ended)})"
        )
    record(AuditKind.SIGN_OUT_EVERYWHERE, summary, actor=actor, subject=person, request=request)
    return ended
