"""A sequence as one film: clips that continue each other, played back to back and exported as one MP4.

`chain_of(gen)` gives the continuation chain a video belongs to; `stitch()` takes any ordered
list of clip files, so an ordered collection can feed it as well. An export is a job row
(SequenceExport) that a worker thread claims with the same conditional-UPDATE lease the
generations use; the web process never encodes.

The lease is short (EXPORT_LEASE, 30 s) and a heartbeat renews it every third of that while the
export works, however long one clip takes. So when a worker dies mid-export, another worker takes
the film over within EXPORT_LEASE and one idle poll of its export thread (half a second), not
minutes later, and starts it again. Each export works in its own folder,
VAR_DIR/tmp/film-<id>-<random>/: the worker taking a film over first removes that film's folders
on its machine, and `sweepfilms` (run by the worker when it starts, then hourly) removes any film
folder whose export is no longer being made, such as one left on a machine whose worker died.

Stitching (one clip open at a time, memory flat in the number of clips, each clip's sound kept
under its picture) is `stitching.py`'s.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models
from django.urls import reverse
from django.utils import timezone

from playground.films.stitching import stitch
from playground.lib.leases import Heartbeat, LeasedQuerySet, LeaseLost

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from playground.generations.models import Generation

log = logging.getLogger(__name__)

MAX_CLIPS = 50  # one export reads at most this many clips (about five minutes of video)
MAX_WAITING_PER_PERSON = 3  # exports one person may have waiting or in the making at once


class ExportState(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    WORKING = "working", "Putting the clips together"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ExportQuerySet(LeasedQuerySet["SequenceExport"]):
    def claim_due(self, owner: str) -> SequenceExport | None:
        """Lease one waiting (or abandoned) export to `owner`."""
        open_exports = self.filter(state__in=[ExportState.QUEUED, ExportState.WORKING])
        won = open_exports.lease(
            owner, 1, settings.EXPORT_LEASE, order_by="created_at", state=ExportState.WORKING, progress=0.0
        )
        return self.get(pk=won[0]) if won else None


class SequenceExport(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    clip_ids = models.JSONField(help_text="The generations, in order.")
    # The same ids as text, so asking again for the same film finds this one.
    clips_key = models.CharField(max_length=600, db_index=True, default="")
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.QUEUED)
    progress = models.FloatField(default=0.0)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=16, blank=True, help_text="copy or re-encode")
    video = models.FileField(blank=True, max_length=300)
    duration = models.FloatField(null=True, blank=True)
    video_size = models.BigIntegerField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ExportQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Film #{self.pk} ({len(self.clip_ids)} clips)"

    def get_absolute_url(self) -> str:
        return reverse("sequence_export", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in (ExportState.QUEUED, ExportState.WORKING)

    @property
    def percent(self) -> int:
        return round(100 * min(max(self.progress, 0.0), 1.0))

    def _write(self, owner: str, **fields: Any) -> bool:
        done = SequenceExport.objects.filter(pk=self.pk, lease_owner=owner).update(**fields) == 1
        if done:
            for name, value in fields.items():
                setattr(self, name, value)
        return done


# --- Which clips ---------------------------------------------------------------------------


def chain_of(gen: Generation) -> list[Generation]:
    """The continuation chain `gen` is in: back to the first clip, then on along the earliest
    ready continuation at each step. Only ready clips, at most MAX_CLIPS, no clip twice."""
    from playground.generations.models import Generation, State

    back: list[Generation] = [gen]
    seen = {gen.pk}
    while back[0].continues_id is not None and len(back) < MAX_CLIPS:
        earlier = Generation.objects.filter(pk=back[0].continues_id).first()
        if earlier is None or earlier.pk in seen:
            break
        seen.add(earlier.pk)
        back.insert(0, earlier)
    chain = back
    while len(chain) < MAX_CLIPS:
        nxt = (
            Generation.objects.filter(continues=chain[-1], state=State.READY)
            .exclude(pk__in=seen)
            .order_by("created_at", "pk")
            .first()
        )
        if nxt is None:
            break
        seen.add(nxt.pk)
        chain.append(nxt)
    return [clip for clip in chain if clip.state == State.READY and clip.video]


class TooManyExports(Exception):
    pass


def start_export(clips: Sequence[Generation], user: User) -> SequenceExport:
    """Queue an export of `clips` in this order (a chain, or an ordered collection).

    The same clips in the same order give the same film: one waiting, in the making or ready is
    reused rather than made twice. Raises TooManyExports beyond MAX_WAITING_PER_PERSON.
    """
    ids = [clip.pk for clip in clips][:MAX_CLIPS]
    key = ",".join(str(pk) for pk in ids)
    same = (
        SequenceExport.objects.filter(clips_key=key)
        .exclude(state=ExportState.FAILED)
        .order_by("-created_at")
        .first()
    )
    if same is not None and (same.is_active or (same.video and default_storage.exists(same.video.name))):
        return same
    waiting = SequenceExport.objects.filter(
        created_by=user.pk, state__in=[ExportState.QUEUED, ExportState.WORKING]
    ).count()
    if waiting >= MAX_WAITING_PER_PERSON:
        raise TooManyExports(
            f"You already have {waiting} films being made; the most at once is {MAX_WAITING_PER_PERSON}. "
            "Wait for one to finish, then export again."
        )
    return SequenceExport.objects.create(created_by=user, clip_ids=ids, clips_key=key)


# --- The job -------------------------------------------------------------------------------


def export_due(owner: str) -> bool:
    """Make one waiting export, if there is one; True if there was."""
    job = SequenceExport.objects.claim_due(owner)
    if job is None:
        return False
    try:
        run_export(job, owner)
    except LeaseLost:
        log.warning("Export %s was taken over by another worker", job.pk)
    except Exception:
        log.exception("Export %s failed", job.pk)
        job._write(
            owner,
            state=ExportState.FAILED,
            failure_reason="Something went wrong on our side while putting the clips together.",
            finished_at=timezone.now(),
            lease_owner="",
            lease_until=None,
        )
    return True


def run_export(job: SequenceExport, owner: str) -> None:
    from playground.generations.models import Generation, State
    from playground.lib.videofiles import inspect_video, storage_stem

    by_pk = Generation.objects.filter(pk__in=job.clip_ids, state=State.READY).exclude(video="").in_bulk()
    clips = [by_pk[pk] for pk in job.clip_ids if pk in by_pk]
    if len(clips) != len(job.clip_ids):
        job._write(
            owner,
            state=ExportState.FAILED,
            failure_reason=(
                f"{len(job.clip_ids) - len(clips)} of the {len(job.clip_ids)} clips are no longer "
                "ready (deleted or failed), so the film can't be made. Start the export again."
            ),
            finished_at=timezone.now(),
            lease_owner="",
            lease_until=None,
        )
        return
    # We hold the lease, so any folder of this film here is a dead worker's.
    if left := remove_folders(job.pk):
        log.info("Export %s: removed %d folder(s) a stopped worker left", job.pk, left)
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    with (
        Heartbeat(SequenceExport.objects.filter(pk=job.pk), owner, settings.EXPORT_LEASE) as beat,
        tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{job.pk}-", dir=root) as work,
    ):
        local = Path(work) / "clip.mp4"

        def fetch(i: int) -> Path:
            beat.check()
            # One clip on local disk at a time, whatever the storage (a bucket too).
            with default_storage.open(clips[i].video.name, "rb") as src, local.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            return local

        def on_progress(done: float) -> None:
            if not job._write(owner, progress=done):
                raise LeaseLost

        film = Path(work) / "film.mp4"
        method = stitch(len(clips), fetch, film, on_progress=on_progress)
        info = inspect_video(film)
        beat.check()
        with film.open("rb") as f:
            name = default_storage.save(f"sequences/{storage_stem()}.mp4", File(f))
    if not job._write(
        owner,
        state=ExportState.READY,
        progress=1.0,
        method=method,
        video=name,
        duration=info.duration,
        video_size=film_size(name),
        finished_at=timezone.now(),
        lease_owner="",
        lease_until=None,
    ):
        default_storage.delete(name)
        return
    log.info("Export %s ready: %d clips by %s, %.1f s", job.pk, len(clips), method, info.duration or 0)


# --- Folders left behind -----------------------------------------------------------------------

FOLDER_PREFIX = "film-"
_FOLDER = re.compile(rf"{FOLDER_PREFIX}(\d+)-")


def scratch_root() -> Path:
    return Path(settings.VAR_DIR) / "tmp"


def _folders() -> dict[Path, int]:
    """Every export folder on this machine, with its export's id."""
    root = scratch_root()
    if not root.is_dir():
        return {}
    found = ((path, _FOLDER.match(path.name)) for path in root.iterdir())
    return {path: int(match.group(1)) for path, match in found if match and path.is_dir()}


def remove_folders(pk: int) -> int:
    """Remove export `pk`'s folders on this machine; how many there were."""
    gone = [path for path, of in _folders().items() if of == pk]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return len(gone)


def sweep_folders() -> int:
    """Remove export folders whose export is not being made now (finished, failed, deleted, or its
    worker died and the lease ran out); how many went. Folders are listed before the exports are
    read, so a folder made after its export was claimed is always seen with that claim."""
    folders = _folders()
    live = set(
        SequenceExport.objects.filter(
            pk__in=set(folders.values()), state=ExportState.WORKING, lease_until__gte=timezone.now()
        ).values_list("pk", flat=True)
    )
    gone = [path for path, pk in folders.items() if pk not in live]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return len(gone)


def film_size(name: str) -> int | None:
    try:
        return int(default_storage.size(name))
    except (OSError, NotImplementedError):
        return None
