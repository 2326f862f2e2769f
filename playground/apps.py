from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py).
        from playground.team import roles  # noqa: F401
