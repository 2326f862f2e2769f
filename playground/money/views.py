"""The Usage page: this month and last, the person's allowance and budgets."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from playground.lib.http import AuthenticatedHttpRequest
from playground.money import budgets
from playground.money.models import allowance_for
from playground.money.usage import month_usage


@require_GET
def usage(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = {
        "months": [month_usage(0), month_usage(1)],
        "allowance": allowance_for(request.user),
        "budget": budgets.person_budget(request.user),
        "team_budget": budgets.team_budget(),
    }
    return render(request, "playground/usage.html", context)
