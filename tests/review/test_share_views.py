"""The sharer's side of review links: making one, the list, revoking, the admins' expiry setting, audit."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from playground.gallery.models import Collection
from playground.review import links
from playground.review.links import ShareLink
from playground.team.models import AuditEvent, AuditKind, Role, TeamPolicy
from playground.team.roles import set_role
from tests import factories
from tests.review.links_world import page, share, stored_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db: None) -> User:
    return factories.member("alice")


@pytest.fixture
def ann(db: None) -> User:
    ann = factories.staff("ann")
    set_role(ann, Role.ADMIN)
    return ann


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def new_link(target: str) -> str:
    return f"{reverse('share_create')}?{target}"


FORM = {"days": "7", "password": "", "label": "For the client"}


def test_a_member_makes_a_link_and_sees_its_token_once(alice):
    video = stored_video(alice)
    member = client_of(alice)
    form = member.get(new_link(f"video={video.pk}"))
    assert form.status_code == 200 and 'value="7"' in form.content.decode()
    made = member.post(new_link(f"video={video.pk}"), {**FORM, "allow_download": "on"})
    assert made.status_code == 201
    assert made["Cache-Control"] == "private, no-store"
    url = re.search(
        r'id="share-link" readonly value="(http://testserver/s/([A-Za-z0-9_-]{43})/)"', made.content.decode()
    )
    assert url, made.content.decode()
    token = url[2]
    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ShareLink.objects.values().get())  # only the hash is kept
    assert link.generation == video and link.allow_download and not link.show_prompt and not link.show_maker
    assert link.expires_at - link.created_at == timedelta(days=7)
    assert link.label == "For the client"
    listing = member.get(reverse("share_list")).content.decode()
    assert f"Video #{video.pk}" in listing and token not in listing
    assert Client().get(page(token)).status_code == 200
    line = AuditEvent.objects.get(kind=AuditKind.SHARE_LINK)
    assert line.actor == alice
    assert f"alice made review link #{link.pk} to Video #{video.pk}" in line.summary
    assert token not in line.summary


def test_a_collection_can_be_shared_and_a_password_is_kept_hashed(alice):
    collection = Collection.objects.create(name="Client cut", created_by=alice)
    made = client_of(alice).post(
        new_link(f"collection={collection.pk}"), {**FORM, "password": "harbour-lights"}
    )
    assert made.status_code == 201
    link = ShareLink.objects.get()
    assert link.collection == collection and link.generation is None
    assert link.password_hash.startswith("md5$") and "harbour-lights" not in link.password_hash
    assert link.password_matches("harbour-lights") and not link.password_matches("harbour-light")


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"days": "91"}, "A link works for 1 to 90 days: pick a whole number in that range."),
        ({"days": "0"}, "A link works for 1 to 90 days: pick a whole number in that range."),
        ({"days": "a week"}, "A link works for 1 to 90 days: pick a whole number in that range."),
        ({"password": "short"}, "A link&#x27;s password needs at least 8 characters."),
        ({"password": "p" * 129}, "A link&#x27;s password may have at most 128 characters."),
        ({"label": "n" * 101}, "A link&#x27;s name may have at most 100 characters."),
    ],
)
def test_bad_input_is_refused_with_the_rule_and_nothing_typed_is_lost(alice, fields, sentence):
    video = stored_video(alice)
    posted = {**FORM, "label": "Keep <this> label", "password": "kept-password", **fields}
    answer = client_of(alice).post(new_link(f"video={video.pk}"), posted)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert sentence in text
    assert 'value="Keep &lt;this&gt; label"' in text or "label" in fields
    assert not ShareLink.objects.exists()


def test_the_largest_allowed_expiry_is_accepted(alice):
    video = stored_video(alice)
    answer = client_of(alice).post(
        new_link(f"video={video.pk}"), {**FORM, "days": "90", "password": "p" * 128}
    )
    assert answer.status_code == 201


def test_a_viewer_cannot_make_a_link(alice):
    video = stored_video(alice)
    vic = factories.member("vic")
    set_role(vic, Role.VIEWER)
    viewer = client_of(vic)
    assert viewer.get(new_link(f"video={video.pk}")).status_code == 403
    refused = viewer.post(new_link(f"video={video.pk}"), FORM)
    assert refused.status_code == 403
    assert not ShareLink.objects.exists()
    assert viewer.get(reverse("share_list")).status_code == 403


def test_signed_out_people_cannot_reach_the_sharers_pages(alice):
    video = stored_video(alice)
    answer = Client().post(new_link(f"video={video.pk}"), FORM)
    assert answer.status_code == 302 and answer["Location"].startswith("/sign-in/")
    assert not ShareLink.objects.exists()


def test_a_hostile_or_missing_target_is_a_plain_404(alice):
    member = client_of(alice)
    for query in ("video=1e3", "video=999999", "collection=-1", ""):
        assert member.get(new_link(query)).status_code == 404, query


def test_members_see_their_own_links_and_admins_everyones_with_views_and_last_visit(alice, ann):
    video = stored_video(alice)
    _, token = share(alice, video, label="alice's link")
    share(factories.member("bob"), video, label="bob's link")
    Client().get(page(token))
    own = client_of(alice).get(reverse("share_list")).content.decode()
    assert "alice&#x27;s link" in own and "bob&#x27;s link" not in own
    assert "<td>1</td>" in own and "Never" not in own.split("alice&#x27;s link")[1].split("</tr>")[0]
    everyone = client_of(ann).get(reverse("share_list")).content.decode()
    assert "alice&#x27;s link" in everyone and "bob&#x27;s link" in everyone
    assert "bob&#x27;s link" not in client_of(ann).get(reverse("share_list") + "?mine=1").content.decode()


def test_revoking_is_immediate_recorded_and_only_for_the_sharer_or_an_admin(alice, ann):
    video = stored_video(alice)
    link, token = share(alice, video)
    bob = client_of(factories.member("bob"))
    refused = bob.post(reverse("share_revoke", args=[link.pk]))
    assert refused.status_code == 403
    assert "You can turn off only the links you made" in refused.content.decode()
    assert Client().get(page(token)).status_code == 200
    done = client_of(alice).post(reverse("share_revoke", args=[link.pk]))
    assert done.status_code == 302
    assert Client().get(page(token)).status_code == 404
    other, _ = share(factories.member("carl"), video)
    assert client_of(ann).post(reverse("share_revoke", args=[other.pk])).status_code == 302
    summaries = list(AuditEvent.objects.filter(kind=AuditKind.SHARE_LINK).values_list("summary", flat=True))
    assert any(s.startswith(f"alice revoked review link #{link.pk}") for s in summaries)
    assert any(s.startswith(f"ann revoked review link #{other.pk}") for s in summaries)
    audit_page = client_of(ann).get(reverse("team_audit")).content.decode()
    assert f"alice revoked review link #{link.pk}" in audit_page and "Review link" in audit_page


def test_admins_set_the_default_and_the_most_days_and_sharers_are_held_to_them(alice, ann):
    admin = client_of(ann)
    security = admin.get(reverse("team_security")).content.decode()
    assert "work for 7 days" in security and "at most 90" in security
    bad = admin.post(reverse("share_settings"), {"share_days_default": "40", "share_days_max": "30"})
    assert bad.status_code == 400
    assert "cannot be more than the most a sharer may pick (30)" in bad.content.decode()
    too_long = admin.post(reverse("share_settings"), {"share_days_default": "3", "share_days_max": "366"})
    assert "Pick a whole number of days from 1 to 365." in too_long.content.decode()
    saved = admin.post(reverse("share_settings"), {"share_days_default": "3", "share_days_max": "30"})
    assert saved.status_code == 302
    assert TeamPolicy.objects.values_list("share_days_default", "share_days_max").get() == (3, 30)
    assert links.expiry_bounds() == (3, 30)
    video = stored_video(alice)
    member = client_of(alice)
    assert 'value="3"' in member.get(new_link(f"video={video.pk}")).content.decode()
    refused = member.post(new_link(f"video={video.pk}"), {**FORM, "days": "31"})
    assert "A link works for 1 to 30 days" in refused.content.decode()
    assert (
        member.post(
            reverse("share_settings"), {"share_days_default": "1", "share_days_max": "365"}
        ).status_code
        == 403
    )
    assert AuditEvent.objects.filter(kind=AuditKind.POLICY, summary__contains="review links").count() == 1


def test_the_video_and_collection_pages_offer_sharing_to_members_only(alice):
    video = stored_video(alice)
    collection = Collection.objects.create(name="Picks", created_by=alice)
    member = client_of(alice)
    assert (
        new_link(f"video={video.pk}") in member.get(reverse("generation", args=[video.pk])).content.decode()
    )
    assert (
        new_link(f"collection={collection.pk}")
        in member.get(reverse("collection", args=[collection.pk])).content.decode()
    )
    vic = factories.member("vic")
    set_role(vic, Role.VIEWER)
    assert (
        "Share for review" not in client_of(vic).get(reverse("generation", args=[video.pk])).content.decode()
    )


def test_the_list_shows_fifty_links_a_page(alice):
    video = stored_video(alice)
    for n in range(51):
        share(alice, video, label=f"link {n:02}")
    member = client_of(alice)
    first = member.get(reverse("share_list")).content.decode()
    assert first.count("Turn off</button>") == 50 and "link 50" in first and "link 00" not in first
    second = member.get(reverse("share_list") + "?page=2").content.decode()
    assert second.count("Turn off</button>") == 1 and "link 00" in second
