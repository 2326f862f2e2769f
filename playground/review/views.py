"""The review pages' actions: comments (add, reply, edit, delete, resolve, more), a video's review
status, and the team's setting of who may set it. Each is one URL and one action; the rules and
limits are in comments.py and status.py, which say what is refused and why.

An htmx request gets the video's review section back (or, refused, the plain sentence alone,
which static/js/errors.js shows: the form is not swapped, so nothing typed is lost); without
JavaScript a refusal is a small page that keeps what was written.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from playground.generations.models import Generation
from playground.lib.http import AuthenticatedHttpRequest, wants_fragment
from playground.lib.ids import parse_id, query_id
from playground.review import comments, links, status, threads
from playground.review.comments import GONE, Refused
from playground.review.models import Comment, Status
from playground.team.audit import record
from playground.team.models import AuditKind, ReviewRule, TeamPolicy


def page_context(
    video: Generation, request: AuthenticatedHttpRequest, *, after: int | None = None
) -> dict[str, Any]:
    """What the video's page needs for its review section (generations/views.py adds it)."""
    user = request.user
    marks = comments.markers(video)
    page = comments.threads_page(video, after=after, marks=marks)
    shown = [c for thread in page.threads for c in [thread, *thread.thread_replies]]  # type: ignore[attr-defined]
    link_ids = {c.share_link_id for c in shown if c.share_link_id is not None}
    vias = links.via_words(link_ids, user) if link_ids else {}
    for comment in shown:
        comment.can_change = comments.may_change(comment, user)
        comment.html = comments.linked(comment.text)
        comment.moment = comments.moment_words(comment.at_ms)
        if comment.share_link_id is not None:
            comment.via = vias.get(comment.share_link_id, "via a review link")
    return {
        "review_page": page,
        "review_threads": threads.render(page, video.pk, get_token(request)),
        "review_markers_json": json.dumps(marks, separators=(",", ":")),
        "review_status": status.current(video),
        "review_history": status.history(video, limit=5),
        "review_may_set": status.may_set(user),
        "review_statuses": list(Status),
        "comment_limit": comments.MAX_TEXT,
        "comment_limit_words": f"{comments.MAX_TEXT:,}",
        "reply_limit": comments.MAX_REPLIES,
    }


def _video(pk: int, gone: str = GONE) -> Generation:
    video = Generation.objects.select_related("created_by").filter(pk=pk).first()
    if video is None:
        raise Refused(gone, status=404)
    return video


def _refused(
    request: AuthenticatedHttpRequest, refusal: Refused, *, pk: int | None, text: str = ""
) -> HttpResponse:
    if request.htmx:
        return HttpResponse(refusal.sentence, status=refusal.status, content_type="text/plain; charset=utf-8")
    context = {"sentence": refusal.sentence, "text": text, "video_pk": pk}
    return render(request, "review/refused.html", context, status=refusal.status)


def _section(request: AuthenticatedHttpRequest, video: Generation, anchor: str = "comments") -> HttpResponse:
    if wants_fragment(request):
        context = {"generation": video, **page_context(video, request)}
        return render(request, "review/_review.html", context)
    return redirect(f"{video.get_absolute_url()}#{anchor}")


@require_GET
def comment_list(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The next page of threads ("More comments"), after the thread named by `after`."""
    try:
        video = _video(pk)
    except Refused as refusal:
        return _refused(request, refusal, pk=None)
    context = {"generation": video, **page_context(video, request, after=query_id(request, "after"))}
    template = "review/_review.html#threads" if wants_fragment(request) else "review/comments.html"
    return render(request, template, context)


@require_POST
def comment_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    text = request.POST.get("text", "")
    try:
        video = _video(pk)
        at_ms = comments.parse_moment(request.POST.get("at", ""))
        parent = None
        if raw_parent := request.POST.get("parent"):
            # A reply's thread, read by the one id reader: an id it refuses is no thread at all,
            # never a new thread of its own.
            parent_pk = parse_id(raw_parent)
            parent = Comment.objects.filter(pk=parent_pk, generation=video).first() if parent_pk else None
            if parent is None:
                raise Refused(
                    "That thread was deleted meanwhile, so the reply has nowhere to go.", status=404
                )
            at_ms = parent.at_ms
        comment = comments.add_comment(video, user=request.user, at_ms=at_ms, text=text, parent=parent)
    except Refused as refusal:
        return _refused(request, refusal, pk=pk, text=text)
    return _section(request, video, anchor=f"comment-{comment.pk}")


def _comment(pk: int) -> Comment:
    comment = Comment.objects.select_related("generation").filter(pk=pk).first()
    if comment is None:
        raise Refused("This comment no longer exists (it was deleted).", status=404)
    return comment


@require_POST
def comment_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    text = request.POST.get("text", "")
    try:
        comment = _comment(pk)
        comments.edit_comment(comment, user=request.user, text=text)
    except Refused as refusal:
        return _refused(request, refusal, pk=None, text=text)
    return _section(request, comment.generation, anchor=f"comment-{comment.pk}")


@require_POST
def comment_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    try:
        comment = _comment(pk)
        comments.delete_comment(comment, user=request.user)
    except Refused as refusal:
        return _refused(request, refusal, pk=None)
    return _section(request, comment.generation)


@require_POST
def comment_resolve(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    try:
        comment = _comment(pk)
        thread = comments.resolve_thread(
            comment, resolved=request.POST.get("resolved") == "1", user=request.user
        )
    except Refused as refusal:
        return _refused(request, refusal, pk=None)
    return _section(request, comment.generation, anchor=f"comment-{thread.pk}")


@require_POST
def set_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    try:
        video = _video(pk, status.GONE_FOR_STATUS)
        changed = status.set_status(
            video,
            request.POST.get("status", ""),
            user=request.user,
            others_not_chosen=request.POST.get("others_not_chosen") == "1",
        )
    except Refused as refusal:
        return _refused(request, refusal, pk=pk)
    if not wants_fragment(request) and changed:
        others = len(changed) - (1 if changed[0].pk == video.pk else 0)
        note = f" and {others} other take{'s' if others != 1 else ''} marked not chosen" if others else ""
        messages.success(request, f"Review status saved{note}.")
    return _section(request, video, anchor="review-status")


@require_POST
def policy(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The team's setting of who may set a review status (admins only, by the route table)."""
    try:
        rule = ReviewRule(request.POST.get("review_status_by", ""))
    except ValueError:
        messages.error(request, "Pick who may set a review status: admins and members, or admins only.")
        return redirect("team_security")
    team = TeamPolicy.current()
    if team.review_status_by != rule:
        was = ReviewRule(team.review_status_by)
        team.review_status_by = rule
        team.save(update_fields=["review_status_by"])
        record(
            AuditKind.POLICY,
            f"{request.user.get_username()} set who may set a review status: {rule.label.lower()} "
            f"(was {was.label.lower()})",
            request=request,
        )
        messages.success(request, f"Saved: review status can be set by {rule.label.lower()}.")
    else:
        messages.info(request, "Nothing changed: that was already the setting.")
    return redirect("team_security")
