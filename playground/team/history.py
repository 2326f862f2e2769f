"""Model changes in the audit record, through django-auditlog: budgets, webhooks, and deletions.

django-auditlog keeps the field-by-field change (its LogEntry, with the actor the middleware below
names and the client's address); for each entry one line of the audit record is written here in
plain words ("ann changed bob's monthly budget from $25.00 to $40.00"), linked to the entry, so the
audit page reads one indexed table.

What is watched (registered at start-up, PlaygroundConfig.ready):
- a person's allowance and budget (money.Allowance) and the team budget (money.TeamBudget):
  created, changed, removed;
- webhooks: created, changed, deleted. The secret is never stored: its change is recorded as
  "(hidden)" on both sides, and a URL keeps only its scheme and host (an incoming-webhook URL's
  path is often itself a credential). The worker's bookkeeping fields (failure counts, last
  status) are not watched, and the worker writes them with UPDATEs, which send no signal;
- deletions only of videos (generations.Generation), collections and film exports. Saving one
  records nothing and costs nothing: auditlog's save receivers are disconnected for them, so the
  worker's many saves of a generation add no query. A bulk delete (gallery/bulk.py uses
  queryset.delete(), which still sends a post_delete per row once anything listens) writes one
  line per video. No housekeeping chore deletes these rows (staged pictures, webhook deliveries,
  usage-log rows and film folders are not watched), so the record is not flooded by sweeps.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from auditlog.middleware import AuditlogMiddleware as _AuditlogMiddleware
from auditlog.models import LogEntry
from auditlog.receivers import log_create, log_update
from auditlog.registry import auditlog
from auditlog.signals import post_log
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from playground.films.sequences import SequenceExport
from playground.gallery.models import Collection
from playground.generations.models import Generation
from playground.lib.clientip import client_ip
from playground.money.budgets import dollars
from playground.money.models import Allowance, TeamBudget
from playground.notify.webhooks import Events, Webhook
from playground.team.models import AuditEvent, AuditKind

HIDDEN = "(hidden)"


class AuditlogMiddleware(_AuditlogMiddleware):  # type: ignore[misc]
    """auditlog's middleware, reading the client's address as the sign-in lockout does.

    auditlog's own believes the first X-Forwarded-For entry from anyone, so a client could write
    any address into the record; client_ip trusts the header only from our own proxies.
    """

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return client_ip(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        return None  # X-Forwarded-Port is as easy to forge, and nobody reads it


def conceal(value: str) -> str:
    """auditlog's mask for webhook fields: a URL keeps its scheme and host, anything else is hidden."""
    text = str(value)
    if text in {"", "None"}:
        return text
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"} and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/…"
    return HIDDEN


KINDS: dict[type[Model], AuditKind] = {
    Allowance: AuditKind.BUDGET,
    TeamBudget: AuditKind.BUDGET,
    Webhook: AuditKind.WEBHOOK,
    Generation: AuditKind.DELETION,
    Collection: AuditKind.DELETION,
    SequenceExport: AuditKind.DELETION,
}


def register() -> None:
    """Tell auditlog what to watch (called once, at start-up)."""
    auditlog.register(Allowance, include_fields=["generations_per_month", "usd_per_month"])
    auditlog.register(TeamBudget, include_fields=["usd_per_month"])
    auditlog.register(
        Webhook,
        include_fields=["name", "url", "events", "active", "secret"],
        mask_fields=["secret", "url"],
        mask_callable="playground.team.history.conceal",
    )
    for model, fields in (
        (Generation, ["prompt", "created_by"]),
        (Collection, ["name", "created_by"]),
        (SequenceExport, ["clip_ids", "created_by"]),
    ):
        auditlog.register(model, include_fields=fields)
        _deletions_only(model)


def _deletions_only(model: type[Model]) -> None:
    """Unhook auditlog's save receivers for `model`, keeping its delete receiver.

    auditlog 3.4 registers create, update and delete together (a second registry would not do:
    its diff reads the main registry's field lists). Its dispatch ids are its own formula.
    """
    post_save.disconnect(sender=model, dispatch_uid=auditlog._dispatch_uid(post_save, log_create))
    pre_save.disconnect(sender=model, dispatch_uid=auditlog._dispatch_uid(pre_save, log_update))


@receiver(pre_save, sender=LogEntry, dispatch_uid="audit-webhook-repr")
def _conceal_webhook_repr(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    """A webhook without a name is shown by its URL: keep only the host there too."""
    if "://" in instance.object_repr and instance.content_type.model_class() is Webhook:
        instance.object_repr = conceal(instance.object_repr)


# People being deleted right now: a line about their allowance (removed with them) must not point
# at them, or the new line would hold a reference to a row deleted a moment later.
_leaving: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "audit_leaving", default=frozenset()
)


@receiver(pre_delete, sender=User, dispatch_uid="audit-user-leaving")
def _user_leaving(sender: type[User], instance: User, **kwargs: Any) -> None:
    _leaving.set(_leaving.get() | {instance.pk})


@receiver(post_delete, sender=User, dispatch_uid="audit-user-left")
def _user_left(sender: type[User], instance: User, **kwargs: Any) -> None:
    _leaving.set(_leaving.get() - {instance.pk})


def _person(user_id: int | None) -> User | None:
    if user_id is None or user_id in _leaving.get():
        return None
    return User.objects.filter(pk=user_id).first()


# --- Plain words ------------------------------------------------------------------------------


def _was(changes: dict[str, Any], field: str) -> tuple[str, str] | None:
    pair = changes.get(field)
    if not pair:
        return None
    old, new = pair
    return str(old), str(new)


def _money(value: str) -> str:
    if value in {"", "None"}:
        return "the default"
    try:
        return dollars(Decimal(value))
    except InvalidOperation:
        return value


def _count(value: str) -> str:
    return "the default" if value in {"", "None"} else f"{value} video{'' if value == '1' else 's'}"


def _whose(owner: User | None, name: str, actor: User | None) -> str:
    if owner is not None and actor is not None and owner.pk == actor.pk:
        return "their"
    return f"{owner.get_username() if owner else name}'s"


def _changed(what: str, pair: tuple[str, str], words: Callable[[str], str], action: int) -> str:
    old, new = pair
    if action == LogEntry.Action.CREATE or (old in {"", "None"} and action != LogEntry.Action.DELETE):
        return f"set {what} to {words(new)}"
    if action == LogEntry.Action.DELETE or new in {"", "None"}:
        return f"set {what} back to the default (was {words(old)})"
    return f"changed {what} from {words(old)} to {words(new)}"


def _allowance_words(instance: Allowance, changes: dict[str, Any], action: int, actor: User | None) -> str:
    owner = _person(instance.user_id)
    whose = _whose(owner, f"person #{instance.user_id}", actor)
    parts = []
    if pair := _was(changes, "usd_per_month"):
        parts.append(_changed(f"{whose} monthly budget", pair, _money, action))
    if pair := _was(changes, "generations_per_month"):
        parts.append(_changed(f"{whose} monthly video allowance", pair, _count, action))
    return " and ".join(parts)


def _team_budget_words(instance: TeamBudget, changes: dict[str, Any], action: int, actor: User | None) -> str:
    pair = _was(changes, "usd_per_month")
    return _changed("the team's monthly budget", pair, _money, action) if pair else ""


def _events(value: str) -> str:
    try:
        return str(Events(value).label).lower()
    except ValueError:
        return value


def _webhook_words(instance: Webhook, changes: dict[str, Any], action: int, actor: User | None) -> str:
    name = f"the webhook “{instance.name}”" if instance.name else f"the webhook to {conceal(instance.url)}"
    if action == LogEntry.Action.CREATE:
        state = "" if instance.active else ", paused"
        return f"added {name} ({conceal(instance.url)}, {_events(instance.events)}{state})"
    if action == LogEntry.Action.DELETE:
        return f"deleted {name}"
    parts = []
    if pair := _was(changes, "name"):
        parts.append(f"renamed it from “{pair[0]}” to “{pair[1]}”")
    if pair := _was(changes, "url"):
        parts.append(f"changed its URL (now {pair[1]})")
    if pair := _was(changes, "events"):
        parts.append(f"changed when it is called from “{_events(pair[0])}” to “{_events(pair[1])}”")
    if pair := _was(changes, "active"):
        parts.append("resumed it" if pair[1] == "True" else "paused it")
    if "secret" in changes:
        parts.append("replaced its secret")
    return f"changed {name}: " + "; ".join(parts) if parts else ""


def _excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[-15:]:
        cut = cut.rsplit(" ", 1)[0]  # end on a whole word when one ends near the limit
    return cut.rstrip(" ,.;:") + "…"


def _deletion_words(instance: Model, changes: dict[str, Any], action: int, actor: User | None) -> str:
    owner_id: int | None = getattr(instance, "created_by_id", None)
    owner = _person(owner_id)
    whose = "" if owner is None else f"{_whose(owner, '', actor)} "
    if isinstance(instance, Generation):
        return f"deleted {whose}video #{instance.pk} “{_excerpt(instance.prompt)}”"
    if isinstance(instance, Collection):
        return f"deleted {whose}collection “{_excerpt(instance.name)}”"
    if isinstance(instance, SequenceExport):
        clips = len(instance.clip_ids or [])
        return f"deleted {whose}film #{instance.pk} ({clips} clip{'' if clips == 1 else 's'})"
    return f"deleted {instance._meta.verbose_name} #{instance.pk}"


WORDS: dict[type[Model], Callable[[Any, dict[str, Any], int, User | None], str]] = {
    Allowance: _allowance_words,
    TeamBudget: _team_budget_words,
    Webhook: _webhook_words,
    Generation: _deletion_words,
    Collection: _deletion_words,
    SequenceExport: _deletion_words,
}


def _subject(instance: Model) -> User | None:
    if isinstance(instance, Allowance):
        return _person(instance.user_id)
    return _person(getattr(instance, "created_by_id", None))


@receiver(post_log, dispatch_uid="audit-from-auditlog")
def _line_for_entry(
    sender: type[Model],
    instance: Model,
    action: int,
    changes: dict[str, Any] | None,
    log_entry: LogEntry | None,
    **kwargs: Any,
) -> None:
    if log_entry is None or sender not in KINDS:
        return
    actor = log_entry.actor if isinstance(log_entry.actor, User) else None
    words = WORDS[sender](instance, changes or {}, action, actor)
    if not words:
        return
    who = actor.get_username() if actor else "A command on the server"
    subject = _subject(instance)
    AuditEvent.objects.create(
        at=log_entry.timestamp,
        kind=KINDS[sender],
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        subject=subject,
        subject_name=subject.get_username() if subject else "",
        summary=f"{who} {words}"[:500],
        ip=log_entry.remote_addr,
        log_entry=log_entry,
    )


PRUNE_BATCH = 5000


def prune(days: int) -> tuple[int, int]:
    """Delete the lines and auditlog's entries older than `days` days, a batch at a time (so a
    large prune holds no long lock), and record the prune. Returns (lines, entries) deleted."""
    cutoff = timezone.now() - timedelta(days=days)
    lines = _delete_in_batches(AuditEvent.objects.filter(at__lt=cutoff))
    entries = _delete_in_batches(LogEntry.objects.filter(timestamp__lt=cutoff))
    before = f"{timezone.localtime(cutoff):%Y-%m-%d %H:%M}"
    AuditEvent.objects.create(
        kind=AuditKind.DELETION,
        summary=(
            f"A command on the server pruned the audit record: {lines} line{'' if lines == 1 else 's'} "
            f"older than {days} day{'' if days == 1 else 's'} (before {before})"
        ),
    )
    return lines, entries


def _delete_in_batches(rows: QuerySet[Any]) -> int:
    removed = 0
    while batch := list(rows.values_list("pk", flat=True)[:PRUNE_BATCH]):
        removed += rows.model._default_manager.filter(pk__in=batch).delete()[0]
    return removed
