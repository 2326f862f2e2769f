"""django-allauth's account rules for this team: no open sign-up, only an invitation opens the form."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sites.shortcuts import get_current_site
from django.http import HttpRequest

from playground.team.accountmail import send_after_answer


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Opened by a valid invitation link only (playground/team/invitations.py).
        return False

    def send_password_reset_mail(self, user: AbstractBaseUser, email: str, context: dict[str, Any]) -> None:
        # Written now, sent after the answer: a known address is answered as fast as an unknown one
        # (playground/team/accountmail.py).
        request = self.request
        full = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        send_after_answer(self.render_mail("account/email/password_reset_key", email, full))
