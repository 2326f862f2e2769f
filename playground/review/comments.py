"""Comments at a moment of a video: the rules, and every write (add, reply, edit, resolve, delete).

The same limits hold for a person on the team and for a guest (a name and a share link): the
views of both call these functions, which refuse with a plain sentence (`Refused`) naming the
rule and the numbers. Who may do what is checked here too, never by the page alone:
everyone on the team may comment, reply and resolve (commenting spends nothing); a comment is
edited or deleted by its author, or by an admin.

Bounds (docs/review.md): a comment holds at most MAX_TEXT characters; a thread at most
MAX_REPLIES replies; a video's page shows THREADS_PER_PAGE threads at a time, in time order,
with "More comments" for the next ones; the seek bar's markers are counted per slice of the
video (MARKER_SLICES slices), so they cost the same for 10 comments or 10,000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from playground.generations.models import Generation, State
from playground.notify import webhooks
from playground.review.models import Comment, CommentMarks
from playground.team.audit import record
from playground.team.models import AuditKind, Role
from playground.team.roles import role_of

Rows = TypeVar("Rows", bound=QuerySet[Generation])

MAX_TEXT = 2000
MAX_REPLIES = 50
MAX_GUEST_NAME = 80
THREADS_PER_PAGE = 50
MARKER_SLICES = 500

GONE = "This video no longer exists (it was deleted), so it can't take comments."


class Refused(Exception):
    """A write refused, with the sentence to show. `status` is the HTTP answer a view gives."""

    def __init__(self, sentence: str, status: int = 400) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.status = status


# --- Moments -------------------------------------------------------------------------------

_MOMENT = re.compile(r"(?:(\d{1,3}):)?(\d{1,4}(?:[.,]\d{1,3})?)")


def moment_words(at_ms: int) -> str:
    """0:03.2 — minutes, seconds and tenths, as the page shows a comment's moment."""
    tenths = (at_ms + 50) // 100  # half up, as the page script rounds
    minutes, rest = divmod(tenths, 600)
    return f"{minutes}:{rest // 10:02d}.{rest % 10}"


def parse_moment(text: str) -> int:
    """Milliseconds from "0:03.2", "3.2" or "1:02"; Refused when it is not a time."""
    match = _MOMENT.fullmatch(text.strip())
    if not match:
        raise Refused(
            f"“{text.strip()[:20]}” is not a moment of the video: write it as minutes:seconds, like 0:03.2."
        )
    minutes = int(match.group(1) or 0)
    seconds = float(match.group(2).replace(",", "."))
    return round((minutes * 60 + seconds) * 1000)


def check_moment(video: Generation, at_ms: int) -> None:
    if video.state != State.READY or not video.duration:
        raise Refused("Comments are pinned to a moment of the video, so they open once the video is ready.")
    length_ms = round(video.duration * 1000)
    if not 0 <= at_ms <= length_ms:
        raise Refused(
            f"The moment {moment_words(max(at_ms, 0))} is outside this video, which is "
            f"{video.duration:.1f} s long: pick a moment from 0:00.0 to {moment_words(length_ms)}."
        )


# --- Who ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    """Who writes: a person on the team, or a guest (a name given on a share link's page)."""

    user: User | None = None
    guest_name: str = ""
    share_link_id: int | None = None

    @property
    def name(self) -> str:
        return f"{self.guest_name} (guest)" if self.user is None else self.user.get_username()


def author(user: User | None = None, guest_name: str = "", share_link_id: int | None = None) -> Author:
    if user is not None:
        if role_of(user) is None:
            raise Refused("Sign in to comment.", status=403)
        return Author(user=user)
    name = " ".join(guest_name.split())
    if not name:
        raise Refused("Give your name first: comments from a review link carry the name you give.")
    if len(name) > MAX_GUEST_NAME:
        raise Refused(f"A name can be at most {MAX_GUEST_NAME} characters; this one has {len(name)}.")
    return Author(guest_name=name, share_link_id=share_link_id)


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Refused("Write something first: an empty comment is not saved.")
    if len(text) > MAX_TEXT:
        raise Refused(f"A comment can be at most {MAX_TEXT:,} characters; this one has {len(text):,}.")
    return text


def may_change(comment: Comment, user: User) -> bool:
    """Edit or delete: the author, or an admin (a guest's comment: an admin only)."""
    return role_of(user) == Role.ADMIN or (comment.author_id is not None and comment.author_id == user.pk)


# --- Writes ---------------------------------------------------------------------------------


def add_comment(
    video: Generation,
    *,
    user: User | None = None,
    guest_name: str = "",
    share_link_id: int | None = None,
    at_ms: int,
    text: str,
    parent: Comment | None = None,
) -> Comment:
    """Pin a comment (or, with `parent`, a reply) to `at_ms` of `video`; Refused with a sentence."""
    who = author(user, guest_name, share_link_id)
    text = _clean_text(text)
    with transaction.atomic():
        # Locked, so a video deleted meanwhile is seen, and replies are counted one writer at a time.
        locked = _lock(video.pk)
        if locked is None:
            raise Refused(GONE, status=404)
        if parent is not None:
            if parent.generation_id != video.pk:
                raise Refused("That thread is on another video.", status=404)
            parent = parent if parent.parent_id is None else parent.parent
            assert parent is not None
            replies = Comment.objects.filter(parent=parent).count()
            if replies >= MAX_REPLIES:
                raise Refused(
                    f"A thread can hold at most {MAX_REPLIES} replies and this one is full: "
                    "start a new comment at this moment instead."
                )
            at_ms = parent.at_ms
        check_moment(locked, at_ms)
        comment = Comment.objects.create(
            generation=locked,
            parent=parent,
            author=who.user,
            author_name=who.user.get_username() if who.user else "",
            guest_name=who.guest_name,
            share_link_id=who.share_link_id,
            at_ms=at_ms,
            text=text,
        )
        if parent is not None and parent.resolved_at is not None:
            # A reply to a resolved thread reopens it: someone has more to say.
            Comment.objects.filter(pk=parent.pk).update(resolved_at=None, resolved_by_name="")
        if parent is None or parent.resolved_at is not None:
            _recount(locked)
        webhooks.enqueue_event(webhooks.Event.COMMENT_CREATED, _event_body(locked, comment, who))
    return comment


def edit_comment(comment: Comment, *, user: User, text: str) -> Comment:
    if not may_change(comment, user):
        raise Refused("Only the person who wrote this comment, or an admin, can change it.", status=403)
    comment.text = _clean_text(text)
    comment.edited_at = timezone.now()
    comment.save(update_fields=["text", "edited_at"])
    return comment


def delete_comment(comment: Comment, *, user: User) -> int:
    """Delete a comment (a thread's first comment takes its replies); how many went."""
    if not may_change(comment, user):
        raise Refused("Only the person who wrote this comment, or an admin, can delete it.", status=403)
    with transaction.atomic():
        video = _lock(comment.generation_id)
        replies = comment.replies.count() if comment.parent_id is None else 0
        comment.delete()
        if video is not None and comment.parent_id is None:
            _recount(video)
        if role_of(user) == Role.ADMIN:
            record(
                AuditKind.REVIEW,
                f"{user.get_username()} deleted a comment by {comment.by} on video #{comment.generation_id} "
                f"at {moment_words(comment.at_ms)}" + (f" with its {replies} replies" if replies else ""),
                actor=user,
            )
    return 1 + replies


def resolve_thread(
    thread: Comment,
    *,
    resolved: bool,
    user: User | None = None,
    guest_name: str = "",
    share_link_id: int | None = None,
) -> Comment:
    """Mark a thread resolved, or open it again; anyone who may comment may do either."""
    who = author(user, guest_name, share_link_id)
    if thread.parent_id is not None:
        thread = Comment.objects.get(pk=thread.parent_id)
    if thread.resolved == resolved:
        return thread
    with transaction.atomic():
        video = _lock(thread.generation_id)
        if video is None:
            raise Refused(GONE, status=404)
        thread.resolved_at = timezone.now() if resolved else None
        thread.resolved_by_name = who.name if resolved else ""
        thread.save(update_fields=["resolved_at", "resolved_by_name"])
        _recount(video)
        if resolved:
            body = _event_body(video, thread, who) | {"resolved_by": who.name}
            webhooks.enqueue_event(webhooks.Event.COMMENT_RESOLVED, body)
    return thread


def _event_body(video: Generation, comment: Comment, who: Author) -> dict[str, Any]:
    page = f"{settings.SITE_URL}{video.get_absolute_url()}"
    when = moment_words(comment.at_ms)
    line = f"{who.name} on video #{video.pk} at {when}: “{comment.text[:200]}” {page}"
    return {
        "video": {"id": video.pk, "url": page},
        "comment": {
            "id": comment.pk,
            "thread": comment.parent_id or comment.pk,
            "at_seconds": comment.at_ms / 1000,
            "text": comment.text,
            "author": who.name,
            "guest": who.user is None,
        },
        "time": timezone.now().isoformat(),
        "text": line,
    }


# --- Reading --------------------------------------------------------------------------------


_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def linked(text: str) -> SafeString:
    """The comment's text as HTML: everything escaped, http(s) links made clickable, nothing else."""
    out: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        end = match.start() + len(url)
        out.append(escape(text[last : match.start()]))
        out.append(
            format_html('<a href="{}" rel="nofollow noopener noreferrer" target="_blank">{}</a>', url, url)
        )
        last = end
    out.append(escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308 (every piece above is escaped)


@dataclass(frozen=True)
class ThreadPage:
    threads: list[Comment]
    has_more: bool
    total: int
    open: int

    @property
    def next_after(self) -> int | None:
        return self.threads[-1].pk if self.has_more and self.threads else None


def threads_page(
    video: Generation,
    *,
    after: int | None = None,
    marks: dict[str, Any] | None = None,
    share_link_id: int | None = None,
) -> ThreadPage:
    """A page of the video's threads in time order (THREADS_PER_PAGE), each with its replies.

    The counts of threads come from the markers when given (they count every thread already).
    With `share_link_id`, only the threads started through that review link (what its guests see).
    """
    rows = Comment.objects.filter(generation=video, parent__isnull=True)
    if share_link_id is not None:
        rows = rows.filter(share_link_id=share_link_id)
    if marks is not None:
        counts = {"total": sum(m[1] for m in marks["marks"]), "open": sum(m[2] for m in marks["marks"])}
    else:
        counts = rows.aggregate(total=Count("id"), open=Count("id", filter=Q(resolved_at__isnull=True)))
    page = rows.order_by("at_ms", "id")
    if after is not None:
        anchor = Comment.objects.filter(pk=after, generation=video).values_list("at_ms", flat=True).first()
        if anchor is not None:
            page = page.filter(at_ms__gte=anchor).filter(Q(at_ms__gt=anchor) | Q(pk__gt=after))
    threads = list(page[: THREADS_PER_PAGE + 1])
    has_more = len(threads) > THREADS_PER_PAGE
    threads = threads[:THREADS_PER_PAGE]
    replies: dict[int, list[Comment]] = {}
    for reply in Comment.objects.filter(parent__in=[t.pk for t in threads]).order_by("created_at", "id"):
        replies.setdefault(reply.parent_id or 0, []).append(reply)
    for thread in threads:
        thread.thread_replies = replies.get(thread.pk, [])  # type: ignore[attr-defined]
    return ThreadPage(threads=threads, has_more=has_more, total=counts["total"], open=counts["open"])


def markers(video: Generation) -> dict[str, Any]:
    """The seek bar's markers, for compact JSON: [[slice, threads, open threads], …], slices of the length.

    Counted per slice, so the page carries at most MARKER_SLICES entries however many comments
    there are, and the browser draws them as one SVG path. Read from the row each comment write
    keeps (CommentMarks); counted here when there is none yet (rows made some other way).
    """
    kept = CommentMarks.objects.filter(generation=video.pk).values_list("data", flat=True).first()
    return kept if kept is not None else _count_marks(video, keep=True)


def link_markers(video: Generation, share_link_id: int) -> dict[str, Any]:
    """The markers of the threads started through one review link (counted each time: one query,
    bounded by the video's threads; the kept row counts the team's threads too)."""
    return _count_marks(video, share_link_id=share_link_id)


def _count_marks(
    video: Generation, *, keep: bool = False, share_link_id: int | None = None
) -> dict[str, Any]:
    length_ms = max(1, round((video.duration or 0) * 1000))
    rows = Comment.objects.filter(generation=video, parent__isnull=True)
    if share_link_id is not None:
        rows = rows.filter(share_link_id=share_link_id)
    slices = (
        rows.annotate(slice=F("at_ms") * MARKER_SLICES / (length_ms + 1))
        .values("slice")
        .annotate(n=Count("id"), open=Count("id", filter=Q(resolved_at__isnull=True)))
        .order_by("slice")
        .values_list("slice", "n", "open")
    )
    data = {"slices": MARKER_SLICES, "length_ms": length_ms, "marks": [list(row) for row in slices]}
    if keep and data["marks"]:
        CommentMarks.objects.update_or_create(generation=video, defaults={"data": data})
    return data


def _recount(video: Generation) -> None:
    """After a comment write, inside its transaction and under the video's lock."""
    data = _count_marks(video)
    CommentMarks.objects.update_or_create(generation=video, defaults={"data": data})


def _lock(video_pk: int) -> Generation | None:
    return (
        Generation.objects.select_for_update(of=("self",))
        .select_related("created_by")
        .filter(pk=video_pk)
        .first()
    )


def with_comment_counts(rows: Rows) -> Rows:
    """Each video with `comment_count` (every comment) and `open_threads`, in the same query."""
    every = Comment.objects.filter(generation=OuterRef("pk")).order_by().values("generation")
    open_threads = every.filter(parent__isnull=True, resolved_at__isnull=True)
    return rows.annotate(
        comment_count=Coalesce(Subquery(every.annotate(n=Count("id")).values("n")), 0),
        open_threads=Coalesce(Subquery(open_threads.annotate(n=Count("id")).values("n")), 0),
    )


def with_open_threads(rows: Rows) -> Rows:
    """Only the videos with an unresolved thread (the gallery's filter)."""
    return rows.filter(
        Exists(
            Comment.objects.filter(generation=OuterRef("pk"), parent__isnull=True, resolved_at__isnull=True)
        )
    )
