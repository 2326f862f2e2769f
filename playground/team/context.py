"""What every template knows about the signed-in person's role (a context processor in settings).

Templates only hide the controls a role cannot use; the server refuses them whatever a page shows
(RoleMiddleware, roles.py). Each value is read lazily: a page or a fragment that never asks pays
no query, and one that asks several times pays one (role_of keeps the role on the user object,
which the middleware shares).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from playground.team.models import Role
from playground.team.roles import may, role_of


def role_context(request: HttpRequest) -> dict[str, Any]:
    """`role` (a Role, or None signed out), `can_make` (member or admin), `is_admin`, `is_viewer`."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {
        "role": SimpleLazyObject(lambda: role_of(user)),
        "can_make": SimpleLazyObject(lambda: may(user, Role.MEMBER)),
        "is_admin": SimpleLazyObject(lambda: may(user, Role.ADMIN)),
        "is_viewer": SimpleLazyObject(lambda: role_of(user) == Role.VIEWER),
    }
