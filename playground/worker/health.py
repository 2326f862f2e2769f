"""/healthz for load balancers: the database answers and a worker has been seen recently.

HealthCheckMiddleware answers it ahead of the session and sign-in middleware: with a session
cookie, those would read the session table first, and while the database is down the probe got
a 500 instead of this view's 503.
"""

from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache

from playground.lib import outage
from playground.lib.models import WorkerHeartbeat

WORKER_SEEN_WITHIN = 60.0


@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        worker = WorkerHeartbeat.someone_alive(within=WORKER_SEEN_WITHIN)
    except DatabaseError as exc:
        response = JsonResponse({"database": "unreachable", "worker": "unknown"}, status=503)
        outage.note(request, exc, response)
        return response
    body = {
        "database": "ok",
        "worker": "ok" if worker else f"none seen in the last {WORKER_SEEN_WITHIN:.0f} s",
    }
    return JsonResponse(body, status=200 if worker else 503)


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.path = reverse("healthz")

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info != self.path:
            return self.get_response(request)
        request.get_host()  # ALLOWED_HOSTS still holds, as when CommonMiddleware checked it
        return healthz(request)
