"""The app's pages plus the framework's floor: a view that returns a constant.

It goes through the same middleware as every page (sessions, CSRF, security headers, CSP) but
reads no session, user or row, so the gap between it and a real page is what the page costs.
A second floor adds the one small read a status poll may make: one row by its primary key, one
round trip to the database (bench/serving.py compares the status fragment with both).
"""

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from playground.team.models import Role
from playground.team.roles import ROUTES


@login_not_required
def constant(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


@login_not_required
def one_read(request: HttpRequest, pk: int) -> HttpResponse:
    # One indexed read of one short column, in one round trip: the connection's health check
    # (CONN_HEALTH_CHECKS, a `SELECT 1` first on PostgreSQL) is left to this read itself, as the
    # status poll leaves it to its own (playground/generations/poll.py).
    db: Any = connection  # (the stubs lack the health check's attribute)
    db.health_check_done = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT state FROM playground_generation WHERE id = %s", [pk])
        row = cursor.fetchone()
    return HttpResponse(row[0].encode() if row else b"none", content_type="text/plain")


def signed_in_constant(request: HttpRequest) -> HttpResponse:
    # The same constant behind the sign-in check: what any signed-in page pays before its own work.
    return HttpResponse(b"ok", content_type="text/plain")


# Named, and open to every role like any signed-in page: a route the role table does not name is
# closed to all but admins (playground/team/roles.py), which refused the member the bench signs in.
ROUTES["bench_signed_in"] = Role.VIEWER

urlpatterns = [
    path("bench/constant/", constant),
    path("bench/one-read/<int:pk>/", one_read),
    path("bench/signed-in/", signed_in_constant, name="bench_signed_in"),
    path("", include("playground.urls")),
]
