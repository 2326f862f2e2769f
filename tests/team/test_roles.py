"""Roles on every page: the route table covers the URL map, a viewer is refused every member URL
(nothing made, charged, changed or deleted), can watch, download and star, and sees no control it
cannot use; a member keeps everything.

The refusals are parametrized over roles.ROUTES itself, so a page added to the table is tested
the day it is added. The viewer here made the videos, collection and preset while a member and
was then made a viewer: every per-object check (its maker may delete it) would let the request
through, so only the role stops it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.html import escape

from playground.films.sequences import ExportState, SequenceExport
from playground.gallery.collections import add_videos
from playground.gallery.models import Collection, Star
from playground.generations.models import Batch, Generation, Preset, State
from playground.notify.notifications import NotifyPreference
from playground.review import links
from playground.review.links import ShareLink
from playground.team import roles
from playground.team.invitations import invite
from playground.team.models import Invitation, Role
from tests.factories import failed, generation, media_files, member, ready

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


# --- The table covers the URL map ----------------------------------------------------------


def view_names() -> set[str]:
    """The name RoleMiddleware sees for every pattern: its namespaced name, or, for a pattern
    without one, its view's dotted path (as django.urls.ResolverMatch builds view_name)."""
    names: set[str] = set()

    def walk(patterns: list[Any], namespaces: list[str]) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, namespaces + ([p.namespace] if p.namespace else []))
            elif isinstance(p, URLPattern):
                func = getattr(p.callback, "view_class", p.callback)
                path = f"{func.__module__}.{func.__name__}"
                names.add(":".join([*namespaces, p.name or path]))

    walk(get_resolver().url_patterns, [])
    return names


def test_every_route_in_the_url_map_says_who_may_use_it():
    undeclared = sorted(
        name
        for name in view_names()
        if name not in roles.ROUTES and not name.startswith(roles.SELF_GUARDED_PREFIXES)
    )
    assert undeclared == [], f"add these to roles.ROUTES with their least role: {undeclared}"


def test_the_table_names_only_routes_that_exist():
    assert sorted(set(roles.ROUTES) - view_names()) == []


def test_a_route_nobody_declared_is_closed_to_all_but_admins():
    assert roles.required_role("some_new_page") == Role.ADMIN
    assert roles.required_role("account_email") == Role.VIEWER  # allauth guards its own pages


# --- A world whose every object the viewer made (as a member, before being made a viewer) --------


@dataclass
class World:
    viewer: User
    member: User
    clip: Generation  # ready, with a real file
    sequel: Generation  # ready, continues clip
    waiting: Generation  # queued
    broken: Generation  # failed, in a batch
    batch: Batch
    collection: Collection
    preset: Preset
    film: SequenceExport  # ready, with a real file, of the first clip alone


def stored(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data))


def ready_clip(user: User, prompt: str, **fields: Any) -> Generation:
    return ready(
        user,
        prompt=prompt,
        video=stored("videos/clip.mp4", VIDEO),
        poster=stored("posters/clip.jpg", b"jpeg"),
        video_size=len(VIDEO),
        duration=2.0,
        **fields,
    )


@pytest.fixture
def world(db: None) -> World:
    vic = member("vic")
    clip = ready_clip(vic, "A lighthouse at dusk")
    sequel = ready_clip(vic, "The lighthouse at night", continues=clip)
    waiting = generation(vic, State.QUEUED, prompt="A queued fox")
    batch = Batch.objects.create(created_by=vic, model="video-01", prompt="A fox", takes_per_picture=2)
    broken = failed(vic, prompt="A fox", batch=batch)
    failed(vic, prompt="A fox", batch=batch)
    collection = Collection.objects.create(name="Harbour", created_by=vic)
    add_videos(collection, [clip.pk, sequel.pk], vic)
    preset = Preset.objects.create(name="Foxes", model="video-01", prompt="A fox", created_by=vic)
    film = SequenceExport.objects.create(
        created_by=vic,
        clip_ids=[clip.pk],
        clips_key=str(clip.pk),
        state=ExportState.READY,
        video=stored("sequences/film.mp4", VIDEO),
        video_size=len(VIDEO),
        duration=4.0,
    )
    Star.objects.create(user=vic, generation=sequel)
    roles.set_role(vic, Role.VIEWER)
    invite("new@example.com", Role.MEMBER, None)  # for the admins' invitation routes
    alice = member("alice")
    links.make(by=alice, generation=clip, days=7)  # for the sharers' routes
    return World(vic, alice, clip, sequel, waiting, broken, batch, collection, preset, film)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(world: World) -> Client:
    return client_for(world.viewer)


def pattern_of(name: str) -> str:
    """The route's whole pattern, the prefixes of included URL lists in front (e.g. "team/people/…")."""
    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name == name:
                found.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    assert len(found) == 1, name
    return found[0]


def url_for(name: str, w: World) -> str:
    """The route with real ids: the viewer's own objects, the kind each place names."""
    pattern = pattern_of(name)
    if "<id:pk>" not in pattern:
        if name == "staged_image":
            return reverse(name, kwargs={"staged_id": "0" * 32, "name": "original"})
        return reverse(name)
    targets: dict[str, Any] = {
        "team/people/": w.member,
        "videos/": w.waiting if name == "cancel" else w.clip,
        "batches/": w.batch,
        "collections/": w.collection,
        "presets/": w.preset,
        "films/": w.film,
        "gallery/": w.clip,
        "share/": ShareLink.objects.first(),
    }
    if pattern.startswith("team/invitations/"):
        # Made with the world, before the snapshot a refused request is compared with.
        return reverse(name, kwargs={"pk": Invitation.objects.get(email="new@example.com").pk})
    target = next(obj for prefix, obj in targets.items() if pattern.startswith(prefix))
    return reverse(name, kwargs={"pk": target.pk})


def forged_fields(w: World) -> dict[str, Any]:
    """Everything any member form posts, filled in so that each view would act on it."""
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01",
        "prompt": "A forged fox in the snow",
        "enhance_prompt": "on",
        "takes": "2",
        "ids": [w.clip.pk, w.sequel.pk, w.waiting.pk],
        "collection": w.collection.pk,
        "video": w.clip.pk,
        "direction": "later",
        "confirm": "yes",
        "name": "Forged",
        "description": "Forged",
        "preset_name": "Forged",
        "when_done": "on",
        "next": "/gallery/",
    }


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of the app's tables (videos, batches, money, stars, collections, presets, films,
    the team's) and the accounts: any change a refused request made shows up here."""
    models: list[type[Model]] = [*apps.get_app_config("playground").get_models(), User]
    return {m._meta.label: list(m._default_manager.order_by("pk").values()) for m in models}


MEMBER_ROUTES = sorted(name for name, role in roles.ROUTES.items() if role != Role.VIEWER)


def test_the_member_routes_include_every_spending_and_deleting_url():
    spending = {"generate", "batch_retry", "start_export", "delete", "bulk_delete", "bulk_add"}
    assert spending <= set(MEMBER_ROUTES)
    assert {"gallery", "generation", "download", "star", "bulk_star", "bulk_zip"}.isdisjoint(MEMBER_ROUTES)


@pytest.mark.parametrize("method", ["post", "get"])
@pytest.mark.parametrize("name", MEMBER_ROUTES)
def test_a_viewers_forged_request_to_a_member_url_is_refused_and_changes_nothing(
    viewer: Client, world: World, name: str, method: str
):
    before, files = snapshot(), media_files()
    url = url_for(name, world)
    response = getattr(viewer, method)(url, forged_fields(world) if method == "post" else {})
    assert response.status_code == 403, (url, response.status_code)
    assert escape(roles.REFUSALS[roles.ROUTES[name]]) in response.content.decode()
    assert snapshot() == before, url  # nothing made, charged, changed or deleted
    assert media_files() == files, url  # no picture staged, no file removed


@pytest.mark.parametrize("name", MEMBER_ROUTES)
def test_htmx_gets_the_refusal_as_one_plain_sentence(viewer: Client, world: World, name: str):
    response = viewer.post(url_for(name, world), forged_fields(world), headers=HTMX)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == roles.REFUSALS[roles.ROUTES[name]]


def test_the_refusal_page_says_why_and_leads_back_to_the_gallery(viewer: Client):
    html = viewer.get(reverse("generate")).content.decode()
    assert "Your role is viewer: you can watch, download and star videos" in html
    assert "Ask an admin to make you a member." in html
    assert f'href="{reverse("gallery")}">Back to the gallery' in html
    assert "That isn't open to you" in html


def test_a_not_yours_refusal_reads_well_on_the_same_page(world: World):
    other = client_for(member("bob"))
    response = other.get(reverse("delete", args=[world.clip.pk]))
    assert response.status_code == 403
    assert "Only the person who made this video, or an admin, can delete it." in response.content.decode()
    htmx = other.post(reverse("delete", args=[world.clip.pk]), headers=HTMX)
    assert htmx.content.decode() == "Only the person who made this video, or an admin, can delete it."
    assert Generation.objects.filter(pk=world.clip.pk).exists()


def test_the_admin_site_stays_closed_to_a_viewer(viewer: Client):
    response = viewer.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_allauths_unnamed_old_addresses_still_redirect_for_a_viewer(viewer: Client):
    response = viewer.get("/accounts/social/connections/")
    assert response.status_code == 301


# --- What a viewer can do --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "gallery",
        "gallery_cards",
        "gallery_card",
        "generation",
        "collections",
        "collection",
        "queue",
        "usage",
        "batch",
        "sequence",
        "sequence_export",
    ],
)
def test_a_viewer_opens_the_pages_for_watching(viewer: Client, world: World, name: str):
    assert viewer.get(url_for(name, world)).status_code == 200


def test_a_viewer_downloads_a_video_a_film_and_the_media(viewer: Client, world: World):
    for url in (
        reverse("download", args=[world.clip.pk]),
        reverse("sequence_download", args=[world.film.pk]),
        reverse("media", args=[world.clip.video.name]),
    ):
        response: Any = viewer.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content) == VIDEO, url


def test_a_viewer_stars_and_unstars(viewer: Client, world: World):
    star = reverse("star", args=[world.clip.pk])
    assert viewer.post(star).status_code == 302
    assert Star.objects.filter(user=world.viewer, generation=world.clip).exists()
    assert 'aria-pressed="false"' in viewer.post(star, headers=HTMX).content.decode()
    assert not Star.objects.filter(user=world.viewer, generation=world.clip).exists()


def test_a_viewer_stars_many_and_downloads_them_as_a_zip(viewer: Client, world: World):
    ids = [world.clip.pk, world.sequel.pk]
    assert viewer.post(reverse("bulk_star"), {"ids": ids}).status_code == 302
    assert set(Star.objects.filter(user=world.viewer).values_list("generation", flat=True)) == set(ids)
    response: Any = viewer.post(reverse("bulk_zip"), {"ids": ids})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert VIDEO in b"".join(response.streaming_content)


def test_a_viewer_may_ask_to_be_told_when_a_video_is_ready(viewer: Client, world: World):
    assert viewer.post(reverse("notify_preference"), {"when_done": "on"}).status_code == 302
    assert NotifyPreference.objects.get(user=world.viewer).when_done


# --- A member keeps everything -------------------------------------------------------------


@pytest.fixture
def alice(world: World) -> Client:
    return client_for(world.member)


def test_a_member_generates_through_the_real_form(alice: Client):
    page = alice.get(reverse("generate")).content.decode()
    token = re.search(r'name="submission_token" value="([^"]+)"', page)
    assert token, "the Generate form carries its submission token"
    data = {"submission_token": token[1], "model": "video-01", "prompt": "A fox at dawn", "takes": "2"}
    response = alice.post(reverse("generate"), data | {"enhance_prompt": "on"})
    batch = Batch.objects.get(created_by__username="alice")
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    assert batch.takes.count() == 2
    assert alice.get(reverse("generate_plan"), {"model": "video-01", "takes": "1"}).status_code == 200


def test_a_member_retries_exports_collects_and_deletes(alice: Client, world: World):
    batch = Batch.objects.create(created_by=world.member, model="video-01", prompt="A fox")
    failed(world.member, prompt="A fox", batch=batch)
    assert alice.post(reverse("batch_retry", args=[batch.pk])).status_code == 302
    assert Generation.objects.filter(created_by=world.member, state=State.QUEUED).count() == 1

    assert alice.post(reverse("start_export", args=[world.sequel.pk])).status_code == 302
    assert SequenceExport.objects.get(created_by=world.member).clip_ids == [world.clip.pk, world.sequel.pk]
    assert alice.post(reverse("collection_create"), {"name": "Alice's"}).status_code == 302
    theirs = Collection.objects.get(name="Alice's")
    alice.post(reverse("bulk_add"), {"ids": [world.clip.pk], "collection": theirs.pk})
    assert list(theirs.entries.values_list("generation", flat=True)) == [world.clip.pk]

    own = ready_clip(world.member, "Mine to delete")
    assert alice.post(reverse("delete", args=[own.pk])).status_code == 302
    assert not Generation.objects.filter(pk=own.pk).exists()
    queued = generation(world.member, State.QUEUED)
    assert alice.post(reverse("cancel", args=[queued.pk])).status_code == 302
    assert Generation.objects.get(pk=queued.pk).state == State.CANCELLED


# --- The pages hide what the role cannot do ------------------------------------------------------


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


GENERATE_LINK = f'href="{reverse("generate")}"'


def test_a_viewers_nav_has_no_generate_link_and_a_members_has(viewer: Client, alice: Client):
    for url in (reverse("gallery"), reverse("queue"), reverse("usage"), reverse("collections")):
        assert GENERATE_LINK not in page(viewer, url), url
        assert ">Generate</a>" in page(alice, url), url


def test_a_viewers_gallery_keeps_star_and_zip_and_says_what_a_viewer_can_do(viewer: Client, alice: Client):
    mine, theirs = page(viewer, reverse("gallery")), page(alice, reverse("gallery"))
    for kept in ('formaction="/bulk/star/">Star<', "Download as zip"):
        assert kept in mine and kept in theirs
    for hidden in (
        "Make a video",
        "Delete…",
        "Add to collection",
        "Remove from collection",
        "Make a collection",
    ):
        assert hidden not in mine, hidden
    for shown in ("Make a video", "Delete…", "Add to collection", "Remove from collection"):
        assert shown in theirs, shown
    note = "You're a viewer: you can watch, download and star videos."
    assert mine.count(note) == 1 and note not in theirs


def test_a_viewers_video_page_offers_watching_only(viewer: Client, alice: Client, world: World):
    url = reverse("generation", args=[world.clip.pk])
    mine, theirs = page(viewer, url), page(alice, url)
    assert "Download</a>" in mine and f'action="{reverse("star", args=[world.clip.pk])}"' in mine
    for control in ('id="again"', 'id="continue"', "?remix=", "?continue=", "Add to collection", ">Remove<"):
        assert control not in mine, control
        assert control in theirs, control
    # The viewer made this video (as a member): still no Delete, which the server refuses them.
    assert "/delete/" not in mine
    own = ready_clip(world.member, "Alice's own")
    assert "Delete</a>" in page(alice, reverse("generation", args=[own.pk]))


def test_a_viewer_sees_no_retry_no_cancel_no_film_button(viewer: Client, alice: Client, world: World):
    failed_page = reverse("generation", args=[world.broken.pk])
    assert ">Retry<" not in page(viewer, failed_page) and ">Retry<" in page(alice, failed_page)
    batch = reverse("batch", args=[world.batch.pk])
    assert "Retry the failed ones" not in page(viewer, batch)
    assert "Remix</a>" not in page(viewer, batch) and "Retry</a>" not in page(viewer, batch)
    waiting = reverse("generation", args=[world.waiting.pk])
    assert "Cancel</button>" not in page(viewer, waiting)
    assert "Cancel</button>" not in page(viewer, reverse("queue"))
    assert "Cancel all my waiting jobs" not in page(viewer, reverse("queue"))
    sequence = reverse("sequence", args=[world.clip.pk])
    assert "Export as one MP4" not in page(viewer, sequence) and "Export as one MP4" in page(alice, sequence)
    # The same pages for the viewer made a member again show the maker's controls.
    roles.set_role(world.viewer, Role.MEMBER)
    assert "Retry the failed ones (2)" in page(viewer, batch)
    assert "Cancel</button>" in page(viewer, waiting)
    assert "Cancel all my waiting jobs (1)" in page(viewer, reverse("queue"))


def test_a_viewers_collections_can_be_browsed_not_changed(viewer: Client, alice: Client, world: World):
    listing = page(viewer, reverse("collections"))
    assert "Harbour" in listing and "New collection" not in listing
    assert "New collection" in page(alice, reverse("collections"))
    one = page(viewer, reverse("collection", args=[world.collection.pk]))
    for control in ("Rename", "Delete collection", "draggable", "Earlier", "Later", "Drag a card"):
        assert control not in one, control
    roles.set_role(world.viewer, Role.MEMBER)  # the maker, a member again
    again = page(viewer, reverse("collection", args=[world.collection.pk]))
    for control in ("Rename", "Delete collection", "draggable", "Earlier", "Later", "Drag a card"):
        assert control in again, control


def test_a_viewers_usage_page_speaks_of_no_allowance(viewer: Client, alice: Client):
    assert "You're a viewer: you don't start videos" in page(viewer, reverse("usage"))
    assert "You're a viewer" not in page(alice, reverse("usage"))


def test_a_page_that_never_asks_for_the_role_pays_no_query_for_it(viewer: Client, world: World):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Generation.objects.filter(pk=world.waiting.pk).update(state=State.RUNNING)
    with CaptureQueriesContext(connection) as queries:
        viewer.get(reverse("generation", args=[world.waiting.pk]), headers=HTMX)
    # The role arrives with the person (one joined query, team/backends.py): no query of its own.
    assert not any('FROM "playground_membership"' in q["sql"] for q in queries.captured_queries)
