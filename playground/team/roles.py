"""Roles: the one table of who may open which page, and the middleware that enforces it on every URL.

Templates only hide what a role cannot do; this table is what the server holds to. Every route
name in urls.py must appear here (tests/team/test_roles.py walks the URL map), so a new page
cannot slip in without saying who may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

from playground.team.models import Membership, Role

RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2}

V, M, A = Role.VIEWER, Role.MEMBER, Role.ADMIN

# The least role each page needs. Viewers watch, download and star; members make, organise and
# delete; admins run the team.
ROUTES: dict[str, Role] = {
    "home": V,
    "generate": M,
    "generate_plan": M,
    "check_frame": M,
    "apply_fix": M,
    "remove_picture": M,
    "staged_image": M,
    "gallery": V,
    "gallery_cards": V,
    "gallery_card": V,
    "generation": V,
    "download": V,
    "star": V,
    "delete": M,
    "sequence": V,  # the clips played back to back; its Export button (start_export) is a member's
    "start_export": M,
    "sequence_export": V,
    "sequence_download": V,
    "notify_preference": V,  # the person's own "tell me when it's ready", nothing shared or spent
    "usage": V,
    # Where a member's (or, for admins, the team's) dollars went; a viewer spends nothing to show.
    "costs": M,
    "costs_csv": M,
    "queue": V,
    "cancel_mine": M,
    "cancel": M,
    "batch": V,
    "batch_retry": M,
    "collections": V,
    "collection_create": M,
    "collection": V,
    "collection_edit": M,
    "collection_delete": M,
    "collection_move": M,
    "bulk_star": V,
    "bulk_add": M,
    "bulk_remove": M,
    "bulk_delete": M,
    "bulk_zip": V,
    "preset_save": M,
    "preset_edit": M,
    "preset_delete": M,
    "media": V,
    "login": V,
    "logout": V,
    "healthz": V,
    # allauth's old /accounts/social/… addresses: unnamed redirects to its named pages, which the
    # middleware knows by the view's path (a pattern without a name is matched by its view).
    "django.views.generic.base.RedirectView": V,
    "team_security": A,
    "team_reset_factors": A,
    # The Team page and what an admin does to people (team/page.py); joining is open to people not
    # signed in (team/join.py: login_not_required); everyone has "Your account".
    "team": A,
    "team_invite": A,
    "team_resend": A,
    "team_revoke": A,
    "team_set_role": A,
    "team_deactivate": A,
    "team_reactivate": A,
    "team_sign_out": A,
    "team_join": V,
    "team_join_form": V,
    "team_me": V,
    "team_me_sign_out": V,
    "team_audit": A,
    "team_audit_csv": A,
    # Review links (review/share_views.py): members share, admins set how long links last. The
    # guest's pages are open to people not signed in (review/guest.py: login_not_required).
    "share_list": M,
    "share_create": M,
    "share_revoke": M,
    "share_settings": A,
    "guest_page": V,
    "guest_unlock": V,
    "guest_play": V,
    "guest_poster": V,
    "guest_download": V,
    "guest_name": V,
    "guest_comments": V,
    "guest_comment_add": V,
    "guest_comment_resolve": V,
    "guest_status": V,
    # Review (review/views.py): everyone on the team reads, comments, replies and resolves
    # (commenting spends nothing); editing or deleting another's comment is an admin's, and who
    # may set a review status is the team's setting: both checked by review/ itself, with a sentence.
    "review_comments": V,
    "review_comment_add": V,
    "review_comment_edit": V,
    "review_comment_delete": V,
    "review_comment_resolve": V,
    "review_status": V,
    "review_policy": A,
    "review_notices": V,  # the person's own notices of new comments
}

# Pages that check their own rights: django-allauth's (sign-in, reset, second factors, SSO, the
# session list) and Django's admin (staff only, and staff is kept equal to the admin role).
SELF_GUARDED_PREFIXES = ("account_", "mfa_", "socialaccount_", "openid_connect_", "usersessions_", "admin:")

# What a page says to someone whose role does not reach it.
REFUSALS = {
    Role.MEMBER: (
        "Your role is viewer: you can watch, download and star videos, but not make, change or delete "
        "them. Ask an admin to make you a member."
    ),
    Role.ADMIN: "Only the team's admins can open this page.",
}


def required_role(view_name: str) -> Role:
    if view_name in ROUTES:
        return ROUTES[view_name]
    if view_name.startswith(SELF_GUARDED_PREFIXES):
        return Role.VIEWER
    return Role.ADMIN  # a page nobody declared is closed to all but admins until it is


def role_of(user: User | AnonymousUser) -> Role | None:
    """The person's role (read once per request and kept on the user object), None when signed out."""
    if not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_team_role", None)
    if cached is None:
        try:  # loaded with the person by team/backends.py; one small query otherwise
            cached = Role(user.membership.role)
        except Membership.DoesNotExist:
            cached = Role.ADMIN if user.is_staff else Role.MEMBER
        setattr(user, "_team_role", cached)  # noqa: B010 (a per-request cache on the object)
    return Role(cached)


def may(user: User | AnonymousUser, needed: Role) -> bool:
    role = role_of(user)
    return role is not None and RANK[role] >= RANK[needed]


class LastAdminError(ValueError):
    """Demoting or deactivating the last active admin would leave nobody able to run the team."""


LAST_ADMIN_SENTENCE = "The team must keep at least one active admin: make someone else an admin first."


def set_role(user: User, role: Role) -> None:
    """Change a person's role, keeping Django's staff flag (the admin site) equal to the admin role."""
    with transaction.atomic():
        membership, _ = Membership.objects.select_for_update().get_or_create(user=user)
        if membership.role == Role.ADMIN and role != Role.ADMIN and _other_active_admins(user) == 0:
            raise LastAdminError(LAST_ADMIN_SENTENCE)
        membership.role = role
        membership.save(update_fields=["role"])
        is_admin = role == Role.ADMIN
        if user.is_staff != is_admin or (user.is_superuser and not is_admin):
            user.is_staff = is_admin
            user.is_superuser = user.is_superuser and is_admin
            user.save(update_fields=["is_staff", "is_superuser"])
        setattr(user, "_team_role", role)  # noqa: B010 (a per-request cache on the object)


def _other_active_admins(user: User) -> int:
    return Membership.objects.filter(role=Role.ADMIN, user__is_active=True).exclude(user_id=user.pk).count()


def check_may_deactivate(user: User) -> None:
    if role_of(user) == Role.ADMIN and _other_active_admins(user) == 0:
        raise LastAdminError(LAST_ADMIN_SENTENCE)


@receiver(post_save, sender=User, dispatch_uid="team-membership-for-new-user")
def _membership_for_new_user(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    """Every person has a role from the start: staff made elsewhere (createsuperuser) are admins."""
    if created and not kwargs.get("raw"):
        Membership.objects.get_or_create(
            user=instance, defaults={"role": Role.ADMIN if instance.is_staff else Role.MEMBER}
        )


class RoleMiddleware:
    """Refuses, before the view runs, any page the signed-in person's role does not reach (403)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if match is None or not request.user.is_authenticated:
            return None  # signed out: LoginRequiredMiddleware or the page itself decides
        needed = required_role(match.view_name)
        if needed == Role.VIEWER or may(request.user, needed):
            return None
        raise PermissionDenied(REFUSALS[needed])
