"""Who is on the team and in which role, the invitations out, the team's sign-in policy, and the audit record.

Accounts themselves are Django's users with django-allauth's e-mail addresses, second factors,
SSO links and session list; these rows hold only what the team adds to them.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a person may do: the one list, read by the server's route table, the pages and the tests."""

    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# What each role may do, in the words the Team page and the invitation form show.
ROLE_SENTENCES = {
    Role.ADMIN: "Everything a member can, plus the Team page, budgets, webhooks and the audit record.",
    Role.MEMBER: "Makes videos (spending the team's key), organises the gallery and collections.",
    Role.VIEWER: "Watches, downloads and stars videos and browses collections; cannot spend or delete.",
}


class Membership(models.Model):
    """A person's role. Every user has one (made with the user, see signals in roles.py)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"


class Invitation(models.Model):
    """A one-time link to join: only a hash of its token is kept, so a copy of the database opens nothing."""

    email = models.EmailField(max_length=254, db_index=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email} ({self.get_role_display()})"


class SecondFactorRule(models.TextChoices):
    NOBODY = "nobody", "Nobody (each person may still add one)"
    ADMINS = "admins", "Admins"
    EVERYONE = "everyone", "Everyone"


# Review links (playground/review/links.py): how many days a new link lasts unless its sharer picks
# fewer or more, and the most an admin lets a sharer pick (itself at most SHARE_DAYS_CEILING).
SHARE_DAYS_DEFAULT = 7
SHARE_DAYS_MAX = 90
SHARE_DAYS_CEILING = 365


class ReviewRule(models.TextChoices):
    MEMBERS = "members", "Admins and members"
    ADMINS = "admins", "Admins only"


class TeamPolicy(models.Model):
    """The team's settings an admin changes on the Team pages (one row, pk 1)."""

    require_second_factor = models.CharField(
        max_length=10, choices=SecondFactorRule.choices, default=SecondFactorRule.NOBODY
    )
    share_days_default = models.PositiveSmallIntegerField(default=SHARE_DAYS_DEFAULT)
    share_days_max = models.PositiveSmallIntegerField(default=SHARE_DAYS_MAX)
    # Who may set a video's review status (approved, needs changes…); commenting is open to all.
    review_status_by = models.CharField(max_length=10, choices=ReviewRule.choices, default=ReviewRule.MEMBERS)

    def __str__(self) -> str:
        return "Team sign-in policy"

    @classmethod
    def current(cls) -> TeamPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class AuditKind(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere", "Signed out everywhere"
    INVITATION = "invitation", "Invitation"
    ROLE = "role", "Role change"
    ACCOUNT = "account", "Account (activated, deactivated, password, e-mail)"
    BUDGET = "budget", "Budget change"
    SECOND_FACTOR = "second_factor", "Second factor"
    DELETION = "deletion", "Deletion"
    WEBHOOK = "webhook", "Webhook change"
    POLICY = "policy", "Sign-in policy"
    SHARE_LINK = "share_link", "Review link"
    REVIEW = "review", "Review status or comment"


class AuditEvent(models.Model):
    """One line of the record of who did what.

    Sign-ins, invitations and factor changes are written here directly; changes to the models an
    admin edits (roles, budgets, webhooks) and deletions are recorded field by field by
    django-auditlog, and each of its entries is also written here (linked), so the audit page reads
    one indexed table. Names are copied, so the line still reads right after a person is deleted.
    """

    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=24, choices=AuditKind.choices)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    subject = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject_name = models.CharField(max_length=254, blank=True)
    summary = models.CharField(max_length=500)
    ip = models.GenericIPAddressField(null=True, blank=True)
    log_entry = models.ForeignKey(
        "auditlog.LogEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["-at", "-id"], name="audit_at"),
            models.Index(fields=["kind", "-at", "-id"], name="audit_kind_at"),
            models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at"),
            models.Index(fields=["subject", "-at", "-id"], name="audit_subject_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}: {self.summary}"
