"""axe-core (from the npm registry) on every page, in Chromium, on a phone and a desktop, light and dark."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.films.sequences import SequenceExport
from playground.gallery.collections import add_videos
from playground.gallery.models import Collection, Star
from playground.generations.models import Generation, Preset, State
from playground.lib.videofiles import inspect_video
from playground.upstream.demo.render import render_video
from tests.browser_fixtures import ARTIFACTS, sign_in
from tests.factories import PASSWORD, generation, image_bytes
from tests.servers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Light and dark, desktop and phone, in two sweeps: a colour scheme's contrast does not depend on
# the width, nor a phone's layout on the scheme, so dark rides on the phone sweep.
VIEWS = [
    pytest.param({"width": 1440, "height": 900}, "light", id="desktop-light"),
    pytest.param({"width": 390, "height": 844}, "dark", id="mobile-dark"),
]
RUN_AXE = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.length, where: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
    }));
}"""


def axe(page: Any) -> list[dict[str, Any]]:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run npm ci (python3 dev.py test does).")
    page.add_script_tag(path=str(AXE))
    return list(page.evaluate(RUN_AXE, TAGS))


@pytest.fixture
def site(tmp_path: Path, settings: Any) -> dict[str, str]:
    """A team with videos in every state; returns page name -> path."""
    # The videos below are all made "now": the per-minute brake would refuse the batch states' submits.
    settings.SUBMISSIONS_PER_MINUTE = 100
    me = get_user_model().objects.create_user("alex", password=PASSWORD)
    other = get_user_model().objects.create_user("sam", password=PASSWORD)
    clip = tmp_path / "clip.mp4"
    render_video(clip, prompt="A test clip", first_frame=None, seconds=1, long_side=160)
    video, poster = clip.read_bytes(), inspect_video(clip).poster_jpeg
    frame = image_bytes(640, 480, "PNG")
    sha = hashlib.sha256(frame).hexdigest()

    def make(state: str, prompt: str, who: Any = me, **fields: Any) -> Generation:
        extra: dict[str, Any] = {}
        if state == State.READY:
            extra = {
                "video": default_storage.save("videos/a.mp4", ContentFile(video)),
                "poster": default_storage.save("posters/a.jpg", ContentFile(poster)),
                "duration": 1.0,
            }
        return generation(
            created_by=who,
            model="video-01-live2d",
            prompt=prompt,
            state=state,
            first_frame=default_storage.save("first-frames/a.png", ContentFile(frame)),
            first_frame_sha256=sha,
            first_frame_width=640,
            first_frame_height=480,
            **extra,
            **fields,
        )

    ready = make(
        State.READY, "A lantern floats over a lake", upstream_id="123", credits_used=1, tokens_used=1
    )
    make(State.READY, "A lantern, second take", who=other)
    Star.objects.create(user=me, generation=ready)
    queued = make(State.QUEUED, "Waiting for the worker")
    running = make(State.RUNNING, "Being generated", upstream_status="generating", trouble="")
    saving = make(State.ARCHIVING, "Being saved", upstream_status="completed")
    failed = make(State.FAILED, "It did not work", failure_reason="The API key was refused by the AI/ML API.")
    lanterns = Collection.objects.create(name="Lanterns", description="Night shots", created_by=me)
    add_videos(lanterns, [ready.pk, failed.pk], me)
    Preset.objects.create(
        name="Lake at night", model="video-01-live2d", prompt="A lake", first_frame_from=ready, created_by=me
    )
    sequel = make(State.READY, "The lantern drifts to the shore", continues=ready)
    making = SequenceExport.objects.create(
        created_by=me, clip_ids=[ready.pk, sequel.pk], progress=0.5, state="working"
    )
    good, wide = tmp_path / "good.png", tmp_path / "wide.png"
    good.write_bytes(image_bytes(640, 480, "PNG"))
    wide.write_bytes(image_bytes(1200, 200, "PNG"))
    film = SequenceExport.objects.create(
        created_by=me, clip_ids=[ready.pk, sequel.pk], state="ready", video=sequel.video.name, duration=2.0
    )
    return {
        "continue (last frame attached)": f"/generate/?continue={ready.pk}",
        "sequence": f"/videos/{sequel.pk}/sequence/",
        "film (in the making)": f"/films/{making.pk}/",
        "film (ready)": f"/films/{film.pk}/",
        "generate": "/generate/",
        "generate with errors": "POST",
        "generate, a batch with a refused picture": f"BATCH {good} {wide}",
        "generate, a batch picture fixed": f"BATCH-FIXED {good} {wide}",
        "gallery": "/gallery/",
        "gallery, no match": "/gallery/?q=zebra",
        "detail (ready, takes, API code)": f"/videos/{ready.pk}/",
        "generation (queued)": f"/videos/{queued.pk}/",
        "generation (generating)": f"/videos/{running.pk}/",
        "generation (saving)": f"/videos/{saving.pk}/",
        "generation (failed)": f"/videos/{failed.pk}/",
        "delete confirmation": f"/videos/{ready.pk}/delete/",
        "usage": "/usage/",
        "not found": "/videos/999999/",
        "collections": "/collections/",
        "collection": f"/collections/{lanterns.pk}/",
        "collection, select mode": f"SELECT /collections/{lanterns.pk}/",
        "collection edit": f"/collections/{lanterns.pk}/edit/",
        "collection delete": f"/collections/{lanterns.pk}/delete/",
        "gallery, select mode": "SELECT /gallery/",
        "bulk delete confirmation": "DELETE /gallery/",
        "generate from a preset": f"/generate/?preset={Preset.objects.get().pk}",
        "preset edit": f"/presets/{Preset.objects.get().pk}/edit/",
    }


@pytest.mark.parametrize(("viewport", "scheme"), VIEWS)
def test_every_page_has_no_serious_or_critical_axe_violation(
    browser: Any, live_server: Any, site, viewport, scheme
):
    context = browser.new_context(
        viewport=viewport,
        color_scheme=scheme,
        base_url=live_server.url,
        bypass_csp=True,
        reduced_motion="reduce",
    )
    page = context.new_page()
    report: dict[str, list[dict[str, Any]]] = {}
    page.goto("/sign-in/")
    report["sign-in"] = axe(page)
    sign_in(page, "alex", create=False)
    for name, path in site.items():
        if path == "POST":
            page.goto("/generate/")
            page.get_by_role("button", name="Generate").click()  # nothing filled in: errors shown
            page.wait_for_selector(".form-errors")
        elif path.startswith("BATCH"):
            page.goto("/generate/")
            page.get_by_label("Prompt", exact=True).fill("The harbour wakes up")
            page.get_by_label("First-frame image", exact=True).set_input_files(path.split(" ")[1:])
            page.get_by_role("button", name="Generate").click()
            page.wait_for_selector("#batch-pictures [data-refused]")
            if path.startswith("BATCH-FIXED "):
                page.locator("#batch-pictures .fix").first.get_by_role("button").click()
                page.wait_for_selector(
                    "#batch-pictures .batch-picture:not([data-refused]) + .batch-picture:not([data-refused])"
                )
        elif path.startswith(("SELECT ", "DELETE ")):
            page.goto(path.split(" ", 1)[1])
            page.get_by_role("button", name="Select", exact=True).click()
            page.get_by_role("button", name="Select all on this page").click()
            if path.startswith("DELETE "):
                page.get_by_role("button", name="Delete…").click()
                page.wait_for_url("**/bulk/delete/")
        else:
            page.goto(path)
        page.wait_for_load_state("networkidle")
        report[name] = axe(page)
    context.close()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    label = f"{viewport['width']}-{scheme}"
    (ARTIFACTS / f"axe-{label}.json").write_text(json.dumps(report, indent=2))
    serious = {
        page_name: [v for v in found if v["impact"] in {"serious", "critical"}]
        for page_name, found in report.items()
    }
    assert {k: v for k, v in serious.items() if v} == {}
    assert len(report) == len(site) + 1


# A form field's line in Playwright's ARIA snapshot: `- combobox "Model":` (quoted when it has a colon).
FIELD = re.compile(
    r"^\s*- '?(checkbox|combobox|listbox|radio|searchbox|slider|spinbutton|switch|textbox) \"(.*?)\""
)


def field_names(page: Any) -> list[str]:
    lines = page.locator("body").aria_snapshot().splitlines()
    return [f"{m[1]} {m[2]!r}" for m in map(FIELD.match, lines) if m]


def test_no_two_form_fields_on_a_page_share_a_name(browser: Any, live_server: Any, site):
    """A screen reader announces a field by its name: two fields called "Collection" can't be told apart.

    axe has no rule for this, so it is checked here on every page, select mode included.
    """
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    sign_in(page, "alex", create=False)
    twice: dict[str, list[str]] = {}
    pages = 0
    for name, path in site.items():
        if path.startswith("SELECT "):
            page.goto(path.split(" ", 1)[1])
            page.get_by_role("button", name="Select", exact=True).click()
            page.locator("#bulk-form").wait_for()
        elif path.startswith("/"):
            page.goto(path)
        else:
            continue
        pages += 1
        names = field_names(page)
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            twice[name] = repeated
    context.close()
    assert pages > 20 and twice == {}


def test_the_axe_harness_does_catch_a_violation(browser: Any, live_server: Any):
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    page.goto("/sign-in/")
    page.evaluate(
        "document.querySelector('main').append(Object.assign(document.createElement('img'), {src: '/static/favicon.svg'}))"
    )
    found = {v["id"]: v["impact"] for v in axe(page)}
    context.close()
    assert found.get("image-alt") == "critical"
