"""A page of comment threads as HTML, built in Python rather than by the template engine.

A page holds up to 50 threads, each with its forms (resolve, reply, and edit and delete where
the reader may); drawn by templates, with a `{% url %}`, a `{% csrf_token %}` and an include per
row, those rows made a page of 10,000 comments 2.5 times slower than a page of 10, and
format_html's escaping of every argument still cost 6 ms for 50 threads (docs/benchmarks.md,
16). Here every address is reversed once per page and every piece of text is escaped
(html.escape: & < > " and ', as a template does); the addresses and numbers are ours.
"""

from __future__ import annotations

from html import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from playground.review.comments import MAX_TEXT, ThreadPage
from playground.review.models import Comment

SLOT = 999_999_999  # stands for a comment's id in an address reversed once


def _fill(address: str, pk: int) -> str:
    # The last occurrence: a guest's address holds the link's token before the slot.
    head, _, tail = address.rpartition(str(SLOT))
    return f"{head}{pk}{tail}"


class Addresses:
    """Where a team member's forms post (the video's page)."""

    # The hidden field that proves the form came from our page: Django's CSRF token here; a
    # guest's form token on a review link (review/guest_review.py).
    token_field = "csrfmiddlewaretoken"  # noqa: S105 (a field name)

    def __init__(self, video_pk: int) -> None:
        self.add = reverse("review_comment_add", args=[video_pk])
        self.more = reverse("review_comments", args=[video_pk])
        self._edit = reverse("review_comment_edit", args=[SLOT])
        self._delete = reverse("review_comment_delete", args=[SLOT])
        self._resolve = reverse("review_comment_resolve", args=[SLOT])

    def edit(self, pk: int) -> str:
        return _fill(self._edit, pk)

    def delete(self, pk: int) -> str:
        return _fill(self._delete, pk)

    def resolve(self, pk: int) -> str:
        return _fill(self._resolve, pk)


class GuestAddresses(Addresses):
    """Where a guest's forms post: under the review link's own path (a guest never edits or deletes)."""

    token_field = "form_token"  # noqa: S105 (a field name)

    def __init__(self, token: str, video_pk: int) -> None:
        self.add = reverse("guest_comment_add", args=[token, video_pk])
        self.more = reverse("guest_comments", args=[token, video_pk])
        self._resolve = reverse("guest_comment_resolve", args=[token, SLOT])
        self._edit = self._delete = ""


HX = 'hx-target="#review" hx-swap="outerHTML"'


def _comment(c: Comment, urls: Addresses, csrf: str) -> str:
    when = timezone.localtime(c.created_at)
    pk = c.pk
    tools = ""
    if getattr(c, "can_change", False):
        edit, delete = urls.edit(pk), urls.delete(pk)
        confirm = "Delete this comment?" if c.parent_id else "Delete this comment and its replies?"
        tools = (
            '<div class="comment-tools"><details><summary class="button small">Edit</summary>'
            f'<form method="post" action="{edit}" hx-post="{edit}" {HX}>{csrf}'
            f'<label for="edit-{pk}" class="visually-hidden">Comment</label>'
            f'<textarea id="edit-{pk}" name="text" rows="2" maxlength="{MAX_TEXT}" required>'
            f"{escape(c.text)}</textarea>"
            '<button type="submit" class="button small primary">Save</button></form></details>'
            f'<form method="post" action="{delete}" hx-post="{delete}" {HX} hx-confirm="{confirm}">{csrf}'
            '<button type="submit" class="button small danger">Delete</button></form></div>'
        )
    edited = ' <span class="hint">(edited)</span>' if c.edited_at else ""
    if via := getattr(c, "via", ""):
        edited = f' <span class="hint comment-via">{escape(via)}</span>{edited}'

    return (
        '<article class="comment"><p class="comment-head">'
        f'<button type="button" class="button link seek" data-at-ms="{c.at_ms}" title="Play from here">'
        f"{getattr(c, 'moment', '')}</button> "
        f'<span class="comment-by{" guest" if c.guest_name else ""}">{escape(c.by)}</span> '
        f'<time datetime="{when.isoformat()}">{when:%-d %b, %H:%M}</time>{edited}</p>'
        f'<p class="comment-text">{getattr(c, "html", "")}</p>{tools}</article>'
    )


def _thread(t: Comment, urls: Addresses, csrf: str) -> str:
    replies: list[Comment] = getattr(t, "thread_replies", [])
    pk = t.pk
    reply_list = ""
    if replies:
        items = "".join(
            f'<li class="reply" id="comment-{r.pk}">{_comment(r, urls, csrf)}</li>' for r in replies
        )
        reply_list = f'<ol class="replies" role="list">{items}</ol>'
    note = f'<p class="resolved-note">Resolved by {escape(t.resolved_by_name)}</p>' if t.resolved else ""
    resolve = urls.resolve(pk)
    return (
        f'<li class="thread{" resolved" if t.resolved else ""}" id="comment-{pk}">'
        f"{_comment(t, urls, csrf)}{note}{reply_list}"
        '<div class="thread-tools">'
        f'<form method="post" action="{resolve}" hx-post="{resolve}" {HX}>{csrf}'
        f'<input type="hidden" name="resolved" value="{"0" if t.resolved else "1"}">'
        f'<button type="submit" class="button small">{"Reopen" if t.resolved else "Resolve"}</button></form>'
        '<details class="reply-box"><summary class="button small">Reply</summary>'
        f'<form method="post" action="{urls.add}" hx-post="{urls.add}" {HX}>{csrf}'
        f'<input type="hidden" name="parent" value="{pk}">'
        f'<input type="hidden" name="at" value="{getattr(t, "moment", "")}">'
        f'<label for="reply-{pk}" class="visually-hidden">Reply</label>'
        f'<textarea id="reply-{pk}" name="text" rows="2" maxlength="{MAX_TEXT}" required></textarea>'
        '<button type="submit" class="button small primary">Send reply</button></form></details></div></li>'
    )


def render(page: ThreadPage, video_pk: int, csrf_token: str, urls: Addresses | None = None) -> SafeString:
    """The page's threads as <li> rows, and "More comments" when there are more."""
    urls = urls or Addresses(video_pk)
    csrf = f'<input type="hidden" name="{urls.token_field}" value="{escape(csrf_token)}">'
    rows: list[str] = [_thread(t, urls, csrf) for t in page.threads]
    if page.next_after is not None:
        more = f"{urls.more}?after={page.next_after}"
        rows.append(
            format_html(
                '<li class="more-comments"><a class="button" href="{}" hx-get="{}" hx-target="closest li" '
                'hx-swap="outerHTML">More comments</a></li>',
                more,
                more,
            )
        )
    return mark_safe("".join(rows))  # noqa: S308 (every piece of text in a row is escaped)
