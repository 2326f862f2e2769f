"""The app's pages plus the framework's floor: a view that returns a constant.

It goes through the same middleware as every page (sessions, CSRF, security headers, CSP) but
reads no session, user or row, so the gap between it and a real page is what the page costs.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_not_required
def constant(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def signed_in_constant(request: HttpRequest) -> HttpResponse:
    # The same constant behind the sign-in check: what any signed-in page pays before its own work.
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/constant/", constant),
    path("bench/signed-in/", signed_in_constant),
    path("", include("playground.urls")),
]
