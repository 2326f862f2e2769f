from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from django.utils.timesince import timesince

from playground.ops.orphans import DEFAULT_MIN_AGE, find_orphans, repair_orphans


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class Command(BaseCommand):
    help = (
        "Report stored files no row references and rows whose files are missing. With --delete, "
        "remove those files (once older than --min-age) and repair those rows: a ready video whose "
        "file is gone is marked failed, other missing file names are cleared. No row is deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--delete", action="store_true", help="Delete unowned files and repair rows with missing files."
        )
        parser.add_argument(
            "--min-age",
            type=float,
            default=DEFAULT_MIN_AGE,
            metavar="SECONDS",
            help=(
                "Leave unowned files younger than this alone: the row that owns a file is saved just "
                f"after the file. Default {DEFAULT_MIN_AGE:g} (one hour)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        min_age: float = max(0.0, options["min_age"])
        report = find_orphans(min_age)
        self.stdout.write(
            f"Checked {_count(report.files_seen, 'stored file', 'stored files')} in "
            f"{', '.join(report.folders)} against "
            f"{_count(report.names_referenced, 'file name', 'file names')} that rows reference."
        )
        if report.clean:
            self.stdout.write("No orphans: every stored file has a row, and every row's files are there.")
            return
        unowned = report.unowned + report.too_new
        if unowned:
            self.stdout.write(f"{_count(len(unowned), 'file no row references', 'files no row references')}:")
            for name in sorted(unowned):
                self.stdout.write(f"  {name}" + ("  (too new to delete)" if name in report.too_new else ""))
        if report.too_new:
            self.stdout.write(
                f"{_count(len(report.too_new), 'of them was', 'of them were')} saved less than "
                f"{_duration(min_age)} ago and will be left alone: the row that owns a file is "
                "saved just after it."
            )
        if report.missing:
            rows = _count(len(report.missing), "row points at a missing file", "rows point at missing files")
            self.stdout.write(f"{rows}:")
            for ref in report.missing:
                self.stdout.write(f"  {ref}")
        if not options["delete"]:
            self.stdout.write(
                "Nothing was changed. Run again with --delete to delete the unowned files "
                "and repair the rows."
            )
            return
        done = repair_orphans(report)
        self.stdout.write(f"Deleted {_count(len(done.deleted), 'unowned file', 'unowned files')}.")
        if done.marked_failed:
            self.stdout.write(
                f"Marked {_count(len(done.marked_failed), 'ready video', 'ready videos')} failed "
                "because the video file is missing."
            )
        if done.cleared:
            self.stdout.write(
                f"Cleared {_count(len(done.cleared), 'missing file name', 'missing file names')} from rows."
            )


def _duration(seconds: float) -> str:
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now, depth=1).replace("\xa0", " ")
