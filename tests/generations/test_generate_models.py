"""The Generate page per model: only its fields, its defaults, its refusals, and the last frame."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation
from playground.upstream import catalogue
from tests import factories
from tests.factories import image_bytes
from tests.generations.test_generate_view import form_data, upload

pytestmark = pytest.mark.django_db
URL = reverse("generate")
CHECK = reverse("check_frame")


def fieldset(html: str, option: str) -> str:
    match = re.search(rf'<fieldset class="field" data-option="{option}"[^>]*>', html)
    assert match, option
    return match.group(0)


def errors(response: Any) -> dict[str, list[str]]:
    form = response.context["form"]
    return {name: [str(e) for e in errs] for name, errs in form.errors.items()}


# --- What the page shows -------------------------------------------------------------------------
def test_the_page_carries_the_catalogue_and_hides_fields_the_default_model_does_not_take(signed_in: Client):
    html = signed_in.get(URL).content.decode()
    data = json.loads(
        re.search(r'<script id="model-catalogue" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert [model["id"] for model in data] == list(catalogue.IDS)
    for option in ("resolution", "duration", "last_frame"):
        assert "hidden disabled" in fieldset(html, option)
    assert "Optional for video-01: without one" in html
    assert "A render with video-01 usually takes under a minute for 6 s" in html
    for model in catalogue.MODELS:
        assert model.description in html


def test_a_remix_of_a_hailuo_02_video_keeps_every_field(signed_in: Client, user, png):
    source = factories.generation(
        created_by=user,
        model="minimax/hailuo-02",
        prompt="A kite over the dunes",
        first_frame="first-frames/a.png",
        end_frame="first-frames/b.png",
        resolution="1080P",
        duration_seconds=6,
    )
    html = signed_in.get(URL, {"remix": source.pk}).content.decode()
    for option in ("resolution", "duration", "last_frame"):
        assert "hidden" not in fieldset(html, option)
    assert re.search(r'<input type="radio" name="model" value="minimax/hailuo-02"[^>]*checked', html)
    assert re.search(r'<input type="radio" name="resolution" value="1080P"[^>]*checked', html)
    assert re.search(r'<input type="radio" name="duration_seconds" value="6"[^>]*checked', html)
    assert f'name="reuse_last_frame" value="{source.pk}"' in html
    assert "A render with minimax/hailuo-02 usually takes 4–5 minutes for 6 s" in html


def test_a_new_hailuo_page_starts_on_the_models_defaults(signed_in: Client, user):
    source = factories.generation(created_by=user, model="minimax/hailuo-2.3", prompt="x")
    html = signed_in.get(URL, {"remix": source.pk}).content.decode()
    assert re.search(r'<input type="radio" name="resolution" value="768P"[^>]*checked', html)
    assert re.search(r'<input type="radio" name="duration_seconds" value="6"[^>]*checked', html)
    assert "hidden disabled" in fieldset(html, "last_frame")


# --- What a submit saves -------------------------------------------------------------------------
def test_hailuo_02_with_both_frames_a_resolution_and_a_length_is_saved(signed_in: Client):
    response = signed_in.post(
        URL,
        form_data(
            model="minimax/hailuo-02",
            resolution="1080P",
            duration_seconds="6",
            first_frame=upload(image_bytes(640, 360)),
            last_frame=upload(image_bytes(800, 450, "JPEG"), "last.jpg", "image/jpeg"),
        ),
    )
    assert response.status_code == 302, errors(response) if response.status_code == 200 else response
    gen = Generation.objects.get()
    assert (gen.model, gen.resolution, gen.duration_seconds) == ("minimax/hailuo-02", "1080P", 6)
    assert gen.first_frame and gen.end_frame.name.endswith(".jpg")
    assert (gen.end_frame_width, gen.end_frame_height) == (800, 450)
    assert len(gen.end_frame_sha256) == 64


def test_options_left_out_are_stored_as_the_models_defaults(signed_in: Client):
    signed_in.post(URL, form_data(model="minimax/hailuo-2.3"))
    gen = Generation.objects.get()
    assert (gen.resolution, gen.duration_seconds, gen.end_frame.name) == ("768P", 6, "")


def test_the_two_seed_models_store_no_options(signed_in: Client, png):
    signed_in.post(URL, form_data())
    signed_in.post(URL, form_data(model="video-01-live2d", first_frame=upload(png)))
    assert list(Generation.objects.values_list("resolution", "duration_seconds")) == [("", None), ("", None)]


# --- Forged requests are refused with sentences ------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"model": "video-01", "resolution": "1080P"},
            "__all__",
            "video-01 makes 720P videos only; it takes no resolution.",
        ),
        ({"model": "video-01-live2d", "duration_seconds": "10"}, "__all__", "it takes no length."),
        (
            {"model": "minimax/hailuo-2.3-fast"},
            "first_frame",
            "minimax/hailuo-2.3-fast needs a first-frame image",
        ),
        (
            {"model": "minimax/hailuo-02", "resolution": "1080P", "duration_seconds": "10"},
            "duration_seconds",
            "at 1080P the longest is 6 s.",
        ),
        ({"model": "minimax/hailuo-2.3", "resolution": "4K"}, "resolution", "Select a valid choice."),
    ],
)
def test_a_field_the_model_does_not_take_is_refused(signed_in: Client, fields, field, words):
    response = signed_in.post(URL, form_data(**fields))
    assert response.status_code == 200
    assert any(words in message for message in errors(response)[field]), errors(response)
    assert Generation.objects.count() == 0


def test_a_last_frame_for_a_model_without_one_is_refused(signed_in: Client, png):
    response = signed_in.post(URL, form_data(model="video-01", last_frame=upload(png)))
    assert errors(response)["__all__"] == [
        "video-01 takes no last-frame image. Remove it, or choose minimax/hailuo-02, minimax/h3 or minimax/h3-max."
    ]
    assert Generation.objects.count() == 0


def test_a_last_frame_without_a_first_frame_is_refused(signed_in: Client, png):
    response = signed_in.post(URL, form_data(model="minimax/hailuo-02", last_frame=upload(png)))
    assert errors(response)["last_frame"] == [
        "A last-frame image needs a first-frame image too with minimax/hailuo-02: add a first frame, "
        "or remove the last frame."
    ]
    assert "Your prompt and choices are kept" in response.content.decode()


# --- The last frame gets the first frame's checks and fixes ---------------------------------------
def test_a_last_frame_that_breaks_a_rule_is_refused_in_the_same_words_with_fixes(signed_in: Client, png):
    response = signed_in.post(
        URL,
        form_data(
            model="minimax/hailuo-02", first_frame=upload(png), last_frame=upload(image_bytes(1200, 200))
        ),
    )
    assert any("This image is 1200×200: too wide" in m for m in errors(response)["last_frame"])
    html = response.content.decode()
    assert 'name="apply_last_fix"' in html and 'hx-target="#last-fix-area"' in html
    assert Generation.objects.count() == 0


def test_a_fixed_last_frame_is_chosen_and_used(signed_in: Client, png):
    refused = signed_in.post(
        URL,
        form_data(
            model="minimax/hailuo-02", first_frame=upload(png), last_frame=upload(image_bytes(1200, 200))
        ),
    ).content.decode()
    value = re.search(r'name="apply_last_fix" value="([0-9a-f]{32}:borders)"', refused).group(1)
    chosen = signed_in.post(
        reverse("apply_fix"), {"apply_last_fix": value}, headers={"HX-Request": "true"}
    ).content.decode()
    assert f'name="staged_last_frame" value="{value}"' in chosen
    assert "This picture will be the last frame" in chosen
    made = signed_in.post(
        URL, form_data(model="minimax/hailuo-02", first_frame=upload(png), staged_last_frame=value)
    )
    assert made.status_code == 302
    gen = Generation.objects.get()
    assert gen.end_frame and gen.end_frame_width and gen.end_frame_height
    assert gen.end_frame_width / gen.end_frame_height < 2.5


def test_the_check_endpoint_checks_a_last_frame_into_its_own_area(signed_in: Client):
    html = signed_in.post(CHECK, {"last_frame": upload(image_bytes(1200, 200))}).content.decode()
    assert "too wide" in html
    assert 'name="apply_last_fix"' in html and 'name="apply_fix"' not in html


def test_a_remixed_last_frame_is_checked_again_and_reused(signed_in: Client, user, png):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    first = default_storage.save("first-frames/first.png", ContentFile(png))
    last = default_storage.save("first-frames/last.png", ContentFile(image_bytes(640, 360)))
    source = factories.generation(
        created_by=user, model="minimax/hailuo-02", prompt="x", first_frame=first, end_frame=last
    )
    signed_in.post(
        URL, form_data(model="minimax/hailuo-02", reuse_first_frame=source.pk, reuse_last_frame=source.pk)
    )
    gen = Generation.objects.exclude(pk=source.pk).get()
    assert gen.end_frame and (gen.end_frame_width, gen.end_frame_height) == (640, 360)


# --- The gallery filter reads the catalogue too ---------------------------------------------------
def test_the_gallery_filter_offers_every_model_and_filters_by_it(signed_in: Client, user):
    factories.generation(created_by=user, model="minimax/hailuo-02", prompt="A hailuo kite", state="ready")
    factories.generation(created_by=user, model="video-01", prompt="A plain fox", state="ready")
    html = signed_in.get(reverse("gallery")).content.decode()
    for model in catalogue.IDS:
        assert f'<option value="{model}"' in html
    filtered = signed_in.get(reverse("gallery"), {"model": "minimax/hailuo-02"}).content.decode()
    assert "A hailuo kite" in filtered and "A plain fox" not in filtered
