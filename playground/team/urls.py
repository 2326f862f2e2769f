"""The team's own pages (the Team page, invitations, the audit record), under /team/."""

from django.urls import URLPattern, path  # noqa: F401

urlpatterns: list[URLPattern] = []
