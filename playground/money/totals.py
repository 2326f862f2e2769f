"""Running totals: each budget month's dollars and videos, kept beside the rows so a check reads a few rows.

The rule: the totals (SpendTotal) are a cache of the generations. Each generation records what it
adds (`held_nano`, `held_at_estimate`, `held_at_estimate_seconds`, `held_video`); whatever write
changes what a row should add (it is made, its state moves, its cost arrives, it is deleted)
brings the row's record and the totals along in the same transaction, by the difference, with F()
increments, so two workers never lose an update. `recompute_money_totals` rebuilds the totals
from the rows.

What a row adds is the rule budgets.py states: a row that counts (in flight, made, or made and
not kept) adds its known cost, or one "at the estimate" (and the seconds it asked for) while the
cost is unknown; the estimate itself is applied when a total is read (budgets.committed_this_month:
per second of those seconds for a model priced by the second, per job otherwise), so a total equals
budgets.committed() exactly even while the estimate moves. Dollars are whole nanodollars (the
service's costs have 9 decimal places): integer sums are exact on SQLite, which has no decimals.

A row's month is its created_at in the site's time zone, and its person its creator: neither
changes, except that deleting a person empties created_by (their totals go with them; the
team's stay, as the rows do). After changing TIME_ZONE, run the command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, BooleanField, Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, NullIf, Round, TruncMonth
from django.db.models.signals import post_init, post_save, pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone

from playground.generations.models import (
    ACTIVE_STATES,
    UNCHARGED_FAILURES,
    Generation,
    State,
    cost_may_change,
)
from playground.money.models import SpendTotal
from playground.upstream import catalogue

NANO = 10**9

# Rows that cost (or will cost) money: made by the service, or still under way.
COUNTED = (
    Q(state__in=ACTIVE_STATES) | Q(state=State.READY) | Q(state=State.FAILED, completed_at__isnull=False)
)
KNOWN = Q(usd_spent__gt=0)
# Rows counting toward the monthly allowance (GenerationQuerySet.counting_toward_allowance).
NOT_A_VIDEO = Q(state=State.FAILED, upstream_id="", failure_code__in=UNCHARGED_FAILURES) | Q(
    state=State.CANCELLED
)

# A known cost in whole nanodollars: summed as integers, exact on SQLite too (whose sums of
# decimals are in floating point), so a sum does not depend on how the rows were grouped.
KNOWN_NANO = Cast(Round(F("usd_spent") * NANO), BigIntegerField())
# The same three, in SQL, for rebuilding (see holding() for the row-at-a-time form).
HELD_NANO = Case(When(COUNTED & KNOWN, then=KNOWN_NANO), default=Value(0), output_field=BigIntegerField())
HELD_AT_ESTIMATE = Case(
    When(COUNTED & ~KNOWN, then=Value(True)), default=Value(False), output_field=BooleanField()
)
HELD_VIDEO = Case(When(NOT_A_VIDEO, then=Value(False)), default=Value(True), output_field=BooleanField())
# The length a row asked for, in seconds (Generation.length_seconds: its model's default when it
# asked for none; 0 for a model the catalogue does not know).
ASKED_SECONDS = Coalesce(
    NullIf(F("duration_seconds"), Value(0)),
    Case(
        *[When(model=spec.id, then=Value(spec.default_duration)) for spec in catalogue.MODELS],
        default=Value(0),
        output_field=BigIntegerField(),
    ),
    output_field=BigIntegerField(),
)
HELD_AT_ESTIMATE_SECONDS = Case(
    When(COUNTED & ~KNOWN, then=ASKED_SECONDS), default=Value(0), output_field=BigIntegerField()
)

Key = tuple[int | None, date, str]  # person (None: the team), month, model


@dataclass(frozen=True)
class Holding:
    nano: int = 0
    at_estimate: bool = False
    video: bool = False
    seconds: int = 0  # the length asked for, while at the estimate

    def minus(self, other: Holding) -> tuple[int, int, int, int]:
        return (
            self.nano - other.nano,
            int(self.at_estimate) - int(other.at_estimate),
            int(self.video) - int(other.video),
            self.seconds - other.seconds,
        )


NOTHING = Holding()


def holding(gen: Generation) -> Holding:
    """What `gen` adds to its month's totals now, by COUNTED, KNOWN, NOT_A_VIDEO and ASKED_SECONDS."""
    state = gen.state
    counted = (
        state in ACTIVE_STATES
        or state == State.READY
        or (state == State.FAILED and gen.completed_at is not None)
    )
    usd = Decimal(gen.usd_spent) if gen.usd_spent is not None else None
    known = usd is not None and usd > 0
    video = not (
        state == State.CANCELLED
        or (state == State.FAILED and gen.upstream_id == "" and gen.failure_code in UNCHARGED_FAILURES)
    )
    nano = int((usd * NANO).to_integral_value(ROUND_HALF_UP)) if usd is not None and counted and known else 0
    at_estimate = counted and not known
    seconds = (gen.length_seconds or 0) if at_estimate else 0
    return Holding(nano=nano, at_estimate=at_estimate, video=video, seconds=seconds)


def held(gen: Generation) -> Holding:
    return Holding(gen.held_nano, gen.held_at_estimate, gen.held_video, gen.held_at_estimate_seconds)


def month_of(moment: datetime) -> date:
    """The budget month a moment falls in: its first day, in the site's time zone (as month_start)."""
    return timezone.localtime(moment).date().replace(day=1)


def dollars_of(nano: int) -> Decimal:
    return Decimal(nano).scaleb(-9)


_FIELDS = (
    "pk",
    "created_by",
    "created_at",
    "model",
    "state",
    "usd_spent",
    "completed_at",
    "upstream_id",
    "failure_code",
    "duration_seconds",
    "held_nano",
    "held_at_estimate",
    "held_video",
    "held_at_estimate_seconds",
)


def sync(pks: Iterable[int], *, gone: bool = False) -> dict[int, Holding]:
    """Bring what rows `pks` hold in the totals in line with the rows (with nothing, if `gone`).

    Call inside the transaction that changed them; idempotent, so calling it for a row that did
    not change costs a read. The rows are locked (PostgreSQL; SQLite's transactions are IMMEDIATE)
    so two workers cannot both apply the same difference. Returns what each row now holds.

    The statements do not grow with the rows: one read, one UPDATE of the rows' records per
    distinct new record (a batch's takes all hold the same; rows whose records differ from every
    other row's go in one CASE update per batch), and one UPDATE (or INSERT) per (person, month,
    model) total. Inside a caller's transaction no savepoint is taken: an error here is the
    caller's error, and its transaction rolls back whole.
    """
    pks = sorted(set(pks))
    now_held: dict[int, Holding] = {}
    if not pks:
        return now_held
    with transaction.atomic(savepoint=False):
        rows = Generation.objects.filter(pk__in=pks).order_by("pk").select_for_update().only(*_FIELDS)
        deltas: dict[Key, list[int]] = {}
        moved: dict[Holding, list[Generation]] = {}
        for row in rows:
            was, now = held(row), NOTHING if gone else holding(row)
            now_held[row.pk] = now
            if was == now:
                continue
            moved.setdefault(now, []).append(row)
            month = month_of(row.created_at)
            for person in {None, row.created_by_id}:
                total = deltas.setdefault((person, month, row.model), [0, 0, 0, 0])
                for i, part in enumerate(now.minus(was)):
                    total[i] += part
        _record(moved)
        _apply(deltas)
    return now_held


_HELD_FIELDS = ("held_nano", "held_at_estimate", "held_video", "held_at_estimate_seconds")
# Rows per statement: ids in one UPDATE of a shared record, and rows in one CASE update (a branch
# and an id each; Django lowers it further to the engine's limit on parameters).
_IDS = 1000
_BATCH = 500


def _record(moved: dict[Holding, list[Generation]]) -> None:
    """Write each moved row's new record: one UPDATE per record several rows share (per _IDS
    rows), and the rows whose record is theirs alone in CASE updates of _BATCH rows (bulk_update)."""
    alone: list[Generation] = []
    for now, rows in moved.items():
        if len(rows) == 1:
            _hold(rows[0], now)
            alone.append(rows[0])
            continue
        for start in range(0, len(rows), _IDS):
            Generation.objects.filter(pk__in=[row.pk for row in rows[start : start + _IDS]]).update(
                held_nano=now.nano,
                held_at_estimate=now.at_estimate,
                held_video=now.video,
                held_at_estimate_seconds=now.seconds,
            )
    if len(alone) == 1:
        row = alone[0]
        Generation.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in _HELD_FIELDS})
    elif alone:
        Generation.objects.bulk_update(alone, _HELD_FIELDS, batch_size=_BATCH)


def release(pks: Iterable[int]) -> None:
    """Rows about to be deleted stop counting (today's rule: a deleted video leaves the month's sums)."""
    sync(pks, gone=True)


def _hold(instance: Generation, holding: Holding) -> None:
    # What the row in the database now holds, on the object too, so its next full save writes the
    # same and not what it held when it was read.
    instance.held_nano = holding.nano
    instance.held_at_estimate = holding.at_estimate
    instance.held_video = holding.video
    instance.held_at_estimate_seconds = holding.seconds


def _apply(deltas: dict[Key, list[int]]) -> None:
    # One order everywhere (the team's rows first), so two transactions never wait on each other.
    for key in sorted(deltas, key=lambda k: (k[0] is not None, k[0] or 0, k[1], k[2])):
        nano, at_estimate, videos, seconds = deltas[key]
        if not (nano or at_estimate or videos or seconds):
            continue
        person, month, model = key
        rows = SpendTotal.objects.filter(person=person, month=month, model=model)
        change = {
            "spent_nano": F("spent_nano") + nano,
            "at_estimate": F("at_estimate") + at_estimate,
            "videos": F("videos") + videos,
            "at_estimate_seconds": F("at_estimate_seconds") + seconds,
        }
        if rows.update(**change):
            continue
        try:
            with transaction.atomic():
                SpendTotal.objects.create(
                    person_id=person,
                    month=month,
                    model=model,
                    spent_nano=nano,
                    at_estimate=at_estimate,
                    videos=videos,
                    at_estimate_seconds=seconds,
                )
        except IntegrityError:  # another transaction made it first: add to theirs
            rows.update(**change)


@receiver(cost_may_change, sender=Generation)
def _cost_may_change(sender: Any, pks: list[int], gone: bool = False, **kwargs: Any) -> None:
    sync(pks, gone=gone)


# The fields that say which totals a row counts in (its person, month and model).
_KEY_FIELDS = ("created_by_id", "created_at", "model")
_LOADED_KEY = "_totals_loaded_key"


def _key_fields(instance: Generation) -> tuple[Any, ...] | None:
    values = instance.__dict__
    if any(name not in values for name in _KEY_FIELDS):  # deferred: not known without a read
        return None
    return tuple(values[name] for name in _KEY_FIELDS)


@receiver(post_init, sender=Generation)
def _loaded(sender: Any, instance: Generation, **kwargs: Any) -> None:
    # Remember which totals a row read from the database counts in, so a save that keeps them (the
    # worker's progress, a title) need not let go of its share and take it up again.
    if instance.pk is not None:
        setattr(instance, _LOADED_KEY, _key_fields(instance))


@receiver(pre_save, sender=Generation)
def _saving(sender: Any, instance: Generation, raw: bool = False, **kwargs: Any) -> None:
    # A saved row may have a new month or person: let go of what it held, then take it up again
    # (post_save). When its person, month and model are those it was read with, the after-save
    # sync alone moves the difference, and a save that changes no money writes nothing here.
    if raw or instance._state.adding or instance.pk is None:
        return
    loaded = getattr(instance, _LOADED_KEY, None)
    if loaded is None or loaded != _key_fields(instance):
        release([instance.pk])
        _hold(instance, NOTHING)


@receiver(post_save, sender=Generation)
def _saved(sender: Any, instance: Generation, raw: bool = False, **kwargs: Any) -> None:
    if not raw:  # loaddata brings its own held fields; the command rebuilds the totals
        now = sync([instance.pk]).get(instance.pk)
        if now is not None:
            _hold(instance, now)
        setattr(instance, _LOADED_KEY, _key_fields(instance))


@receiver(pre_delete, sender=Generation)
def _deleting(sender: Any, instance: Generation, **kwargs: Any) -> None:
    # Inside the deletion's transaction (Django's collector sends it there), and the row is locked
    # by sync until the DELETE that follows. (A queryset's delete() has let go of its rows already.)
    release([instance.pk])


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def _person_leaving(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Deleting a person deletes their totals (a cascade, run first) and then empties created_by on
    # their generations: the reverse of every other writer's order. Take the generations' table
    # lock first (the mode an UPDATE takes anyway; it waits only for a recount), so a recount
    # holding the generations never waits on totals this deletion holds.
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Generation._meta.db_table} IN ROW EXCLUSIVE MODE")


# --- Rebuilding from the rows ----------------------------------------------------------------


Parts = tuple[int, int, int, int]  # known nanodollars, jobs at the estimate, videos, their seconds


@dataclass(frozen=True)
class Difference:
    key: Key
    stored: Parts
    expected: Parts


@dataclass(frozen=True)
class Recount:
    stale_rows: int  # rows whose own record of what they add was out of date
    differences: list[Difference]


def _expected(generations: Any) -> dict[Key, Parts]:
    """The totals the rows call for, from their states (not their records), grouped in SQL."""
    zone = timezone.get_current_timezone()
    grouped = (
        generations.objects.order_by()
        .annotate(month=TruncMonth("created_at", tzinfo=zone))
        .values("created_by", "month", "model")
        .annotate(
            nano=Sum(HELD_NANO),
            estimate=Count("pk", filter=COUNTED & ~KNOWN),
            videos=Count("pk", filter=~NOT_A_VIDEO),
            seconds=Sum(HELD_AT_ESTIMATE_SECONDS),
        )
    )
    totals: dict[Key, list[int]] = {}
    for g in grouped:
        month = (
            timezone.localtime(g["month"], zone).date()
            if timezone.is_aware(g["month"])
            else g["month"].date()
        )
        for person in {None, g["created_by"]}:
            total = totals.setdefault((person, month, g["model"]), [0, 0, 0, 0])
            total[0] += int(g["nano"] or 0)
            total[1] += int(g["estimate"])
            total[2] += int(g["videos"])
            total[3] += int(g["seconds"] or 0)
    return {key: (n, e, v, s) for key, (n, e, v, s) in totals.items() if n or e or v or s}


def _has_seconds(totals: Any) -> bool:
    # The models as migration 0013 knew them have no seconds columns yet (0020 adds them).
    return any(f.name == "at_estimate_seconds" for f in totals._meta.get_fields())


def _lock_for_recount(generations: Any, totals: Any) -> None:
    """No sync may slip in between reading the rows and writing the totals (PostgreSQL).

    Locks are taken in the order every writer takes them, the generations and then the totals (a
    sync locks its rows and then adds to the totals; deleting a person, see _person_leaving, takes
    the generations' table lock before its totals go), so the command and a worker never each hold
    what the other waits for. EXCLUSIVE lets plain reads through (pages, the budget check) but
    waits for every transaction writing or locking generations to finish, and holds new ones
    back until the command commits: the workers pause for as long as it runs.
    """
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(f"LOCK TABLE {generations._meta.db_table} IN EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {totals._meta.db_table} IN EXCLUSIVE MODE")


def recount(*, fix: bool, generations: Any = Generation, totals: Any = SpendTotal) -> Recount:
    """Compare the totals with the rows; with `fix`, make the rows' records and the totals right.

    (`generations` and `totals` are the models to use: the migrations pass their historical ones.)
    """
    seconds = _has_seconds(totals)
    records: dict[str, Any] = {
        "held_nano": HELD_NANO,
        "held_at_estimate": HELD_AT_ESTIMATE,
        "held_video": HELD_VIDEO,
    }
    if seconds:
        records["held_at_estimate_seconds"] = HELD_AT_ESTIMATE_SECONDS
    connection = transaction.get_connection()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if fix and connection.vendor == "postgresql":
            _lock_for_recount(generations, totals)
        elif connection.vendor == "postgresql" and outermost:
            # A check takes no locks; it reads the rows and the totals as of one moment instead (each
            # statement would otherwise see the commits made since the one before, and a worker's
            # sync between two of them would look like a difference).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        stale = generations.objects.exclude(**records)
        stale_rows = stale.count()
        if fix and stale_rows:
            stale.update(**records)
        expected = _expected(generations)
        if not seconds:
            expected = {key: (n, e, v, 0) for key, (n, e, v, _) in expected.items() if n or e or v}
        stored: dict[Key, Parts] = {
            (t.person_id, t.month, t.model): (
                t.spent_nano,
                t.at_estimate,
                t.videos,
                t.at_estimate_seconds if seconds else 0,
            )
            for t in totals.objects.all()
        }
        stored = {key: parts for key, parts in stored.items() if any(parts)}
        differences = [
            Difference(key, stored.get(key, (0, 0, 0, 0)), expected.get(key, (0, 0, 0, 0)))
            for key in sorted(
                set(stored) | set(expected), key=lambda k: (k[1], k[0] is not None, k[0] or 0, k[2])
            )
            if stored.get(key) != expected.get(key)
        ]
        if fix and differences:
            made = []
            for (person, month, model), (n, e, v, sec) in expected.items():
                parts = {"spent_nano": n, "at_estimate": e, "videos": v}
                if seconds:
                    parts["at_estimate_seconds"] = sec
                made.append(totals(person_id=person, month=month, model=model, **parts))
            totals.objects.all().delete()
            totals.objects.bulk_create(made, batch_size=1000)
    return Recount(stale_rows=stale_rows, differences=differences)


def describe(difference: Difference, names: dict[int, str]) -> str:
    """One plain line: whose month, and how far the stored totals were from the rows."""
    person, month, model = difference.key
    who = "The team" if person is None else names.get(person, f"Person #{person}")
    (sn, se, sv, ss), (en, ee, ev, es) = difference.stored, difference.expected
    parts = []
    if sn != en:
        off = dollars_of(sn - en)
        parts.append(f"known costs ${dollars_of(sn):f} instead of ${dollars_of(en):f} (off by ${off:f})")
    if se != ee:
        parts.append(f"{se} jobs at the estimate instead of {ee}")
    if ss != es:
        parts.append(f"{ss} seconds asked for at the estimate instead of {es}")
    if sv != ev:
        parts.append(f"{sv} videos instead of {ev}")
    return f"{who}, {month:%B %Y}, {model}: " + "; ".join(parts) + "."
