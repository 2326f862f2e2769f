from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playground.pictures import staging


class Command(BaseCommand):
    help = (
        "Delete staged pictures (checked for a one-click fix, never used) older than --older-than. "
        "The worker runs this every HOUSEKEEPING_STAGING_EVERY seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=staging.KEEP_FOR.total_seconds(),
            metavar="SECONDS",
            help=f"Default {staging.KEEP_FOR.total_seconds():g} (one day).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = staging.sweep(timedelta(seconds=max(0.0, options["older_than"])))
        self.stdout.write(f"Deleted {removed} staged picture folder{'' if removed == 1 else 's'}.")
