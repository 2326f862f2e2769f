from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.money.totals import describe, recount


class Command(BaseCommand):
    help = (
        "Recompute the running money totals (dollars and videos per person and for the team, per "
        "budget month) from the generations themselves, say which differed and by how much, and "
        "put them right. With --check, only report, and exit with status 1 if any differed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only report; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        check: bool = options["check"]
        result = recount(fix=not check)
        people = {d.key[0] for d in result.differences if d.key[0] is not None}
        names = dict(get_user_model().objects.filter(pk__in=people).values_list("pk", "username"))
        if result.stale_rows:
            self.stdout.write(
                f"{result.stale_rows} generation{'s' if result.stale_rows != 1 else ''} had an out-of-date "
                "record of what they add to the totals"
                + (" (left as they are)." if check else " (corrected).")
            )
        for difference in result.differences:
            self.stdout.write(describe(difference, names))
        if not result.differences and not result.stale_rows:
            self.stdout.write("The money totals match the generations.")
            return
        if check:
            raise CommandError(
                "The money totals differ from the generations; run recompute_money_totals without --check "
                "to put them right.",
                returncode=1,
            )
        fixed = len(result.differences)
        self.stdout.write(f"Put right: {fixed} total{'s' if fixed != 1 else ''} now match the generations.")
