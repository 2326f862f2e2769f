"""Notices of new comments: the finish notification's kind, for comments.

Who is told: the video's maker, and everyone who wrote in the thread (its first comment or a
reply), never the comment's own author. Like "Tell me when it's ready", the browser shows a
system notification, and only for people who opted in (notify/notifications.py) and allowed
it in the browser: static/js/review-notices.js asks this page for what is new at most every
POLL_SECONDS while a gallery or video page is open. Nothing is written per comment: the notices
are read from the comments made since the person last asked (NoticesSeen), at most MAX_NOTICES
a time, so a busy thread costs one indexed query a poll, not a row per person.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from playground.lib.http import AuthenticatedHttpRequest
from playground.review.comments import moment_words
from playground.review.models import Comment, NoticesSeen

POLL_SECONDS = 30
MAX_NOTICES = 5


def new_for(user_pk: int) -> list[dict[str, Any]]:
    """The comments made since the person last asked that concern them; marks them seen."""
    now = timezone.now()
    seen, made = NoticesSeen.objects.get_or_create(user_id=user_pk, defaults={"seen_at": now})
    if made:
        return []  # a first ask starts the clock: no backlog of old comments
    in_thread = Comment.objects.filter(
        Q(pk=OuterRef("parent_id")) | Q(parent_id=OuterRef("parent_id")), author_id=user_pk
    )
    rows = (
        Comment.objects.filter(created_at__gt=seen.seen_at, created_at__lte=now)
        .exclude(author_id=user_pk)
        .filter(Q(generation__created_by=user_pk) | (Q(parent__isnull=False) & Exists(in_thread)))
        .select_related("generation")
        .order_by("-created_at", "-id")[:MAX_NOTICES]
    )
    notices = [
        {
            "title": f"{comment.by} commented on video #{comment.generation_id} "
            f"at {moment_words(comment.at_ms)}",
            "body": comment.text[:200],
            "url": f"{comment.generation.get_absolute_url()}#comment-{comment.pk}",
            "tag": f"comment-{comment.pk}",
        }
        for comment in rows
    ]
    NoticesSeen.objects.filter(pk=seen.pk).update(seen_at=now)
    return notices


@require_POST
def poll(request: AuthenticatedHttpRequest) -> JsonResponse:
    """What the page's script shows as system notifications (POST: it moves the person's clock)."""
    return JsonResponse({"notices": new_for(request.user.pk), "every": POLL_SECONDS})
