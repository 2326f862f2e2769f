"""The Generate page with MiniMax H3: a length from a range, an aspect ratio, a longer prompt,
and the sentences a hand-made request gets for what H3 (or another model) does not take."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation
from playground.money import budgets
from tests import factories
from tests.factories import image_bytes
from tests.generations.test_generate_models import errors, fieldset
from tests.generations.test_generate_view import form_data, upload

pytestmark = pytest.mark.django_db
URL = reverse("generate")


def h3(**fields: object) -> dict[str, object]:
    return form_data(model="minimax/h3", **fields)


def test_h3_at_16_9_and_10_seconds_is_saved_with_its_ratio_and_no_enhance_switch(signed_in: Client):
    response = signed_in.post(URL, h3(ratio="16:9", duration_seconds="10"))
    assert response.status_code == 302, errors(response) if response.status_code == 200 else response
    gen = Generation.objects.get()
    assert (gen.model, gen.ratio, gen.duration_seconds, gen.resolution) == ("minimax/h3", "16:9", 10, "")
    # H3's schema has no enhance switch: the row says it was off, whatever the box sent.
    assert gen.enhance_prompt is False
    page = signed_in.get(gen.get_absolute_url()).content.decode()
    assert re.search(r"<dt>Aspect ratio</dt><dd>16:9</dd>", page)


def test_the_default_ratio_is_adaptive_with_a_picture_and_16_9_from_a_prompt_alone(signed_in: Client):
    signed_in.post(URL, h3())
    signed_in.post(URL, h3(first_frame=upload(image_bytes(640, 360))))
    assert list(Generation.objects.order_by("id").values_list("ratio", "duration_seconds")) == [
        ("16:9", 6),
        ("adaptive", 6),
    ]


def test_a_prompt_longer_than_2000_characters_is_fine_for_h3_and_refused_for_video_01(signed_in: Client):
    long = ("A lighthouse at dusk. " * 150).strip()  # 3,299 characters
    response = signed_in.post(URL, form_data(prompt=long))
    assert response.status_code == 200
    assert errors(response)["prompt"] == [
        f"video-01 takes a prompt of at most 2,000 characters; this one is {len(long):,}."
    ]
    # Nothing chosen is lost: the prompt comes back whole.
    assert long.strip() in response.content.decode()
    assert Generation.objects.count() == 0
    response = signed_in.post(URL, h3(prompt=long))
    assert response.status_code == 302
    assert Generation.objects.get().prompt == long


def test_a_prompt_over_h3s_own_limit_is_refused(signed_in: Client):
    response = signed_in.post(URL, h3(prompt="x" * 7001))
    assert response.status_code == 200
    assert any("at most 7,000 characters" in e for e in errors(response)["prompt"]), errors(response)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"model": "minimax/h3", "duration_seconds": "16"},
            "duration_seconds",
            "minimax/h3 makes videos of 4 to 15 s, in whole seconds, not 16 s.",
        ),
        (
            {"model": "minimax/h3-max", "duration_seconds": "4"},
            "duration_seconds",
            "minimax/h3-max makes videos of 5 to 15 s, in whole seconds, not 4 s.",
        ),
        (
            {"model": "minimax/hailuo-02", "duration_seconds": "8"},
            "duration_seconds",
            "minimax/hailuo-02 makes videos of 6 s or 10 s, not 8 s.",
        ),
        (
            {"model": "minimax/h3", "ratio": "5:4"},
            "ratio",
            "minimax/h3 makes videos at adaptive, 21:9, 16:9, 4:3, 1:1, 3:4 or 9:16, not '5:4'.",
        ),
        (
            {"model": "minimax/h3", "ratio": "adaptive"},
            "ratio",
            "minimax/h3 can't make 'adaptive' from a prompt alone: it follows the pictures.",
        ),
        ({"model": "minimax/h3-max", "ratio": "16:9"}, "__all__", "minimax/h3-max takes no aspect ratio"),
        ({"model": "video-01", "ratio": "1:1"}, "__all__", "video-01 takes no aspect ratio; remove '1:1'."),
        ({"model": "minimax/h3", "duration_seconds": "ten"}, "duration_seconds", "Enter a whole number."),
    ],
)
def test_a_hand_made_ratio_or_length_is_refused_with_the_models_numbers(
    signed_in: Client, fields, field, words
):
    response = signed_in.post(URL, form_data(**fields))
    assert response.status_code == 200
    assert any(words in message for message in errors(response).get(field, [])), errors(response)
    assert Generation.objects.count() == 0
    # The choices come back as they were sent.
    form = response.context["form"]
    assert form["model"].value() == fields["model"]


def test_the_page_shows_the_range_and_the_ratio_for_h3_and_radios_for_hailuo(signed_in: Client, user):
    source = factories.generation(
        created_by=user, model="minimax/h3", prompt="x", duration_seconds=12, ratio="21:9"
    )
    html = signed_in.get(URL, {"remix": source.pk}).content.decode()
    assert "hidden" not in fieldset(html, "ratio")
    assert re.search(r'<option value="21:9" selected>', html)
    assert re.search(r'type="range" name="duration_seconds"[^>]*min="4" max="15" step="1" value="12"', html)
    assert "hidden disabled" in fieldset(html, "duration")
    assert "hidden" not in fieldset(html, "duration_range")
    assert re.search(r'data-option="enhance" hidden disabled', html)
    assert 'data-max="7000"' in html
    data = json.loads(
        re.search(r'<script id="model-catalogue" type="application/json">(.*?)</script>', html, re.S).group(1)
    )
    assert {m["id"]: m["length_range"] for m in data}["minimax/h3"] == [4, 15, 1]
    html = signed_in.get(URL).content.decode()
    assert "hidden disabled" in fieldset(html, "duration_range")
    # A list model's page writes no value on the hidden slider (the script sets it).
    assert re.search(r'type="range" name="duration_seconds"[^>]*step="1" aria-describedby', html)
    assert 'data-max="2000"' in html


def test_the_estimate_follows_the_length_and_learns_from_real_costs(signed_in: Client, user):
    assert budgets.estimate("minimax/h3", 10) == Decimal("0.80")
    assert budgets.estimate("minimax/h3", 4) == Decimal("0.32")
    assert budgets.estimate("minimax/hailuo-02", 10) == budgets.estimate("minimax/hailuo-02")
    # Two real jobs at $0.10 a second: the estimate is learned from them, per second.
    factories.generation(created_by=user, model="minimax/h3", duration_seconds=10, usd_spent=Decimal("1.00"))
    factories.generation(created_by=user, model="minimax/h3", duration_seconds=5, usd_spent=Decimal("0.50"))
    assert budgets.estimate("minimax/h3", 15) == Decimal("1.50")
    plan = signed_in.get(
        reverse("generate_plan"), {"model": "minimax/h3", "duration_seconds": "12", "takes": "2"}
    ).content.decode()
    assert "2 videos · about $2.40" in plan
    page = signed_in.get(URL).content.decode()
    assert "about $0.10 a second (an estimate)" in page
