"""When the database cannot be reached, people get a plain 503 page saying so, not a server error.

Django turns an exception into a 500 inside each middleware's wrapper, so no middleware can catch
one raised further down the chain. The database is first touched in two places, and this
middleware stands at both. Placed right after AuthenticationMiddleware, it loads the signed-in
user (the session and user rows) itself before anything else asks, even before the address is
resolved (a 404 page's context reads the user too); its process_exception sees what views and
their templates raise. A failure while the session is saved after a view has already used the
database (the server dying mid-request) stays a 500.

Only a connection that is gone counts as an outage: an OperationalError or InterfaceError after
which the connection is missing or fails a `SELECT 1`. A failing query on a working connection (a
missing table, a locked SQLite file, a constraint) is a bug or contention and stays a 500 with its
traceback. The page is rendered without a request, so no context processor, session or user is
read. /healthz is answered before the session is read (playground/worker/health.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template import loader
from django.utils.http import escape_leading_slashes

log = logging.getLogger(__name__)

SENTENCE = "The site can't reach its database right now; nothing you made is lost. Try again in a minute."
RETRY_AFTER_SECONDS = 60


def database_down(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    return connection.connection is None or not connection.is_usable()


def note(request: HttpRequest, exc: BaseException, response: HttpResponseBase) -> None:
    """One warning line for the request; Django's own 'Service Unavailable' error line is left out."""
    # The driver's first line says why (refused, timed out, authentication failed); libpq never
    # puts the password in it. The path without its query, which may carry someone's input.
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    log.warning(
        "database unreachable, answered 503: %s %s (%s: %s)",
        request.method,
        request.path,
        type(exc).__name__,
        reason,
    )
    response._has_been_logged = True  # type: ignore[attr-defined]  # read by django.utils.log.log_response


def unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        # htmx swaps nothing on a 5xx, so a poll keeps its trigger and resumes when the database is back.
        response = HttpResponse(SENTENCE, status=503, content_type="text/plain; charset=utf-8")
    else:
        # Leading slashes escaped as CommonMiddleware does: '//elsewhere.example' is another site.
        retry = escape_leading_slashes(request.get_full_path()) if request.method in {"GET", "HEAD"} else "/"
        page = loader.get_template("503.html").render({"sentence": SENTENCE, "retry": retry})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    note(request, exc, response)
    return response


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            request.user.is_authenticated  # noqa: B018 (loads the lazy user here, where a failure is caught)
        except (OperationalError, InterfaceError) as exc:
            if database_down(exc):
                return unavailable(request, exc)
            raise
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable(request, exception) if database_down(exception) else None
