from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"
    verbose_name = "Video Playground"

    def ready(self) -> None:
        # Signal receivers: every new person gets a role (team/roles.py); SSO sign-ins and connections
        # (team/sso.py) and second-factor changes (team/mfa.py) are recorded; the team's rule is re-read
        # when an admin changes it (team/mfa.py). The audit record: lines written where things happen
        # (team/auditing.py), and model changes through django-auditlog (budgets, webhooks, deletions).
        # Money's running totals follow every write that changes what a generation costs (money/totals.py).
        from playground.money import totals  # noqa: F401
        from playground.team import auditing, history, mfa, roles, sso  # noqa: F401

        history.register()
