"""The team's own pages (the Team page, invitations, the audit record), under /team/."""

from django.urls import URLPattern, path

from playground.team import security

urlpatterns: list[URLPattern] = [
    path("security/", security.security, name="team_security"),
    path("people/<id:pk>/reset-factors/", security.reset_person_factors, name="team_reset_factors"),
]
