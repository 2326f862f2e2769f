"""Finding a create whose answer was lost, in the service's usage log (GET /v2/logs).

A create that timed out after sending, lost its connection, or whose worker died between
"create sent" and storing the id may have started (and be billed) or not. Every create carries
its own X-Client-Request-Id (models.new_client_request_id), and the usage log lists each request
with that id, so the question can be answered from the service's own records instead of guessed:

- a succeeded row: the job exists; its inference_id is the generation id to poll;
- a failed row: the service took nothing, so one more create cannot pay twice;
- no row yet: the log is fed by an analytics pipeline that lags, so "not there" means "not known
  yet". We keep asking until RECOVERY_WINDOW after the send, then give up honestly.

The log has no filter by client request id, so a look-up pages through the rows of one model in
a narrow window around the send time. Its rate limit (200 requests per 60 s per key) is shared by
every worker on every machine, so the pacing lives in the database: each request first takes a
slot in a sliding window of UsageLogCall rows, under a lock row, which holds across processes on
SQLite and PostgreSQL alike. (An in-process limiter such as a token bucket library would let N
workers make N times the calls.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playground.generations.models import Generation
from playground.lib.models import Lock
from playground.upstream.aimlapi import Client, LogRow
from playground.worker.models import UsageLogCall

# The service counts a request when it arrives, which is some time after its slot was taken here
# (a busy machine can hold a thread for a good part of a second) and before its answer is back. So a
# slot's row first says "in flight until the request could have timed out" and, once the answer (or
# the error) is in, the moment it came back: the next window is measured from a time no earlier than
# the arrival, however slow the trip. A small gap on top covers the clocks' resolution.
_SLOT_SLACK = 0.05


@dataclass(frozen=True)
class LogSlot:
    """A place in the usage log's window: `wait` > 0 means none was free (try again after it)."""

    wait: float
    call_id: int | None = None


def take_log_slot() -> LogSlot:
    """A slot for one usage-log request, counted now; or, when the window is full, how long to wait."""
    limit = settings.USAGE_LOG_REQUESTS
    window = timedelta(seconds=settings.USAGE_LOG_WINDOW)
    with transaction.atomic():
        Lock.hold("usage-log")
        now = timezone.now()
        since = now - window
        UsageLogCall.objects.filter(at__lt=since).delete()
        recent = list(UsageLogCall.objects.order_by("at").values_list("at", flat=True)[:limit])
        if len(recent) >= limit:
            return LogSlot(wait=max(_SLOT_SLACK, (recent[0] - since).total_seconds() + _SLOT_SLACK))
        in_flight_until = now + timedelta(seconds=settings.AIMLAPI_TIMEOUT)
        return LogSlot(wait=0.0, call_id=UsageLogCall.objects.create(at=in_flight_until).pk)


def finish_log_slot(slot: LogSlot) -> None:
    """The request of `slot` is over: its window now runs from this moment (no earlier than its arrival)."""
    if slot.call_id is not None:
        UsageLogCall.objects.filter(pk=slot.call_id).update(at=timezone.now())


@dataclass(frozen=True)
class Found:
    succeeded: bool
    inference_id: str | None
    usd: Decimal | None
    credits: int | None


@dataclass(frozen=True)
class LookUp:
    """What one look-up learnt: a row, nothing (yet), or that it must wait for a log slot."""

    found: Found | None = None
    wait: float = 0.0


def look_up(client: Client, gen: Generation) -> LookUp:
    """Page through the usage log for `gen`'s last create. Raises the client's UpstreamErrors."""
    sent = gen.create_sent_at or gen.created_at
    margin = timedelta(seconds=settings.RECOVERY_LOG_MARGIN)
    offset = 0
    matches: list[LogRow] = []
    while True:
        slot = take_log_slot()
        if slot.wait:
            return LookUp(wait=slot.wait)
        try:
            page = client.usage_log(start=sent - margin, end=sent + margin, model=gen.model, offset=offset)
        finally:
            finish_log_slot(slot)
        matches += [row for row in page.rows if row.client_request_id == gen.client_request_id]
        if not page.has_more or not page.rows:
            break
        offset += len(page.rows)
    # A success outranks a failure (the service may log a failed try before the one that worked).
    for row in sorted(matches, key=lambda r: r.status != "succeeded"):
        if row.status == "succeeded" and row.inference_id:
            return LookUp(Found(True, row.inference_id, row.usd, row.credits))
        if row.status == "failed":
            return LookUp(Found(False, row.inference_id, row.usd, row.credits))
    return LookUp()
