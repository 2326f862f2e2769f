"""A video's review status: who may set it (and the team's setting), its history, "not chosen" in one
step, the audit record, the webhook event, and the gallery's, collections' and compare's views of it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from playground.gallery.collections import add_videos
from playground.gallery.models import Collection
from playground.notify.webhooks import Webhook, WebhookDelivery
from playground.review import status
from playground.review.comments import Refused, add_comment
from playground.review.models import ReviewStatus, Status
from playground.team.models import AuditEvent, AuditKind, ReviewRule, TeamPolicy
from tests import factories
from tests.review.world import HTMX, World, fresh, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return make_world()


def status_url(world: World) -> str:
    return reverse("review_status", args=[world.video.pk])


def admins_only() -> None:
    TeamPolicy.objects.update_or_create(pk=1, defaults={"review_status_by": ReviewRule.ADMINS})


def test_a_member_approves_and_the_history_keeps_who_and_when(world):
    bob = world.client(world.bob)
    assert bob.post(status_url(world), {"status": "needs_changes"}, headers=HTMX).status_code == 200
    html = bob.post(status_url(world), {"status": "approved"}, headers=HTMX).content.decode()
    assert status.current(world.video) == Status.APPROVED
    rows = list(ReviewStatus.objects.order_by("id").values_list("status", "author_name", "is_current"))
    assert rows == [("needs_changes", "bob", False), ("approved", "bob", True)]
    assert 'id="review-status">Approved<' in html
    assert "Needs changes · bob" in html  # the history
    # The same status again changes nothing and records nothing more.
    bob.post(status_url(world), {"status": "approved"}, headers=HTMX)
    assert ReviewStatus.objects.count() == 2
    assert AuditEvent.objects.filter(kind=AuditKind.REVIEW).count() == 2


def test_a_viewer_cannot_set_a_status(world):
    response = world.client(world.vic).post(status_url(world), {"status": "approved"}, headers=HTMX)
    assert (response.status_code, response.content.decode()) == (403, status.VIEWER_REFUSAL)
    assert not ReviewStatus.objects.exists()
    assert (
        "Set the review status"
        not in world.client(world.vic).get(world.video.get_absolute_url()).content.decode()
    )


def test_with_the_admins_only_setting_a_member_and_a_guest_are_refused_and_nothing_changes(world):
    admins_only()
    response = world.client(world.bob).post(status_url(world), {"status": "approved"}, headers=HTMX)
    assert (response.status_code, response.content.decode()) == (403, status.ADMINS_ONLY_REFUSAL)
    page = world.client(world.bob).post(status_url(world), {"status": "approved"})
    assert (
        page.status_code == 403
        and "Only the team&#x27;s admins can set a review status" in page.content.decode()
    )
    with pytest.raises(Refused) as refused:
        status.set_status(world.video, Status.APPROVED, guest_name="Client", share_link_id=3)
    assert refused.value.status == 403
    assert not ReviewStatus.objects.exists()
    # An admin still may.
    assert (
        world.client(world.sam).post(status_url(world), {"status": "approved"}, headers=HTMX).status_code
        == 200
    )
    assert status.current(world.video) == Status.APPROVED


def test_a_guest_sets_a_status_by_name_when_the_setting_allows(world):
    status.set_status(world.video, "needs_changes", guest_name="Ada Client", share_link_id=9)
    row = ReviewStatus.objects.get()
    assert (row.author, row.guest_name, row.share_link_id, row.by) == (
        None,
        "Ada Client",
        9,
        "Ada Client (guest)",
    )
    assert AuditEvent.objects.get(kind=AuditKind.REVIEW).summary == (
        f"Ada Client (guest) set video #{world.video.pk}'s review status to needs changes (was unreviewed)"
    )


def test_an_unknown_status_is_refused(world):
    response = world.client(world.bob).post(status_url(world), {"status": "<b>great</b>"}, headers=HTMX)
    assert response.status_code == 400 and "is not a review status" in response.content.decode()
    assert not ReviewStatus.objects.exists()


def test_a_deleted_video_cannot_be_reviewed(world):
    url = status_url(world)
    world.video.delete()
    response = world.client(world.bob).post(url, {"status": "approved"}, headers=HTMX)
    assert (response.status_code, response.content.decode()) == (404, status.GONE_FOR_STATUS)


def test_approving_one_take_marks_the_others_not_chosen_in_one_step(world):
    frame = "a" * 64
    takes = [
        factories.ready(world.alice, duration=6.0, video=f"videos/t{i}.mp4", first_frame_sha256=frame)
        for i in range(3)
    ]
    unrelated = factories.ready(world.alice, duration=6.0, video="videos/u.mp4", first_frame_sha256="b" * 64)
    url = reverse("review_status", args=[takes[0].pk])
    response = world.client(world.bob).post(url, {"status": "approved", "others_not_chosen": "1"})
    assert response.status_code == 302
    assert [status.current(t) for t in takes] == [Status.APPROVED, Status.NOT_CHOSEN, Status.NOT_CHOSEN]
    assert status.current(unrelated) == Status.UNREVIEWED
    # The compare on a take's page shows each take's status and comment count.
    add_comment(takes[1], user=world.bob, at_ms=100, text="Close")
    html = world.client(world.bob).get(takes[0].get_absolute_url()).content.decode()
    assert html.count("Not chosen</span> · ") == 2 and "Not chosen</span> · 1 comment<" in html
    assert 'This one · alice · <span class="review-state review-approved">Approved</span>' in html


def test_the_status_change_is_sent_as_a_webhook_event(world, settings):
    settings.SITE_URL = "https://videos.example.com"
    Webhook.objects.create(url="https://hooks.example.com/a", secret="s" * 20, events="all")
    Webhook.objects.create(url="https://hooks.example.com/b", secret="s" * 20, events="ready")
    status.set_status(world.video, "approved", user=world.bob)
    delivery = WebhookDelivery.objects.get()
    body = json.loads(delivery.body)
    assert delivery.event == body["event"] == "review.status_changed"
    assert (body["status"], body["previous"], body["by"], body["guest"]) == (
        "approved",
        "unreviewed",
        "bob",
        False,
    )
    assert body["video"]["id"] == world.video.pk


def test_the_gallery_and_a_collection_filter_by_status_and_unresolved_comments(world):
    other = factories.ready(world.alice, duration=6.0, video="videos/b.mp4")
    third = factories.ready(world.alice, duration=6.0, video="videos/c.mp4")
    status.set_status(world.video, "approved", user=world.bob)
    status.set_status(third, "approved", user=world.bob)
    status.set_status(third, "unreviewed", user=world.bob)
    thread = add_comment(other, user=world.bob, at_ms=100, text="Open")
    add_comment(world.video, user=world.bob, at_ms=100, text="Done")
    client = world.client(world.vic)

    def cards(url: str, **query: str) -> set[int]:
        html = client.get(url, query).content.decode()
        return {pk for pk in (world.video.pk, other.pk, third.pk) if f'id="card-{pk}"' in html}

    gallery = reverse("gallery")
    assert cards(gallery, review="approved") == {world.video.pk}
    assert cards(gallery, review="unreviewed") == {other.pk, third.pk}
    assert cards(gallery, unresolved="1") == {world.video.pk, other.pk}
    from playground.review.comments import resolve_thread

    resolve_thread(thread, resolved=True, user=world.bob)
    assert cards(gallery, unresolved="1") == {world.video.pk}
    html = client.get(gallery).content.decode()
    assert '</svg> 1<span class="visually-hidden"> comment</span>' in html
    assert 'class="review-state review-approved">Approved<' in html
    collection = Collection.objects.create(name="Client cut", created_by=world.alice)
    add_videos(collection, [world.video.pk, other.pk], world.alice)
    assert cards(collection.get_absolute_url(), review="approved") == {world.video.pk}


def test_an_admin_sets_who_may_set_a_status_on_the_security_page(world):
    sam = world.client(world.sam)
    assert "Admins and members" in sam.get(reverse("team_security")).content.decode()
    response = sam.post(reverse("review_policy"), {"review_status_by": "admins"})
    assert response.status_code == 302
    assert TeamPolicy.current().review_status_by == ReviewRule.ADMINS
    line = AuditEvent.objects.get(kind=AuditKind.POLICY)
    assert line.summary == "sam set who may set a review status: admins only (was admins and members)"
    assert not status.may_set(fresh(world.bob))
    # A member cannot change the setting (the route table refuses before the view).
    assert (
        world.client(world.bob).post(reverse("review_policy"), {"review_status_by": "members"}).status_code
        == 403
    )
    assert TeamPolicy.current().review_status_by == ReviewRule.ADMINS
