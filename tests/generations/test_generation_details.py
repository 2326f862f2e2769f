"""The Details list of a video's page names exactly the options its model takes (the catalogue's)."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from playground.upstream import catalogue
from tests.factories import generation

# The page's words for each option that has a line of its own; the frames are pictures below the
# list, and every kind of reference shares the one "References" line.
PAGE_LABELS = {
    "enhance": "Enhance prompt",
    "resolution": "Resolution",
    "duration": "Length asked for",
    "ratio": "Aspect ratio",
    "reference_images": "References",
    "reference_videos": "References",
    "reference_audios": "References",
}
PICTURED = {"first_frame", "last_frame"}
# Lines every video has, whatever its model.
ALWAYS = ["Model", "Prompt", "Made by", "Started"]


def detail_labels(html: str) -> list[str]:
    card = re.search(r'<aside class="request-card">(.*?)</aside>', html, re.S)
    assert card, "no details card"
    return [re.sub(r"<[^>]+>", "", dt).strip() for dt in re.findall(r"<dt>(.*?)</dt>", card.group(1), re.S)]


def test_every_option_of_the_catalogue_has_a_place_on_the_page():
    # So a new option is decided on here, rather than silently missing from the page.
    options = {option for model in catalogue.MODELS for option in model.options}
    assert options <= set(PAGE_LABELS) | PICTURED


@pytest.mark.parametrize("model", catalogue.MODELS, ids=lambda m: m.id)
def test_a_video_page_lists_exactly_the_options_of_its_model(signed_in: Client, user, model):
    gen = generation(user, model=model.id, prompt="A lighthouse in a storm")
    labels = detail_labels(signed_in.get(reverse("generation", args=[gen.pk])).content.decode())
    wanted = {PAGE_LABELS[option] for option in model.options if option in PAGE_LABELS}
    extra = [label for label in labels if label not in ALWAYS]
    assert sorted(extra) == sorted(wanted), model.id
    assert [label for label in labels if label in ALWAYS] == ALWAYS


def test_h3_has_no_enhance_line_and_hailuo_has_one(signed_in: Client, user):
    h3 = generation(user, model="minimax/h3", ratio="16:9", duration_seconds=10)
    hailuo = generation(user, model="minimax/hailuo-02", enhance_prompt=False, resolution="1080P")
    h3_html = signed_in.get(reverse("generation", args=[h3.pk])).content.decode()
    hailuo_html = signed_in.get(reverse("generation", args=[hailuo.pk])).content.decode()
    assert "Enhance prompt" not in detail_labels(h3_html)
    assert "<dt>Aspect ratio</dt><dd>16:9</dd>" in h3_html
    assert "<dt>Length asked for</dt><dd>10 s</dd>" in h3_html
    assert "<dt>References</dt><dd>None</dd>" in h3_html
    assert "<dt>Enhance prompt</dt><dd>Off</dd>" in hailuo_html
    assert "<dt>Resolution</dt><dd>1080P</dd>" in hailuo_html
    assert "References" not in detail_labels(hailuo_html)


def test_a_blank_option_reads_as_the_model_default(signed_in: Client, user):
    # Rows saved before a column was filled: the page says what the model made by default.
    gen = generation(user, model="minimax/h3")
    html = signed_in.get(reverse("generation", args=[gen.pk])).content.decode()
    assert "<dt>Length asked for</dt><dd>6 s</dd>" in html
    assert "<dt>Aspect ratio</dt><dd>16:9</dd>" in html  # from a prompt alone, "adaptive" is not made
