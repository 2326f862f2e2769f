from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playground.notify import webhooks


class Command(BaseCommand):
    help = (
        "Delete webhook deliveries that were delivered or given up on more than --older-than days "
        "ago (waiting ones are kept). The worker runs this every HOUSEKEEPING_DELIVERIES_EVERY seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=webhooks.KEEP_FINISHED.days,
            metavar="DAYS",
            help=f"Default {webhooks.KEEP_FINISHED.days}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = webhooks.prune(timedelta(days=max(0.0, options["older_than"])))
        self.stdout.write(f"Deleted {removed} finished webhook deliver{'y' if removed == 1 else 'ies'}.")
