"""Nothing lost: stored files no row owns, and rows whose files are gone.

Rows own files through FileFields; the walk covers every FileField of
every concrete model (models added later included) and lists the storage folders those
fields use. A file no row references is reported; with --delete it is removed, but only once
it is older than a grace period (an hour by default): the generate form and the worker save
the file first and commit the row after it, so a brand-new unowned file is usually a row about
to arrive. Each file is checked once more just before it is deleted.

Missing files never cost a user their record. A row whose file is gone is kept and repaired:
a ready generation whose video is gone is marked failed with a sentence saying why (a plain
UPDATE on purpose: READY -> FAILED is not a job transition a worker may make, it is a repair
of what storage lost), and every missing file name is cleared, so no page links to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.ops.filerefs import FileRef, exists, is_referenced, media_folders, references, stored_files

DEFAULT_MIN_AGE = 3600.0
MISSING_VIDEO_CODE = "file_missing"
MISSING_VIDEO_REASON = "The stored video file is missing, so this video can't be played."


@dataclass
class OrphanReport:
    folders: list[str]
    files_seen: int
    names_referenced: int
    unowned: list[str] = field(default_factory=list)  # no row references them; old enough to delete
    too_new: list[str] = field(default_factory=list)  # no row references them yet; within the grace period
    missing: list[FileRef] = field(default_factory=list)  # the row is there, the file is not

    @property
    def clean(self) -> bool:
        return not (self.unowned or self.too_new or self.missing)


@dataclass
class OrphanRepair:
    deleted: list[str] = field(default_factory=list)
    marked_failed: list[FileRef] = field(default_factory=list)
    cleared: list[FileRef] = field(default_factory=list)


def find_orphans(min_age: float = DEFAULT_MIN_AGE) -> OrphanReport:
    folders = media_folders()
    # Files are listed before rows are read: a file saved and committed with its row in between
    # is then absent from the listing rather than wrongly unowned.
    stored = stored_files(folders)
    refs = references()
    report = OrphanReport(folders=folders, files_seen=len(stored), names_referenced=len(refs))
    now = timezone.now()
    for name in stored:
        if name in refs:
            continue
        try:
            age = (now - default_storage.get_modified_time(name)).total_seconds()
        except FileNotFoundError:
            continue
        (report.unowned if age >= min_age else report.too_new).append(name)
    listed = set(stored)
    for name, owners in sorted(refs.items()):
        if name not in listed and not exists(name):
            report.missing.extend(owners)
    return report


def repair_orphans(report: OrphanReport) -> OrphanRepair:
    """Delete the unowned files old enough to go, and repair rows whose files are missing."""
    done = OrphanRepair()
    for name in report.unowned:
        # A row may have started using the file since the walk (another take of a first frame).
        if not is_referenced(name):
            default_storage.delete(name)
            done.deleted.append(name)
    now = timezone.now()
    for ref in report.missing:
        if exists(ref.name):
            continue
        # Every UPDATE is conditional on the row still naming the missing file, so a row that
        # changed since the walk is left as it now is.
        if ref.model is Generation and ref.field == "video":
            failed = Generation.objects.filter(pk=ref.pk, state=State.READY, video=ref.name).update(
                state=State.FAILED,
                failure_code=MISSING_VIDEO_CODE,
                failure_reason=MISSING_VIDEO_REASON,
                finished_at=Coalesce(models.F("finished_at"), models.Value(now)),
                video="",
            )
            if failed:
                done.marked_failed.append(ref)
                continue
        if ref.model._base_manager.filter(pk=ref.pk, **{ref.field: ref.name}).update(**{ref.field: ""}):
            done.cleared.append(ref)
    return done
