"""A viewer in Chromium: watches, stars and downloads; no Generate anywhere; /generate/ says why."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.gallery.models import Collection, Star
from playground.generations.models import Generation, State
from playground.lib.videofiles import inspect_video
from playground.team import roles
from playground.team.models import Role
from playground.upstream.demo.render import render_video
from tests.browser_fixtures import ARTIFACTS, sign_in, wait_until
from tests.factories import PASSWORD, generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: Any) -> dict[str, Any]:
    path = Path(tmp_path_factory.mktemp("clip")) / "clip.mp4"
    render_video(path, prompt="clip", first_frame=None, seconds=1, long_side=160)
    return {"video": path.read_bytes(), "poster": inspect_video(path).poster_jpeg}


def ready(user: Any, prompt: str, clip: dict[str, Any]) -> Generation:
    return generation(
        created_by=user,
        model="video-01",
        prompt=prompt,
        state=State.READY,
        video=default_storage.save("videos/c.mp4", ContentFile(clip["video"])),
        poster=default_storage.save("posters/c.jpg", ContentFile(clip["poster"])),
        video_size=len(clip["video"]),
        duration=1.0,
    )


def test_a_viewer_watches_stars_and_downloads_and_is_told_plainly_what_they_cannot_do(page: Any, clip):
    users = get_user_model().objects
    bob = users.create_user("bob", password=PASSWORD)
    lighthouse = ready(bob, "A lighthouse at dusk with seagulls", clip)
    ready(bob, "A paper boat drifting in the rain", clip)
    vera = users.create_user("vera", "vera@example.com", PASSWORD)
    roles.set_role(vera, Role.VIEWER)

    # Signing in leads to /generate/ (sign_in asks for it): the page says why not, and the way back.
    sign_in(page, "vera", create=False)
    refusal = page.locator(".error-page")
    assert refusal.locator("h1").inner_text() == "That isn't open to you"
    assert roles.REFUSALS[Role.MEMBER] in refusal.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-refused.png"), full_page=True)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Generate").count() == 0
    assert nav.get_by_role("link", name="Gallery").count() == 1
    refusal.get_by_role("link", name="Back to the gallery").click()
    page.wait_for_url(re.compile(r"/gallery/$"))

    # The gallery: both videos, the one-line note, no Make a video.
    assert page.locator(".card-item").count() == 2
    assert (
        page.locator(".role-note").inner_text() == "You're a viewer: you can watch, download and star videos."
    )
    assert page.get_by_role("link", name="Make a video").count() == 0
    page.screenshot(path=str(ARTIFACTS / "viewer-gallery.png"), full_page=True)

    # Select mode offers Star and the zip, not adding, removing or deleting.
    page.get_by_role("button", name="Select").click()
    bar = page.locator("#bulk-form")
    assert bar.get_by_role("button", name="Star").is_visible()
    assert bar.get_by_role("button", name="Download as zip").is_visible()
    assert bar.get_by_role("button", name=re.compile("Delete")).count() == 0
    assert bar.get_by_role("button", name="Add to collection").count() == 0

    # A video: it plays, stars (htmx) and downloads; no Remix, Continue or Delete.
    page.goto(f"/videos/{lighthouse.pk}/")
    wait_until(page, "document.querySelector('video.player').readyState >= 1")
    for name in ("Remix", "Continue", "Delete"):
        assert page.get_by_role("link", name=name).count() == 0, name
    page.get_by_role("button", name="Star").click()
    page.get_by_role("button", name="Starred").wait_for()
    assert Star.objects.filter(user=vera, generation=lighthouse).exists()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    saved = download_info.value.path()
    assert Path(saved).read_bytes() == clip["video"]
    page.screenshot(path=str(ARTIFACTS / "viewer-video.png"), full_page=True)

    # A forged htmx click to a member's URL is answered with the plain sentence, shown on the page.
    page.evaluate(
        "htmx.ajax('POST', '/collections/new/', {source: document.querySelector('.star-form button'),"
        " values: {name: 'Forged'}, swap: 'none'})"
    )
    problem = page.locator("#request-problem")
    problem.wait_for()
    assert problem.inner_text() == roles.REFUSALS[Role.MEMBER]
    assert not Collection.objects.exists()
