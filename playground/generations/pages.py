"""The Generate page as every view that shows it renders it: the form with its plan, budget, rules,
models and the team's presets.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render

from playground.generations import presets
from playground.generations.forms import GenerateForm
from playground.lib.http import AuthenticatedHttpRequest
from playground.money import budgets, starts
from playground.money.models import allowance_for
from playground.pictures import batch_pictures, fixing
from playground.upstream import catalogue


def generate_page(request: AuthenticatedHttpRequest, form: GenerateForm, **extra: Any) -> HttpResponse:
    allowance = allowance_for(request.user)
    batch = extra.pop("batch", form.batch)
    references = extra.pop("references", form.references)
    context = {
        "form": form,
        "reused": form.reused_generation(),
        "reused_last": form.reused_last_generation(),
        "continued": form.continued_generation(),
        "allowance": allowance,
        "plan": starts.plan_words(
            form.planned_model(),
            form.planned_count(None if batch is None else len(batch)),
            allowance,
            form.planned_seconds(),
        ),
        "batch": batch,
        "batch_names": batch_pictures.BATCH,
        "references": references,
        "reference_names": batch_pictures.REFERENCES,
        "budget": budgets.person_budget(request.user),
        "estimates": budgets.estimates(),
        "offer": form.offer,
        "last_offer": form.last_offer,
        # Which fields each model takes, for the page's script (catalogue.py is the one source).
        "models": catalogue.browser_data(),
        "chosen_model": form.chosen_model(),
        # The browser checks the same limits before uploading; the server stays the judge.
        "rules": fixing.browser_rules(),
        "presets": presets.team_presets(),
        **extra,
    }
    return render(request, "playground/generate.html", context)
