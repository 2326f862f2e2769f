"""The Costs page and its CSV: a period's spend as a chart and tables, the same figures as a file."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from playground.lib.csvexport import csv_bytes
from playground.lib.http import AuthenticatedHttpRequest
from playground.money import chart
from playground.money.costs import MAX_DAYS, MAX_MONTHS, Period, PeriodError, csv_rows, period_from, report


@require_GET
def costs(request: AuthenticatedHttpRequest) -> HttpResponse:
    today = timezone.localdate()
    form = {
        "period": request.GET.get("period", "") or "this",
        "by": request.GET.get("by", "") or "",
        "from": request.GET.get("from", "")[:40],
        "to": request.GET.get("to", "")[:40],
    }
    context: dict[str, object] = {
        "form": form,
        "today": today,
        "max_days": MAX_DAYS,
        "max_months": MAX_MONTHS,
        "zone": settings.TIME_ZONE,
    }
    try:
        period = period_from(request.GET)
    except PeriodError as problem:
        context["problem"] = str(problem)
        return render(request, "playground/costs.html", context, status=400)
    figures = report(request.user, period)
    if not form["by"]:
        form["by"] = period.by
    if form["period"] == "range" and not form["from"]:
        form["from"], form["to"] = f"{period.first:%Y-%m-%d}", f"{period.last:%Y-%m-%d}"
    context.update(
        report=figures,
        charts=[chart.draw(figures, "wide"), chart.draw(figures, "narrow")],
        csv_query=period_query(period),
        tables=[
            {"key": "person", "rows": figures.people},
            {"key": "model", "rows": figures.models},
            {"key": "collection", "rows": figures.collections},
        ],
    )
    return render(request, "playground/costs.html", context)


def period_query(period: Period) -> str:
    """The period alone as a query string (nothing else the address carried is passed on)."""
    values: dict[str, str] = {"period": period.kind, "by": period.by}
    if period.kind == "range":
        values |= {"from": f"{period.first:%Y-%m-%d}", "to": f"{period.last:%Y-%m-%d}"}
    return urlencode(values)


@require_GET
def costs_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        period = period_from(request.GET)
    except PeriodError as problem:
        return HttpResponse(str(problem), status=400, content_type="text/plain; charset=utf-8")
    figures = report(request.user, period)
    # A handful of rows per day or month and per person, model and collection: aggregated already.
    body = csv_bytes(csv_rows(figures))
    whose = "team" if figures.everyone else slugify(request.user.get_username()) or "mine"
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="costs_{period.slug}_{whose}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
