"""django-allauth's account rules for this team: no open sign-up, only an invitation opens the form."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Opened by a valid invitation link only (playground/team/invitations.py).
        return False
