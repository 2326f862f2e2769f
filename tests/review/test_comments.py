"""Comments at a moment: pinned, listed in time order, replies, resolve, edit/delete rights, limits,
escaping, a deleted video, 10,000 comments on one video, and the webhook events they send."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.urls import reverse

from playground.notify.webhooks import Webhook, WebhookDelivery
from playground.review import comments
from playground.review.comments import MAX_TEXT, THREADS_PER_PAGE, Refused, add_comment, moment_words
from playground.review.models import Comment
from playground.team.models import AuditEvent, AuditKind
from tests.notify import test_webhooks as wh
from tests.review.world import HTMX, World, fresh, make_world

pytestmark = pytest.mark.django_db

receiver = wh.receiver  # the recording webhook receiver, for the signed deliveries


@pytest.fixture
def world() -> World:
    return make_world()


def markers_of(html: str) -> dict[str, Any]:
    return json.loads(unescape(re.search(r'data-markers="([^"]*)"', html).group(1)))


def add_url(world: World) -> str:
    return reverse("review_comment_add", args=[world.video.pk])


def page(world: World, user=None) -> str:
    return world.client(user or world.alice).get(world.video.get_absolute_url()).content.decode()


def test_a_comment_is_pinned_to_its_moment_and_the_list_is_in_time_order(world):
    client = world.client(world.bob)
    for at, text in [("0:04.5", "Later"), ("0:03.2", "The hand melts"), ("1.0", "Early")]:
        response = client.post(add_url(world), {"at": at, "text": text}, headers=HTMX)
        assert response.status_code == 200
    assert list(Comment.objects.order_by("at_ms").values_list("at_ms", "text")) == [
        (1000, "Early"),
        (3200, "The hand melts"),
        (4500, "Later"),
    ]
    html = page(world)
    assert html.index("Early") < html.index("The hand melts") < html.index("Later")
    assert 'data-at-ms="3200"' in html and ">0:03.2<" in html
    markers = markers_of(html)
    assert markers["length_ms"] == 6000 and len(markers["marks"]) == 3
    assert 'id="marker-strip"' in html


def test_without_javascript_a_comment_lands_back_on_the_video(world):
    response = world.client(world.bob).post(add_url(world), {"at": "0:02.0", "text": "Nice light"})
    comment = Comment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{world.video.get_absolute_url()}#comment-{comment.pk}"


@pytest.mark.parametrize(
    ("at", "sentence"),
    [
        (
            "0:07.5",
            "The moment 0:07.5 is outside this video, which is 6.0 s long: pick a moment from 0:00.0 to 0:06.0.",
        ),
        ("soon", "“soon” is not a moment of the video: write it as minutes:seconds, like 0:03.2."),
    ],
)
def test_a_moment_outside_the_video_is_refused_with_the_numbers(world, at, sentence):
    response = world.client(world.bob).post(add_url(world), {"at": at, "text": "Here"}, headers=HTMX)
    assert (response.status_code, response.content.decode()) == (400, sentence)
    assert not Comment.objects.exists()


def test_the_last_moment_of_the_video_and_the_first_are_accepted(world):
    for at in ("0:00.0", "0:06.0"):
        assert (
            world.client(world.bob).post(add_url(world), {"at": at, "text": "Edge"}, headers=HTMX).status_code
            == 200
        )
    assert sorted(Comment.objects.values_list("at_ms", flat=True)) == [0, 6000]


def test_text_over_the_limit_is_refused_naming_the_limit_and_nothing_is_lost(world):
    text = "x" * (MAX_TEXT + 5)
    response = world.client(world.bob).post(add_url(world), {"at": "1", "text": text})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A comment can be at most 2,000 characters; this one has 2,005." in html
    assert text in html  # what was written comes back on the page
    assert not Comment.objects.exists()
    # Exactly the limit is fine.
    ok = world.client(world.bob).post(add_url(world), {"at": "1", "text": "y" * MAX_TEXT}, headers=HTMX)
    assert ok.status_code == 200 and Comment.objects.count() == 1


def test_script_in_a_comment_is_shown_as_text_and_only_web_links_are_clickable(world):
    text = "<script>alert(1)</script> see https://example.com/a?b=1&c=2. and javascript:alert(2) <b>x</b>"
    world.client(world.bob).post(add_url(world), {"at": "2", "text": text}, headers=HTMX)
    html = page(world)
    assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
    # Its author and an admin also get it in the Edit box: as text there too.
    for editor in (world.bob, world.sam):
        theirs = page(world, editor)
        assert "<script>alert(1)</script>" not in theirs and "&lt;script&gt;alert(1)&lt;/script&gt;" in theirs
        assert "required>&lt;script&gt;alert(1)&lt;/script&gt; see https://" in theirs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener noreferrer"' in html
    assert 'href="javascript' not in html
    assert str(comments.linked('"onmouseover=alert(1) http://x.test/"q')) == (
        '&quot;onmouseover=alert(1) <a href="http://x.test/" rel="nofollow noopener noreferrer" '
        'target="_blank">http://x.test/</a>&quot;q'
    )


def test_comments_on_a_deleted_video_get_a_plain_404_sentence(world):
    pk = world.video.pk
    client = world.client(world.bob)
    world.video.delete()
    response = client.post(
        reverse("review_comment_add", args=[pk]), {"at": "1", "text": "Hello"}, headers=HTMX
    )
    assert response.status_code == 404
    assert (
        response.content.decode()
        == "This video no longer exists (it was deleted), so it can't take comments."
    )
    page404 = client.post(reverse("review_comment_add", args=[pk]), {"at": "1", "text": "Hello"})
    assert page404.status_code == 404 and "no longer exists" in page404.content.decode()
    assert not Comment.objects.exists()


def test_a_video_not_ready_takes_no_comments(world):
    from tests import factories

    running = factories.generation(world.alice, "running")
    response = world.client(world.bob).post(
        reverse("review_comment_add", args=[running.pk]), {"at": "0", "text": "Hm"}, headers=HTMX
    )
    assert response.status_code == 400
    assert "open once the video is ready" in response.content.decode()


def test_replies_resolve_and_reopen_a_thread(world):
    thread = add_comment(world.video, user=world.alice, at_ms=3200, text="The hand melts")
    bob = world.client(world.bob)
    bob.post(add_url(world), {"at": "0:00.0", "parent": thread.pk, "text": "Fixed in take 2"}, headers=HTMX)
    reply = Comment.objects.get(parent=thread)
    assert reply.at_ms == 3200  # a reply sits at its thread's moment
    resolve = reverse("review_comment_resolve", args=[thread.pk])
    html = bob.post(resolve, {"resolved": "1"}, headers=HTMX).content.decode()
    thread.refresh_from_db()
    assert thread.resolved and thread.resolved_by_name == "bob"
    assert "Resolved by bob" in html and "Reopen" in html
    bob.post(resolve, {"resolved": "0"}, headers=HTMX)
    thread.refresh_from_db()
    assert not thread.resolved
    # A reply to a reply joins the thread (one level).
    bob.post(add_url(world), {"at": "0", "parent": reply.pk, "text": "Deeper"}, headers=HTMX)
    assert Comment.objects.get(text="Deeper").parent_id == thread.pk


def test_a_viewer_may_comment_reply_and_resolve(world):
    vic = world.client(world.vic)
    assert vic.post(add_url(world), {"at": "1", "text": "From a viewer"}, headers=HTMX).status_code == 200
    thread = Comment.objects.get()
    resolve = reverse("review_comment_resolve", args=[thread.pk])
    assert vic.post(resolve, {"resolved": "1"}, headers=HTMX).status_code == 200


def test_a_thread_holds_a_stated_number_of_replies(world):
    thread = add_comment(world.video, user=world.alice, at_ms=1000, text="Thread")
    Comment.objects.bulk_create(
        [
            Comment(generation=world.video, parent=thread, author=world.bob, at_ms=1000, text=f"r{i}")
            for i in range(comments.MAX_REPLIES)
        ]
    )
    with pytest.raises(Refused, match="at most 50 replies"):
        add_comment(world.video, user=world.bob, at_ms=1000, text="One more", parent=thread)


def test_editing_or_deleting_someone_elses_comment_is_refused_but_an_admin_may(world):
    mine = add_comment(world.video, user=world.alice, at_ms=1000, text="Alice's note")
    bob = world.client(world.bob)
    edit = reverse("review_comment_edit", args=[mine.pk])
    delete = reverse("review_comment_delete", args=[mine.pk])
    refused = bob.post(edit, {"text": "Bob was here"}, headers=HTMX)
    assert (refused.status_code, refused.content.decode()) == (
        403,
        "Only the person who wrote this comment, or an admin, can change it.",
    )
    assert bob.post(delete, headers=HTMX).status_code == 403
    mine.refresh_from_db()
    assert mine.text == "Alice's note"
    assert "Bob was here" not in page(world, world.bob)
    # Its author edits; the page marks it edited and shows Edit only to those who may.
    assert (
        world.client(world.alice).post(edit, {"text": "Alice's better note"}, headers=HTMX).status_code == 200
    )
    mine.refresh_from_db()
    assert mine.text == "Alice's better note" and mine.edited_at is not None
    assert reverse("review_comment_edit", args=[mine.pk]) not in page(world, world.bob)
    assert reverse("review_comment_edit", args=[mine.pk]) in page(world, world.sam)
    # An admin deletes it (with its replies), and the audit record says so.
    add_comment(world.video, user=world.bob, at_ms=0, text="reply", parent=mine)
    assert world.client(world.sam).post(delete, headers=HTMX).status_code == 200
    assert not Comment.objects.exists()
    line = AuditEvent.objects.get(kind=AuditKind.REVIEW)
    assert line.actor_name == "sam"
    assert (
        line.summary
        == f"sam deleted a comment by alice on video #{world.video.pk} at 0:01.0 with its 1 replies"
    )


def test_an_author_deleting_their_own_comment_writes_no_audit_line(world):
    mine = add_comment(world.video, user=world.alice, at_ms=1000, text="Oops")
    assert (
        world.client(world.alice)
        .post(reverse("review_comment_delete", args=[mine.pk]), headers=HTMX)
        .status_code
        == 200
    )
    assert not Comment.objects.exists() and not AuditEvent.objects.filter(kind=AuditKind.REVIEW).exists()


def test_a_guest_comments_through_the_same_limits_and_is_marked_a_guest(world):
    guest = add_comment(world.video, guest_name="  Ada   Client ", share_link_id=7, at_ms=500, text="Love it")
    assert (guest.author, guest.guest_name, guest.share_link_id, guest.by) == (
        None,
        "Ada Client",
        7,
        "Ada Client (guest)",
    )
    with pytest.raises(Refused, match="at most 2,000 characters"):
        add_comment(world.video, guest_name="Ada", at_ms=500, text="z" * 2001)
    with pytest.raises(Refused, match="outside this video"):
        add_comment(world.video, guest_name="Ada", at_ms=9000, text="late")
    with pytest.raises(Refused, match="Give your name"):
        add_comment(world.video, guest_name="  ", at_ms=0, text="who?")
    with pytest.raises(Refused, match="at most 80 characters; this one has 81"):
        add_comment(world.video, guest_name="n" * 81, at_ms=0, text="long name")
    # A guest's name is text on the page, never markup.
    add_comment(world.video, guest_name="<img src=x onerror=alert(1)>", at_ms=0, text="hi")
    html = page(world)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt; (guest)" in html
    # Nobody on the team but an admin may change a guest's comment.
    assert not comments.may_change(guest, fresh(world.alice))
    assert comments.may_change(guest, fresh(world.sam))


def test_ten_thousand_comments_keep_the_page_bounded(world, django_assert_max_num_queries):
    Comment.objects.bulk_create(
        [
            Comment(
                generation=world.video,
                author=world.bob,
                author_name="bob",
                at_ms=i * 6000 // 10_000,
                text=f"c{i}",
            )
            for i in range(10_000)
        ]
    )
    client = world.client(world.alice)
    with django_assert_max_num_queries(30):
        html = client.get(world.video.get_absolute_url()).content.decode()
    assert html.count('<li class="thread') == THREADS_PER_PAGE
    assert "(10000 threads, 10000 unresolved)" in html
    markers = markers_of(html)
    assert len(markers["marks"]) == comments.MARKER_SLICES
    assert sum(n for _, n, _ in markers["marks"]) == 10_000
    # "More comments" goes on from the last thread shown, in time order, without repeats.
    first = [int(pk) for pk in re.findall(r'<li class="thread" id="comment-(\d+)"', html)]
    after = re.search(r'\?after=(\d+)"', html).group(1)
    more = client.get(reverse("review_comments", args=[world.video.pk]), {"after": after}, headers=HTMX)
    second = [int(pk) for pk in re.findall(r'<li class="thread" id="comment-(\d+)"', more.content.decode())]
    assert len(second) == THREADS_PER_PAGE and not set(first) & set(second)
    ordered = list(
        Comment.objects.order_by("at_ms", "id").values_list("pk", flat=True)[: 2 * THREADS_PER_PAGE]
    )
    assert first + second == ordered
    # Without JavaScript, "More comments" is a page of its own with the same threads.
    plain = client.get(reverse("review_comments", args=[world.video.pk]), {"after": after}).content.decode()
    assert [int(pk) for pk in re.findall(r'<li class="thread" id="comment-(\d+)"', plain)] == second
    assert "Back to video #" in plain


def test_moments_are_written_as_minutes_seconds_and_tenths():
    assert [moment_words(ms) for ms in (0, 3200, 59_960, 61_050)] == ["0:00.0", "0:03.2", "1:00.0", "1:01.1"]
    assert [comments.parse_moment(t) for t in ("0:03.2", "3.2", "1:02", "2,5")] == [3200, 3200, 62_000, 2500]


def test_comment_and_resolve_events_are_delivered_signed(world, receiver):
    Webhook.objects.create(url=receiver.url, secret=wh.SECRET, events="review")
    Webhook.objects.create(url=receiver.url + "?videos-only", secret=wh.SECRET, events="both")
    thread = add_comment(world.video, user=world.bob, at_ms=3200, text="The hand melts")
    comments.resolve_thread(thread, resolved=True, user=world.alice)
    comments.resolve_thread(thread, resolved=True, user=world.alice)  # already resolved: no second event
    wh.deliver_all()
    assert len(receiver.received) == 2
    events = []
    for headers, body in receiver.received:
        assert wh.verify(wh.SECRET, headers, body)
        data = json.loads(body)
        assert data["event"] == headers["x-playground-event"]
        events.append(data)
    created, resolved = sorted(events, key=lambda d: d["event"])
    assert created["event"] == "comment.created" and resolved["event"] == "comment.resolved"
    assert created["video"] == {
        "id": world.video.pk,
        "url": f"https://videos.example.com/videos/{world.video.pk}/",
    }
    assert created["comment"]["at_seconds"] == 3.2 and created["comment"]["author"] == "bob"
    assert resolved["resolved_by"] == "alice"
    assert WebhookDelivery.objects.filter(event="comment.created").count() == 1


def test_the_kept_markers_follow_every_write(world):
    video = world.video

    def kept_matches_a_fresh_count() -> bool:
        return comments.markers(video) == comments._count_marks(video)

    first = add_comment(video, user=world.bob, at_ms=1000, text="One")
    second = add_comment(video, user=world.bob, at_ms=5000, text="Two")
    assert comments.markers(video)["marks"] == [[83, 1, 1], [416, 1, 1]] and kept_matches_a_fresh_count()
    comments.resolve_thread(first, resolved=True, user=world.alice)
    assert comments.markers(video)["marks"][0] == [83, 1, 0] and kept_matches_a_fresh_count()
    add_comment(video, user=world.alice, at_ms=0, text="Reopens it", parent=first)
    assert comments.markers(video)["marks"][0] == [83, 1, 1] and kept_matches_a_fresh_count()
    comments.delete_comment(second, user=world.bob)
    assert comments.markers(video)["marks"] == [[83, 1, 1]] and kept_matches_a_fresh_count()


@pytest.mark.parametrize("parent", ["²", "٣", "-1", "0", "9" * 30, str(2**63)])
def test_a_reply_to_a_thread_id_the_id_reader_refuses_is_refused_not_made_a_new_thread(world, parent):
    add_comment(world.video, user=world.alice, at_ms=3200, text="The hand melts")
    response = world.client(world.bob).post(
        add_url(world), {"at": "0:01.0", "parent": parent, "text": "Where does this go?"}, headers=HTMX
    )
    assert response.status_code == 404
    assert "nowhere to go" in response.content.decode()
    assert not Comment.objects.filter(text="Where does this go?").exists()
