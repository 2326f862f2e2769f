import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from playground.team.models import Role
from playground.team.roles import set_role

USERNAME = "demo"


class Command(BaseCommand):
    help = "Create (or keep) the demo account and print how to sign in. Demo mode only."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the site runs, for the message."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            self.stderr.write("An API key is set, so no demo account is made. Use createsuperuser instead.")
            return
        # The password is random per checkout and kept beside the database, so every start can print it.
        saved = settings.VAR_DIR / "demo-account.txt"
        user, created = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
        password = saved.read_text().strip() if saved.exists() else ""
        if created or not password or not user.check_password(password):
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(password + "\n")
            saved.chmod(0o600)
        set_role(user, Role.ADMIN)  # the demo account runs the team (and may invite people)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo mode. Sign in at {options['url']} as “{USERNAME}” with password “{password}”."
            )
        )
