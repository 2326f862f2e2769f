"""django-allauth's account rules for this team: no open sign-up, only an invitation opens the form.

Sign-up is open only on the join page (/team/join/<token>/, playground/team/join.py) with a usable
invitation; saving the new person accepts that invitation in the same transaction (two tabs: the
second is refused and its account never made) and marks the invitation's address verified, since
the link arrived there. SSO's own sign-up is the SocialAccountAdapter's (sso.py).
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from playground.lib.clientip import client_ip
from playground.team import invitations, join
from playground.team.accountmail import send_after_answer


class _Taken(Exception):
    """The invitation was accepted by another request meanwhile: undo this account."""


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth's limits per address (30 sign-ins a minute, reset asks, ...) count against the
        # address the lockout uses: behind nginx, REMOTE_ADDR is the proxy's, and the whole team
        # would share one count. The forwarded header is believed only from TRUSTED_PROXIES.
        return client_ip(request) or super().get_client_ip(request)

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Opened by a valid invitation link only (playground/team/join.py).
        return join.signup_open(request)

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        lookup = join.held(request)
        invitation = lookup.invitation
        if invitation is None or lookup.problem:
            raise ImmediateHttpResponse(join.refused(request, lookup.problem or invitations.UNKNOWN))
        # setup_user_email (right after this) makes the stashed address the verified primary one.
        self.stash_verified_email(request, invitation.email.strip().lower())
        try:
            with transaction.atomic():
                saved: User = super().save_user(request, user, form, commit=True)
                if not invitations.accept(invitation, saved, request):
                    raise _Taken
        except _Taken:
            self.unstash_verified_email(request)
            join.forget(request)
            raise ImmediateHttpResponse(join.refused(request, invitations.USED)) from None
        join.forget(request)
        return saved

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return reverse("gallery")

    def send_password_reset_mail(self, user: AbstractBaseUser, email: str, context: dict[str, Any]) -> None:
        # Written now, sent after the answer: a known address is answered as fast as an unknown one
        # (playground/team/accountmail.py).
        request = self.request
        full = {"request": request, "email": email, "current_site": get_current_site(request), **context}
        send_after_answer(self.render_mail("account/email/password_reset_key", email, full))
