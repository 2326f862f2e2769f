"""/healthz for load balancers: the database answers and a worker has been seen recently."""

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from playground.models import WorkerHeartbeat

WORKER_SEEN_WITHIN = 60.0


@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        worker = WorkerHeartbeat.someone_alive(within=WORKER_SEEN_WITHIN)
    except DatabaseError:
        return JsonResponse({"database": "unreachable", "worker": "unknown"}, status=503)
    body = {
        "database": "ok",
        "worker": "ok" if worker else f"none seen in the last {WORKER_SEEN_WITHIN:.0f} s",
    }
    return JsonResponse(body, status=200 if worker else 503)
