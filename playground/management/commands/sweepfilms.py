from typing import Any

from django.core.management.base import BaseCommand

from playground.films import sequences


class Command(BaseCommand):
    help = (
        "Delete film-export folders on this machine (VAR_DIR/tmp/film-*) whose export is not being "
        "made now: a worker that died mid-export leaves one. The worker runs this when it starts and "
        "then every HOUSEKEEPING_STAGING_EVERY seconds."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = sequences.sweep_folders()
        self.stdout.write(f"Deleted {removed} film folder{'' if removed == 1 else 's'} no export was using.")
