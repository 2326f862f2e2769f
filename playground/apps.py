from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py).
        from playground.team import roles  # noqa: F401

        # The audit record: lines written where things happen (sign-ins, account changes), and
        # model changes through django-auditlog (budgets, webhooks, deletions).
        from playground.team import auditing, history  # noqa: F401

        history.register()
