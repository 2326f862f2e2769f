"""The generation: what a user asked for, where the upstream job stands, and what we kept.

(Over 500 lines because the generation's states, queryset and conditional transitions, most of
it, are one state machine that STYLE.md wants kept in one place; the batch and the preset, the
job's other rows, sit beside it.)

The row is the job. A worker claims a due row by writing its name and a lease into it with a
conditional UPDATE; the number of rows that UPDATE touched says who won, which works the same
on SQLite and PostgreSQL. Every later transition is also conditional on the worker still
holding the lease, so a worker that lost its lease (it stalled, another took over) can never
overwrite what the new holder did.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from playground.lib.leases import LeasedQuerySet
from playground.upstream import catalogue
from playground.upstream.videomodels import TRAITS, VideoModel

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from playground.upstream.aimlapi import Accepted, Progress, Trace
from playground.gallery.models import Star

# Derived from videomodels.py, where the names and their traits live; kept for the code using them.
MODEL_CHOICES = VideoModel.choices


MODEL_DESCRIPTIONS = {str(model): traits.description for model, traits in TRAITS.items()}


MODELS_NEEDING_FIRST_FRAME = {str(model) for model, traits in TRAITS.items() if traits.needs_first_frame}


# What a job waiting on our side is called wherever its stage is shown.
IN_QUEUE = "Waiting in queue"


class State(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    SUBMITTING = "submitting", "Sending to the video service"
    # The create's answer was lost: we are asking the service's usage log whether it started.
    RECOVERING = "recovering", "Checking with the video service whether this job started"
    RUNNING = "running", "Generating"
    ARCHIVING = "archiving", "Saving the video"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (State.QUEUED, State.SUBMITTING, State.RECOVERING, State.RUNNING, State.ARCHIVING)


TERMINAL_STATES = (State.READY, State.FAILED, State.CANCELLED)


# Created (or perhaps created) upstream and not yet finished there: what the key's in-flight
# cap counts. A lost create being looked up (RECOVERING) may be running upstream, so it holds its
# slot; ARCHIVING is out: the service has finished, we are only downloading.
IN_FLIGHT_STATES = (State.SUBMITTING, State.RECOVERING, State.RUNNING)


# The only moves a generation can make. SUBMITTING -> QUEUED is allowed only when the create
# request certainly never reached the service (connection refused, 429, 5xx). SUBMITTING ->
# RECOVERING when its answer was lost; RECOVERING -> RUNNING when the usage log shows the create
# succeeded (its id is adopted), -> QUEUED (once) when the log shows it failed, so nothing was
# charged, and -> FAILED when the recovery window closes without an answer.
TRANSITIONS: dict[str, set[str]] = {
    State.QUEUED: {State.SUBMITTING, State.FAILED, State.CANCELLED},
    State.SUBMITTING: {State.QUEUED, State.RECOVERING, State.RUNNING, State.FAILED},
    State.RECOVERING: {State.RUNNING, State.QUEUED, State.FAILED},
    State.RUNNING: {State.ARCHIVING, State.FAILED},
    State.ARCHIVING: {State.READY, State.FAILED},
    State.READY: set(),
    State.FAILED: set(),
    State.CANCELLED: set(),
}

# Upstream statuses meaning "accepted but not started yet".
UPSTREAM_WAITING = {"", "queued", "waiting"}


# Failures where the service never took the job, so nothing was charged: these don't count
# toward a user's monthly allowance. (An ambiguous create may have been charged, so it counts.)
UNCHARGED_FAILURES = ("never_started", "refused")


# What the service accepts as X-Client-Request-Id; anything else is silently dropped upstream,
# which would leave a lost create impossible to find again.
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# A resend is allowed only this many times, and only after the usage log proved the create failed.
MAX_RESENDS = 1


def new_client_request_id(pk: int) -> str:
    """A fresh id for one create of generation `pk`: unique per attempt, within the service's alphabet."""
    value = f"gen-{pk}-{secrets.token_hex(8)}"
    assert CLIENT_REQUEST_ID.fullmatch(value)
    return value


# Sent with pks=[...] inside the transaction of a write that may change what those rows cost
# (their state, or the cost the service reported), or with gone=True just before they are
# deleted: money/totals.py brings the running totals along in the same transaction. Sent
# rather than called because money builds on this module.
cost_may_change = Signal()


def _moves_month_or_person(fields: dict[str, Any]) -> bool:
    return bool({"created_at", "created_by", "created_by_id", "model"} & fields.keys())


def _writes_cost(fields: dict[str, Any]) -> bool:
    return _moves_month_or_person(fields) or bool(
        {"state", "usd_spent", "completed_at", "upstream_id", "failure_code"} & fields.keys()
    )


class IllegalTransition(Exception):
    pass


class GenerationQuerySet(LeasedQuerySet["Generation"]):
    def active(self) -> GenerationQuerySet:
        return self.filter(state__in=ACTIVE_STATES)

    def in_flight(self) -> GenerationQuerySet:
        """Jobs holding one of the key's in-flight slots (the single definition the cap uses)."""
        return self.filter(state__in=IN_FLIGHT_STATES)

    def counting_toward_allowance(self) -> GenerationQuerySet:
        return self.exclude(state=State.FAILED, upstream_id="", failure_code__in=UNCHARGED_FAILURES).exclude(
            state=State.CANCELLED
        )

    # --- Writes that money's running totals follow (money/totals.py), in the same transaction ---
    def update(self, **kwargs: Any) -> int:
        """UPDATE these rows; when it touches what they cost, the totals follow in the same transaction.

        The rows are locked first (in id order, as every such write does), and the UPDATE is
        still conditional on this queryset's filters, so a conditional transition stays one.
        """
        if not _writes_cost(kwargs):
            return super().update(**kwargs)
        with transaction.atomic():
            pks = list(self.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))
            if not pks:
                return 0
            if _moves_month_or_person(kwargs):  # let go under the old month or person first
                cost_may_change.send(sender=Generation, pks=pks, gone=True)
            count = super(GenerationQuerySet, self.filter(pk__in=pks)).update(**kwargs)
            cost_may_change.send(sender=Generation, pks=pks)
        return count

    def bulk_create(self, objs: Iterable[Generation], *args: Any, **kwargs: Any) -> list[Generation]:
        with transaction.atomic():
            made = super().bulk_create(objs, *args, **kwargs)
            cost_may_change.send(sender=Generation, pks=[g.pk for g in made if g.pk is not None])
        return made

    def bulk_update(
        self, objs: Iterable[Generation], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs, names = list(objs), list(fields)
        with transaction.atomic():
            count = super().bulk_update(objs, names, batch_size=batch_size)
            if _writes_cost(dict.fromkeys(names)):
                cost_may_change.send(sender=Generation, pks=[g.pk for g in objs])
        return count

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete these rows; money's totals let go of them first, all at once, in the same transaction.

        All at once because a row at a time (pre_delete) would lock the rows one by one between
        locking totals, and a worker stepping one of them would then wait on us as we wait on it.
        """
        with transaction.atomic():
            pks = list(self.order_by("pk").values_list("pk", flat=True))
            cost_may_change.send(sender=Generation, pks=pks, gone=True)
            return super().delete()

    def cancel(self, pks: list[int] | None = None) -> int:
        """Cancel the jobs not yet sent upstream; returns how many.

        One conditional UPDATE on state=QUEUED: a worker's "create sent" write is conditional on
        the same state, so whichever lands first wins and a cancelled job is never sent.
        """
        rows = self.filter(state=State.QUEUED)
        if pks is not None:
            rows = rows.filter(pk__in=pks)
        return rows.update(
            state=State.CANCELLED, finished_at=timezone.now(), lease_owner="", lease_until=None, trouble=""
        )

    def with_stars_for(self, user: User) -> GenerationQuerySet:
        """Each row knows its creator and whether `user` starred it, in the same query."""
        return self.select_related("created_by").annotate(
            starred=models.Exists(Star.objects.filter(user=user.pk, generation=models.OuterRef("pk")))
        )

    def claim_due(
        self, owner: str, limit: int, lease_seconds: float, *, states: tuple[str, ...] = ACTIVE_STATES
    ) -> list[Generation]:
        """Lease up to `limit` due jobs to `owner`; returns the ones this owner won."""
        due = self.filter(state__in=states, next_attempt_at__lte=timezone.now())
        won = due.lease(owner, limit, lease_seconds, order_by="next_attempt_at")
        return list(self.filter(pk__in=won, lease_owner=owner).order_by("next_attempt_at"))

    def next_claimable_at(self, states: tuple[str, ...] = ACTIVE_STATES) -> datetime | None:
        """When the earliest job nobody holds falls due (in the past if one is due now)."""
        now = timezone.now()
        return self.filter(state__in=states).free(now).aggregate(m=models.Min("next_attempt_at"))["m"]  # type: ignore[no-any-return]

    def next_due_at(self) -> datetime | None:
        """When the earliest waiting job becomes due (a leased job is due when its lease ends)."""
        nxt = self.active().aggregate(m=models.Min("next_attempt_at"))["m"]
        lease = self.active().filter(lease_until__isnull=False).aggregate(m=models.Min("lease_until"))["m"]
        times = [t for t in (nxt, lease) if t is not None]
        return min(times) if times else None


class Generation(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="generations"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # One per rendered form: a second POST of the same form finds this row instead of making a job.
    submission_token = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey("Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="takes")

    # What the user asked for.
    model = models.CharField(max_length=32, choices=VideoModel.choices)
    prompt = models.TextField()
    enhance_prompt = models.BooleanField(default=True)
    first_frame = models.FileField(blank=True, max_length=300)
    first_frame_sha256 = models.CharField(max_length=64, blank=True)
    first_frame_width = models.PositiveIntegerField(null=True, blank=True)
    first_frame_height = models.PositiveIntegerField(null=True, blank=True)
    # Set from the check when the frame is stored, so the worker never guesses it from the name.
    first_frame_type = models.CharField(max_length=20, blank=True)
    source_link = models.URLField(max_length=2000, blank=True, help_text="The image link the user gave.")
    # The last-frame image asked for, for the models that take one (catalogue.py; not to be
    # confused with last_frame below, a still taken from the finished video); and the options.
    end_frame = models.FileField(blank=True, max_length=300)
    end_frame_sha256 = models.CharField(max_length=64, blank=True)
    end_frame_type = models.CharField(max_length=20, blank=True)
    end_frame_width = models.PositiveIntegerField(null=True, blank=True)
    end_frame_height = models.PositiveIntegerField(null=True, blank=True)
    end_frame_link = models.URLField(
        max_length=2000, blank=True, help_text="The last-frame image link the user gave."
    )
    resolution = models.CharField(max_length=16, blank=True)
    duration_seconds = models.PositiveSmallIntegerField(null=True, blank=True)
    # The aspect ratio sent, for the models that take one ("16:9"; "adaptive" follows the pictures).
    ratio = models.CharField(max_length=16, blank=True)
    # Continue: this video starts from the last frame of that one (playground/generations/continuation.py).
    continues = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations"
    )
    last_frame = models.FileField(
        blank=True, max_length=300, help_text="Made the first time someone continues it."
    )

    # Our side of the job.
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Consecutive failed tries of the current step."
    )
    trouble = models.CharField(
        max_length=500, blank=True, help_text="The last passing problem, shown to users."
    )
    create_sent_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the upstream accepted the job."
    )
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When the upstream said completed.")
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=32, blank=True)
    failure_reason = models.TextField(blank=True)

    # Upstream facts, as received.
    upstream_id = models.CharField(max_length=200, blank=True)
    upstream_route = models.CharField(
        max_length=16, blank=True, help_text="The catalogue's route the job was sent on (polled on it too)."
    )
    upstream_status = models.CharField(max_length=64, blank=True)
    upstream_error = models.TextField(blank=True)
    upstream_usage = models.JSONField(null=True, blank=True)
    upstream_video_url = models.TextField(
        blank=True, help_text="Signed and short-lived; never shown to users."
    )
    credits_used = models.FloatField(null=True, blank=True)
    tokens_used = models.FloatField(null=True, blank=True)
    # Correlation and cost, from the request-tracing headers (and the usage log when recovered).
    client_request_id = models.CharField(
        max_length=128, blank=True, help_text="Sent as X-Client-Request-Id on the last create."
    )
    inference_id = models.CharField(max_length=200, blank=True, help_text="x-inference-id, as received.")
    usd_spent = models.DecimalField(
        max_digits=14, decimal_places=9, null=True, blank=True, help_text="x-aimlapi-usd-spent, as received."
    )
    credits_spent = models.BigIntegerField(
        null=True, blank=True, help_text="x-aimlapi-credits-used, as received."
    )
    recovery_until = models.DateTimeField(
        null=True, blank=True, help_text="When looking for a lost create in the usage log stops."
    )
    resends = models.PositiveSmallIntegerField(
        default=0, help_text="Creates sent again after the usage log showed the earlier one failed."
    )
    notice = models.CharField(max_length=300, blank=True, help_text="A lasting note shown on the page.")

    # What we kept.
    video = models.FileField(blank=True, max_length=300)
    poster = models.FileField(blank=True, max_length=300)
    duration = models.FloatField(null=True, blank=True)
    video_size = models.BigIntegerField(null=True, blank=True)
    has_sound = models.BooleanField(default=False, help_text="Whether the kept video has an audio track.")

    # What this row adds to the month's running totals (money/models.py SpendTotal), kept by
    # money/totals.py in the same transaction as the write that changes it: its known cost in
    # nanodollars, whether it counts at the model's estimate (cost not known yet) and the length
    # in seconds it asked for while it does, and whether it counts toward the monthly allowance.
    held_nano = models.BigIntegerField(default=0, editable=False)
    held_at_estimate = models.BooleanField(default=False, editable=False)
    held_video = models.BooleanField(default=False, editable=False)
    held_at_estimate_seconds = models.PositiveIntegerField(default=0, editable=False)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The worker's "what is due" query only ever looks at unfinished rows.
            models.Index(
                fields=["next_attempt_at"],
                name="gen_due_idx",
                condition=Q(state__in=["queued", "submitting", "recovering", "running", "archiving"]),
            ),
            # The gallery lists newest first, alone or filtered by creator, model or state.
            models.Index(fields=["-created_at", "-id"], name="gen_newest_idx"),
            models.Index(fields=["created_by", "-created_at", "-id"], name="gen_creator_newest_idx"),
            models.Index(fields=["model", "-created_at", "-id"], name="gen_model_newest_idx"),
            models.Index(fields=["state", "-created_at", "-id"], name="gen_state_newest_idx"),
            # The gallery's Sound filter, in gallery order (few videos with sound must not mean a
            # walk through every silent one).
            models.Index(fields=["has_sound", "-created_at", "-id"], name="gen_sound_newest_idx"),
            # Other takes from the same first frame.
            models.Index(fields=["first_frame_sha256"], name="gen_first_frame_idx"),
            # Fair turns: when each person was last served.
            models.Index(fields=["created_by", "create_sent_at"], name="gen_served_idx"),
            # A month's dollars for the team budget, read from the index alone (budgets.committed).
            models.Index(
                fields=["created_at", "state", "model", "usd_spent", "completed_at"],
                name="gen_month_cost_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model}: {self.prompt[:40]}"

    def get_absolute_url(self) -> str:
        return reverse("generation", args=[self.pk])

    # --- How it looks to a person -----------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def can_be_deleted_by(self, user: User) -> bool:
        return bool(user.is_staff or (self.created_by_id is not None and self.created_by_id == user.pk))

    @property
    def title(self) -> str:
        """The first words of the prompt, for cards, headings and file names."""
        words = self.prompt.split()
        return " ".join(words[:8]) + ("…" if len(words) > 8 else "")

    @property
    def download_name(self) -> str:
        """The file name a download gets: date, model and the prompt's first words."""
        words = slugify(" ".join(self.prompt.split()[:6]))[:60] or "video"
        return f"{self.created_at:%Y-%m-%d}_{self.model}_{words}.mp4"

    @property
    def stage(self) -> str:
        """The job's stage in words, as the status fragment shows it."""
        if self.state == State.RUNNING and self.upstream_status.lower() in UPSTREAM_WAITING:
            return "Waiting in the video service's queue"
        if self.state == State.QUEUED:
            return IN_QUEUE
        return str(State(self.state).label)

    @property
    def credits_reported(self) -> int | float | None:
        """The credits the service reported: its x-aimlapi-credits-used header (the billed
        create's), or the poll answer's usage when no header gave more than a free poll's 0."""
        spent = self.credits_spent
        if spent is not None and (spent > 0 or self.credits_used is None):
            return spent
        return self.credits_used

    @property
    def charged(self) -> bool:
        """Whether the service bills this job: it made the video (kept or not). Refused, failed,
        never sent and lost-and-never-found jobs cost nothing."""
        return self.state == State.READY or (self.state == State.FAILED and self.completed_at is not None)

    # The status fragment's steps, in State's own words (a queued job shows as IN_QUEUE).
    STEPS = (IN_QUEUE, str(State.RUNNING.label), str(State.ARCHIVING.label), str(State.READY.label))

    @property
    def steps(self) -> list[tuple[str, str]]:
        """The progress steps with "done", "current" or "todo", for the status fragment."""
        if self.state == State.READY:
            current = 3
        elif self.state == State.ARCHIVING:
            current = 2
        elif self.state == State.RUNNING and self.upstream_status.lower() not in UPSTREAM_WAITING:
            current = 1
        else:
            current = 0
        return [
            (label, "done" if i < current else "current" if i == current else "todo")
            for i, label in enumerate(self.STEPS)
        ]

    @property
    def elapsed(self) -> timedelta:
        end = self.finished_at if self.finished_at else timezone.now()
        return max(end - self.created_at, timedelta(0))

    @property
    def first_frame_mime(self) -> str:
        if self.first_frame_type:
            return self.first_frame_type
        # Rows stored before the type was kept: their names were always made from the check.
        return "image/png" if self.first_frame.name.lower().endswith(".png") else "image/jpeg"

    @property
    def end_frame_mime(self) -> str:
        if self.end_frame_type:
            return self.end_frame_type
        # Rows stored before the type was kept: their names were always made from the check.
        return "image/png" if self.end_frame.name.lower().endswith(".png") else "image/jpeg"

    @property
    def described(self) -> catalogue.ModelSpec | None:
        return catalogue.get(self.model)

    @property
    def length_seconds(self) -> int | None:
        """The length asked for, or the model's only one."""
        model = self.described
        return self.duration_seconds or (model.default_duration if model else None)

    @property
    def resolution_name(self) -> str:
        model = self.described
        return self.resolution or (model.default_resolution if model else "")

    # --- Transitions ------------------------------------------------------------------------
    def _move(self, owner: str, to: str | None = None, *, keep_lease: bool = False, **fields: Any) -> bool:
        """Write `fields` (and the new state) if `owner` still holds this row; False if it lost it.

        Unless keep_lease, the lease is released in the same UPDATE, so a step ends in one write.
        """
        if to is not None and to != self.state and to not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.state} -> {to}")
        if to is not None:
            fields["state"] = to
            if to in TERMINAL_STATES:
                fields.setdefault("finished_at", timezone.now())
                fields.setdefault("upstream_video_url", "")
        if not keep_lease:
            fields.update(lease_owner="", lease_until=None)
        done = (
            Generation.objects.filter(pk=self.pk, state=self.state, lease_owner=owner).update(**fields) == 1
        )
        if done:
            for name, value in fields.items():
                setattr(self, name, value)
        return done

    def renew_lease(self, owner: str, seconds: float) -> bool:
        return self._move(owner, keep_lease=True, lease_until=timezone.now() + timedelta(seconds=seconds))

    def release(self, owner: str) -> bool:
        return self._move(owner)

    def mark_create_sent(self, owner: str) -> bool:
        # Recorded (and committed) before the request goes out: if the worker dies after this,
        # the outcome is unknown and the job must not be sent blindly again; the client request
        # id stored here is what lets the usage log tell us later.
        return self._move(
            owner,
            State.SUBMITTING,
            keep_lease=True,
            create_sent_at=timezone.now(),
            client_request_id=new_client_request_id(self.pk),
        )

    def mark_recovering(
        self, owner: str, *, window: timedelta, first_look: datetime, detail: str = ""
    ) -> bool:
        """The create's answer was lost: look for it in the usage log until the window closes."""
        sent = self.create_sent_at or timezone.now()
        fields: dict[str, Any] = {
            "recovery_until": sent + window,
            "next_attempt_at": first_look,
            "attempts": 0,
        }
        if detail:
            fields["upstream_error"] = detail
        return self._move(owner, State.RECOVERING, **fields)

    def mark_adopted(
        self,
        owner: str,
        *,
        inference_id: str,
        usd: Decimal | None,
        credits: int | None,
        next_poll_at: datetime,
    ) -> bool:
        """The usage log shows the lost create succeeded: carry on with its id, no second create."""
        fields: dict[str, Any] = {
            "upstream_id": inference_id,
            "inference_id": inference_id,
            "submitted_at": timezone.now(),
            "next_attempt_at": next_poll_at,
            "attempts": 0,
            "trouble": "",
        }
        if usd is not None:
            fields["usd_spent"] = usd
        if credits is not None:
            fields["credits_spent"] = credits
        return self._move(owner, State.RUNNING, **fields)

    def mark_resend(self, owner: str, *, notice: str) -> bool:
        """The usage log shows the lost create failed (nothing charged): send it once more."""
        if self.resends >= MAX_RESENDS:
            raise IllegalTransition("already sent again once")
        return self._move(
            owner,
            State.QUEUED,
            create_sent_at=None,
            recovery_until=None,
            next_attempt_at=timezone.now(),
            resends=self.resends + 1,
            attempts=0,
            notice=notice,
        )

    def note_lookup(self, owner: str, *, next_look: datetime, trouble: str = "") -> bool:
        return self._move(owner, next_attempt_at=next_look, trouble=trouble)

    def mark_not_sent(self, owner: str, *, retry_at: datetime, trouble: str) -> bool:
        return self._move(
            owner,
            State.QUEUED,
            create_sent_at=None,
            next_attempt_at=retry_at,
            attempts=self.attempts + 1,
            trouble=trouble,
        )

    def mark_accepted(self, owner: str, accepted: Accepted, *, next_poll_at: datetime) -> bool:
        return self._move(
            owner,
            State.RUNNING,
            upstream_id=accepted.upstream_id,
            upstream_route=accepted.route,
            upstream_status=accepted.raw_status,
            submitted_at=timezone.now(),
            next_attempt_at=next_poll_at,
            attempts=0,
            trouble="",
            **self._usage_fields(accepted.usage),
            **self._trace_fields(accepted.trace),
        )

    def record_progress(self, owner: str, progress: Progress, *, next_poll_at: datetime) -> bool:
        return self._move(
            owner,
            upstream_status=progress.raw_status[:64],
            next_attempt_at=next_poll_at,
            attempts=0,
            trouble="",
            **self._usage_fields(progress.usage),
            **self._trace_fields(progress.trace),
        )

    def mark_completed(self, owner: str, progress: Progress) -> bool:
        """The upstream finished: keep the lease and go straight on to saving the video."""
        return self._move(
            owner,
            State.ARCHIVING if self.state == State.RUNNING else None,
            keep_lease=True,
            upstream_status=progress.raw_status[:64],
            upstream_video_url=progress.video_url or "",
            completed_at=self.completed_at or timezone.now(),
            next_attempt_at=timezone.now(),
            **self._usage_fields(progress.usage),
            **self._trace_fields(progress.trace),
        )

    def note_trouble(
        self,
        owner: str,
        trouble: str,
        *,
        retry_at: datetime,
        forget_link: bool = False,
        attempts: int | None = None,
    ) -> bool:
        """A passing problem; `attempts` sets the count of failed tries when the caller counts one
        kind of answer in a row (otherwise it grows by one)."""
        fields: dict[str, Any] = {
            "next_attempt_at": retry_at,
            "attempts": self.attempts + 1 if attempts is None else attempts,
            "trouble": trouble,
        }
        if forget_link:
            fields["upstream_video_url"] = ""
        return self._move(owner, **fields)

    def mark_ready(
        self,
        owner: str,
        *,
        video: str,
        poster: str,
        duration: float | None,
        size: int,
        has_sound: bool = False,
    ) -> bool:
        return self._move(
            owner,
            State.READY,
            video=video,
            poster=poster,
            duration=duration,
            video_size=size,
            has_sound=has_sound,
            attempts=0,
            trouble="",
        )

    def mark_failed(self, owner: str, code: str, reason: str, *, upstream_error: str = "") -> bool:
        fields: dict[str, Any] = {"failure_code": code, "failure_reason": reason, "trouble": ""}
        if upstream_error:
            fields["upstream_error"] = upstream_error
        return self._move(owner, State.FAILED, **fields)

    def _trace_fields(self, trace: Trace | None) -> dict[str, Any]:
        """Cost and correlation headers. Only the create is billed (polls say 0), so a poll's zero
        never overwrites the create's amount; a non-zero amount on a later answer wins."""
        if trace is None:
            return {}
        fields: dict[str, Any] = {}
        if trace.inference_id and not self.inference_id:
            fields["inference_id"] = trace.inference_id[:200]
        if trace.usd is not None and (trace.usd > 0 or self.usd_spent is None):
            fields["usd_spent"] = trace.usd
        if trace.credits is not None and (trace.credits > 0 or self.credits_spent is None):
            fields["credits_spent"] = trace.credits
        return fields

    def _usage_fields(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        if not usage:
            return {}
        merged = {**(self.upstream_usage or {}), **usage}
        fields: dict[str, Any] = {"upstream_usage": merged}
        for key in ("credits_used", "tokens_used"):
            value = merged.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                fields[key] = float(value)
        return fields


class Batch(models.Model):
    """One submit of the Generate page: pictures x takes generations, made together or not at all."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="batches"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # One per rendered form, so a double click or a resent form makes the batch once.
    submission_token = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    model = models.CharField(max_length=32, choices=MODEL_CHOICES)
    prompt = models.TextField()
    takes_per_picture = models.PositiveIntegerField(default=1)
    pictures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"Batch #{self.pk}: {self.prompt[:40]}"

    def get_absolute_url(self) -> str:
        return reverse("batch", args=[self.pk])

    @property
    def size(self) -> int:
        return max(self.pictures, 1) * self.takes_per_picture


class Preset(models.Model):
    """A saved Generate form the whole team can start from."""

    name = models.CharField(max_length=100)
    model = models.CharField(max_length=32, choices=MODEL_CHOICES)
    prompt = models.TextField()
    enhance_prompt = models.BooleanField(default=True)
    # The first frame is an earlier video's, used through the same path as Remix; if that video
    # is deleted the preset keeps its words and loses only the picture.
    first_frame_from = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="presets"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def can_be_changed_by(self, user: User) -> bool:
        return bool(user.is_staff or (self.created_by_id is not None and self.created_by_id == user.pk))
