"""The app's pages plus the framework's floor: a view that returns a constant.

It goes through the same middleware as every page (sessions, CSRF, security headers, CSP) but
reads no session, user or row, so the gap between it and a real page is what the page costs.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from playground.team.models import Role
from playground.team.roles import ROUTES


@login_not_required
def constant(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def signed_in_constant(request: HttpRequest) -> HttpResponse:
    # The same constant behind the sign-in check: what any signed-in page pays before its own work.
    return HttpResponse(b"ok", content_type="text/plain")


# Named, and open to every role like any signed-in page: a route the role table does not name is
# closed to all but admins (playground/team/roles.py), which refused the member the bench signs in.
ROUTES["bench_signed_in"] = Role.VIEWER

urlpatterns = [
    path("bench/constant/", constant),
    path("bench/signed-in/", signed_in_constant, name="bench_signed_in"),
    path("", include("playground.urls")),
]
