from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py); second-factor changes are
        # recorded and the team's rule is re-read when an admin changes it (team/mfa.py).
        from playground.team import mfa, roles  # noqa: F401
