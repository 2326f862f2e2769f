"""The code typed at sign-in's second step (and to confirm it is you): counted by the lockout, used once.

django-allauth checks the code; this adds the team's two rules to its forms (MFA_FORMS in settings):

- A wrong or replayed code counts as a failed sign-in for django-axes, on the same counter as
  wrong passwords for that person from that address. Once the limit is reached the lockout page
  answers (429), even to the right code, until the cool-off ends or an admin unlocks.
- An authenticator-app code signs in once. allauth remembers used codes in the cache, which is
  each web process's own memory here; the last used time step is also kept on the factor's row,
  so a code replayed to another process is refused too. The step of the code typed to set the
  app up is spent as well.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.core import context
from allauth.core.internal.cryptokit import compare_user_code
from allauth.mfa import app_settings
from allauth.mfa.base.forms import AuthenticateForm as AllauthAuthenticateForm
from allauth.mfa.base.forms import ReauthenticateForm as AllauthReauthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

STEP_KEY = "team_last_step"  # kept in the factor's data beside allauth's encrypted secret

REPLAYED = (
    "That code was already used. Wait for the next code in your app (a new one every {seconds} seconds)."
)


def replayed() -> str:
    return REPLAYED.format(seconds=app_settings.TOTP_PERIOD)


LOCKED = "Signing in to this account from here is paused after too many wrong attempts."


def current_step() -> int:
    return int(time.time()) // int(app_settings.TOTP_PERIOD)


def step_of(authenticator: Any, code: str) -> int | None:
    """The time step an authenticator-app code belongs to (one step earlier too: a code typed as the
    step turned may be checked just after), or None when it is no current code of this app."""
    secret = decrypt(authenticator.data["secret"])
    now = current_step()
    tolerance = int(app_settings.TOTP_TOLERANCE)
    for step in range(now + tolerance, now - tolerance - 2, -1):
        if compare_user_code(actual=code, expected=format_hotp_value(hotp_value(secret, step))):
            return step
    return None


def _spent(authenticator: Any, step: int) -> bool:
    last = authenticator.data.get(STEP_KEY)
    return last is not None and step <= int(last)


def claim_step(authenticator: Any, step: int) -> bool:
    """Mark a step used on the factor's row; False when it (or a later one) was used already."""
    with transaction.atomic():
        row = Authenticator.objects.select_for_update().filter(pk=authenticator.pk).first()
        if row is None or _spent(row, step):
            return False
        row.data[STEP_KEY] = step
        row.save(update_fields=["data"])
    authenticator.data[STEP_KEY] = step
    return True


def spend_current_step(authenticator: Any) -> None:
    """Called when an app is set up: the code just typed to confirm it does not also sign in."""
    claim_step(authenticator, current_step())


def _totp_of(user: User) -> Any:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).first()


class CountedCodeMixin:
    """clean_code with the lockout before it, failures counted, and app codes used once."""

    user: User
    authenticator: Any
    cleaned_data: dict[str, Any]

    def clean_code(self) -> str:
        request: HttpRequest = context.request
        credentials = {"username": self.user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            # AxesMiddleware answers with the lockout page (429) instead of this form.
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            raise ValidationError(LOCKED)
        try:
            code: str = super().clean_code()  # type: ignore[misc]
        except ValidationError as refused:
            typed = str(self.cleaned_data.get("code") or "")
            raise self._failed(request, credentials, self._plainly(typed, refused)) from None
        if self.authenticator.type == Authenticator.Type.TOTP:
            step = step_of(self.authenticator, code)
            if step is not None and not claim_step(self.authenticator, step):
                raise self._failed(request, credentials, ValidationError(replayed()))
        return code

    def _plainly(self, typed: str, refused: ValidationError) -> ValidationError:
        """allauth's own memory of used codes answers "Incorrect code": say it was used already."""
        totp = _totp_of(self.user) if typed else None
        step = step_of(totp, typed) if totp is not None else None
        if step is not None and _spent(totp, step):
            return ValidationError(replayed())
        return refused

    def _failed(
        self, request: HttpRequest, credentials: dict[str, str], refused: ValidationError
    ) -> ValidationError:
        """Count the attempt as a failed sign-in (axes locks out at its limit, on this request)."""
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        return refused


class AuthenticateForm(CountedCodeMixin, AllauthAuthenticateForm):
    """Sign-in's second step (MFA_FORMS["authenticate"])."""


class ReauthenticateForm(CountedCodeMixin, AllauthReauthenticateForm):
    """Confirming it is you with a code before a sensitive change (MFA_FORMS["reauthenticate"])."""
