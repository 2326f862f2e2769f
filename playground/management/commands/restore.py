from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from playground.ops.backup import BackupError, size, sqlite_path
from playground.ops.restore import restore_sqlite

STOP_FIRST = "Stop the web server and the worker before restoring; restore is not meant to run while they do."


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup`: the SQLite database and the media files. "
        f"{STOP_FIRST} The archive is checked against its manifest before anything changes; a database "
        "that already holds generations is replaced only with --force (and kept beside the new one)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The .tar.gz written by `manage.py backup`.")
        parser.add_argument(
            "--force", action="store_true", help="Replace a database that already holds generations."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(STOP_FIRST)
        try:
            db_path = sqlite_path()
            # This process's own connections must not hold the file that is about to be replaced.
            connections.close_all()
            restored = restore_sqlite(options["path"], db_path=db_path, force=options["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = restored.manifest
        generations = manifest["counts"]["rows"].get("playground.Generation", 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored the backup of {manifest['created_at']}: the database ({generations} generations) "
                f"to {restored.db_path}, and {restored.files} media files ({size(restored.bytes)}) "
                f"to {restored.media_root}."
            )
        )
        if restored.kept_aside:
            self.stdout.write(f"The database that was there before is kept at {restored.kept_aside}.")
        if manifest["missing"]:
            self.stdout.write(
                f"{len(manifest['missing'])} files were already missing when the backup was made; "
                "`manage.py orphans --delete` repairs the rows that point at them."
            )
        self.stdout.write(
            "Next: run `manage.py migrate` (a backup from older code needs it), then start the web "
            "server and the worker."
        )
