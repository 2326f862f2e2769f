from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py); SSO sign-ins and
        # connections are written in the audit record (team/sso.py).
        from playground.team import roles, sso  # noqa: F401
