from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.ops.backup import BackupError, create_backup, default_backup_path, size


class Command(BaseCommand):
    help = (
        "Back up the embedded SQLite database and the media files it references into one .tar.gz "
        "(with a manifest of SHA-256 sums). Safe while the web server and worker run. "
        "With PostgreSQL it refuses: use pg_dump, then copy the media folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            metavar="PATH",
            help="Where to write the archive (default var/backups/playground-YYYYmmdd-HHMMSS.tar.gz).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"] or default_backup_path()
        try:
            manifest = create_backup(output)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        counts = manifest["counts"]
        generations = counts["rows"].get("playground.Generation", 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up the database ({generations} generations) and {counts['files']} media files "
                f"({size(counts['bytes'])}) to {output} ({size(output.stat().st_size)})."
            )
        )
        if manifest["missing"]:
            self.stdout.write(
                f"{len(manifest['missing'])} referenced files had already gone when they were copied "
                "(listed under “missing” in the manifest):"
            )
            for name in manifest["missing"]:
                self.stdout.write(f"  {name}")
