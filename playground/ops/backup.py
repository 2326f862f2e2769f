"""Backup of the embedded default (SQLite + media) into one checked archive.

Backup is for the embedded default only: a SQLite file and a filesystem MEDIA_ROOT. The
database is copied first with SQLite's online backup API, which reads one consistent snapshot
while the web server and worker go on writing (WAL); then exactly the files that snapshot
references are copied, so the archive never holds a row without its file. A file deleted in
between (its row was deleted after the snapshot) is listed in the manifest as missing. With
PostgreSQL (DATABASE_URL) backup refuses and says to use pg_dump and copy the media folder
after it: a media-only archive could not be restored by this module and would only look like
a backup.

The archive is a .tar.gz holding db.sqlite3, media/<name> for each file and manifest.json
(sizes and SHA-256 of every member). Restoring it is `restore.py`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import connections
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from playground.lib.media import is_remote
from playground.ops.filerefs import file_fields

FORMAT = "video-playground-backup"
FORMAT_VERSION = 1
ARCHIVE_DB = "db.sqlite3"
ARCHIVE_MEDIA = "media/"
ARCHIVE_MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message is a sentence for the operator."""


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


def table_exists(conn: sqlite3.Connection, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    return found.fetchone() is not None


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def snapshot_contents(db: Path) -> tuple[set[str], dict[str, int], dict[str, str]]:
    """From a snapshot file: the file names its rows reference, row counts, last migrations."""
    names: set[str] = set()
    counts: dict[str, int] = {}
    migrations: dict[str, str] = {}
    with closing(sqlite3.connect(db)) as conn:
        for model, f in file_fields():
            table = model._meta.db_table
            if not table_exists(conn, table):
                continue
            # Identifiers come from model metadata, never from input.
            column = quote_identifier(f.column)
            quoted = quote_identifier(table)
            rows = conn.execute(
                f"SELECT {column} FROM {quoted} WHERE {column} IS NOT NULL AND {column} != ''"  # noqa: S608
            )
            names.update(str(row[0]) for row in rows)
            counts[model._meta.label] = conn.execute(f"SELECT COUNT(*) FROM {quoted}").fetchone()[0]  # noqa: S608
        if table_exists(conn, "django_migrations"):
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


def size(n: int) -> str:
    """Django's filesizeformat with plain spaces, for the commands' terminal output."""
    return str(filesizeformat(n)).replace("\xa0", " ")
