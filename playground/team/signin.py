"""Sign-in glue between django-allauth and django-axes' lockout.

allauth's form sends one "login" field (a username or an e-mail address) and authenticates with
`username=` or `email=`; the lockout must count both spellings of one person as the same person,
so it counts by the account the login names when there is one, else by what was typed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest


def typed_login(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    for key in ("username", "email", "login"):
        value = (credentials or {}).get(key)
        if value:
            return str(value).strip()
    if request is not None and request.method == "POST":
        return str(request.POST.get("login") or request.POST.get("username") or "").strip()
    return ""


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE: the username of the account a login names, else the login as typed."""
    login = typed_login(request, credentials)
    if "@" in login:
        username = (
            User.objects.filter(email__iexact=login).order_by("pk").values_list("username", flat=True).first()
        )
        if username:
            return username
    return login
