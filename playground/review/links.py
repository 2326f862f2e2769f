"""Review links: a video or a collection shown to someone outside the team, at /s/<token>/.

A link carries a 256-bit token from `secrets` (token_urlsafe(32): 43 characters). Only its SHA-256
is stored. A fast hash is enough here, unlike for passwords: a slow hash exists to make guessing a
low-entropy secret from its hash costly, and nobody can guess 256 random bits however fast the hash
is; a fast one also lets the guest page find its row by an indexed lookup in one query. The token is
shown once, to the sharer, on the page that answers the form; it is never stored, logged (see
review/guest_logs.py) or shown again.

A link works until it expires (the sharer picks the days, up to the team's maximum in TeamPolicy),
is revoked, or its sharer's account is deactivated or deleted. An optional password is kept with
Django's password hashers. A guest never becomes a Django user: what the guest proved (the password)
is a signed cookie scoped to the link's own path (guest.py).

Guessing is bounded by counting failures in ShareTry rows (the database, so every web process sees
the same count): wrong passwords per link and address and per link, and links that do not work
(unknown, expired or revoked, counted alike so the count reveals nothing) per address.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import User
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from playground.gallery.models import Collection, CollectionEntry
from playground.generations.models import Generation, State
from playground.team.models import SHARE_DAYS_DEFAULT, SHARE_DAYS_MAX, TeamPolicy

TOKEN_BYTES = 32  # 256 bits from the operating system's generator
TOKEN_LENGTH = 43  # len(token_urlsafe(32))
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")

PASSWORD_MIN = 8
PASSWORD_MAX = 128
LABEL_MAX = 100
# A collection's guest page plays at most this many of its videos (in the collection's order).
GUEST_VIDEOS_MAX = 60

# Guessing, counted over a sliding window (ShareTry rows older than it are deleted as new ones come).
TRY_WINDOW = timedelta(minutes=15)
WRONG_PASSWORDS_PER_LINK_AND_ADDRESS = 10
WRONG_PASSWORDS_PER_LINK = 50
DEAD_LINKS_PER_ADDRESS = 30

TOO_MANY_PASSWORDS = (
    "Too many wrong passwords for this link: at most {limit} tries in {minutes} minutes. "
    "Wait {minutes} minutes and try again, or ask the person who shared it."
)
TOO_MANY_DEAD_LINKS = (
    "Too many links that do not work were opened from your address: at most {limit} in {minutes} "
    "minutes. Wait {minutes} minutes, then check that the whole link was copied."
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


class ShareLink(models.Model):
    """One review link. Exactly one of `generation` and `collection` is set."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="share_links")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    label = models.CharField(max_length=LABEL_MAX, blank=True, help_text="The sharer's own name for it.")
    password_hash = models.CharField(max_length=256, blank=True)
    allow_download = models.BooleanField(default=False)
    show_prompt = models.BooleanField(default=False)
    show_maker = models.BooleanField(default=False)
    # What a guest may add, for the review steps that use them (comments, an approval).
    guest_comments = models.BooleanField(default=False)
    guest_approval = models.BooleanField(default=False)
    views = models.PositiveIntegerField(default=0)
    last_visit_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(generation__isnull=False, collection__isnull=True)
                | Q(generation__isnull=True, collection__isnull=False),
                name="share_link_one_target",
            )
        ]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="share_link_sharer")]

    def __str__(self) -> str:
        return f"Review link #{self.pk}"

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def what(self) -> str:
        """What it shares, in the sharer's words (never shown to a guest)."""
        if self.generation_id is not None:
            return f"Video #{self.generation_id}"
        return f"Collection “{self.collection.name}”" if self.collection else "A collection"

    def state(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if not self.created_by.is_active:
            return "off (sharer deactivated)"
        return "active"

    def works(self) -> bool:
        return self.state() == "active"

    def password_matches(self, password: str) -> bool:
        return bool(self.password_hash) and check_password(password[:PASSWORD_MAX], self.password_hash)

    def may_be_revoked_by(self, user: User) -> bool:
        return bool(user.is_staff or self.created_by_id == user.pk)

    def videos(self) -> list[Generation]:
        """The ready videos a guest sees, in order (a collection's first GUEST_VIDEOS_MAX)."""
        if self.generation is not None:  # read with the link (find: select_related)
            return [self.generation] if self.generation.state == State.READY else []
        shown = Generation.objects.filter(state=State.READY).select_related("created_by")
        ordered = shown.filter(collection_entries__collection_id=self.collection_id or 0).order_by(
            "collection_entries__position", "collection_entries__id"
        )
        return list(ordered[:GUEST_VIDEOS_MAX])

    def holds(self, video_id: int) -> Generation | None:
        """The ready video `video_id` if this link shares it, else None (one query)."""
        shown = Generation.objects.filter(pk=video_id, state=State.READY)
        if self.generation_id is not None:
            return shown.filter(pk=self.generation_id).first()
        entries = CollectionEntry.objects.filter(
            collection_id=self.collection_id or 0, generation_id=video_id
        )
        return shown.filter(models.Exists(entries)).first()

    def count_visit(self) -> None:
        ShareLink.objects.filter(pk=self.pk).update(views=F("views") + 1, last_visit_at=timezone.now())


def find(token: str) -> ShareLink | None:
    """The working link this token opens, or None (unknown, expired, revoked or sharer gone alike)."""
    if not _TOKEN_SHAPE.fullmatch(token or ""):
        return None
    link = (
        ShareLink.objects.select_related("created_by", "generation__created_by")
        .filter(token_hash=token_hash(token))
        .first()
    )
    return link if link is not None and link.works() else None


def make(
    *,
    by: User,
    generation: Generation | None = None,
    collection: Collection | None = None,
    days: int,
    password: str = "",
    allow_download: bool = False,
    show_prompt: bool = False,
    show_maker: bool = False,
    guest_comments: bool = False,
    guest_approval: bool = False,
    label: str = "",
) -> tuple[ShareLink, str]:
    """A new link and its token (shown once, to the sharer)."""
    token, hashed = new_token()
    now = timezone.now()
    link = ShareLink.objects.create(
        token_hash=hashed,
        generation=generation,
        collection=collection,
        created_by=by,
        created_at=now,
        expires_at=now + timedelta(days=days),
        password_hash=make_password(password) if password else "",
        allow_download=allow_download,
        show_prompt=show_prompt,
        show_maker=show_maker,
        guest_comments=guest_comments,
        guest_approval=guest_approval,
        label=label.strip(),
    )
    return link, token


def via_words(link_ids: set[int], viewer: User) -> dict[int, str]:
    """How the team's page names the link a guest's comment came through (one query). The link's
    own name is the sharer's note, so only the sharer and admins see it."""
    found = ShareLink.objects.filter(pk__in=link_ids).values_list("pk", "label", "created_by_id")
    words: dict[int, str] = {}
    for pk, label, sharer in found:
        own = label and (viewer.is_staff or sharer == viewer.pk)
        words[pk] = f"via review link #{pk}" + (f" “{label}”" if own else "")
    return words


def revoke(link: ShareLink) -> bool:
    """Turns the link off at once; False when it was already off."""
    return bool(ShareLink.objects.filter(pk=link.pk, revoked_at=None).update(revoked_at=timezone.now()))


# --- Counting tries --------------------------------------------------------------------------


class ShareTry(models.Model):
    """One failure counted against a key: a wrong password or a link that does not work."""

    key = models.CharField(max_length=100)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["key", "at"], name="share_try_key_at")]

    def __str__(self) -> str:
        return f"{self.key} at {self.at:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int


def _recent(key: str) -> int:
    return ShareTry.objects.filter(key=key, at__gt=timezone.now() - TRY_WINDOW).count()


def over(limits: list[Limit]) -> Limit | None:
    """The first of `limits` already reached in the window, or None."""
    for limit in limits:
        if _recent(limit.key) >= limit.limit:
            return limit
    return None


def count_failure(limits: list[Limit]) -> list[ShareTry]:
    now = timezone.now()
    ShareTry.objects.filter(at__lte=now - TRY_WINDOW).delete()  # keeps the table to one window's rows
    return ShareTry.objects.bulk_create([ShareTry(key=limit.key, at=now) for limit in limits])


@dataclass
class Attempt:
    """A password try, counted before the password is checked (see `attempt`)."""

    refused_by: Limit | None
    rows: list[ShareTry]

    def succeeded(self) -> None:
        """The right password: this try does not count against anyone."""
        ShareTry.objects.filter(pk__in=[row.pk for row in self.rows]).delete()


def attempt(limits: list[Limit]) -> Attempt:
    """Counts a try against every limit before the password is even checked, then counts again.

    Counting first and checking after (rather than counting a failure once it is known) holds the
    limit under concurrent tries: of tries racing for the last place, the recount refuses all
    those that passed it, so no more than the limit are ever checked. A refused try is counted
    too; rows stay bounded because a limit already reached refuses before writing anything.
    """
    reached = over(limits)
    if reached is not None:
        return Attempt(reached, [])
    rows = count_failure(limits)
    for limit in limits:
        if _recent(limit.key) > limit.limit:
            return Attempt(limit, rows)
    return Attempt(None, rows)


def password_limits(link: ShareLink, address: str | None) -> list[Limit]:
    return [
        Limit(f"pw:{link.pk}:{address or '-'}", WRONG_PASSWORDS_PER_LINK_AND_ADDRESS),
        Limit(f"pw:{link.pk}", WRONG_PASSWORDS_PER_LINK),
    ]


def dead_link_limits(address: str | None) -> list[Limit]:
    return [Limit(f"dead:{address or '-'}", DEAD_LINKS_PER_ADDRESS)]


def window_minutes() -> int:
    return int(TRY_WINDOW.total_seconds() // 60)


def expiry_bounds() -> tuple[int, int]:
    """(default days, maximum days) for a new link, as the team's admins set them (TeamPolicy)."""
    found = TeamPolicy.objects.filter(pk=1).values_list("share_days_default", "share_days_max").first()
    default, maximum = found or (SHARE_DAYS_DEFAULT, SHARE_DAYS_MAX)
    return min(default, maximum), maximum
