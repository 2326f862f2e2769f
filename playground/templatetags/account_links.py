"""How long the links of the account e-mails work, in words, for the reset and e-mail pages and mails."""

from __future__ import annotations

from allauth.account import app_settings
from django import template
from django.conf import settings

register = template.Library()


def in_words(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'' if days == 1 else 's'}"
    hours = max(1, round(seconds / 3600))
    return f"{hours} hour{'' if hours == 1 else 's'}"


@register.simple_tag
def reset_link_lifetime() -> str:
    """How long a password reset link works (Django's PASSWORD_RESET_TIMEOUT)."""
    return in_words(int(settings.PASSWORD_RESET_TIMEOUT))


@register.simple_tag
def confirmation_link_lifetime() -> str:
    """How long an e-mail confirmation link works (ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS)."""
    return in_words(int(app_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS) * 86400)
