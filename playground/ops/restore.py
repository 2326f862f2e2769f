"""Restore of a backup archive made by backup.py (embedded SQLite + media only).

Restore checks every member against the manifest before it touches anything, writes media
files under their own names, keeps the current database beside the new one, and swaps the
database file in last. Restore is not meant to run live: the web server and the worker must
be stopped.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from playground.generations.models import Generation
from playground.ops.backup import (
    ARCHIVE_DB,
    ARCHIVE_MANIFEST,
    ARCHIVE_MEDIA,
    CHUNK,
    FORMAT,
    FORMAT_VERSION,
    BackupError,
    media_path,
    quote_identifier,
    snapshot_sqlite,
    sqlite_path,
    table_exists,
)


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
            if not table_exists(conn, table):
                return 0
            return int(conn.execute(f"SELECT COUNT(*) FROM {quote_identifier(table)}").fetchone()[0])  # noqa: S608
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
