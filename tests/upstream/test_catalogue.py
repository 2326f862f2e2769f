"""The model catalogue: its rules in sentences, the bodies built from it, and its one home."""

from __future__ import annotations

import re

import pytest

from playground.upstream import aimlapi, catalogue
from playground.upstream.catalogue import Ask
from tests.servers import ROOT


def test_every_model_is_described_once_with_its_defaults_among_its_choices():
    assert len(catalogue.IDS) == len(set(catalogue.IDS)) == len(catalogue.MODELS)
    for model in catalogue.MODELS:
        assert model.default_route in model.routes
        assert model.default_resolution in model.resolutions
        assert model.default_duration in model.durations_at(model.default_resolution)
        assert all(r in catalogue.RESOLUTION_SIZES for r in model.resolutions)
        assert model.description.endswith(".") and len(model.description) < 120
        assert model.price_usd > 0
        # The docs give no render time for some (H3): then none is said, rather than a guess.
        assert re.fullmatch(r"(usually (under|about|\d).* for \d+ s( and .+)?)?", model.render_time())
        assert model.render_time() or not model.render_seconds


@pytest.mark.parametrize(
    ("model", "first", "last", "resolutions", "durations"),
    [
        ("video-01", "optional", False, ("720P",), (6,)),
        ("video-01-live2d", "required", False, ("720P",), (6,)),
        ("minimax/hailuo-02", "optional", True, ("768P", "1080P"), (6, 10)),
        ("minimax/hailuo-2.3", "optional", False, ("768P", "1080P"), (6, 10)),
        ("minimax/hailuo-2.3-fast", "required", False, ("768P", "1080P"), (6, 10)),
    ],
)
def test_the_documented_traits(model, first, last, resolutions, durations):
    described = catalogue.BY_ID[model]
    assert described.first_frame == first
    assert described.takes_last_frame is last
    assert described.resolutions == resolutions
    assert described.durations == durations
    if len(resolutions) > 1:
        assert described.default_resolution == "768P"
        assert described.durations_at("1080P") == (6,)  # "10-second clips at 768p"
        assert described.durations_at("768P") == (6, 10)


def test_the_render_time_sentence_comes_from_the_docs_for_hailuo_02():
    model = catalogue.BY_ID["minimax/hailuo-02"]
    assert model.render_time(6) == "usually 4–5 minutes for 6 s"
    assert model.render_time(10) == "usually 8–9 minutes for 10 s"


@pytest.mark.parametrize(
    ("model", "said"),
    [
        # video-models/README.md: "usually less than a minute".
        ("video-01", "usually under a minute for 6 s"),
        # MiniMax/video-01-live2d.md: "around 3 minutes for a 6-second video".
        ("video-01-live2d", "usually about 3 minutes for 6 s"),
        # minimax/hailuo-2.3.md and hailuo-2.3-fast.md: "Processing time: ~ 1 min 38 sec." / "~ 1 min 9 sec."
        ("minimax/hailuo-2.3", "usually about 1 min 38 s for 6 s"),
        ("minimax/hailuo-2.3-fast", "usually about 1 min 9 s for 6 s"),
    ],
)
def test_the_render_times_are_the_docs_recorded_ones(model, said):
    described = catalogue.BY_ID[model]
    assert described.render_time() == said
    span = said.removeprefix("usually ")
    assert (
        described.wait_sentence() == f"A render with {model} usually takes {span}; its page follows it live."
    )
    # A length the docs give no time for gets no sentence rather than a guess.
    if 10 in described.durations:
        assert described.render_time(10) == "" and described.wait_sentence(10) == ""


def test_no_pixel_size_is_promised_for_a_resolution():
    # The service keeps the picture's shape (recorded 960×720, 720×1072, 768×1142, 1364×768), so
    # neither the models page's table nor the form names a fixed frame.
    table = catalogue.markdown_table()
    assert not re.search(r"\d{3,4}×\d{3,4}", table)
    for page in ("README.md", "docs/models.md", "docs/using.md"):
        assert not re.search(r"\d{3,4}P \(\d{3,4}×\d{3,4}\)", (ROOT / page).read_text()), page
    from playground.generations.forms import GenerateForm

    choices = GenerateForm.base_fields["resolution"].choices  # type: ignore[attr-defined]
    assert choices and all(value == label for value, label in choices)


@pytest.mark.parametrize(
    ("ask", "words"),
    [
        (Ask("video-01-live2d"), "video-01-live2d needs a first-frame image"),
        (Ask("minimax/hailuo-2.3-fast"), "minimax/hailuo-2.3-fast needs a first-frame image"),
        (
            Ask("video-01", last_frame=True),
            "video-01 takes no last-frame image. Remove it, or choose minimax/hailuo-02",
        ),
        (Ask("minimax/hailuo-02", last_frame=True), "A last-frame image needs a first-frame image too"),
        (Ask("video-01", resolution="720P"), "video-01 makes 720P videos only; it takes no resolution"),
        (Ask("video-01-live2d", first_frame=True, duration=6), "6-second videos only; it takes no length"),
        (Ask("minimax/hailuo-02", resolution="4K"), "at 768P or 1080P, not '4K'"),
        (Ask("minimax/hailuo-2.3", duration=8), "of 6 s or 10 s, not 8 s"),
        (
            Ask("minimax/hailuo-02", resolution="1080P", duration=10),
            "10-second videos only at 768P; at 1080P the longest is 6 s",
        ),
        (Ask("sora"), "The model 'sora' is not available here"),
    ],
)
def test_each_rule_is_refused_with_a_sentence(ask, words):
    found = catalogue.problems(ask)
    assert len(found) == 1 and words in found[0], found
    assert found[0].endswith(".")


@pytest.mark.parametrize(
    "ask",
    [
        Ask("video-01"),
        Ask("video-01", first_frame=True),
        Ask("video-01-live2d", first_frame=True),
        Ask("minimax/hailuo-02"),
        Ask("minimax/hailuo-02", first_frame=True, last_frame=True, resolution="1080P", duration=6),
        Ask("minimax/hailuo-02", resolution="768P", duration=10),
        Ask("minimax/hailuo-2.3", resolution="1080P"),
        Ask("minimax/hailuo-2.3-fast", first_frame=True, resolution="768P", duration=10),
    ],
)
def test_valid_asks_are_not_refused(ask):
    assert catalogue.problems(ask) == []


@pytest.mark.parametrize(
    ("model", "route", "path", "expected"),
    [
        ("video-01", None, "/v2/video/generations", {"image_url", "enhance_prompt"}),
        (
            "video-01-live2d",
            None,
            "/v2/generate/video/minimax/generation",
            {"first_frame_image", "prompt_optimizer"},
        ),
        ("video-01-live2d", "universal", "/v2/video/generations", {"image_url", "enhance_prompt"}),
        (
            "minimax/hailuo-02",
            None,
            "/v2/video/generations",
            {"image_url", "last_image_url", "enhance_prompt", "resolution", "duration"},
        ),
        (
            "minimax/hailuo-2.3",
            None,
            "/v2/video/generations",
            {"image_url", "enhance_prompt", "resolution", "duration"},
        ),
    ],
)
def test_create_bodies_use_the_routes_field_names(model, route, path, expected):
    body = aimlapi.create_body(
        model=model,
        prompt="p",
        enhance=False,
        first_frame="F",
        last_frame="L",
        resolution="1080P",
        duration=6,
        route=route,
    )
    assert body.keys() == {"model", "prompt", *expected}
    assert aimlapi.endpoint(model, route) == path
    assert False in body.values() and "F" in body.values()
    if "last_image_url" in expected:
        assert body["last_image_url"] == "L"
        assert (body["resolution"], body["duration"]) == ("1080P", 6)


def test_the_field_names_are_written_only_in_the_catalogue():
    # The service's names for the options: no other module of the app spells them out.
    names = ("first_frame_image", "prompt_optimizer", "image_url", "last_image_url", "/v2/generate/video")
    for path in (ROOT / "playground").rglob("*.py"):
        if path.name == "catalogue.py" or "migrations" in path.parts:
            continue
        text = path.read_text()
        for name in names:
            assert name not in text, f"{path.relative_to(ROOT)} names {name!r}; read it from catalogue.py"


def test_the_models_page_holds_the_catalogues_table():
    page = (ROOT / "docs" / "models.md").read_text()
    assert catalogue.markdown_table() in page


def test_the_browser_data_lists_each_models_options():
    by_id = {item["id"]: item for item in catalogue.browser_data()}
    assert by_id["minimax/hailuo-02"]["options"] == [
        "duration",
        "enhance",
        "first_frame",
        "last_frame",
        "resolution",
    ]
    assert by_id["video-01"]["options"] == ["enhance", "first_frame"]
    assert by_id["minimax/hailuo-02"]["durations_at"] == {"768P": [6, 10], "1080P": [6]}
    assert by_id["minimax/hailuo-02"]["render_times"]["10"] == "usually 8–9 minutes for 10 s"
    assert by_id["minimax/hailuo-2.3"]["render_times"] == {"6": "usually about 1 min 38 s for 6 s", "10": ""}


def test_the_usage_log_names_every_model_with_its_vendor():
    assert catalogue.usage_log_name("video-01") == "minimax/video-01"
    assert catalogue.usage_log_name("minimax/hailuo-02") == "minimax/hailuo-02"
