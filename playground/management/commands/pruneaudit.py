from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.team import history


class Command(BaseCommand):
    help = (
        "Delete the audit record's lines (and django-auditlog's entries behind them) older than "
        "--older-than days. Nothing runs this on its own: the record is kept until an admin prunes it. "
        "The pruning itself is written to the record."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days < 1:
            raise CommandError("--older-than must be at least 1 day: a prune never empties today's record.")
        lines, entries = history.prune(days)
        self.stdout.write(
            f"Deleted {lines} audit line{'' if lines == 1 else 's'} and {entries} change "
            f"entr{'y' if entries == 1 else 'ies'} older than {days} day{'' if days == 1 else 's'}."
        )
