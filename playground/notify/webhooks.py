"""Outgoing webhooks: telling other systems (Slack, Teams, a team's own scripts) a video ended.

Staff set webhooks up in the admin. When a generation becomes ready or failed, the worker writes
one WebhookDelivery row per interested webhook (`enqueue`); the body is fixed then, so every
retry sends the same bytes. Deliveries are jobs like generations: a worker thread of their own
claims due rows with the same conditional-UPDATE lease (the row count says who won, on SQLite
and PostgreSQL alike), so a slow receiver never holds up the upstream work.

Every request carries `X-Playground-Timestamp` and `X-Playground-Signature: sha256=<hex>`, the
HMAC-SHA256 of "<timestamp>." + raw body under the webhook's secret (docs/webhooks.md, "Verifying
a delivery"). The secret is write-only in the admin and never written to a page or a log line.

Receivers are reached through linkfetch's guarded client, under the rules image links follow:
no loopback, private or link-local (cloud metadata) address unless WEBHOOK_ALLOWED_HOSTS names
the host, checked at connect time on the address actually used.

An attempt ends within WEBHOOK_TIMEOUT seconds, however slowly the receiver answers: the guarded
client holds the look-up, the connect, sending and every read to one deadline (a receiver
dribbling its headers a byte at a time can't stretch it), and the body of the answer is never read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from playground.lib import linkfetch
from playground.lib.leases import LeasedQuerySet

if TYPE_CHECKING:
    from playground.generations.models import Generation

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Playground-Signature"
TIMESTAMP_HEADER = "X-Playground-Timestamp"
RETRYABLE_STATUSES = {408, 425, 429}


class Event(models.TextChoices):
    READY = "generation.ready", "Ready"
    FAILED = "generation.failed", "Failed"
    TEST = "webhook.test", "Test"
    COMMENT_CREATED = "comment.created", "Comment made"
    COMMENT_RESOLVED = "comment.resolved", "Comment thread resolved"
    REVIEW_STATUS_CHANGED = "review.status_changed", "Review status changed"


REVIEW_EVENTS = {Event.COMMENT_CREATED, Event.COMMENT_RESOLVED, Event.REVIEW_STATUS_CHANGED}


class Events(models.TextChoices):
    BOTH = "both", "When a video is ready or has failed"
    READY = "ready", "When a video is ready"
    FAILED = "failed", "When a video has failed"
    REVIEW = "review", "Comments and review status changes"
    ALL = "all", "Every event: videos ending, comments, review status"


class Webhook(models.Model):
    name = models.CharField(max_length=100, blank=True, help_text="For you, e.g. “#video-team in Slack”.")
    url = models.URLField("URL", max_length=2000, help_text="Where the worker POSTs each event (JSON).")
    events = models.CharField(max_length=8, choices=Events.choices, default=Events.BOTH)
    active = models.BooleanField(default=True)
    # Write-only in the admin; only the worker reads it, to sign.
    secret = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_reason = models.TextField(blank=True, help_text="Why the app paused this webhook.")
    last_status = models.CharField(max_length=200, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or self.url

    def wants(self, event: str) -> bool:
        if self.events == Events.ALL:
            return True
        if event in REVIEW_EVENTS:
            return self.events == Events.REVIEW
        return self.events == Events.BOTH or event == f"generation.{self.events}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"


class DeliveryQuerySet(LeasedQuerySet["WebhookDelivery"]):
    def claim_due(self, owner: str, limit: int, lease_seconds: float) -> list[WebhookDelivery]:
        due = self.filter(
            state=DeliveryState.PENDING, webhook__active=True, next_attempt_at__lte=timezone.now()
        )
        won = due.lease(owner, limit, lease_seconds, order_by="next_attempt_at")
        return list(self.filter(pk__in=won, lease_owner=owner).select_related("webhook"))


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    generation = models.ForeignKey(
        "playground.Generation", null=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=32, choices=Event.choices)
    body = models.TextField(help_text="The exact JSON sent on every attempt.")
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.CharField(max_length=200, blank=True, help_text="What the last attempt got.")
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due_idx", condition=Q(state="pending")),
        ]
        constraints = [
            # One delivery per webhook and ending, however many paths notice it (test events,
            # which have no generation, are exempt: NULLs never collide).
            models.UniqueConstraint(fields=["webhook", "generation", "event"], name="one_delivery_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.generation_id} → {self.webhook}"

    def _finish(self, owner: str, **fields: Any) -> bool:
        """Write `fields` and release the lease if `owner` still holds it."""
        fields.update(lease_owner="", lease_until=None)
        done = (
            WebhookDelivery.objects.filter(pk=self.pk, lease_owner=owner, state=DeliveryState.PENDING).update(
                **fields
            )
            == 1
        )
        if done:
            for name, value in fields.items():
                setattr(self, name, value)
        return done


# --- What is sent --------------------------------------------------------------------------


def payload(gen: Generation, event: str) -> dict[str, Any]:
    page = f"{settings.SITE_URL}{gen.get_absolute_url()}"
    maker = gen.created_by.get_username() if gen.created_by else None
    when = gen.finished_at or timezone.now()
    who = maker or "a former member"
    if event == Event.READY:
        length = f", {gen.duration:.1f} s" if gen.duration else ""
        line = f"Video #{gen.pk} is ready: “{gen.title}” by {who} ({gen.model}{length}). {page}"
    else:
        line = f"Video #{gen.pk} failed: “{gen.title}” by {who} ({gen.model}). {gen.failure_reason} {page}"
    return {
        "event": event,
        "video": {"id": gen.pk, "url": page},
        "prompt": gen.prompt,
        "model": gen.model,
        "maker": maker,
        "state": gen.state,
        # Dollars as the service reported them (a decimal string; None while unknown), and its credits.
        "cost": _cost(gen),
        "credits": gen.credits_reported,
        "duration": gen.duration,
        "time": when.isoformat(),
        "failure_reason": gen.failure_reason or None,
        # Slack's and Teams' incoming webhooks show this field as the message.
        "text": line,
    }


def _cost(gen: Generation) -> str | None:
    from playground.money.budgets import cost_of  # budgets imports the models module, which imports this one

    usd = cost_of(gen)
    return None if usd is None else str(usd)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def enqueue(gen: Generation) -> int:
    """One pending delivery per active webhook that wants this generation's ending; how many."""
    event = {"ready": Event.READY, "failed": Event.FAILED}.get(gen.state)
    if event is None:
        return 0  # another ending (should one be added) is not an event receivers know
    return enqueue_for(gen, [hook for hook in Webhook.objects.filter(active=True) if hook.wants(event)])


def enqueue_for(gen: Generation, hooks: list[Webhook]) -> int:
    event = {"ready": Event.READY, "failed": Event.FAILED}.get(gen.state)
    if event is None or not hooks:
        return 0
    body = json.dumps(payload(gen, event), ensure_ascii=False, separators=(",", ":"))
    before = WebhookDelivery.objects.filter(generation=gen, event=event).count()
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=hook, generation=gen, event=event, body=body) for hook in hooks],
        ignore_conflicts=True,  # another path got there first: it stays one delivery
    )
    return WebhookDelivery.objects.filter(generation=gen, event=event).count() - before


# Finished deliveries (delivered or given up) are history for the admin; `prunedeliveries`
# deletes them after this long, so the table stays bounded however many videos a team makes.
KEEP_FINISHED = timedelta(days=30)
PRUNE_BATCH = 1000


def prune(older_than: timedelta = KEEP_FINISHED) -> int:
    """Delete finished deliveries made more than `older_than` ago, in batches; how many went.

    Pending ones are kept whatever their age: they are still owed to somebody.
    """
    cutoff = timezone.now() - older_than
    finished = WebhookDelivery.objects.exclude(state=DeliveryState.PENDING).filter(created_at__lt=cutoff)
    removed = 0
    while batch := list(finished.values_list("pk", flat=True)[:PRUNE_BATCH]):
        removed += WebhookDelivery.objects.filter(pk__in=batch).delete()[0]
    return removed


CATCH_UP_EVERY = 60.0
CATCH_UP_WINDOW = timedelta(hours=2)
_last_catch_up = float("-inf")


def catch_up(now: datetime | None = None) -> int:
    """Queue what the worker's own announcement missed: endings from the last two hours with no
    delivery for a webhook that existed then (a worker that died between marking a video ready
    and queueing, or an ending written outside the worker's step). Returns how many were queued."""
    from playground.generations.models import Generation

    now = now or timezone.now()
    queued = 0
    for hook in Webhook.objects.filter(active=True):
        states = {
            "both": ["ready", "failed"],
            "all": ["ready", "failed"],
            "ready": ["ready"],
            "failed": ["failed"],
        }
        if hook.events not in states:
            continue  # review events are queued in the request that makes them, never caught up
        missed = (
            Generation.objects.filter(
                state__in=states[hook.events],
                created_at__gte=now - 2 * CATCH_UP_WINDOW,  # keeps the scan on the date index
                finished_at__gte=max(hook.created_at, now - CATCH_UP_WINDOW),
            )
            .exclude(webhook_deliveries__webhook=hook)
            .select_related("created_by")[:100]
        )
        for gen in missed:
            queued += enqueue_for(gen, [hook])
    return queued


def enqueue_event(event: Event, body: dict[str, Any]) -> int:
    """One pending delivery per active webhook that wants `event` (a review event); how many.

    Review events happen many times to one video, so their deliveries name no generation (the
    one-delivery-per-ending rule is for endings); the body carries the video's id and address.
    Called inside the transaction that makes the event, so both are kept or neither is.
    """
    hooks = [hook for hook in Webhook.objects.filter(active=True) if hook.wants(event)]
    text = json.dumps({"event": event.value, **body}, ensure_ascii=False, separators=(",", ":"))
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=hook, event=event, body=text) for hook in hooks]
    )
    return len(hooks)


def enqueue_test(hook: Webhook) -> WebhookDelivery:
    """A delivery that says only "this works", for staff checking a new receiver."""
    body = {
        "event": Event.TEST,
        "time": timezone.now().isoformat(),
        "text": f"Test message from Video Playground ({settings.SITE_URL}): this webhook works.",
    }
    return WebhookDelivery.objects.create(
        webhook=hook, event=Event.TEST, body=json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    )


def send_again(deliveries: models.QuerySet[WebhookDelivery]) -> int:
    """Put finished deliveries back in the queue, as new (staff asked for it)."""
    return deliveries.exclude(state=DeliveryState.PENDING).update(
        state=DeliveryState.PENDING, attempts=0, next_attempt_at=timezone.now(), delivered_at=None
    )


# --- Sending -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    raw = settings.WEBHOOK_RETRY_BASE * (2 ** min(attempts - 1, 20))
    return float(min(settings.WEBHOOK_RETRY_CAP, raw) * random.uniform(0.8, 1.0))  # noqa: S311


def deliver_due(owner: str, *, limit: int = 4) -> int:
    """Send the deliveries due now (one at a time); how many were tried."""
    global _last_catch_up
    if time.monotonic() - _last_catch_up >= CATCH_UP_EVERY:
        _last_catch_up = time.monotonic()
        missed = catch_up()
        if missed:
            log.warning("Queued %d webhook deliveries the worker had not announced", missed)
    # Held long enough for `limit` attempts of at most WEBHOOK_TIMEOUT each, and the writes between.
    claimed = WebhookDelivery.objects.claim_due(owner, limit, settings.WEBHOOK_TIMEOUT * limit + 10)
    for delivery in claimed:
        # The webhook may have been paused (or switched off) since these rows were claimed.
        if Webhook.objects.filter(pk=delivery.webhook_id, active=True).exists():
            attempt(delivery, owner)
        else:
            delivery._finish(owner)
    return len(claimed)


def attempt(delivery: WebhookDelivery, owner: str) -> None:
    """POST once and record the outcome: delivered, a retry later, or given up."""
    hook = delivery.webhook
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "VideoPlayground-Webhook/1.0",
        "X-Playground-Event": delivery.event,
        "X-Playground-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
    }
    retry = False
    try:
        linkfetch.check_link(hook.url, allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS)
        client = linkfetch.guarded_client(
            allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS, timeout=settings.WEBHOOK_TIMEOUT
        )
        # Only the status matters; the body is never read, so a receiver can't make us hold one.
        # WEBHOOK_TIMEOUT is the deadline of this whole exchange (see linkfetch.guarded_client).
        with client, client.stream("POST", hook.url, content=body, headers=headers) as response:
            code = response.status_code
            is_redirect = response.is_redirect
        status = f"HTTP {code} {httpx.codes.get_reason_phrase(code)}".rstrip()
        ok = 200 <= code < 300
        retry = code >= 500 or code in RETRYABLE_STATUSES
        if is_redirect:
            status += " (redirects are not followed; give the final address)"
    except linkfetch.LinkRejected as exc:
        ok, status = False, refusal(exc)
    except httpx.TimeoutException:
        ok, retry, status = False, True, f"No answer within {settings.WEBHOOK_TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        ok, retry, status = False, True, f"Could not connect: {type(exc).__name__}"
    attempts = delivery.attempts + 1
    now = timezone.now()
    if ok:
        delivery._finish(
            owner, state=DeliveryState.DELIVERED, attempts=attempts, last_status=status, delivered_at=now
        )
        Webhook.objects.filter(pk=hook.pk).update(
            consecutive_failures=0, last_status=status, last_attempt_at=now
        )
        log.info("Webhook %s: delivery %s delivered (%s)", hook.pk, delivery.pk, status)
        return
    if retry and attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery._finish(
            owner,
            attempts=attempts,
            last_status=status,
            next_attempt_at=now + timedelta(seconds=retry_delay(attempts)),
        )
    else:
        delivery._finish(owner, state=DeliveryState.FAILED, attempts=attempts, last_status=status)
    log.warning("Webhook %s: delivery %s attempt %d failed (%s)", hook.pk, delivery.pk, attempts, status)
    _count_failure(hook, status, now)


def refusal(exc: linkfetch.LinkRejected) -> str:
    """Why a receiver's address is refused, in webhooks' words (linkfetch's speak of image links)."""
    if exc.private_address is None:
        return exc.message
    return (
        f"This webhook's receiver is at a private or local network address ({exc.private_address}), "
        "which webhooks may not reach unless the WEBHOOK_ALLOWED_HOSTS setting names its host."
    )


def _count_failure(hook: Webhook, status: str, now: datetime) -> None:
    Webhook.objects.filter(pk=hook.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_status=status, last_attempt_at=now
    )
    limit = settings.WEBHOOK_PAUSE_AFTER
    reason = (
        f"Paused on {timezone.localtime(now):%Y-%m-%d at %H:%M} after {limit} failed attempts in a row "
        f"(the last one: {status}). Fix the receiver, then tick Active and save to resume."
    )
    paused = Webhook.objects.filter(pk=hook.pk, active=True, consecutive_failures__gte=limit).update(
        active=False, paused_reason=reason
    )
    if paused:
        log.warning("Webhook %s paused after %d failed attempts in a row", hook.pk, limit)
