"""Backup and restore of the embedded default: real SQLite files, real media files, real archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import shutil
import sqlite3
import tarfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from playground.generations.models import Generation, State
from playground.ops import backup, restore
from tests.factories import generation

# Backup reads the database file, so the rows a test makes must be committed.
# Backup and restore are for the embedded default; on PostgreSQL these are deselected (conftest)
# and test_backup_postgres.py checks the command says to use pg_dump instead.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite_only]

FILE_FIELDS = ("first_frame", "video", "poster")


def make(user: Any, n: int, *, state: str = State.READY, files: tuple[str, ...] = FILE_FIELDS) -> Generation:
    body = b"".join(hashlib.sha256(f"{n}:{i}".encode()).digest() for i in range(60 + n))
    stored: dict[str, str] = {}
    if "first_frame" in files:
        stored["first_frame"] = default_storage.save(
            f"first-frames/t/{n}.png", ContentFile(b"\x89PNG" + body)
        )
    if "video" in files:
        stored["video"] = default_storage.save(f"videos/t/{n}.mp4", ContentFile(b"mp4" + body * 3))
    if "poster" in files:
        stored["poster"] = default_storage.save(f"posters/t/{n}.jpg", ContentFile(b"\xff\xd8" + body[:500]))
    return generation(user, state, prompt=f"A paper boat, take {n}", **stored)


def gallery() -> list[Any]:
    return list(Generation.objects.order_by("-created_at", "-id").values())


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def live_db() -> Path:
    return Path(connection.settings_dict["NAME"])


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_backup_wipe_restore_gives_back_the_same_gallery_and_every_file(
    user, other_user, media_root, tmp_path
):
    for n in range(4):
        make(user if n % 2 else other_user, n)
    make(user, 9, state=State.QUEUED, files=("first_frame",))
    owned = hashes(media_root)
    default_storage.save("videos/t/nobody.mp4", ContentFile(b"no row owns this"))
    before = gallery()
    archive = tmp_path / "backup.tar.gz"

    said = run("backup", "--output", str(archive))

    assert "(5 generations) and 13 media files" in said
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(
            ["db.sqlite3", "manifest.json", *(f"media/{name}" for name in owned)]
        )

    Generation.objects.all().delete()
    shutil.rmtree(media_root)
    assert gallery() == []

    said = run("restore", str(archive))

    assert gallery() == before
    assert hashes(media_root) == owned
    assert "Stop the web server and the worker" in said
    assert "5 generations" in said
    assert "13 media files" in said


def test_a_backup_taken_while_rows_and_files_keep_arriving_restores_intact(user, media_root, tmp_path):
    stop = threading.Event()
    made: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 1000
            while not stop.is_set():
                make(user, n)
                made.append(n)
                n += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(made) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        made_before = len(made)
        archives = []
        for i in range(3):
            archives.append(tmp_path / f"live-{i}.tar.gz")
            backup.create_backup(archives[-1])
        made_during = len(made)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not errors
    assert made_during > made_before, "the writer should have kept going during the backups"

    for i, archive in enumerate(archives):
        db, media = tmp_path / f"restored-{i}.sqlite3", tmp_path / f"restored-media-{i}"
        restored = restore.restore_sqlite(archive, db_path=db, media_root=media)

        assert backup.integrity(db) == "ok"
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT first_frame, video, poster FROM playground_generation").fetchall()
        assert 5 <= len(rows) <= made_during
        assert restored.manifest["counts"]["rows"]["playground.Generation"] == len(rows)
        names = {name for row in rows for name in row}
        copied, original = hashes(media), hashes(media_root)
        assert set(copied) == names
        assert all(copied[name] == original[name] for name in names)
        assert restored.manifest["missing"] == []


def _flip_a_byte_in_a_video(source: Path, target: Path) -> None:
    """Rewrite the archive with one byte of a stored video changed and everything else kept."""
    with tarfile.open(source) as tar, tarfile.open(target, "w:gz") as out:
        for member in tar:
            body = tar.extractfile(member)
            assert body is not None
            data = bytearray(body.read())
            if member.name.startswith("media/videos/"):
                data[len(data) // 2] ^= 0x01
            out.addfile(member, io.BytesIO(bytes(data)))


def _flip_a_byte_in_the_stream(source: Path, target: Path) -> None:
    """Flip one bit near the middle of the compressed stream, where it really changes something.

    Deflate has a few bits that change nothing (padding, codes no symbol uses); a flip there is
    not damage, so move along until the flip breaks decompression or changes what comes out.
    """
    good = source.read_bytes()
    plain = gzip.decompress(good)
    for offset in range(len(good) // 2, len(good)):
        data = bytearray(good)
        data[offset] ^= 0x01
        try:
            changed = gzip.decompress(bytes(data)) != plain
        except (OSError, EOFError, zlib.error):
            changed = True
        if changed:
            target.write_bytes(bytes(data))
            return
    raise AssertionError("no bit flip changed the archive")


@pytest.mark.parametrize("damage", [_flip_a_byte_in_a_video, _flip_a_byte_in_the_stream])
def test_a_damaged_archive_is_refused_before_anything_changes(user, media_root, tmp_path, damage):
    make(user, 1)
    make(user, 2)
    good, bad = tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz"
    backup.create_backup(good)
    damage(good, bad)
    # A target with data in it, restored with force, so only the damage can stop the restore.
    target_db, target_media = tmp_path / "target.sqlite3", tmp_path / "target-media"
    restore.restore_sqlite(good, db_path=target_db, media_root=target_media)
    (target_media / "videos" / "t" / "1.mp4").write_bytes(b"what was there before")
    db_bytes, media_before = target_db.read_bytes(), hashes(target_media)

    with pytest.raises(backup.BackupError, match=r"damaged|does not match its manifest"):
        restore.restore_sqlite(bad, db_path=target_db, media_root=target_media, force=True)

    assert target_db.read_bytes() == db_bytes
    assert hashes(target_media) == media_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("target")) == [
        "target-media",
        "target.sqlite3",
    ]

    live_before, live_media = gallery(), hashes(media_root)
    with pytest.raises(CommandError, match=r"damaged|does not match its manifest"):
        run("restore", str(bad), "--force")
    assert gallery() == live_before
    assert hashes(media_root) == live_media


def test_restore_refuses_a_database_that_holds_generations_unless_forced(user, tmp_path):
    make(user, 1)
    archive = tmp_path / "one.tar.gz"
    run("backup", "--output", str(archive))
    make(user, 2)
    before = gallery()

    with pytest.raises(CommandError, match=r"already holds 2 generation.*--force"):
        run("restore", str(archive))
    assert gallery() == before

    said = run("restore", str(archive), "--force")

    assert [row["prompt"] for row in gallery()] == ["A paper boat, take 1"]
    kept = re.search(r"kept at (\S+)\.$", said, re.MULTILINE)
    assert kept, said
    assert restore.count_generations(Path(kept.group(1))) == 2


def test_a_file_gone_before_it_was_copied_is_listed_and_the_rest_restores(user, tmp_path):
    gen = make(user, 1)
    default_storage.delete(gen.poster.name)
    archive = tmp_path / "b.tar.gz"

    manifest = backup.create_backup(archive)

    assert manifest["missing"] == [gen.poster.name]
    assert manifest["counts"]["files"] == 2
    restored = restore.restore_sqlite(archive, db_path=tmp_path / "r.sqlite3", media_root=tmp_path / "m")
    assert restored.files == 2
    assert sorted(hashes(tmp_path / "m")) == sorted([gen.first_frame.name, gen.video.name])


def test_backup_never_overwrites_an_existing_file(user, tmp_path):
    archive = tmp_path / "taken.tar.gz"
    archive.write_bytes(b"something precious")

    with pytest.raises(CommandError, match="already exists"):
        run("backup", "--output", str(archive))

    assert archive.read_bytes() == b"something precious"
