"""Chromium: a batch of takes through to ready videos, and cancelling takes that are still waiting."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.generations.models import Generation, State
from playground.worker.loop import Worker
from tests.browser_fixtures import sign_in, wait_until
from tests.factories import generation, image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_cancelling_waiting_takes_sends_nothing_and_counts_nothing(
    page: Any, upstream: Any, settings: Any
) -> None:
    settings.MONTHLY_GENERATION_CAP = 10
    sign_in(page)
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk")
    page.get_by_label("Takes", exact=True).fill("3")
    wait_until(page, "document.querySelector('#plan').textContent.includes('3 of your 10 left')")
    assert page.locator("#plan").inner_text().startswith("3 videos · about $")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    assert page.locator(".batch-take").count() == 3

    page.locator(".batch-take").first.get_by_role("button", name="Cancel").click()
    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    assert "Nothing was sent and nothing was charged" in page.locator(".messages").inner_text()
    assert page.locator(".batch-take.state-cancelled").count() == 1

    page.get_by_role("link", name="Queue").click()
    assert page.locator("#waiting-heading").inner_text() == "Waiting (2)"
    page.get_by_role("button", name=re.compile("Cancel all my waiting jobs")).click()
    assert "Cancelled 2 waiting jobs" in page.locator(".messages").inner_text()
    assert set(Generation.objects.values_list("state", flat=True)) == {State.CANCELLED}

    worker = Worker(client=upstream.client(), threads=2, name="after-cancel")
    worker.run_until_idle(timeout=3)
    assert not [c for c in upstream.app.calls if c.endpoint == "create"]
    page.goto("/generate/")
    assert "10 of 10" in page.locator(".allowance").inner_text()
    page.goto("/gallery/?state=cancelled")
    assert page.locator(".card-item").count() == 3


def test_a_two_picture_two_take_batch_becomes_four_ready_videos(
    page: Any, running_worker: Worker, tmp_path: Path
) -> None:
    sign_in(page)
    pictures = []
    for i, (w, h) in enumerate([(640, 480), (480, 640)]):
        path = tmp_path / f"frame{i}.png"
        path.write_bytes(image_bytes(w, h, "PNG"))
        pictures.append(str(path))
    page.get_by_label("Prompt", exact=True).fill("The picture comes to life")
    page.get_by_label("First-frame image", exact=True).set_input_files(pictures)
    page.get_by_label("Takes", exact=True).fill("2")
    wait_until(page, "document.querySelector('#plan').textContent.startsWith('4 videos')")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    assert page.locator(".batch-take").count() == 4

    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/batches/" in r.url else None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and page.locator(".batch-take.state-ready video").count() < 4:
        time.sleep(0.3)
    assert page.locator(".batch-take.state-ready video").count() == 4
    # One request per interval for the whole batch, never one per take.
    assert polls and len(polls) <= (60 / 2) + 2
    sizes = {(g.first_frame_width, g.first_frame_height) for g in Generation.objects.all()}
    assert sizes == {(640, 480), (480, 640)}
    ready = page.evaluate(
        """async () => Promise.all(Array.from(document.querySelectorAll('video.take')).map(async v => {
            v.muted = true; await v.play(); v.pause(); return v.readyState; }))"""
    )
    assert all(state >= 2 for state in ready)


def test_a_refused_picture_of_a_batch_is_fixed_in_place_and_the_batch_is_made(
    page: Any, tmp_path: Path
) -> None:
    from django.core.files.storage import default_storage

    from playground.generations.models import Batch

    sign_in(page)
    pictures = []
    for name, data in [
        ("good.png", image_bytes(640, 480, "PNG")),
        ("wide.png", image_bytes(1200, 200, "PNG")),
        ("notes.png", b"just some text"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        pictures.append(str(path))
    page.get_by_label("Prompt", exact=True).fill("The harbour wakes up")
    page.get_by_label("First-frame image", exact=True).set_input_files(pictures)
    page.get_by_label("Takes", exact=True).fill("2")
    wait_until(page, "document.querySelector('#plan').textContent.startsWith('6 videos')")
    # Before anything is sent, the page lists each picture with its own verdict, and leaves
    # Generate on: the server offers the fixes.
    picked = page.locator("#client-check .picked-list > li")
    wait_until(page, "document.querySelectorAll('#client-check .picked-list > li').length === 3")
    assert (
        "Picture 1 (good.png)" in picked.nth(0).inner_text()
        and "meets the rules" in picked.nth(0).inner_text()
    )
    assert "This image is 1200×200: too wide." in picked.nth(1).inner_text()
    assert "This file is not a JPEG or PNG image." in picked.nth(2).inner_text()
    assert "2 pictures break a rule" in page.locator("#client-check").inner_text()
    assert page.locator("#generate-button").get_attribute("aria-disabled") == "false"
    page.get_by_role("button", name="Generate").click()

    # The page comes back with the three pictures, the prompt and the takes; nothing was made.
    batch = page.locator("#batch-pictures")
    batch.wait_for()
    assert batch.locator(".batch-picture").count() == 3
    assert batch.locator("[data-refused]").count() == 2
    assert page.get_by_label("Prompt", exact=True).input_value() == "The harbour wakes up"
    assert page.get_by_label("Takes", exact=True).input_value() == "2"
    assert "6 videos" in page.locator("#plan").inner_text()
    assert page.locator("#generate-button").get_attribute("aria-disabled") == "true"
    assert page.locator("#form-errors").is_visible()  # "Please fix the highlighted field."
    assert Generation.objects.count() == 0
    wide = batch.locator(".batch-picture").filter(has_text="wide.png")
    previews = wide.locator(".fix img")
    assert previews.count() == 2
    previews.first.scroll_into_view_if_needed()
    wait_until(
        page,
        "Array.from(document.querySelectorAll('#batch-pictures .fix img')).every(i => i.complete && i.naturalWidth > 0)",
    )

    # Remove the picture no fix can mend: the list comes back without it.
    batch.get_by_role("button", name="Remove Picture 3 (notes.png)").click()
    wait_until(page, "document.querySelectorAll('#batch-pictures .batch-picture').length === 2")
    wait_until(page, "document.activeElement.id === 'batch-heading'")  # focus stays in the list
    wait_until(page, "document.querySelector('#plan').textContent.startsWith('4 videos')")

    # Choose a fix for the too-wide one, in place.
    page.locator("#batch-pictures .fix").filter(has_text="Crop to fit").get_by_role("button").click()
    fixed = page.locator("#batch-pictures .batch-picture").filter(has_text="Fixed with “Crop to fit”")
    fixed.wait_for()
    assert page.locator("#batch-pictures [data-refused]").count() == 0
    wait_until(page, "document.activeElement.textContent.trim().startsWith('Picture 2 (wide.png)')")
    wait_until(page, "document.querySelector('#generate-button').getAttribute('aria-disabled') === 'false'")
    assert page.locator("#form-errors").is_hidden()  # nothing is highlighted any more

    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/batches/\d+/$"))
    assert page.locator(".batch-take").count() == 4
    made = Batch.objects.get()
    assert made.pictures == 2
    sizes = sorted({(g.first_frame_width, g.first_frame_height) for g in made.takes.all()})
    assert (640, 480) in sizes and len(sizes) == 2
    frames = {default_storage.open(g.first_frame.name).read() for g in made.takes.all()}
    assert image_bytes(1200, 200, "PNG") not in frames and len(frames) == 2


def test_the_queue_reads_as_one_block_per_job_on_a_phone(browser: Any, live_server: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=live_server.url, is_mobile=True
    )
    page = context.new_page()
    sign_in(page, "erin")
    erin = get_user_model().objects.get(username="erin")
    for i in range(3):
        generation(created_by=erin, prompt=f"A long prompt about a lighthouse in a storm, take {i}")
    page.goto("/queue/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the queue scrolls sideways"
    row = page.locator("#waiting-heading ~ .table-scroll tbody tr").first
    # Each value carries its column's name, and has the row's width rather than a squeezed column.
    who = row.locator('td[data-label="Who"]')
    assert (
        page.evaluate("(td) => getComputedStyle(td, '::before').content", who.element_handle()) == '"Who: "'
    )
    assert who.bounding_box()["width"] > 250
    assert "erin" in who.inner_text()
    context.close()
