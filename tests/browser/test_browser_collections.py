"""Chromium journeys: collections, select mode and bulk actions, the zip download, presets."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.gallery.collections import add_videos, videos_in_order
from playground.gallery.models import Collection, Star
from playground.generations.models import Generation, Preset
from tests import factories
from tests.browser.test_browser_gallery import clip, ready  # noqa: F401 - the module's real MP4
from tests.browser_fixtures import sign_in, wait_until
from tests.conftest import PASSWORD
from tests.factories import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def card_order(page: Any) -> list[int]:
    return [
        int(i)
        for i in page.eval_on_selector_all(".card-grid .card-item", "els => els.map(e => e.id.slice(5))")
    ]


def message(page: Any) -> str:
    return str(page.locator(".messages").inner_text()).strip()


def start_selecting(page: Any) -> None:
    page.get_by_role("button", name="Select", exact=True).click()
    page.locator("#bulk-form").wait_for()


def test_a_collection_is_made_filled_from_a_selection_reordered_and_filtered(page: Any, clip):  # noqa: F811
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    fox = ready(alice, "A red fox in the snow", clip)
    boat = ready(alice, "A paper boat in the rain", clip)
    kite = ready(alice, "A kite over green hills", clip)
    ready(alice, "Not in the collection", clip)

    page.goto("/collections/")
    page.get_by_label("Name").fill("Harbour")
    page.get_by_role("button", name="Make collection").click()
    page.wait_for_url(re.compile(r"/collections/\d+/$"))
    harbour = Collection.objects.get()
    assert "This collection is empty." in page.inner_text("main")

    # Select three cards in the gallery: two by keyboard (Space on a focused box), one by pointer.
    page.goto("/gallery/")
    start_selecting(page)
    page.locator(f"#select-{kite.pk}").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.locator(f"#select-{boat.pk}").focus()
    page.keyboard.press("Space")
    page.locator(f"label[for=select-{fox.pk}]").click()
    assert page.inner_text("#selected-count") == "3 videos selected"
    page.get_by_label("Collection for the selected videos").select_option(label="Harbour")
    page.get_by_role("button", name="Add to collection", exact=True).click()
    page.wait_for_url("**/gallery/")
    assert message(page) == "Added 3 videos to the end of “Harbour”."
    assert list(videos_in_order(harbour).values_list("pk", flat=True)) == [kite.pk, boat.pk, fox.pk]

    # Reorder by keyboard: Enter on "Later" moves the card, and focus stays on its button.
    page.goto(f"/collections/{harbour.pk}/")
    assert card_order(page) == [kite.pk, boat.pk, fox.pk]
    page.locator(f"#card-{kite.pk} button[value=later]").focus()
    page.keyboard.press("Enter")
    wait_until(page, f"() => document.querySelector('.card-grid .card-item').id === 'card-{boat.pk}'")
    assert wait_until(page, "() => document.activeElement.value === 'later'")
    assert page.evaluate("document.activeElement.closest('.card-item').id") == f"card-{kite.pk}"
    page.keyboard.press("Enter")
    wait_until(
        page, f"() => document.querySelector('.card-grid .card-item:last-child').id === 'card-{kite.pk}'"
    )
    assert list(videos_in_order(harbour).values_list("pk", flat=True)) == [boat.pk, fox.pk, kite.pk]
    assert "Moved to place 3 of 3." in page.inner_text("#results")

    # Drag with the pointer: the last card dropped on the first goes before it.
    page.locator(f"#card-{kite.pk}").drag_to(page.locator(f"#card-{boat.pk}"))
    wait_until(page, f"() => document.querySelector('.card-grid .card-item').id === 'card-{kite.pk}'")
    assert list(videos_in_order(harbour).values_list("pk", flat=True)) == [kite.pk, boat.pk, fox.pk]
    # Dragged down, a card lands after the one it is dropped on.
    page.locator(f"#card-{kite.pk}").drag_to(page.locator(f"#card-{boat.pk}"))
    wait_until(page, f"() => document.querySelector('.card-grid .card-item').id === 'card-{boat.pk}'")
    assert list(videos_in_order(harbour).values_list("pk", flat=True)) == [boat.pk, kite.pk, fox.pk]

    # The gallery's filters inside the collection, and the Collection filter in the gallery.
    page.get_by_label("Search prompts").fill("boat")
    wait_until(page, "() => document.querySelectorAll('.card-grid .card-item').length === 1")
    assert card_order(page) == [boat.pk]
    page.goto("/gallery/")
    assert len(card_order(page)) == 4
    page.locator("#filters").get_by_label("Collection").select_option(label="Harbour")
    page.wait_for_url(re.compile(rf"collection={harbour.pk}"))
    wait_until(page, "() => document.querySelectorAll('.card-grid .card-item').length === 3")
    assert set(card_order(page)) == {kite.pk, boat.pk, fox.pk}

    # The video page says which collections hold it.
    page.goto(f"/videos/{fox.pk}/")
    assert "Harbour" in page.locator(".in-collections").inner_text()


def test_a_selection_joins_the_end_of_a_collection_in_the_order_it_was_ticked(page: Any, clip):  # noqa: F811
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    fox, boat, kite, owl = (
        ready(alice, prompt, clip) for prompt in ("A red fox", "A paper boat", "A kite", "An owl")
    )
    harbour = Collection.objects.create(name="Harbour", created_by=alice)
    add_videos(harbour, [boat.pk], alice)

    # Shown newest first (owl, kite, boat, fox); ticked fox, kite, then all the rest.
    page.goto("/gallery/")
    assert card_order(page) == [owl.pk, kite.pk, boat.pk, fox.pk]
    start_selecting(page)
    page.locator(f"label[for=select-{fox.pk}]").click()
    page.locator(f"#select-{owl.pk}").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Space")  # ticked and unticked again: it keeps no place
    page.locator(f"label[for=select-{kite.pk}]").click()
    page.get_by_role("button", name="Select all on this page").click()
    assert page.inner_text("#selected-count") == "4 videos selected"
    page.get_by_role("button", name="Add to collection", exact=True).click()
    page.wait_for_url("**/gallery/")
    assert message(page) == "Added 3 videos to the end of “Harbour”; 1 was already in it."
    assert list(videos_in_order(harbour).values_list("pk", flat=True)) == [boat.pk, fox.pk, kite.pk, owl.pk]

    # The message says where they went and leads there.
    page.locator(".messages").get_by_role("link", name="“Harbour”").click()
    page.wait_for_url(f"**/collections/{harbour.pk}/")
    assert card_order(page) == [boat.pk, fox.pk, kite.pk, owl.pk]


def test_bulk_star_and_delete_with_rights_enforced(page: Any, clip):  # noqa: F811
    bob = get_user_model().objects.create_user("bob", password=PASSWORD)
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    mine = [ready(alice, f"My clip {i}", clip) for i in range(2)]
    bobs = ready(bob, "Bob's clip", clip)
    Star.objects.create(user=alice, generation=mine[0])

    page.goto("/gallery/")
    start_selecting(page)
    page.get_by_role("button", name="Select all on this page").click()
    assert page.inner_text("#selected-count") == "3 videos selected"
    page.get_by_role("button", name="Star", exact=True).click()
    page.wait_for_url("**/gallery/")
    assert message(page) == "Starred 2 videos; 1 was already starred."
    assert Star.objects.filter(user=alice).count() == 3

    start_selecting(page)
    page.get_by_role("button", name="Select all on this page").click()
    page.get_by_role("button", name="Delete…").click()
    page.wait_for_url("**/bulk/delete/")
    text = page.inner_text("main")
    assert "Delete 2 videos?" in text
    assert "Of these, 2 are yours." in text
    assert "1 selected video (1 by bob) will be kept" in text
    page.get_by_role("button", name="Delete 2 videos").click()
    page.wait_for_url("**/gallery/")
    assert message(page) == "Deleted 2 videos (2 yours)."
    assert list(Generation.objects.values_list("pk", flat=True)) == [bobs.pk]

    # A forged request for bob's video, with a valid session and CSRF token, is refused.
    token = page.locator("#bulk-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    forged = page.request.post(
        "/bulk/delete/", form={"csrfmiddlewaretoken": token, "ids": str(bobs.pk), "confirm": "yes"}
    )
    assert forged.status == 403
    assert Generation.objects.filter(pk=bobs.pk).exists()


def test_the_zip_is_downloaded_and_opens_with_the_right_names_and_index(page: Any, clip, tmp_path: Path):  # noqa: F811
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    rows = [ready(alice, "A lantern over a lake", clip) for _ in range(2)]
    ready(alice, "A tram at night", clip)
    page.goto("/gallery/?q=lantern")
    start_selecting(page)
    page.get_by_role("button", name="Select all on this page").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download as zip").click()
    download = info.value
    assert re.fullmatch(r"videos_\d{4}-\d\d-\d\d_2\.zip", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None
        base = rows[0].download_name
        assert sorted(archive.namelist()) == sorted([base, base.replace(".mp4", " (2).mp4"), "index.csv"])
        assert archive.read(base) == clip["video"]
        index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
    assert {r["prompt"] for r in index} == {"A lantern over a lake"}
    assert {r["maker"] for r in index} == {"alice"}
    assert {int(r["video"]) for r in index} == {g.pk for g in rows}


def test_a_preset_is_saved_and_used_with_its_first_frame(page: Any, clip):  # noqa: F811
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    source = ready(alice, "A lighthouse at dusk", clip, image_bytes(640, 480, "PNG"))

    page.goto(f"/generate/?remix={source.pk}")
    page.get_by_label("Prompt", exact=True).fill("A lighthouse at dusk, gulls circling")
    page.get_by_text("Save as preset", exact=True).first.click()
    page.get_by_label("Preset name").fill("Lighthouse")
    page.get_by_label("Preset name").press("Enter")  # saves the preset; it must not press Generate
    page.wait_for_url(re.compile(r"/generate/\?preset=\d+"))
    assert "Saved the preset “Lighthouse” for the team." in message(page)
    preset = Preset.objects.get()
    assert preset.first_frame_from == source
    assert Generation.objects.count() == 1

    # With a freshly chosen file, the preset keeps the words and says so; the file is not sent.
    page.goto("/generate/")
    page.get_by_label("Prompt", exact=True).fill("A new idea")
    page.set_input_files(
        "#id_first_frame",
        files=[{"name": "new.png", "mimeType": "image/png", "buffer": image_bytes(640, 480, "PNG")}],
    )
    page.get_by_text("Save as preset", exact=True).first.click()
    page.get_by_label("Preset name").fill("New idea")
    page.get_by_role("button", name="Save as preset").click()
    page.wait_for_url(re.compile(r"/generate/\?preset=\d+"))
    assert "It keeps the words but not the picture you chose" in message(page)
    assert Preset.objects.get(name="New idea").first_frame_from is None

    # Another member opens Generate and fills the form in one click.
    page.context.clear_cookies()
    sign_in(page, "bob")
    page.get_by_role("link", name="Use “Lighthouse”").click()
    page.wait_for_url(re.compile(r"preset="))
    assert page.get_by_label("Prompt", exact=True).input_value() == "A lighthouse at dusk, gulls circling"
    assert page.get_by_label("video-01-live2d").is_checked()
    assert f"Using the first frame of video #{source.pk}" in page.inner_text("main")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"))
    made = Generation.objects.exclude(pk=source.pk).get()
    assert made.created_by.username == "bob"
    assert made.first_frame_sha256 == source.first_frame_sha256


def test_select_mode_works_without_javascript(browser: Any, live_server: Any, clip):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    gen = ready(alice, "A quiet clip", clip)
    page.goto("/gallery/?model=video-01")
    assert not page.locator(f"#select-{gen.pk}").is_visible()
    page.get_by_role("button", name="Select", exact=True).click()
    page.wait_for_url("**/gallery/?model=video-01&select=1")
    page.locator(f"#select-{gen.pk}").check()
    page.get_by_role("button", name="Star", exact=True).click()
    page.wait_for_url("**/gallery/?model=video-01&select=1")
    assert message(page) == "Starred 1 video."
    assert Star.objects.filter(user=alice, generation=gen).exists()
    context.close()


def test_a_checked_card_still_being_made_stays_checked_while_it_refreshes(page: Any, clip):  # noqa: F811
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    busy = factories.generation(created_by=alice, model="video-01", prompt="Busy", state="running")
    page.goto("/gallery/")
    start_selecting(page)
    page.locator(f"#select-{busy.pk}").check()
    page.evaluate(f"document.getElementById('card-{busy.pk}').dataset.before = '1'")
    # The card polls every 3 s: wait for a fresh copy to replace it.
    wait_until(page, f"() => !document.getElementById('card-{busy.pk}').dataset.before", timeout=10)
    # The fresh card is in at once; select.js ticks its box again when htmx settles it, ~20 ms on.
    wait_until(page, f"() => document.getElementById('select-{busy.pk}').checked", timeout=2)
    assert page.inner_text("#selected-count") == "1 video selected"
