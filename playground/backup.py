"""Nothing lost: orphan checks, and backup and restore of the embedded default (SQLite + media).

Orphans, either way. Rows own files through FileFields; the walk covers every FileField of
every concrete model (models added later included) and lists the storage folders those
fields use. A file no row references is reported; with --delete it is removed, but only once
it is older than a grace period (an hour by default): the generate form and the worker save
the file first and commit the row after it, so a brand-new unowned file is usually a row about
to arrive. Each file is checked once more just before it is deleted.

Missing files never cost a user their record. A row whose file is gone is kept and repaired:
a ready generation whose video is gone is marked failed with a sentence saying why (a plain
UPDATE on purpose: READY -> FAILED is not a job transition a worker may make, it is a repair
of what storage lost), and every missing file name is cleared, so no page links to nothing.

Backup is for the embedded default only: a SQLite file and a filesystem MEDIA_ROOT. The
database is copied first with SQLite's online backup API, which reads one consistent snapshot
while the web server and worker go on writing (WAL); then exactly the files that snapshot
references are copied, so the archive never holds a row without its file. A file deleted in
between (its row was deleted after the snapshot) is listed in the manifest as missing. With
PostgreSQL (DATABASE_URL) backup refuses and says to use pg_dump and copy the media folder
after it: a media-only archive could not be restored by this module and would only look like
a backup.

The archive is a .tar.gz holding db.sqlite3, media/<name> for each file and manifest.json
(sizes and SHA-256 of every member). Restore checks every member against the manifest before
it touches anything, writes media files under their own names, keeps the current database
beside the new one, and swaps the database file in last. Restore is not meant to run live:
the web server and the worker must be stopped.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import connections, models
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.media import SERVED_FOLDERS, is_remote
from playground.models import Generation, State

DEFAULT_MIN_AGE = 3600.0
MISSING_VIDEO_CODE = "file_missing"
MISSING_VIDEO_REASON = "The stored video file is missing, so this video can't be played."

FORMAT = "video-playground-backup"
FORMAT_VERSION = 1
ARCHIVE_DB = "db.sqlite3"
ARCHIVE_MEDIA = "media/"
ARCHIVE_MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message is a sentence for the operator."""


# --- Which rows own which files --------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    model: type[models.Model]
    pk: Any
    field: str
    name: str

    def __str__(self) -> str:
        return f"{self.model._meta.label} #{self.pk} {self.field}: {self.name}"


def file_fields() -> list[tuple[type[models.Model], models.FileField]]:
    """Every FileField of every concrete model, so models added later are covered too."""
    found: list[tuple[type[models.Model], models.FileField]] = []
    for model in apps.get_models():
        # A proxy's rows are its concrete model's rows; an unmanaged model may have no table.
        if model._meta.proxy or not model._meta.managed:
            continue
        # Local fields only: a multi-table child's inherited fields are its parent's rows.
        for f in model._meta.local_concrete_fields:
            if isinstance(f, models.FileField):
                found.append((model, f))
    return found


def media_folders() -> list[str]:
    """The storage folders the walk lists: the served ones and any fixed upload_to prefix."""
    folders = set(SERVED_FOLDERS)
    for _, f in file_fields():
        if isinstance(f.upload_to, str) and f.upload_to:
            top = f.upload_to.split("/")[0]
            if top and "%" not in top:
                folders.add(f"{top}/")
    return sorted(folders)


def references() -> dict[str, list[FileRef]]:
    """Each stored name any row references, with the rows (one file may serve several rows)."""
    refs: dict[str, list[FileRef]] = {}
    for model, f in file_fields():
        rows = (
            model._base_manager.exclude(**{f.name: ""})
            .exclude(**{f"{f.name}__isnull": True})
            .values_list("pk", f.name)
        )
        for pk, name in rows.iterator():
            refs.setdefault(name, []).append(FileRef(model, pk, f.name, name))
    return refs


def is_referenced(name: str) -> bool:
    return any(model._base_manager.filter(**{f.name: name}).exists() for model, f in file_fields())


def _exists(name: str) -> bool:
    try:
        return default_storage.exists(name)
    except SuspiciousFileOperation:
        # A name that points outside the media folder cannot be served; it counts as missing.
        return False


def stored_files(folders: list[str]) -> list[str]:
    names: list[str] = []
    pending = list(folders)
    while pending:
        folder = pending.pop()
        try:
            dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            # Nothing stored there yet. (A bucket has no folders to ask about, only key prefixes.)
            continue
        names.extend(f"{folder}{name}" for name in files)
        pending.extend(f"{folder}{name}/" for name in dirs)
    return sorted(names)


# --- Orphans ---------------------------------------------------------------------------------


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
        if name not in listed and not _exists(name):
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
        if _exists(ref.name):
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


# --- Backup ----------------------------------------------------------------------------------


def sqlite_path(alias: str = "default") -> Path:
    """The embedded database's file, or a refusal that says what to do instead."""
    connection = connections[alias]
    if connection.vendor != "sqlite":
        raise BackupError(
            f"The database is {connection.display_name} (DATABASE_URL), not the embedded SQLite file, "
            "so this command does not back it up. Use pg_dump for the database (pg_restore to restore) "
            f"and, once the dump has finished, copy the media folder ({settings.MEDIA_ROOT}) as it is."
        )
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        raise BackupError("The database lives in memory only, so there is no file to back up.")
    return Path(name)


def default_backup_path() -> Path:
    return Path(settings.VAR_DIR) / "backups" / f"playground-{timezone.localtime():%Y%m%d-%H%M%S}.tar.gz"


def snapshot_sqlite(source: Path, target: Path) -> None:
    """Copy a live SQLite database into `target` as one consistent, self-contained file."""
    if not source.is_file():
        raise BackupError(f"There is no database file at {source}.")
    with closing(sqlite3.connect(source, timeout=20)) as src, closing(sqlite3.connect(target)) as dst:
        # One step (pages=-1) is one read transaction, so the copy is a single moment; under WAL
        # the writers go on meanwhile.
        src.backup(dst)
        # The copy must not depend on a -wal file beside it.
        dst.execute("PRAGMA journal_mode=DELETE")


def integrity(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))


def _table_exists(conn: sqlite3.Connection, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    return found.fetchone() is not None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def snapshot_contents(db: Path) -> tuple[set[str], dict[str, int], dict[str, str]]:
    """From a snapshot file: the file names its rows reference, row counts, last migrations."""
    names: set[str] = set()
    counts: dict[str, int] = {}
    migrations: dict[str, str] = {}
    with closing(sqlite3.connect(db)) as conn:
        for model, f in file_fields():
            table = model._meta.db_table
            if not _table_exists(conn, table):
                continue
            # Identifiers come from model metadata, never from input.
            column = _quote(f.column)
            rows = conn.execute(
                f"SELECT {column} FROM {_quote(table)} WHERE {column} IS NOT NULL AND {column} != ''"  # noqa: S608
            )
            names.update(str(row[0]) for row in rows)
            counts[model._meta.label] = conn.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0]  # noqa: S608
        if _table_exists(conn, "django_migrations"):
            for app, name in conn.execute("SELECT app, name FROM django_migrations ORDER BY id"):
                migrations[app] = name
    return names, counts, migrations


def media_path(root: Path, name: str) -> Path:
    """Where a stored name lives under `root`; a name that could step outside it is refused."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or ".." in parts:
        raise BackupError(f"The stored name {name!r} is not a plain path inside the media folder.")
    return root.joinpath(*parts)


class _HashingReader:
    """Hands a file to tarfile while hashing what it reads, so each file is read once."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.digest.update(data)
        return data


def _add(tar: tarfile.TarFile, path: Path, arcname: str) -> dict[str, Any]:
    with path.open("rb") as f:
        stat = os.fstat(f.fileno())
        info = tarfile.TarInfo(arcname)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
        reader = _HashingReader(f)
        tar.addfile(info, reader)
    return {"size": stat.st_size, "sha256": reader.digest.hexdigest()}


def _app_version() -> str | None:
    try:
        return importlib.metadata.version("video-playground")
    except importlib.metadata.PackageNotFoundError:
        return None


def create_backup(
    output: Path, *, db_path: Path | None = None, media_root: Path | None = None
) -> dict[str, Any]:
    """Write one .tar.gz with a snapshot of the database and the files it references; the manifest."""
    if media_root is None and is_remote():
        raise BackupError(
            "The media live in an S3 bucket (MEDIA_STORAGE=s3), not in a folder this command can copy. "
            "Turn on the bucket's versioning or replication for the media, and back up the database "
            "on its own (pg_dump for PostgreSQL)."
        )
    db_path = db_path or sqlite_path()
    media_root = Path(media_root or settings.MEDIA_ROOT)
    if output.exists():
        raise BackupError(f"{output} already exists; choose another --output.")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".backup-") as work:
        snapshot = Path(work) / ARCHIVE_DB
        snapshot_sqlite(db_path, snapshot)
        verdict = integrity(snapshot)
        if verdict != "ok":
            raise BackupError(f"The database snapshot failed SQLite's integrity check: {verdict}")
        names, counts, migrations = snapshot_contents(snapshot)
        files: list[dict[str, Any]] = []
        missing: list[str] = []
        partial = Path(work) / "archive.tar.gz"
        # Videos and pictures are compressed already; level 1 still shrinks the database well.
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            database = _add(tar, snapshot, ARCHIVE_DB)
            for name in sorted(names):
                try:
                    files.append(
                        {"name": name, **_add(tar, media_path(media_root, name), ARCHIVE_MEDIA + name)}
                    )
                except (FileNotFoundError, BackupError):
                    missing.append(name)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": timezone.now().isoformat(),
                "app_version": _app_version(),
                "source": {"database": str(db_path), "media_root": str(media_root)},
                "migrations": migrations,
                "database": {"name": ARCHIVE_DB, **database},
                "counts": {"rows": counts, "files": len(files), "bytes": sum(f["size"] for f in files)},
                "files": files,
                "missing": missing,
            }
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(ARCHIVE_MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(timezone.now().timestamp()), 0o644
            tar.addfile(info, _BytesReader(data))
        # Only a finished archive gets the real name, so a crash never leaves a plausible half.
        os.replace(partial, output)
    return manifest


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.at + size
        chunk, self.at = self.data[self.at : end], min(end, len(self.data))
        return chunk


# --- Restore ---------------------------------------------------------------------------------


@dataclass
class Restored:
    manifest: dict[str, Any]
    db_path: Path
    media_root: Path
    files: int
    bytes: int
    kept_aside: Path | None


def _members(archive: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    """The archive's plain files, in order, read as a stream; damage of any kind is a BackupError."""
    if not archive.is_file():
        raise BackupError(f"There is no backup file at {archive}.")
    try:
        with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    raise BackupError(f"{archive} holds {member.name!r}, which is not a plain file.")
                body = tar.extractfile(member)
                assert body is not None  # a regular file always has a body
                yield member, body
            # gzip checks its CRC only at the very end; tar stops reading before it.
            while gz.read(CHUNK):
                pass
    except DAMAGE as exc:
        raise _damaged(archive, exc) from exc


# What reading a truncated, bit-flipped or foreign file raises, from gzip, zlib or tarfile.
DAMAGE = (tarfile.TarError, OSError, EOFError, zlib.error)


def _damaged(archive: Path, exc: BaseException) -> BackupError:
    return BackupError(f"{archive} is damaged or is not a backup made by this app ({exc}).")


def _sha256(body: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while data := body.read(CHUNK):
        digest.update(data)
    return digest.hexdigest()


def verify_archive(archive: Path) -> dict[str, Any]:
    """Check every member against the manifest; the manifest, or a BackupError saying what is wrong."""
    seen: dict[str, tuple[int, str]] = {}
    raw_manifest: bytes | None = None
    try:
        for member, body in _members(archive):
            if member.name in seen or (member.name == ARCHIVE_MANIFEST and raw_manifest is not None):
                raise BackupError(f"{archive} holds {member.name!r} twice.")
            if member.name == ARCHIVE_MANIFEST:
                raw_manifest = body.read()
            else:
                seen[member.name] = (member.size, _sha256(body))
    except DAMAGE as exc:
        raise _damaged(archive, exc) from exc
    if raw_manifest is None:
        raise BackupError(f"{archive} has no {ARCHIVE_MANIFEST}, so it is not a backup made by this app.")
    try:
        manifest = json.loads(raw_manifest)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError("not this app's format")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"{archive} is format version {manifest.get('format_version')}; "
                f"this app reads version {FORMAT_VERSION}."
            )
        expected = {ARCHIVE_DB: manifest["database"]} | {
            ARCHIVE_MEDIA + f["name"]: f for f in manifest["files"]
        }
        for f in manifest["files"]:
            media_path(Path("."), f["name"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{archive} has a manifest this app cannot read ({exc}).") from exc
    problems = [f"{name} is missing" for name in sorted(expected.keys() - seen.keys())]
    problems += [f"{name} is not in the manifest" for name in sorted(seen.keys() - expected.keys())]
    problems += [
        f"{name} has different contents than when it was backed up"
        for name in sorted(expected.keys() & seen.keys())
        if seen[name] != (expected[name]["size"], expected[name]["sha256"])
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise BackupError(f"{archive} does not match its manifest, so nothing was restored: {shown}.")
    checked: dict[str, Any] = manifest
    return checked


def count_generations(db_path: Path) -> int | None:
    """Generations in the database file; 0 if there is none yet; None if it cannot be read."""
    if not db_path.exists():
        return 0
    try:
        with closing(sqlite3.connect(db_path, timeout=20)) as conn:
            table = Generation._meta.db_table
            if not _table_exists(conn, table):
                return 0
            return int(conn.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0])  # noqa: S608
    except sqlite3.DatabaseError:
        return None


def _write_checked(body: IO[bytes], target: Path, sha256: str, mtime: float, mode: int) -> None:
    """Write to a temporary file beside `target`, check it, then put it in place in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".restoring-")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while data := body.read(CHUNK):
                digest.update(data)
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise BackupError(f"{target.name} changed inside the archive while it was being restored.")
        os.chmod(tmp, mode)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_aside(db_path: Path) -> Path | None:
    if not db_path.exists():
        return None
    stem = f"{db_path.name}.before-restore-{timezone.localtime():%Y%m%d-%H%M%S}"
    aside = db_path.with_name(stem)
    tries = 1
    while aside.exists():
        tries += 1
        aside = db_path.with_name(f"{stem}-{tries}")
    try:
        snapshot_sqlite(db_path, aside)
    except sqlite3.DatabaseError:
        # A damaged database (often the reason for a restore) may defeat the backup API; keep its
        # raw files instead.
        aside.unlink(missing_ok=True)
        for suffix in ("", "-wal"):
            if Path(f"{db_path}{suffix}").exists():
                shutil.copy2(f"{db_path}{suffix}", f"{aside}{suffix}")
    return aside


def restore_sqlite(
    archive: Path, *, db_path: Path | None = None, media_root: Path | None = None, force: bool = False
) -> Restored:
    """Put a backup's database and media in place. The web server and worker must be stopped."""
    db_path = db_path or sqlite_path()
    media_root = Path(media_root or settings.MEDIA_ROOT)
    existing = count_generations(db_path)
    if not force and existing is None:
        raise BackupError(f"The database at {db_path} cannot be read, so it is not replaced without --force.")
    if not force and existing:
        raise BackupError(
            f"The database at {db_path} already holds {existing} generation(s); restoring replaces it. "
            "Run again with --force to go ahead (the current database is kept beside it first)."
        )
    manifest = verify_archive(archive)
    by_member = {ARCHIVE_MEDIA + f["name"]: f for f in manifest["files"]}
    incoming = db_path.with_name(db_path.name + ".restoring")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_mode = db_path.stat().st_mode & 0o777 if db_path.exists() else 0o600
    media_mode = settings.FILE_UPLOAD_PERMISSIONS or 0o644
    files = size = 0
    try:
        # Media first and the database last: if anything fails midway, the old database still
        # stands and the new files are only unowned extras (names are unique).
        for member, body in _members(archive):
            if member.name == ARCHIVE_DB:
                _write_checked(body, incoming, manifest["database"]["sha256"], member.mtime, db_mode)
            elif member.name in by_member:
                entry = by_member[member.name]
                _write_checked(
                    body, media_path(media_root, entry["name"]), entry["sha256"], member.mtime, media_mode
                )
                files, size = files + 1, size + entry["size"]
        kept_aside = _keep_aside(db_path)
        # A -wal or -shm left by the old database would be replayed into the new one.
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        os.replace(incoming, db_path)
    finally:
        incoming.unlink(missing_ok=True)
    return Restored(manifest, db_path, media_root, files, size, kept_aside)


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def human_duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    count = round(seconds)
    return f"{count} second{'' if count == 1 else 's'}"
