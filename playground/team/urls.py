"""The team's own pages (the Team page, invitations, the audit record), under /team/."""

from django.urls import URLPattern, path

from playground.team import audit_views

urlpatterns: list[URLPattern] = [
    path("audit/", audit_views.audit, name="team_audit"),
    path("audit/export.csv", audit_views.audit_csv, name="team_audit_csv"),
]
