"""A video's review status (unreviewed, needs changes, approved, not chosen), kept as history.

Who may set it is the team's setting (TeamPolicy.review_status_by): admins and members by
default, or admins alone. A viewer never sets it. A guest on a review link may set it when the
link allows it (the link's page checks that) and the setting is not "admins only". Each change
writes one history row, marked current (the previous current row is unmarked in the same
transaction, under a lock on the video), one line in the audit record and one
`review.status_changed` webhook event.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.notify import webhooks
from playground.review.comments import Author, Refused, author
from playground.review.models import ReviewStatus, Status
from playground.team.audit import record
from playground.team.models import AuditKind, ReviewRule, Role, TeamPolicy
from playground.team.roles import role_of

Rows = TypeVar("Rows", bound=QuerySet[Generation])

GONE_FOR_STATUS = "This video no longer exists (it was deleted), so it can't be reviewed."

# The other takes one approval may mark "not chosen" at once (the same first frame's ready takes).
MAX_TAKES = 100

VIEWER_REFUSAL = (
    "Your role is viewer: you can watch and comment, but only members and admins can set a review status."
)
ADMINS_ONLY_REFUSAL = (
    "Only the team's admins can set a review status: that is the team's setting (Team → Sign-in security)."
)


def check_may_set(who: Author) -> None:
    rule = TeamPolicy.current().review_status_by
    if who.user is None:
        if rule == ReviewRule.ADMINS:
            raise Refused(ADMINS_ONLY_REFUSAL, status=403)
        return
    role = role_of(who.user)
    if role == Role.ADMIN:
        return
    if role != Role.MEMBER:
        raise Refused(VIEWER_REFUSAL, status=403)
    if rule == ReviewRule.ADMINS:
        raise Refused(ADMINS_ONLY_REFUSAL, status=403)


def may_set(user: User) -> bool:
    try:
        check_may_set(Author(user=user))
    except Refused:
        return False
    return True


def current(video: Generation) -> Status:
    row = (
        ReviewStatus.objects.filter(generation=video, is_current=True)
        .values_list("status", flat=True)
        .first()
    )
    return Status(row) if row else Status.UNREVIEWED


def history(video: Generation, limit: int = 20) -> list[ReviewStatus]:
    return list(ReviewStatus.objects.filter(generation=video).order_by("-created_at", "-id")[:limit])


def set_status(
    video: Generation,
    status: Status | str,
    *,
    user: User | None = None,
    guest_name: str = "",
    share_link_id: int | None = None,
    others_not_chosen: bool = False,
) -> list[Generation]:
    """Set `video`'s status (and, approving with `others_not_chosen`, mark the other takes of the
    same first frame "not chosen"); returns the videos whose status changed. Refused with a sentence.
    """
    try:
        status = Status(status)
    except ValueError:
        raise Refused(f"“{str(status)[:30]}” is not a review status.") from None
    who = author(user, guest_name, share_link_id)
    check_may_set(who)
    changed: list[Generation] = []
    with transaction.atomic():
        locked = (
            Generation.objects.select_for_update(of=("self",))
            .select_related("created_by")
            .filter(pk=video.pk)
            .first()
        )
        if locked is None:
            raise Refused(GONE_FOR_STATUS, status=404)
        if _change(locked, status, who):
            changed.append(locked)
        if others_not_chosen and status == Status.APPROVED:
            for take in other_takes(locked):
                if _change(take, Status.NOT_CHOSEN, who):
                    changed.append(take)
    return changed


def other_takes(video: Generation) -> list[Generation]:
    """The other ready takes of the same first frame (the compare set), locked, at most MAX_TAKES."""
    if not video.first_frame_sha256:
        return []
    return list(
        Generation.objects.select_for_update(of=("self",))
        .select_related("created_by")
        .filter(first_frame_sha256=video.first_frame_sha256, state=State.READY)
        .exclude(pk=video.pk)
        .order_by("pk")[:MAX_TAKES]
    )


def _change(video: Generation, status: Status, who: Author) -> bool:
    was = current(video)
    if was == status:
        return False
    ReviewStatus.objects.filter(generation=video, is_current=True).update(is_current=False)
    ReviewStatus.objects.create(
        generation=video,
        status=status,
        author=who.user,
        author_name=who.user.get_username() if who.user else "",
        guest_name=who.guest_name,
        share_link_id=who.share_link_id,
        is_current=True,
    )
    record(
        AuditKind.REVIEW,
        f"{who.name} set video #{video.pk}'s review status to {status.label.lower()} "
        f"(was {was.label.lower()})",
        actor=who.user,
    )
    webhooks.enqueue_event(webhooks.Event.REVIEW_STATUS_CHANGED, _event_body(video, status, was, who))
    return True


def _event_body(video: Generation, status: Status, was: Status, who: Author) -> dict[str, Any]:
    page = f"{settings.SITE_URL}{video.get_absolute_url()}"
    return {
        "video": {"id": video.pk, "url": page},
        "status": status.value,
        "previous": was.value,
        "by": who.name,
        "guest": who.user is None,
        "time": timezone.now().isoformat(),
        "text": f"Video #{video.pk} “{video.title}” is now {status.label.lower()} "
        f"(set by {who.name}). {page}",
    }


def with_status(rows: Rows) -> Rows:
    """Each video with its current `review_status`, in the same query."""
    now = ReviewStatus.objects.filter(generation=OuterRef("pk"), is_current=True).values("status")[:1]
    return rows.annotate(review_status=Coalesce(Subquery(now), Value(Status.UNREVIEWED.value)))


def filter_status(rows: Rows, status: str) -> Rows:
    if status == Status.UNREVIEWED:
        set_ = ReviewStatus.objects.filter(is_current=True).exclude(status=Status.UNREVIEWED)
        return rows.exclude(pk__in=set_.values("generation"))
    current_rows = ReviewStatus.objects.filter(Q(is_current=True), status=status)
    return rows.filter(pk__in=current_rows.values("generation"))
