from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py).
        # The audit record: lines written where things happen (sign-ins, account changes), and
        # model changes through django-auditlog (budgets, webhooks, deletions).
        from playground.team import (  # noqa: F401
            auditing,
            history,
            roles,
        )

        history.register()
