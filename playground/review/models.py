"""Review rows: comments pinned to a moment of a video, and the history of each video's review status.

An author is either a person on the team (`author`) or a guest, who is never a Django user: a
name they typed (`guest_name`) and the share link they came through (`share_link_id`, a plain
number until share links have their own table). The same limits apply to both (comments.py,
status.py).

The current status is the one history row marked `is_current` (at most one per video, held by a
unique constraint); filtering by status reads a small index of current rows, and a video with no
row is unreviewed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Status(models.TextChoices):
    UNREVIEWED = "unreviewed", "Unreviewed"
    NEEDS_CHANGES = "needs_changes", "Needs changes"
    APPROVED = "approved", "Approved"
    # Another take of the same first frame was approved instead (set in one step with that approval).
    NOT_CHOSEN = "not_chosen", "Not chosen"


class Comment(models.Model):
    generation = models.ForeignKey("playground.Generation", on_delete=models.CASCADE, related_name="comments")
    # A reply belongs to a thread: the thread's first comment. Replies to replies are not kept.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(
        max_length=150, blank=True, help_text="Copied, so it outlives the account."
    )
    guest_name = models.CharField(max_length=80, blank=True)
    share_link_id = models.PositiveBigIntegerField(null=True, blank=True)
    at_ms = models.PositiveIntegerField(help_text="The moment of the video, in milliseconds.")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    # A thread's state (on its first comment only).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["at_ms", "id"]
        indexes = [
            # A video's threads in time order (a partial index: PostgreSQL cannot take the order
            # from an index whose leading columns include "parent IS NULL"); with resolved_at,
            # the markers' count reads the index alone. Replies are found by thread.
            models.Index(
                fields=["generation", "at_ms", "id", "resolved_at"],
                name="comment_threads_idx",
                condition=Q(parent__isnull=True),
            ),
            # A review link's threads in time order (what its guests see), read without the
            # team's threads on the same video.
            models.Index(
                fields=["share_link_id", "at_ms", "id", "resolved_at"],
                name="comment_link_threads_idx",
                condition=Q(parent__isnull=True, share_link_id__isnull=False),
            ),
            models.Index(fields=["parent", "created_at", "id"], name="comment_replies_idx"),
            # "Unresolved comments": open threads, looked up per video.
            models.Index(
                fields=["generation"],
                name="comment_open_thread_idx",
                condition=Q(parent__isnull=True, resolved_at__isnull=True),
            ),
            # New comments since a person last looked (notices.py).
            models.Index(fields=["created_at"], name="comment_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.generation_id} at {self.at_ms} ms: {self.text[:40]}"

    @property
    def by(self) -> str:
        """Who wrote it, as shown: a guest's name is marked as a guest's."""
        if self.guest_name:
            return f"{self.guest_name} (guest)"
        return self.author_name or "a former member"

    @property
    def is_thread(self) -> bool:
        return self.parent_id is None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


class ReviewStatus(models.Model):
    """One change of a video's review status: the history, with the latest marked current."""

    generation = models.ForeignKey(
        "playground.Generation", on_delete=models.CASCADE, related_name="review_changes"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    guest_name = models.CharField(max_length=80, blank=True)
    share_link_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    is_current = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "review statuses"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["generation", "-created_at", "-id"], name="review_history_idx"),
            # The gallery's status filter: the current rows of one status.
            models.Index(
                fields=["status", "generation"], name="review_current_idx", condition=Q(is_current=True)
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["generation"], condition=Q(is_current=True), name="one_current_review_status"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.generation_id}: {self.status}"

    @property
    def by(self) -> str:
        if self.guest_name:
            return f"{self.guest_name} (guest)"
        return self.author_name or "a former member"


class NoticesSeen(models.Model):
    """Up to when a person has been told about new comments (review/notices.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.seen_at:%Y-%m-%d %H:%M}"


class CommentMarks(models.Model):
    """A video's seek-bar markers and thread counts, kept by every comment write (comments.py).

    Counting 10,000 comments per slice on every view of the page was most of its cost; the
    writes (far fewer than the views) recount under a lock on the video, so the row is exact.
    """

    generation = models.OneToOneField(
        "playground.Generation", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"#{self.generation_id}: {len(self.data.get('marks', []))} marks"
