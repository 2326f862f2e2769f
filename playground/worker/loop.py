"""The background worker: the only process that talks to the upstream.

(Over 500 lines because each step (create, recovery, poll, archive) and the loop's leases,
pacing and pool share one Worker's state, and a step read apart from its retries and writes
is where double charges hide.)

It loops: claim due generations (with a lease), advance each by one step on a small thread
pool, release, repeat. A step is one of: send the create request, poll the job, or save the
finished video. Every step ends in a single conditional write on the row (see models.py), so
a worker killed at any moment leaves a row that another worker picks up when the lease ends.

The one thing never retried blindly is a create whose outcome is unknown: if the worker
recorded "create sent" but has no upstream id, the job may exist (and be charged) or not.
Sending it again could pay twice, so the job goes to RECOVERING and the service's usage log is
asked (recovery.py): found and succeeded, its id is adopted; found and failed, it is sent once
more; not found within RECOVERY_WINDOW, it fails with a sentence saying exactly that. A gateway's
502 or 504 to a create is such an unknown outcome too (aimlapi.Ambiguous), never a retry.

A poll answered with the service's own 504 ("Generation timeout") GENERATION_TIMEOUTS times in a
row ends the job as failed with the docs' sentence, rather than polling until our own deadline.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.db import close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from playground.films import sequences
from playground.generations import references
from playground.generations.models import ACTIVE_STATES, MAX_RESENDS, TERMINAL_STATES, Generation, State
from playground.lib import videofiles
from playground.lib.models import WorkerHeartbeat
from playground.notify import webhooks
from playground.upstream.aimlapi import (
    Ambiguous,
    Client,
    GenerationTimeout,
    HourlyLimit,
    LinkExpired,
    Refused,
    Transient,
    client_from_settings,
)
from playground.worker import archive, keylimits, recovery
from playground.worker.housekeeping import Housekeeper

log = logging.getLogger(__name__)

TROUBLE = "The video service is having trouble right now. We'll keep trying."
AMBIGUOUS = (
    "We sent this job to the video service, but the connection broke or a gateway in front of it "
    "answered instead, so we can't tell whether it started. To make sure you are never charged "
    "twice, we did not send it again. Use Retry to make a new attempt."
)
WORKER_LOST = (
    "The worker stopped while it was sending this job to the video service, so we can't tell "
    "whether the job started. To make sure you are never charged twice, we did not send it again. "
    "Use Retry to make a new attempt."
)
RESENT = (
    "The video service's records show that our first request for this job failed there, and "
    "nothing was charged for it, so we sent the job again."
)
FAILED_UPSTREAM_TWICE = (
    "The video service's records show that it could not start this job, twice. Nothing was "
    "charged. Use Retry to make a new attempt."
)
NEVER_STARTED = (
    "This job could not be sent to the video service within {limit}, so we stopped trying. "
    "Nothing was charged."
)
TIMED_OUT = "The video service did not finish this video within {limit}, so we stopped waiting."
NOT_SAVED = "The video was made, but we could not download it from the video service to keep it."
SAVING_TROUBLE = (
    "The video is finished, but the video service's link to it did not work just now, so it is "
    "not saved yet. We'll try again {when}, and keep trying until {until}."
)
UPSTREAM_FAILED = "The video service could not make this video: {message}"
INTERNAL = "Something went wrong on our side while handling this job. We'll try again."
# Polls answered "Generation timeout" (the service's own 504) in a row before the job is failed:
# one could be a hiccup; three, POLL_INTERVAL apart, are the service's settled word.
GENERATION_TIMEOUTS = 3
OUT_OF_TIME = (
    "The video service says this generation ran out of its time limit; asking again to be sure "
    "({seen} of {limit})."
)

# Steps claimed as they fall due; waiting jobs go through keylimits.claim_submits instead.
AFTER_CREATE: tuple[str, ...] = tuple(s for s in ACTIVE_STATES if s != State.QUEUED)
HEARTBEAT_EVERY = 5.0
LEASE_RENEW_EVERY = 10.0
SIDE_JOB_IDLE = 0.5  # how often the webhook and export threads look for work when there was none
# Jobs falling due within this many seconds of each other are claimed together.
MIN_PAUSE = 0.02


def deadline_in_words() -> str:
    seconds = settings.GENERATION_DEADLINE
    return f"{round(seconds / 60)} minutes" if seconds >= 120 else f"{round(seconds)} seconds"


def trouble_for(exc: Transient) -> str:
    """The line a waiting job shows: the key's hourly limit in its own words, else the general one."""
    if isinstance(exc, HourlyLimit):
        return f"{exc.user_message} We'll keep trying."
    return TROUBLE


class LeaseLost(Exception):
    """Another worker took this row over; stop touching it."""


def backoff_delay(attempts: int) -> float:
    """Seconds to wait before the next try after `attempts` failed ones (capped exponential, jittered)."""
    raw = settings.WORKER_RETRY_BASE * (2 ** min(attempts, 16))
    return float(min(settings.WORKER_RETRY_CAP, raw) * random.uniform(0.8, 1.0))  # noqa: S311


def archive_delay(attempts: int) -> float:
    """Seconds before saving a finished video is tried again after `attempts` failed tries.

    The first retry goes at once (a fresh link usually works), then ARCHIVE_RETRY_BASE * 2^n,
    at most ARCHIVE_RETRY_CAP, jittered.
    """
    if attempts == 0:
        return 0.0
    raw = settings.ARCHIVE_RETRY_BASE * (2 ** min(attempts - 1, 16))
    return float(min(settings.ARCHIVE_RETRY_CAP, raw) * random.uniform(0.8, 1.0))  # noqa: S311


class UpstreamGate:
    """A pause shared by every thread of this worker.

    When the upstream fails with something passing (5xx, 429, no connection), one job backing off
    is not enough: the next due job would hit the same wall. So the whole worker waits, longer
    after each consecutive failure, and honours Retry-After.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._paused_until = 0.0

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - time.monotonic())

    def failure(self, retry_after: float | None) -> float:
        with self._lock:
            delay = backoff_delay(self._failures)
            if retry_after is not None:
                delay = max(delay, min(retry_after, settings.WORKER_RETRY_CAP))
            self._failures += 1
            self._paused_until = max(self._paused_until, time.monotonic() + delay)
            return delay

    def success(self) -> None:
        with self._lock:
            self._failures = 0


@contextmanager
def closed_when_done() -> Iterator[list[BaseDatabaseWrapper]]:
    """A list for the step threads' database connections (Django keeps one per thread), closed at the end.

    The pool's threads have ended by then, and an ended thread's connection is otherwise closed only
    when the garbage collector gets to it, which may be long after: until then it stays a session
    on the database server (a test run could not drop its database for them). The side threads
    and the housekeeping thread close their own as they finish.
    """
    databases: list[BaseDatabaseWrapper] = []
    try:
        yield databases
    finally:
        for database in databases:
            database.inc_thread_sharing()  # its thread has ended, so nothing else can be using it
            database.close()


class Worker:
    def __init__(
        self,
        *,
        client: Client | None = None,
        threads: int | None = None,
        name: str | None = None,
        housekeeper: Housekeeper | None = None,
    ) -> None:
        self.client = client or client_from_settings()
        self.threads = threads or settings.WORKER_THREADS
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.gate = UpstreamGate()
        self.stopping = threading.Event()
        self._last_beat = 0.0
        self.housekeeper = housekeeper or Housekeeper()
        # Set when a step ends or frees one of the key's slots mid-step (a finished job goes on to
        # download its video on the same thread): the loop claims the next job at once rather
        # than on its next timed turn, so a freed slot never sits idle for a pause.
        self._wake = threading.Event()

    # --- The loop ---------------------------------------------------------------------------
    def run(self, *, idle_sleep: float = 0.25, until: Callable[[], bool] | None = None) -> None:
        """Work until stop() is called (or `until()` says so, for tests and tools)."""
        log.info("Worker %s started with %d threads", self.name, self.threads)
        side_done = threading.Event()
        side = self._start_side_jobs(side_done)
        with (
            closed_when_done() as step_databases,
            ThreadPoolExecutor(
                self.threads,
                thread_name_prefix="step",
                initializer=lambda: step_databases.extend(connections.all()),
            ) as pool,
        ):
            inflight: set[Future[None]] = set()
            while not self.stopping.is_set() and not (until and until() and not inflight):
                self._wake.clear()  # before claiming: a wake from here on cuts the next pause short
                self._heartbeat()
                self.housekeeper.run_due()
                free = self.threads - len(inflight)
                claimed = self._claim(free)
                for gen in claimed:
                    future = pool.submit(self.step, gen)
                    future.add_done_callback(lambda _: self._wake.set())
                    inflight.add(future)
                # Fewer than asked for means nothing else is due now: sleep until the next job
                # falls due rather than a fixed time, so polls keep to POLL_INTERVAL.
                pause = idle_sleep if len(claimed) == free else self._pause(idle_sleep)
                self._wake.wait(pause)
                inflight = {f for f in inflight if not f.done()}
            wait(inflight)
        side_done.set()  # the side threads stop with the loop, also when `until` ended it
        for thread in side:
            thread.join()
        # A chore still walking a large bucket is not worth holding up a stop for: it is safe to
        # cut short (its thread is a daemon) and runs again on the next start.
        self.housekeeper.wait(timeout=10)
        WorkerHeartbeat.objects.filter(name=self.name).delete()
        log.info("Worker %s stopped", self.name)

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def run_until_idle(self, timeout: float = 60.0) -> None:
        """Process jobs until none is active (tests and one-off tools)."""
        deadline = time.monotonic() + timeout

        def idle() -> bool:
            return time.monotonic() > deadline or not Generation.objects.active().exists()

        self.run(idle_sleep=0.05, until=idle)

    def _claim(self, free: int) -> list[Generation]:
        if free <= 0 or self.stopping.is_set() or self.gate.remaining() > 0:
            return []
        try:
            steps = Generation.objects.claim_due(self.name, free, settings.WORKER_LEASE, states=AFTER_CREATE)
            return steps + keylimits.claim_submits(self.name, free - len(steps), settings.WORKER_LEASE)
        except Exception:
            log.exception("Could not claim jobs; will try again")
            close_old_connections()
            return []

    def _pause(self, longest: float) -> float:
        """Seconds until the next unheld job falls due: at least MIN_PAUSE, at most `longest`."""
        if self.stopping.is_set() or self.gate.remaining() > 0:
            return longest
        try:
            due = self._next_claimable()
        except Exception:
            log.exception("Could not read when the next job is due; will try again")
            close_old_connections()
            return longest
        if due is None:
            return longest
        return min(longest, max(MIN_PAUSE, (due - timezone.now()).total_seconds()))

    @staticmethod
    def _next_claimable() -> datetime | None:
        # A waiting job counts only while the key has room for it; otherwise a slot frees when
        # one of the polls finishes (this loop wakes for that) or on the idle sleep.
        steps = Generation.objects.next_claimable_at(AFTER_CREATE)
        times = [t for t in (steps, keylimits.next_submit_at()) if t]
        return min(times) if times else None

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_beat < HEARTBEAT_EVERY:
            return
        try:
            WorkerHeartbeat.beat(self.name)
            self._last_beat = time.monotonic()
        except Exception:
            log.exception("Could not record the worker heartbeat")
            close_old_connections()

    def _start_side_jobs(self, done: threading.Event) -> list[threading.Thread]:
        """Webhook deliveries and film exports, each on its own thread so neither ever waits
        behind the upstream work (or the upstream work behind them)."""
        jobs: dict[str, Callable[[str], object]] = {
            "webhooks": webhooks.deliver_due,
            "exports": sequences.export_due,
        }
        threads = [
            threading.Thread(target=self._side_loop, args=(label, job, done), name=label, daemon=True)
            for label, job in jobs.items()
        ]
        for thread in threads:
            thread.start()
        return threads

    def _side_loop(self, label: str, job: Callable[[str], object], done: threading.Event) -> None:
        while not (done.is_set() or self.stopping.is_set()):
            try:
                busy = bool(job(self.name))
            except Exception:
                log.exception("The %s thread hit an error; will try again", label)
                close_old_connections()
                busy = False
            if not busy:
                done.wait(SIDE_JOB_IDLE)
        connections.close_all()

    # --- One step ---------------------------------------------------------------------------
    def step(self, gen: Generation) -> None:
        before = gen.state
        handlers = {
            State.QUEUED: self._submit,
            State.SUBMITTING: self._lost_submit,
            State.RECOVERING: self._recover,
            State.RUNNING: self._poll,
            State.ARCHIVING: self._archive,
        }
        try:
            handlers[State(gen.state)](gen)
        except LeaseLost:
            log.warning("Generation %s was taken over by another worker", gen.pk)
        except Exception:
            log.exception("Unexpected error on generation %s", gen.pk)
            try:
                gen.note_trouble(self.name, INTERNAL, retry_at=self._later(gen.attempts))
            except Exception:
                log.exception("Could not record the error on generation %s", gen.pk)
                close_old_connections()
        finally:
            if gen.lease_owner == self.name:
                gen.release(self.name)
            if gen.state != before and gen.state in TERMINAL_STATES:
                self._announce(gen)

    def _submit(self, gen: Generation) -> None:
        try:
            self._create(gen)
        finally:
            keylimits.settle(gen.pk)

    def _create(self, gen: Generation) -> None:
        if self._past_deadline(gen):
            gen.mark_failed(self.name, "never_started", NEVER_STARTED.format(limit=deadline_in_words()))
            return
        first_frame = self._first_frame_data_uri(gen)
        if not gen.mark_create_sent(self.name):
            return
        try:
            accepted = self.client.create(
                model=gen.model,
                prompt=gen.prompt,
                enhance=gen.enhance_prompt,
                first_frame=first_frame,
                client_request_id=gen.client_request_id,
                **self._options(gen),
            )
        except Transient as exc:
            delay = self.gate.failure(exc.retry_after)
            log.warning(
                "Create for generation %s not accepted (%s); retrying in %.1fs", gen.pk, exc.detail, delay
            )
            gen.mark_not_sent(self.name, retry_at=self._in(delay), trouble=trouble_for(exc))
        except Ambiguous as exc:
            log.warning("Create for generation %s has an unknown outcome: %s", gen.pk, exc.detail)
            self._start_recovery(gen, detail=exc.detail)
        except Refused as exc:
            gen.mark_failed(self.name, "refused", exc.user_message, upstream_error=exc.detail)
        else:
            self.gate.success()
            log.info("Generation %s accepted upstream as %s", gen.pk, accepted.upstream_id)
            if not gen.mark_accepted(self.name, accepted, next_poll_at=self._in(settings.POLL_INTERVAL)):
                # Keep the paid job's id whatever happened to our lease, so nobody loses track of it.
                Generation.objects.filter(pk=gen.pk, upstream_id="").update(upstream_id=accepted.upstream_id)
                log.error("Lost the lease on %s after upstream accepted %s", gen.pk, accepted.upstream_id)

    def _lost_submit(self, gen: Generation) -> None:
        # Only reachable when the worker that recorded "create sent" died before recording the answer.
        if gen.client_request_id:
            self._start_recovery(gen)
        else:  # sent before creates carried an id: nothing to look it up by
            gen.mark_failed(self.name, "ambiguous", WORKER_LOST)

    # --- Recovering a lost create (kept apart from the create path) ---------------------------
    def _start_recovery(self, gen: Generation, *, detail: str = "") -> None:
        gen.mark_recovering(
            self.name,
            window=timedelta(seconds=settings.RECOVERY_WINDOW),
            # The log lags; asking at once would mostly find nothing.
            first_look=self._in(settings.RECOVERY_LOOK_EVERY),
            detail=detail,
        )

    def _recover(self, gen: Generation) -> None:
        """Ask the usage log once whether the lost create started; act only on its proof."""
        now = timezone.now()
        try:
            result = recovery.look_up(self.client, gen)
        except (Transient, Refused) as exc:
            # The log being busy or refusing is no proof either way: keep asking until the window closes.
            log.warning("Usage log look-up for %s failed: %s", gen.pk, exc.detail)
            retry_after = exc.retry_after if isinstance(exc, Transient) else None
            self._recovery_not_yet(gen, max(retry_after or 0.0, settings.RECOVERY_LOOK_EVERY))
            return
        if result.wait:
            gen.note_lookup(self.name, next_look=self._in(result.wait))
            return
        found = result.found
        if found is not None and found.succeeded and found.inference_id:
            log.info("Lost create of %s found in the usage log as %s", gen.pk, found.inference_id)
            gen.mark_adopted(
                self.name,
                inference_id=found.inference_id,
                usd=found.usd,
                credits=found.credits,
                next_poll_at=now,
            )
        elif found is not None and not found.succeeded:
            if gen.resends < MAX_RESENDS:
                log.info("Lost create of %s failed upstream (usage log); sending it again", gen.pk)
                gen.mark_resend(self.name, notice=RESENT)
            else:
                gen.mark_failed(self.name, "refused", FAILED_UPSTREAM_TWICE)
        else:
            self._recovery_not_yet(gen, settings.RECOVERY_LOOK_EVERY)

    def _recovery_not_yet(self, gen: Generation, delay: float) -> None:
        if gen.recovery_until is None or timezone.now() >= gen.recovery_until:
            # No proof either way: never send it again, say so honestly.
            gen.mark_failed(self.name, "ambiguous", AMBIGUOUS if gen.upstream_error else WORKER_LOST)
        else:
            gen.note_lookup(self.name, next_look=min(self._in(delay), gen.recovery_until))

    def _poll(self, gen: Generation) -> None:
        try:
            progress = self.client.poll(
                model=gen.model, upstream_id=gen.upstream_id, route=gen.upstream_route or None
            )
        except GenerationTimeout as exc:
            # The service answered (it is not down), so the worker does not pause for it.
            self._out_of_time(gen, exc)
            return
        except Transient as exc:
            delay = self.gate.failure(exc.retry_after)
            if self._past_deadline(gen):
                self._time_out(gen)
            else:
                retry_at = self._in(max(delay, settings.POLL_INTERVAL))
                gen.note_trouble(self.name, trouble_for(exc), retry_at=retry_at)
            return
        except Refused as exc:
            gen.mark_failed(self.name, "refused", exc.user_message, upstream_error=exc.detail)
            return
        self.gate.success()
        if progress.state == "completed":
            if gen.mark_completed(self.name, progress):
                self._wake.set()  # its slot is free now (ARCHIVING is not in flight upstream)
                self._archive(gen)
        elif progress.state == "error":
            message = progress.error_message or "it reported an error without saying why."
            gen.mark_failed(
                self.name,
                "upstream_error",
                UPSTREAM_FAILED.format(message=message),
                upstream_error=str(progress.raw.get("error") or message),
            )
        elif self._past_deadline(gen):
            self._time_out(gen)
        else:
            gen.record_progress(self.name, progress, next_poll_at=self._in(settings.POLL_INTERVAL))

    def _out_of_time(self, gen: Generation, exc: GenerationTimeout) -> None:
        # Only answers of this kind in a row count: the trouble line says the last was one.
        seen = gen.attempts + 1 if gen.trouble.startswith(OUT_OF_TIME.partition("(")[0]) else 1
        if seen >= GENERATION_TIMEOUTS:
            reason = UPSTREAM_FAILED.format(message=exc.user_message)
            gen.mark_failed(self.name, "upstream_error", reason, upstream_error=exc.detail)
            return
        trouble = OUT_OF_TIME.format(seen=seen, limit=GENERATION_TIMEOUTS)
        gen.note_trouble(self.name, trouble, retry_at=self._in(settings.POLL_INTERVAL), attempts=seen)

    def _archive(self, gen: Generation) -> None:
        if not gen.upstream_video_url and not self._refresh_link(gen):
            return
        renewed = time.monotonic()

        def keep_lease(_: int) -> None:
            nonlocal renewed
            if time.monotonic() - renewed > LEASE_RENEW_EVERY:
                if not gen.renew_lease(self.name, settings.WORKER_LEASE):
                    raise LeaseLost
                renewed = time.monotonic()

        try:
            stored = archive.fetch_and_store(self.client, gen.upstream_video_url, on_chunk=keep_lease)
        except LinkExpired as exc:
            log.info("Video link for %s expired (%s); asking for a fresh one", gen.pk, exc.detail)
            self._archive_retry(gen)
        except (Transient, videofiles.NotAVideo) as exc:
            log.warning("Saving the video of %s failed: %s", gen.pk, exc)
            self._archive_retry(gen)
        except Refused as exc:
            gen.mark_failed(self.name, "not_saved", exc.user_message, upstream_error=exc.detail)
        else:
            if not gen.mark_ready(
                self.name,
                video=stored.video,
                poster=stored.poster,
                duration=stored.duration,
                size=stored.size,
                has_sound=stored.has_sound,
            ):
                videofiles.delete_files(stored.video, stored.poster)
                raise LeaseLost
            log.info("Generation %s is ready (%.1f s, %d bytes)", gen.pk, stored.duration or 0, stored.size)

    def _archive_retry(self, gen: Generation) -> None:
        """Try saving again later with capped backoff; give up ARCHIVE_PATIENCE after completion.

        The video is made and paid for, so a CDN hiccup (403s, cut-off downloads) lasting a few
        minutes must not lose it: the tries are spread out rather than spent in half a second.
        """
        give_up_at = (gen.completed_at or timezone.now()) + timedelta(seconds=settings.ARCHIVE_PATIENCE)
        retry_at = self._in(archive_delay(gen.attempts))
        if retry_at > give_up_at:
            gen.mark_failed(self.name, "not_saved", NOT_SAVED)
            return
        trouble = SAVING_TROUBLE.format(
            when="in a moment" if retry_at - timezone.now() < timedelta(seconds=5) else naturaltime(retry_at),
            until=f"{timezone.localtime(give_up_at):%H:%M}",
        )
        gen.note_trouble(self.name, trouble, retry_at=retry_at, forget_link=True)

    def _refresh_link(self, gen: Generation) -> bool:
        """Poll again for a fresh signed link; True if the row now holds one (lease kept)."""
        try:
            progress = self.client.poll(
                model=gen.model, upstream_id=gen.upstream_id, route=gen.upstream_route or None
            )
        except Transient as exc:
            retry_at = self._in(self.gate.failure(exc.retry_after))
            gen.note_trouble(self.name, trouble_for(exc), retry_at=retry_at)
            return False
        except Refused as exc:
            gen.mark_failed(self.name, "not_saved", NOT_SAVED, upstream_error=exc.detail)
            return False
        if progress.state != "completed" or not progress.video_url:
            self._archive_retry(gen)
            return False
        return gen.mark_completed(self.name, progress)

    # --- Helpers ----------------------------------------------------------------------------
    def _announce(self, gen: Generation) -> None:
        """The one place a job's end is announced: queue its webhook deliveries."""
        try:
            queued = webhooks.enqueue(gen)
        except Exception:
            log.exception("Could not queue webhook deliveries for generation %s", gen.pk)
            close_old_connections()
            return
        if queued:
            log.info("Generation %s: %d webhook deliveries queued", gen.pk, queued)

    def _first_frame_data_uri(self, gen: Generation) -> str | None:
        if not gen.first_frame:
            return None
        with gen.first_frame.open("rb") as f:
            data = f.read()
        return f"data:{gen.first_frame_mime};base64,{base64.b64encode(data).decode('ascii')}"

    def _options(self, gen: Generation) -> dict[str, Any]:
        """The create's options beyond the first frame: only those the row holds."""
        options: dict[str, Any] = {}
        if gen.end_frame:
            with gen.end_frame.open("rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            options["last_frame"] = f"data:{gen.end_frame_mime};base64,{data}"
        if gen.resolution:
            options["resolution"] = gen.resolution
        if gen.duration_seconds:
            options["duration"] = gen.duration_seconds
        if gen.ratio:
            options["ratio"] = gen.ratio
        if sent := references.by_kind(gen.pk):
            options["references"] = sent
        return options

    def _past_deadline(self, gen: Generation) -> bool:
        return timezone.now() > gen.created_at + timedelta(seconds=settings.GENERATION_DEADLINE)

    def _time_out(self, gen: Generation) -> None:
        gen.mark_failed(self.name, "timed_out", TIMED_OUT.format(limit=deadline_in_words()))

    @staticmethod
    def _in(seconds: float) -> datetime:
        return timezone.now() + timedelta(seconds=seconds)

    def _later(self, attempts: int) -> datetime:
        return self._in(backoff_delay(attempts))
