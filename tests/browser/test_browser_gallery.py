"""Chromium journeys through the gallery and the detail page, on desktop and phone widths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.gallery.filters import PAGE_SIZE
from playground.generations.models import Generation, State
from playground.lib.videofiles import inspect_video
from playground.upstream.demo.render import render_video
from playground.worker.loop import Worker
from tests.browser_fixtures import ARTIFACTS, sign_in, wait_until
from tests.factories import PASSWORD, generation, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: Any) -> dict[str, Any]:
    """One real little MP4 and its poster, copied into each ready generation."""
    path = Path(tmp_path_factory.mktemp("clip")) / "clip.mp4"
    render_video(path, prompt="clip", first_frame=None, seconds=1, long_side=160)
    return {"video": path.read_bytes(), "poster": inspect_video(path).poster_jpeg}


def ready(user: Any, prompt: str, clip: dict[str, Any], frame: bytes | None = None) -> Generation:
    return generation(
        created_by=user,
        model="video-01-live2d" if frame else "video-01",
        prompt=prompt,
        state=State.READY,
        video=default_storage.save("videos/c.mp4", ContentFile(clip["video"])),
        poster=default_storage.save("posters/c.jpg", ContentFile(clip["poster"])),
        first_frame=default_storage.save("first-frames/f.png", ContentFile(frame)) if frame else "",
        first_frame_sha256=hashlib.sha256(frame).hexdigest() if frame else "",
        first_frame_width=640 if frame else None,
        first_frame_height=480 if frame else None,
        duration=1.0,
    )


def test_find_open_star_remix_filter_and_delete(page: Any, running_worker: Worker, clip):
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    frame = image_bytes(640, 480, "PNG")
    lighthouse = ready(bob, "A lighthouse at dusk with seagulls", clip, frame)
    ready(bob, "A paper boat drifting in the rain", clip)
    mine = ready(alice, "My own test clip of a teapot", clip)

    # Find a colleague's video by a word of its prompt; the grid updates in place and the URL follows.
    page.goto("/gallery/")
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Search prompts").fill("lighthouse")
    page.wait_for_url(re.compile(r"q=lighthouse"))
    cards = page.locator(".card-item")
    cards.first.wait_for()
    wait_until(page, "document.querySelectorAll('.card-item').length === 1")
    assert "bob" in cards.first.inner_text()
    assert page.evaluate("window.stillTheSamePage") is True

    # Hovering previews the video, muted.
    cards.first.locator(".card-link").hover()
    wait_until(
        page,
        "() => { const v = document.querySelector('.card-item video.hover-preview');"
        " return v && v.muted && !v.paused && v.readyState >= 2; }",
    )

    # Open it and star it.
    cards.first.locator(".card-link").click()
    page.wait_for_url(re.compile(rf"/videos/{lighthouse.pk}/$"))
    page.get_by_role("button", name="Star").click()
    page.get_by_role("button", name="Starred").wait_for()

    # Remix it: same prompt and first frame, no upload; a new generation gets its own job.
    page.get_by_role("link", name="Remix").click()
    page.wait_for_url(re.compile(r"/generate/\?remix="))
    assert page.get_by_label("Prompt", exact=True).input_value() == lighthouse.prompt
    assert page.get_by_role("radio", name=re.compile("video-01-live2d")).is_checked()
    assert f"Using the first frame of video #{lighthouse.pk}" in page.locator(".reused").inner_text()
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, take two")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    page.locator("#status .stage-ready").wait_for(timeout=60000)
    remix = Generation.objects.get(prompt="A lighthouse at dusk, take two")
    assert remix.first_frame_sha256 and remix.upstream_id
    # The two takes of one first frame are offered side by side.
    page.goto(f"/videos/{remix.pk}/")
    assert page.locator("video.take").count() == 2

    # Starred filter shows just the starred one; the back button restores the previous filter.
    page.goto("/gallery/?q=lighthouse")
    page.get_by_label("Starred").check()
    page.wait_for_url(re.compile(r"starred=1"))
    wait_until(page, "document.querySelectorAll('.card-item').length === 1")
    assert page.locator(".card-item").first.get_attribute("id") == f"card-{lighthouse.pk}"
    page.go_back()
    page.wait_for_url(re.compile(r"q=lighthouse$"))
    wait_until(page, "document.querySelectorAll('.card-item').length === 2")

    # Delete your own, after confirming.
    page.goto(f"/videos/{mine.pk}/")
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete for everyone").click()
    page.wait_for_url(re.compile(r"/gallery/$"))
    assert f"Video #{mine.pk} was deleted." in page.locator(".messages").inner_text()
    assert page.locator(f"#card-{mine.pk}").count() == 0
    assert not Generation.objects.filter(pk=mine.pk).exists()
    # Someone else's video has no Delete button.
    page.goto(f"/videos/{lighthouse.pk}/")
    assert page.get_by_role("link", name="Delete").count() == 0


def test_an_in_progress_card_becomes_a_ready_card_without_a_reload(page: Any, running_worker: Worker, clip):
    sign_in(page, "carol")
    carol = get_user_model().objects.get(username="carol")
    gen = generation(carol, prompt="A kettle starts to steam")
    page.goto("/gallery/")
    page.evaluate("window.stillTheSamePage = true")
    card = page.locator(f"#card-{gen.pk}")
    assert card.locator(".stage-badge").count() == 1
    card.locator(".badge.duration").wait_for(timeout=60000)
    assert card.locator(".stage-badge").count() == 0
    assert card.locator("video.hover-preview").count() == 1
    assert page.evaluate("window.stillTheSamePage") is True


def test_a_card_brought_by_load_more_updates_when_it_is_ready(page: Any, clip):
    # The first page has nothing in progress, so no poll runs until "Load more" brings one.
    sign_in(page, "carol")
    carol = get_user_model().objects.get(username="carol")
    older = generation(created_by=carol, prompt="A kettle starts to steam", state=State.RUNNING)
    for i in range(PAGE_SIZE):
        ready(carol, f"Ready clip {i}", clip)
    page.goto("/gallery/")
    page.evaluate("window.stillTheSamePage = true")
    assert page.locator("#card-poll[hx-get]").count() == 0
    page.get_by_role("link", name="Load more").click()
    card = page.locator(f"#card-{older.pk}")
    card.wait_for()
    assert card.locator(".stage-badge").count() == 1
    assert page.locator("#card-poll[hx-get]").count() == 1
    Generation.objects.filter(pk=older.pk).update(
        state=State.READY,
        video=default_storage.save("videos/k.mp4", ContentFile(clip["video"])),
        poster=default_storage.save("posters/k.jpg", ContentFile(clip["poster"])),
        duration=1.0,
    )
    card.locator(".badge.duration").wait_for(timeout=15000)
    assert card.locator(".stage-badge").count() == 0
    assert page.locator("#card-poll[hx-get]").count() == 0  # nothing left in progress: the poll stopped
    assert page.evaluate("window.stillTheSamePage") is True


def test_the_gallery_and_a_detail_page_fit_a_phone(browser: Any, live_server: Any, clip):
    get_user_model().objects.create_user("dana", password=PASSWORD)
    dana = get_user_model().objects.get(username="dana")
    frame = image_bytes(640, 480, "PNG")
    gens = [
        ready(dana, f"A phone-sized test clip number {i}", clip, frame if i == 0 else None) for i in range(5)
    ]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=live_server.url, is_mobile=True
    )
    page = context.new_page()
    sign_in(page, "dana", create=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in (("gallery", "/gallery/"), ("detail", f"/videos/{gens[0].pk}/")):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} scrolls sideways"
        page.screenshot(path=str(ARTIFACTS / f"mobile-{name}.png"), full_page=True)
    context.close()


def test_the_hover_preview_stays_still_for_people_who_ask_for_less_motion(
    browser: Any, live_server: Any, clip
):
    get_user_model().objects.create_user("quiet", password=PASSWORD)
    ready(get_user_model().objects.get(username="quiet"), "A calm sea", clip)
    context = browser.new_context(base_url=live_server.url, reduced_motion="reduce")
    page = context.new_page()
    sign_in(page, "quiet", create=False)
    page.goto("/gallery/")
    page.locator(".card-link").first.hover()
    page.wait_for_timeout(500)
    assert page.evaluate("document.querySelector('video.hover-preview').paused") is True
    assert page.evaluate("document.querySelector('video.hover-preview').getAttribute('src')") is None
    context.close()


def filter_controls(page: Any) -> dict[str, Any]:
    return {
        "q": page.get_by_label("Search prompts").input_value(),
        "model": page.get_by_label("Model").input_value(),
        "creator": page.get_by_label("Made by").input_value(),
        "state": page.get_by_label("State").input_value(),
        "starred": page.get_by_label("Starred").is_checked(),
    }


def at(page: Any, search: str) -> None:
    """Wait until the address is the gallery with this query and the page has settled on it."""
    try:
        wait_until(page, f"location.pathname === '/gallery/' && location.search === {search!r}", timeout=5)
    except AssertionError:
        raise AssertionError(page.evaluate("location.href")) from None
    page.wait_for_load_state()
    wait_until(page, "document.readyState === 'complete'")
    page.wait_for_timeout(100)  # htmx's restore and the popstate handler run in the next task


def test_back_to_the_gallery_shows_the_search_and_filters_the_address_says(page: Any, clip):
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    sign_in(page, "alice")
    lighthouse = ready(bob, "A lighthouse at dusk with seagulls", clip)
    ready(bob, "A lighthouse in a storm", clip)
    ready(bob, "A paper boat drifting in the rain", clip)

    page.goto("/gallery/")
    steps = page.evaluate("history.length")
    page.get_by_label("Search prompts").fill("lighthouse")
    page.wait_for_url(re.compile(r"q=lighthouse"))
    page.get_by_label("Made by").select_option("bob")
    page.wait_for_url(re.compile(r"creator=bob"))
    page.get_by_label("State").select_option("ready")
    page.wait_for_url(re.compile(r"state=ready"))
    wait_until(page, "document.querySelectorAll('.card-item').length === 2")
    chosen = {"q": "lighthouse", "model": "", "creator": "bob", "state": "ready", "starred": False}
    # One Back step per change, even though leaving the search box also says "change".
    page.get_by_label("Model").focus()
    page.wait_for_timeout(600)
    assert page.evaluate("history.length") == steps + 3
    assert filter_controls(page) == chosen

    # To a video and back: the cards and the controls both match the address.
    page.locator(f"#card-{lighthouse.pk} .card-link").click()
    page.wait_for_url(re.compile(rf"/videos/{lighthouse.pk}/$"))
    page.go_back()
    at(page, "?q=lighthouse&creator=bob&state=ready")
    wait_until(page, "document.querySelectorAll('.card-item').length === 2")
    assert filter_controls(page) == chosen

    # Back through the gallery's own steps (htmx restores its snapshots): still in step.
    page.go_back()
    at(page, "?q=lighthouse&creator=bob")
    assert filter_controls(page) == {**chosen, "state": ""}
    page.go_back()
    at(page, "?q=lighthouse")
    assert filter_controls(page) == {**chosen, "state": "", "creator": ""}
    page.go_forward()
    at(page, "?q=lighthouse&creator=bob")
    assert filter_controls(page) == {**chosen, "state": ""}
