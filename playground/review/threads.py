"""A page of comment threads as HTML, built in Python rather than by the template engine.

A page holds up to 50 threads, each with its forms (resolve, reply, and edit and delete where
the reader may); drawn by templates, with a `{% url %}`, a `{% csrf_token %}` and an include per
row, those rows made a page of 10,000 comments 2.5 times slower than a page of 10
(docs/benchmarks.md, 16). Here every address is reversed once per page and every piece of text
goes through format_html, so it is escaped exactly as a template would.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from playground.review.comments import MAX_TEXT, ThreadPage
from playground.review.models import Comment

SLOT = 999_999_999  # stands for a comment's id in an address reversed once


class Addresses:
    def __init__(self, video_pk: int) -> None:
        self.add = reverse("review_comment_add", args=[video_pk])
        self.more = reverse("review_comments", args=[video_pk])
        self._edit = reverse("review_comment_edit", args=[SLOT])
        self._delete = reverse("review_comment_delete", args=[SLOT])
        self._resolve = reverse("review_comment_resolve", args=[SLOT])

    def edit(self, pk: int) -> str:
        return self._edit.replace(str(SLOT), str(pk))

    def delete(self, pk: int) -> str:
        return self._delete.replace(str(SLOT), str(pk))

    def resolve(self, pk: int) -> str:
        return self._resolve.replace(str(SLOT), str(pk))


HX = 'hx-target="#review" hx-swap="outerHTML"'


def _comment(c: Comment, urls: Addresses, csrf: SafeString) -> SafeString:
    when = timezone.localtime(c.created_at)
    tools = SafeString("")
    if getattr(c, "can_change", False):
        tools = format_html(
            '<div class="comment-tools"><details><summary class="button small">Edit</summary>'
            '<form method="post" action="{edit}" hx-post="{edit}" {hx}>{csrf}'
            '<label for="edit-{pk}" class="visually-hidden">Comment</label>'
            '<textarea id="edit-{pk}" name="text" rows="2" maxlength="{limit}" required>{text}</textarea>'
            '<button type="submit" class="button small primary">Save</button></form></details>'
            '<form method="post" action="{delete}" hx-post="{delete}" {hx} hx-confirm="{confirm}">{csrf}'
            '<button type="submit" class="button small danger">Delete</button></form></div>',
            edit=urls.edit(c.pk),
            delete=urls.delete(c.pk),
            hx=mark_safe(HX),  # noqa: S308 (a constant)
            csrf=csrf,
            pk=c.pk,
            limit=MAX_TEXT,
            text=c.text,
            confirm="Delete this comment?" if c.parent_id else "Delete this comment and its replies?",
        )
    return format_html(
        '<article class="comment"><p class="comment-head">'
        '<button type="button" class="button link seek" data-at-ms="{at}" title="Play from here">'
        "{moment}</button> "
        '<span class="comment-by{guest}">{by}</span> <time datetime="{iso}">{shown}</time>{edited}</p>'
        '<p class="comment-text">{html}</p>{tools}</article>',
        at=c.at_ms,
        moment=getattr(c, "moment", ""),
        guest=" guest" if c.guest_name else "",
        by=c.by,
        iso=when.isoformat(),
        shown=f"{when:%-d %b, %H:%M}",
        edited=mark_safe(' <span class="hint">(edited)</span>') if c.edited_at else "",
        html=getattr(c, "html", ""),
        tools=tools,
    )


def _thread(t: Comment, urls: Addresses, csrf: SafeString) -> SafeString:
    replies: list[Comment] = getattr(t, "thread_replies", [])
    reply_list = SafeString("")
    if replies:
        reply_list = format_html(
            '<ol class="replies" role="list">{}</ol>',
            format_html_join(
                "",
                '<li class="reply" id="comment-{}">{}</li>',
                ((r.pk, _comment(r, urls, csrf)) for r in replies),
            ),
        )
    return format_html(
        '<li class="thread{resolved_class}" id="comment-{pk}">{first}{resolved_note}{replies}'
        '<div class="thread-tools">'
        '<form method="post" action="{resolve}" hx-post="{resolve}" {hx}>{csrf}'
        '<input type="hidden" name="resolved" value="{to}">'
        '<button type="submit" class="button small">{verb}</button></form>'
        '<details class="reply-box"><summary class="button small">Reply</summary>'
        '<form method="post" action="{add}" hx-post="{add}" {hx}>{csrf}'
        '<input type="hidden" name="parent" value="{pk}"><input type="hidden" name="at" value="{moment}">'
        '<label for="reply-{pk}" class="visually-hidden">Reply</label>'
        '<textarea id="reply-{pk}" name="text" rows="2" maxlength="{limit}" required></textarea>'
        '<button type="submit" class="button small primary">Send reply</button></form></details></div></li>',
        resolved_class=" resolved" if t.resolved else "",
        pk=t.pk,
        first=_comment(t, urls, csrf),
        resolved_note=format_html('<p class="resolved-note">Resolved by {}</p>', t.resolved_by_name)
        if t.resolved
        else "",
        replies=reply_list,
        resolve=urls.resolve(t.pk),
        hx=mark_safe(HX),  # noqa: S308 (a constant)
        csrf=csrf,
        to="0" if t.resolved else "1",
        verb="Reopen" if t.resolved else "Resolve",
        add=urls.add,
        moment=getattr(t, "moment", ""),
        limit=MAX_TEXT,
    )


def render(page: ThreadPage, video_pk: int, csrf_token: str) -> SafeString:
    """The page's threads as <li> rows, and "More comments" when there are more."""
    urls = Addresses(video_pk)
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', csrf_token)
    rows = [_thread(t, urls, csrf) for t in page.threads]
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
    return mark_safe("".join(rows))  # noqa: S308 (each row is built by format_html)
