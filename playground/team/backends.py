"""The sign-in backend: django-allauth's, loading each person's role in the same query as the person.

Every page reads the role (the nav, the route table), so reading it with the user saves one query per
request; allauth's backend signs in by username or e-mail address and is what its flows expect.
"""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.models import User


class AccountBackend(AuthenticationBackend):
    def get_user(self, user_id: Any) -> User | None:
        user = User._default_manager.select_related("membership").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
