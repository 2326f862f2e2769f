import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playground.worker.loop import Worker


class Command(BaseCommand):
    help = "Run the background worker: sends jobs to the video service, tracks them, saves finished videos."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threads", type=int, default=None, help="Jobs handled at once (WORKER_THREADS)."
        )
        parser.add_argument("--name", default=None, help="A name for this worker in logs and leases.")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker(threads=options["threads"], name=options["name"])

        def stop(signum: int, frame: FrameType | None) -> None:
            if worker.stopping.is_set():
                # A second Ctrl-C: leave now; leases run out and another worker takes over.
                sys.exit(1)
            self.stderr.write("Stopping after the steps in progress (press Ctrl-C again to quit now)…")
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run()
