"""The team's own pages (the Team page, invitations, the audit record), under /team/.

Each name here is in roles.ROUTES, which says who may open it.
"""

from django.urls import URLPattern, path

from playground.team import audit_views, join, page, security

urlpatterns: list[URLPattern] = [
    path("audit/", audit_views.audit, name="team_audit"),
    path("audit/export.csv", audit_views.audit_csv, name="team_audit_csv"),
    path("security/", security.security, name="team_security"),
    path("people/<id:pk>/reset-factors/", security.reset_person_factors, name="team_reset_factors"),
    path("", page.team, name="team"),
    path("invite/", page.invite, name="team_invite"),
    path("invitations/<id:pk>/resend/", page.resend, name="team_resend"),
    path("invitations/<id:pk>/revoke/", page.revoke, name="team_revoke"),
    path("people/<id:pk>/role/", page.set_role, name="team_set_role"),
    path("people/<id:pk>/deactivate/", page.deactivate, name="team_deactivate"),
    path("people/<id:pk>/reactivate/", page.reactivate, name="team_reactivate"),
    path("people/<id:pk>/sign-out/", page.sign_out, name="team_sign_out"),
    path("join/", join.join_form, name="team_join_form"),
    path("join/<str:token>/", join.join, name="team_join"),
    path("me/", page.me, name="team_me"),
    path("me/sign-out-everywhere/", page.me_sign_out, name="team_me_sign_out"),
]
