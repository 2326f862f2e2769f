"""Joining through an invitation link: /team/join/<token>/, open to people not signed in.

Built on django-allauth's own sign-up view, so what follows a sign-up is allauth's (the sign-in,
its stages such as a required second factor, the session list). The link looks its token up
(invitations.find): a used, revoked, expired, forged or resent-away link gets a plain page with the
reason, 410 for a link that was real and 404 for one that never was, and never the address or role
it held. A usable link puts the invitation (its id and token hash) in the session and moves to the
form at /team/join/, so the token leaves the address bar; every request there looks the invitation
up again, so a resend or revoke meanwhile stops the form too. The account adapter (adapters.py)
opens sign-up only on that form and only with a usable invitation; allauth's own /accounts/signup/
stays closed. The form is allauth's with the e-mail fixed to the invitation's (a disabled field: a
posted address is ignored); saving the person accepts the invitation in the same transaction, so
of two tabs only the first makes an account.

The token is never logged: Django's request log names the path of a refused answer, so the link's
refusals are marked as logged and a line without the path is written instead.
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.forms import SignupForm
from allauth.account.models import EmailAddress
from allauth.account.views import SignupView
from allauth.core.exceptions import ImmediateHttpResponse
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import password_validators_help_texts
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from playground.team import invitations
from playground.team.models import ROLE_SENTENCES, Invitation, Role
from playground.team.people import with_article

log = logging.getLogger(__name__)

SESSION_KEY = "team_invitation"
ACCOUNT_EXISTS = (
    "An account already uses this address, so this invitation cannot make another one. "
    "Sign in instead (use “Forgot your password?” if you need to)."
)


def remember(request: HttpRequest, invitation: Invitation) -> None:
    # The hash, not the token: a resend changes the hash, so a page opened before it stops working.
    request.session[SESSION_KEY] = {"id": invitation.pk, "hash": invitation.token_hash}


def forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def held(request: HttpRequest) -> invitations.Lookup:
    """The invitation this browser opened a link of, looked up again now."""
    stored = request.session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return invitations.Lookup(None, invitations.UNKNOWN)
    pk = stored.get("id")
    if not isinstance(pk, int):
        return invitations.Lookup(None, invitations.UNKNOWN)
    invitation = Invitation.objects.filter(pk=pk, token_hash=str(stored.get("hash"))).first()
    if invitation is None:
        return invitations.Lookup(None, invitations.UNKNOWN)
    return invitations.Lookup(invitation, invitations.problem_of(invitation))


def signup_open(request: HttpRequest) -> bool:
    """The account adapter's is_open_for_signup: only on the join page, only with a usable invitation."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name != "team_join_form":
        return False
    return held(request).problem == ""


def refused(request: HttpRequest, problem: str) -> HttpResponse:
    status = 410 if invitations.is_refusal_gone(problem) else 404
    return render(request, "team/join_refused.html", {"problem": problem}, status=status)


class JoinForm(SignupForm):  # type: ignore[misc]  # allauth's classes are untyped
    """allauth's sign-up form with the address fixed to the invitation's and plain help texts."""

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any) -> None:
        self.invitation = invitation
        super().__init__(*args, **kwargs)
        email = self.fields["email"]
        email.disabled = True
        email.initial = invitation.email
        email.label = "E-mail address"
        email.help_text = "The address your invitation was sent to; you can change it later."
        self.fields[
            "username"
        ].help_text = (
            "The name your team sees beside your videos; you sign in with it or your e-mail address."
        )
        if "password1" in self.fields:
            self.fields["password1"].help_text = " ".join(password_validators_help_texts())
        self.order_fields(["email", "username", "password1", "password2"])

    def clean_email(self) -> str:
        email = self.invitation.email.strip().lower()
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise forms.ValidationError(ACCOUNT_EXISTS)
        self.account_already_exists = False
        return email


class JoinView(SignupView):  # type: ignore[misc]
    template_name = "team/join.html"
    form_class = JoinForm

    def get_form_class(self) -> type[JoinForm]:
        return JoinForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs()
        kwargs["invitation"] = self.kwargs["invitation"]
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        invitation: Invitation = self.kwargs["invitation"]
        role = Role(invitation.role)
        inviter = invitation.invited_by
        context.update(
            invitation=invitation,
            role=role,
            role_label=with_article(role),
            role_sentence=ROLE_SENTENCES[role],
            inviter=(inviter.get_full_name() or inviter.get_username()) if inviter else "Your team's admin",
            sso_enabled=settings.SSO_ENABLED,
        )
        return context


signup_view = JoinView.as_view()


def unlogged(response: HttpResponse) -> HttpResponse:
    """Keep Django from logging this answer's path ("Gone: /team/join/<token>/"): it holds the token."""
    response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log.log_response's flag
    return response


@csrf_exempt  # it only reads (GET); a refused POST would otherwise be logged with the path
@login_not_required
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the e-mail: checks it, keeps the invitation in the session, and moves to the form."""
    if request.method not in ("GET", "HEAD"):
        return unlogged(HttpResponseNotAllowed(["GET", "HEAD"]))
    lookup = invitations.find(token)
    if lookup.problem or lookup.invitation is None:
        log.info("An invitation link was refused: %s", lookup.problem or invitations.UNKNOWN)
        return unlogged(refused(request, lookup.problem or invitations.UNKNOWN))
    if request.user.is_authenticated:
        return render(request, "team/join_signed_in.html", {"join_path": request.path})
    remember(request, lookup.invitation)
    # The form lives at a path without the token, so the token leaves the address bar, the Referer
    # of what follows and the server's later log lines (as Django's own password reset does).
    return redirect("team_join_form")


@login_not_required
@require_http_methods(["GET", "POST"])
def join_form(request: HttpRequest) -> HttpResponse:
    """allauth's sign-up form for the invitation this browser opened (see the module's docstring)."""
    lookup = held(request)
    if lookup.problem or lookup.invitation is None:
        forget(request)
        return refused(request, lookup.problem or invitations.UNKNOWN)
    if request.user.is_authenticated:
        return render(request, "team/join_signed_in.html", {"join_path": ""})
    try:
        response: HttpResponse = signup_view(request, invitation=lookup.invitation)
    except ImmediateHttpResponse as answer:
        refusal: HttpResponse = answer.response
        return refusal
    if request.method == "POST" and response.status_code == 200:
        # The form came back: if another tab used the invitation meanwhile (the form then says the
        # address is taken), say what happened instead.
        now = held(request)
        if now.problem:
            forget(request)
            return refused(request, now.problem)
    return response
