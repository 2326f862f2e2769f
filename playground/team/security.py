"""The admins' sign-in security page (/team/security/) and the reset of a person's second factors.

Both are for admins only: the route table in roles.py refuses everyone else before these run.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from playground.lib.http import AuthenticatedHttpRequest
from playground.team.audit import record
from playground.team.mfa import FACTOR_TYPES, concerns, current_rule, has_factor, reset_factors
from playground.team.models import AuditKind, ReviewRule, SecondFactorRule, TeamPolicy

# What each rule means, in the words the page shows beside the choice.
RULE_HINTS = {
    SecondFactorRule.NOBODY: "A second factor is optional: each person may add one from their account.",
    SecondFactorRule.ADMINS: "Admins must set one up before they can open any page.",
    SecondFactorRule.EVERYONE: "Everyone must set one up before they can open any page.",
}

# How many names the page lists of the people still without a factor.
LISTED = 50


class PolicyForm(forms.Form):
    require_second_factor = forms.ChoiceField(
        label="Who must sign in with a second factor",
        choices=[(rule.value, rule.value.capitalize()) for rule in SecondFactorRule],
        widget=forms.RadioSelect,
    )


def _without_factor(rule: SecondFactorRule) -> tuple[int, list[str]]:
    """How many active people the rule concerns have no second factor, and the first names."""
    people = User.objects.filter(is_active=True)
    if rule == SecondFactorRule.ADMINS:
        people = people.filter(is_staff=True)
    elif rule == SecondFactorRule.NOBODY:
        return 0, []
    lacking = people.filter(
        ~Exists(Authenticator.objects.filter(user_id=OuterRef("pk"), type__in=FACTOR_TYPES))
    ).order_by("username")
    names = list(lacking.values_list("username", flat=True)[: LISTED + 1])
    count = len(names) if len(names) <= LISTED else lacking.count()
    return count, names[:LISTED]


@require_http_methods(["GET", "POST"])
def security(request: AuthenticatedHttpRequest) -> HttpResponse:
    policy = TeamPolicy.current()
    was = SecondFactorRule(policy.require_second_factor)
    form = PolicyForm(request.POST or None, initial={"require_second_factor": was})
    if request.method == "POST" and form.is_valid():
        rule = SecondFactorRule(form.cleaned_data["require_second_factor"])
        if rule != was:
            policy.require_second_factor = rule
            policy.save(update_fields=["require_second_factor"])
            record(
                AuditKind.POLICY,
                f"{request.user.get_username()} set who must use a second factor: {rule.value} "
                f"(was {was.value})",
                request=request,
            )
            messages.success(request, f"Saved: {RULE_HINTS[rule]}")
        else:
            messages.info(request, "Nothing changed: that was already the rule.")
        return redirect("team_security")
    count, names = _without_factor(was)
    return render(
        request,
        "team/security.html",
        {
            "form": form,
            "rule": was,
            "hints": RULE_HINTS,
            "without_count": count,
            "without_names": names,
            "you_have_none": not has_factor(request.user),
            "share_policy": policy,
            # The team's other setting on this page: who may set a video's review status (review/).
            "review_rule": policy.review_status_by,
            "review_rules": ReviewRule.choices,
        },
    )


@require_POST
def reset_person_factors(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    removed = reset_factors(person, request=request)
    name = person.get_username()
    if removed:
        then = (
            f"{name} will be asked to set up a new one right after signing in."
            if concerns(person, current_rule())
            else f"{name} signs in with their password alone until they add a new one."
        )
        messages.success(
            request,
            f"Removed {name}'s second factors (authenticator app, recovery codes and passkeys). {then}",
        )
    else:
        messages.info(request, f"{name} had no second factor: nothing was removed.")
    return redirect("/team/")
