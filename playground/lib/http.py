"""Typed requests: what a view may rely on about `request`.

django-htmx's middleware adds `request.htmx`. LoginRequiredMiddleware stands in front of
every view except sign-in and /healthz, so those views always see a signed-in `User`, never
`AnonymousUser`: the permission checks (`can_be_deleted_by`, the allowance, the gallery's
"Mine" and stars) are then typed on `User`, and mypy catches a check written for the wrong kind.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    user: User  # narrowed: sign-in is required in front of these views


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request for a fragment (a history restore asks for the whole page, though htmx sent it)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def site_context(request: HttpRequest) -> dict[str, Any]:
    """What every template may read (a context processor in settings)."""
    return {"demo_mode": settings.DEMO_MODE, "sso_only": settings.SSO_ONLY}


def too_many_tries() -> str:
    return (
        "This was asked too often from your address or for this account (sign-ins: at most "
        f"{settings.SIGN_INS_PER_MINUTE_PER_ADDRESS} a minute from one address). "
        "Wait a minute, then try again."
    )


def too_many(request: HttpRequest) -> HttpResponse:
    """The 429 answer allauth gives when one of its limits is reached (handler429 in urls.py)."""
    sentence = too_many_tries()
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(sentence, status=429, content_type="text/plain; charset=utf-8")
    return render(request, "429.html", {"sentence": sentence}, status=429)


NOT_ALLOWED = "You don't have permission to do that."


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 403 answer (handler403 in urls.py): the refusal's own sentence, for a page or for htmx.

    A role's refusal and a not-yours refusal both arrive here as PermissionDenied with one plain
    sentence. An htmx request gets that sentence alone as text/plain, which static/js/errors.js
    shows on the page as it came; anything else gets the 403 page with a way back to the gallery.
    """
    sentence = str(exception).strip() or NOT_ALLOWED
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(sentence, status=403, content_type="text/plain; charset=utf-8")
    return render(request, "403.html", {"exception": sentence}, status=403)
