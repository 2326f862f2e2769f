"""The Team page (/team/, admins only): the people, the invitations out, and what an admin does to them.

Its cost does not grow with the team: people are listed PAGE_SIZE at a time (ordered by username,
searchable by name or e-mail), each page read in one query that also says, per person, whether they
have an authenticator app or a passkey (allauth's Authenticator rows, as EXISTS subqueries in the
same query); the invitations out are the newest PENDING_SHOWN (the search finds the others). Each
list is one form with one CSRF token, its buttons naming their action's URL. Every action is a POST (CSRF),
refused in a plain sentence when a rule says no, and recorded in the audit (people.py).

Also here: "Your account" (/team/me/), for everyone, with sign-out-everywhere for oneself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Q
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_POST

from playground.lib.http import AuthenticatedHttpRequest
from playground.team import invitations, mail, people
from playground.team.audit import record
from playground.team.models import ROLE_SENTENCES, AuditKind, Invitation, Role

PAGE_SIZE = 25
PENDING_SHOWN = 20
SEARCH_MAX = 100


# --- Forms ---------------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        error_messages={
            "invalid": "That is not an e-mail address: check it for typos (it looks like name@example.com).",
            "required": "Type the e-mail address of the person to invite.",
        },
    )
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        initial=Role.MEMBER,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a role.", "invalid_choice": "Choose one of the roles listed."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: Invitation | None = None  # set when the address already has a usable invitation

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        from allauth.account.models import EmailAddress

        holder = User.objects.filter(email__iexact=email).first()
        if holder is None:
            address = EmailAddress.objects.filter(email__iexact=email).select_related("user").first()
            holder = address.user if address else None
        if holder is not None:
            raise forms.ValidationError(
                f"{email} already has an account ({holder.get_username()}"
                f"{'' if holder.is_active else ', deactivated'}): change their role in the list below "
                "instead of inviting them."
            )
        self.waiting = invitations.pending_for_email(email)
        if self.waiting is not None:
            raise forms.ValidationError(
                f"{email} already has an invitation waiting (it expires on "
                f"{mail.when(self.waiting.expires_at)}). Resend it below to send a new link."
            )
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def role_options() -> list[dict[str, str]]:
    return [{"value": role.value, "label": role.label, "sentence": ROLE_SENTENCES[role]} for role in Role]


# --- The page ------------------------------------------------------------------------------


def people_rows(search: str) -> Any:
    """People with their role and second factors, in one query per page (no per-row lookups)."""
    factors = Authenticator.objects.filter(user_id=OuterRef("pk"))
    rows = (
        User.objects.annotate(
            team_role=F("membership__role"),
            has_app=Exists(factors.filter(type=Authenticator.Type.TOTP)),
            has_passkey=Exists(factors.filter(type=Authenticator.Type.WEBAUTHN)),
        )
        .only("username", "email", "first_name", "last_name", "is_active", "is_staff", "last_login")
        .order_by("username", "pk")
    )
    if search:
        rows = rows.filter(Q(username__icontains=search) | Q(email__icontains=search))
    return rows


# Each role's <option> list, made once: rendering it per row in the template was a third of the page.
ROLE_OPTIONS = {
    chosen: format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((role.value, " selected" if role == chosen else "", role.label) for role in Role),
    )
    for chosen in Role
}


def factor_words(person: Any) -> str:
    found = ((person.has_app, "Authenticator app"), (person.has_passkey, "Passkey"))
    kinds = [word for has, word in found if has]
    return " and ".join(kinds) or "None"


def team_context(request: AuthenticatedHttpRequest, form: InviteForm | None = None) -> dict[str, Any]:
    search = " ".join(request.GET.get("q", "").split())[:SEARCH_MAX]
    paginator = Paginator(people_rows(search), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    # A person's actions are under one path (urls.py, checked by the tests): built here, not by a
    # {% url %} per button, which cost as much as the rest of the row.
    people_path = reverse("team") + "people/"
    rows = []
    for person in page.object_list:
        role = Role(person.team_role or (Role.ADMIN if person.is_staff else Role.MEMBER))
        factors = factor_words(person)
        rows.append(
            {
                "pk": person.pk,
                "name": person.get_username(),
                "full_name": person.get_full_name(),
                "email": person.email,
                "you": person.pk == request.user.pk,
                "active": person.is_active,
                "role": role,
                "options": ROLE_OPTIONS[role],
                "factors": factors,
                "has_factor": factors != "None",
                "last_login": person.last_login,
                "path": f"{people_path}{person.pk}/",
            }
        )
    totals = User.objects.aggregate(people=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    waiting = invitations.outstanding().select_related("invited_by").order_by("-created_at")
    if search:
        waiting = waiting.filter(email__icontains=search)
    pending = list(waiting[: PENDING_SHOWN + 1])
    return {
        "page": page,
        "rows": rows,
        "now": timezone.now(),
        "search": search,
        "totals": totals,
        "pending": pending[:PENDING_SHOWN],
        "more_pending": len(pending) > PENDING_SHOWN,
        "pending_shown": PENDING_SHOWN,
        "invitations_path": reverse("team") + "invitations/",
        "form": form or InviteForm(),
        "roles": role_options(),
        "invitation_days": settings.INVITATION_DAYS,
        "email_sends": settings.EMAIL_SENDS,
    }


def where(search: str, page: str) -> str:
    """The list's query string (search and page), kept across an action's round trip."""
    query = {k: v for k, v in (("q", search[:SEARCH_MAX]), ("page", page[:10])) if v}
    return urlencode(query)


def back(request: AuthenticatedHttpRequest) -> HttpResponseRedirect:
    query = where(request.POST.get("q", ""), request.POST.get("page", ""))
    return redirect(reverse("team") + (f"?{query}" if query else ""))


@require_GET
def team(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "team/team.html", team_context(request))


def show_link(request: AuthenticatedHttpRequest, delivery: mail.Delivery, done: str) -> HttpResponse:
    """The page itself (not a redirect) shows the link once: it is kept nowhere, not even the session."""
    context = team_context(request)
    context.update(link_note=delivery.problem, link=delivery.link, done=done)
    return render(request, "team/team.html", context)


# --- Invitations ---------------------------------------------------------------------------


@require_POST
def invite(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if not form.is_valid():
        return render(request, "team/team.html", team_context(request, form), status=400)
    email, role = form.cleaned_data["email"], Role(form.cleaned_data["role"])
    # An expired invitation for the address gives way to the new one (its link now says withdrawn).
    invitations.outstanding().filter(email__iexact=email).update(revoked_at=timezone.now())
    invitation, token = invitations.invite(email, role, request.user)
    record(
        AuditKind.INVITATION,
        f"{request.user.get_username()} invited {email} as {people.with_article(role)}",
        actor=request.user,
        subject_name=email,
        request=request,
    )
    delivery = mail.send_invitation(invitation, token, request)
    done = f"Invited {email} as {people.with_article(role)}."
    if not delivery.mailed:
        return show_link(request, delivery, done)
    messages.success(request, f"{done} The invitation is on its way; the link works for {days()}.")
    return redirect("team")


def days() -> str:
    n = settings.INVITATION_DAYS
    return f"{n} day{'' if n == 1 else 's'}"


@require_POST
def resend(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(invitations.outstanding(), pk=pk)
    token = invitations.renew(invitation)
    record(
        AuditKind.INVITATION,
        f"{request.user.get_username()} resent the invitation to {invitation.email} "
        "(a new link; the old one no longer works)",
        actor=request.user,
        subject_name=invitation.email,
        request=request,
    )
    delivery = mail.send_invitation(invitation, token, request)
    done = f"Made a new link for {invitation.email}; the old one no longer works."
    if not delivery.mailed:
        return show_link(request, delivery, done)
    messages.success(request, f"{done} It is on its way and works for {days()}.")
    return back(request)


@require_POST
def revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(invitations.outstanding(), pk=pk)
    invitations.revoke(invitation)
    record(
        AuditKind.INVITATION,
        f"{request.user.get_username()} revoked the invitation to {invitation.email}",
        actor=request.user,
        subject_name=invitation.email,
        request=request,
    )
    messages.success(request, f"Withdrew the invitation to {invitation.email}: its link no longer works.")
    return back(request)


# --- People --------------------------------------------------------------------------------


def _act(request: AuthenticatedHttpRequest, pk: int, action: Callable[[User], str]) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    try:
        messages.success(request, action(person))
    except people.Refused as refusal:
        messages.error(request, str(refusal))
    if person.pk == request.user.pk and people.stored_role(person) != Role.ADMIN:
        return redirect("gallery")  # an admin who made themselves a member no longer sees the page
    return back(request)


@require_POST
def set_role(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(User, pk=pk)
    # The people list is one form: each row's select is named for its person.
    form = RoleForm({"role": request.POST.get(f"role-{pk}") or request.POST.get("role")})
    if not form.is_valid():
        messages.error(request, "Choose one of the roles listed.")
        return back(request)
    role = Role(form.cleaned_data["role"])
    return _act(request, pk, lambda person: people.change_role(request.user, person, role, request))


@require_POST
def deactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda person: people.deactivate(request.user, person, request))


@require_POST
def reactivate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda person: people.reactivate(request.user, person, request))


@require_POST
def sign_out(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def act(person: User) -> str:
        if person.pk == request.user.pk:
            raise people.Refused("To sign yourself out everywhere, use “Your account”.")
        ended = people.sign_out_everywhere(request.user, person, request)
        return f"Signed {person.get_username()} out everywhere ({people.sessions_phrase(ended)} ended)."

    return _act(request, pk, act)


# --- Your account --------------------------------------------------------------------------


@require_GET
def me(request: AuthenticatedHttpRequest) -> HttpResponse:
    role = people.stored_role(request.user)
    context = {
        "role": role,
        "role_label": people.with_article(role),
        "role_sentence": ROLE_SENTENCES[role],
        "is_admin": role == Role.ADMIN,
    }
    return render(request, "team/me.html", context)


@require_POST
def me_sign_out(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    ended = people.sign_out_everywhere(user, user, request)
    logout(request)  # this browser too, whether or not its session was on the list
    messages.success(
        request, f"You are signed out everywhere ({people.sessions_phrase(ended)} ended). Sign in again here."
    )
    return redirect("login")
