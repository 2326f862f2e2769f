"""The team queue, cancelling jobs not yet sent, and the batch page.

The queue lists waiting jobs in the worker's own order (fair turns, generations/turns.py), so
"place in line" is what the worker will do, not a guess. Pages are a fixed number of rows and a
fixed number of queries whatever the length of the line, and the database hands over only the
page's rows: the turns are numbered and sorted there (TurnLine), not in Python.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from playground.generations import batches
from playground.generations.forms import GenerateForm
from playground.generations.models import Batch, Generation, State
from playground.generations.turns import TurnLine
from playground.lib.http import AuthenticatedHttpRequest
from playground.money import starts
from playground.money.models import allowance_for
from playground.notify import notifications

QUEUE_PAGE_SIZE = 25
SENT_STATES = (State.SUBMITTING, State.RUNNING, State.ARCHIVING)
# What a queue row shows (queue.html): a job's other seventy-odd columns stay in the database.
SHOWN = ("created_by__username", "created_at", "model", "prompt", "state", "upstream_status", "trouble")


@require_GET
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    working = list(
        Generation.objects.filter(state__in=SENT_STATES)
        .select_related("created_by")
        .only(*SHOWN)
        .order_by("create_sent_at", "id")[:QUEUE_PAGE_SIZE]
    )
    line = TurnLine(Generation.objects.filter(state=State.QUEUED))
    page: Page[int] = Paginator(line, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    shown = Generation.objects.select_related("created_by").only(*SHOWN).in_bulk(list(page.object_list))
    user = request.user
    rows = [
        (page.start_index() + i, shown[pk], shown[pk].can_be_deleted_by(user))
        for i, pk in enumerate(page.object_list)
        if pk in shown
    ]
    mine = Generation.objects.filter(state=State.QUEUED, created_by=request.user.pk).count()
    context = {"working": working, "page": page, "rows": rows, "mine_waiting": mine}
    return render(request, "playground/queue.html", context)


def _back(request: AuthenticatedHttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@require_POST
def cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation, pk=pk)
    if not gen.can_be_deleted_by(request.user):
        raise PermissionDenied("Only the person who started this video, or an admin, can cancel it.")
    if Generation.objects.cancel([gen.pk]):
        messages.success(request, f"Video #{pk} was cancelled. Nothing was sent and nothing was charged.")
    elif gen.state == State.CANCELLED:
        messages.info(request, f"Video #{pk} was already cancelled.")
    else:
        messages.error(
            request,
            f"Video #{pk} was already sent to the video service, which has no way to call a job back, "
            "so it can't be cancelled.",
        )
    return redirect(_back(request, gen.get_absolute_url()))


@require_POST
def cancel_mine(request: AuthenticatedHttpRequest) -> HttpResponse:
    count = Generation.objects.filter(created_by=request.user.pk).cancel()
    if count:
        noun = "job" if count == 1 else "jobs"
        messages.success(
            request, f"Cancelled {count} waiting {noun}. Nothing was sent and nothing was charged."
        )
    else:
        messages.info(request, "You have no jobs waiting, so nothing was cancelled.")
    return redirect(_back(request, "queue"))


def batch_context(batch: Batch) -> dict[str, Any]:
    takes = list(batch.takes.order_by("id"))
    return {
        "batch": batch,
        "takes": takes,
        "active": any(t.is_active for t in takes),
        "failed": [t for t in takes if t.state == State.FAILED],
        "waiting": sum(1 for t in takes if t.state == State.QUEUED),
    }


@require_GET
def batch(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(Batch.objects.select_related("created_by"), pk=pk)
    context = batch_context(found)
    if request.htmx and not request.htmx.history_restore_request:
        # One request for the whole batch: every take's card, swapped in out of band.
        return render(request, "playground/batch.html#poll", {**context, "polled": True})
    context["notify_on"] = notifications.wants_notifications(request.user)
    return render(request, "playground/batch.html", context)


@require_GET
def generate_plan(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Generate page's "4 videos · 4 of your 96 left", for the fields as they stand."""
    form = GenerateForm(request.GET, user=request.user)
    plan = starts.plan_words(
        form.planned_model(), form.planned_count(), allowance_for(request.user), form.planned_seconds()
    )
    return render(request, "playground/generate.html#plan", {"plan": plan})


@require_POST
def batch_retry(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A new batch with one new take for each failed one, checked against the limits as a whole."""
    found = get_object_or_404(Batch, pk=pk)
    failed = list(found.takes.filter(state=State.FAILED).order_by("id"))
    if not failed:
        messages.info(request, "None of these takes failed, so there is nothing to retry.")
        return redirect(found)
    if any(not take.can_be_deleted_by(request.user) for take in failed):
        raise PermissionDenied("Only the person who started this batch, or an admin, can retry it.")
    retried = batches.retry(request.user, failed)
    if isinstance(retried, str):
        messages.error(request, retried)
        return redirect(found)
    return redirect(retried)
