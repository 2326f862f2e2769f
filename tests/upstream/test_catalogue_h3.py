"""MiniMax H3 and H3 Max in the catalogue, and the stand-in's strict check against H3's documented schema.

The schema is the docs' own (tests/payloads/h3_create_schema.json), so each rule is checked
against what the service documents, not against the catalogue that the stand-in also reads.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from playground.upstream import catalogue
from playground.upstream.catalogue import Ask
from tests.factories import image_bytes
from tests.standin_fixtures import API_KEY

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "payloads" / "h3_create_schema.json").read_text()
)["schema"]
FIELDS: dict[str, Any] = SCHEMA["properties"]
H3 = catalogue.BY_ID["minimax/h3"]
H3_MAX = catalogue.BY_ID["minimax/h3-max"]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
PICTURE = "data:image/png;base64," + base64.b64encode(image_bytes(640, 360)).decode()


# --- The catalogue says what the docs say ----------------------------------------------------------
def test_h3s_fields_are_the_documented_ones_and_nothing_else():
    assert H3.body_fields() == set(FIELDS)
    wire = H3.wire
    assert (wire.path, wire.first_frame, wire.last_frame, wire.enhance) == (
        catalogue.UNIVERSAL_PATH,
        "image_url",
        "last_image_url",
        None,
    )
    assert H3.prompt_max == FIELDS["prompt"]["maxLength"] == 7000
    duration = FIELDS["duration"]
    assert duration["type"] == "integer"
    assert H3.length_range == (duration["minimum"], duration["maximum"], 1)
    assert H3.default_duration == duration["default"]
    assert list(H3.resolutions) == FIELDS["resolution"]["enum"] and H3.default_resolution == "2K"
    assert list(H3.ratios) == FIELDS["ratio"]["enum"] and H3.default_ratio == FIELDS["ratio"]["default"]
    assert (
        "text-only generation cannot be `adaptive` and defaults to `16:9`" in FIELDS["ratio"]["description"]
    )
    assert (H3.ratios_need_pictures, H3.ratio_without_pictures) == (("adaptive",), "16:9")
    lists = {r.field: r.most for r in H3.references}
    assert lists == {name: FIELDS[name]["maxItems"] for name in lists}
    assert set(lists) == {"reference_image_urls", "video_urls", "audio_urls"}
    audio = H3.reference("audios")
    assert audio is not None and audio.needs_one_of == ("images", "videos")
    assert "Cannot be the only reference" in FIELDS["audio_urls"]["description"]
    assert H3.sound and H3_MAX.sound
    assert not any(m.sound for m in catalogue.MODELS if not m.id.startswith("minimax/h3"))


def test_h3_max_follows_the_model_list():
    assert H3_MAX.resolutions == ("480P", "768P")
    assert H3_MAX.length_range == (5, 15, 1)
    assert not H3_MAX.takes_ratio and "ratio" not in H3_MAX.options
    assert "ratio" not in H3_MAX.body_fields()


def test_the_first_models_keep_their_prompt_limit_and_switch():
    for model in catalogue.MODELS[:5]:
        assert model.prompt_max == 2000
        assert "enhance" in model.options
        assert model.length_range is None and not model.ratios


# --- Its rules, in sentences ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ask", "words"),
    [
        (Ask("minimax/h3", duration=16), "minimax/h3 makes videos of 4 to 15 s, in whole seconds, not 16 s."),
        (Ask("minimax/h3", duration=3), "minimax/h3 makes videos of 4 to 15 s, in whole seconds, not 3 s."),
        (
            Ask("minimax/h3-max", duration=4),
            "minimax/h3-max makes videos of 5 to 15 s, in whole seconds, not 4 s.",
        ),
        (
            Ask("minimax/h3", ratio="5:4"),
            "minimax/h3 makes videos at adaptive, 21:9, 16:9, 4:3, 1:1, 3:4 or 9:16, not '5:4'.",
        ),
        (Ask("minimax/h3-max", ratio="16:9"), "minimax/h3-max takes no aspect ratio; remove '16:9'."),
        (Ask("video-01", ratio="16:9"), "video-01 takes no aspect ratio; remove '16:9'."),
        (
            Ask("minimax/h3", ratio="adaptive"),
            "minimax/h3 can't make 'adaptive' from a prompt alone: it follows the pictures. "
            "Add a picture, or choose 21:9, 16:9, 4:3, 1:1, 3:4 or 9:16.",
        ),
        (
            Ask("video-01", prompt_chars=2001),
            "video-01 takes a prompt of at most 2,000 characters; this one is 2,001.",
        ),
        (
            Ask("minimax/h3", prompt_chars=7001),
            "minimax/h3 takes a prompt of at most 7,000 characters; this one is 7,001.",
        ),
        (
            Ask("minimax/h3", references={"images": 10}),
            "minimax/h3 takes at most 9 reference pictures; you gave 10.",
        ),
        (
            Ask("minimax/h3", references={"images": 1, "videos": 4}),
            "minimax/h3 takes at most 3 reference videos; you gave 4.",
        ),
        (
            Ask("minimax/h3", references={"audios": 1}),
            "With minimax/h3, voice samples need at least one reference picture or reference video "
            "beside them: add one, or remove the voice samples.",
        ),
        (
            Ask("video-01", references={"images": 1}),
            "video-01 takes no reference pictures. Remove them, or choose minimax/h3 or minimax/h3-max.",
        ),
    ],
)
def test_a_request_the_model_does_not_take_is_refused_with_its_numbers(ask, words):
    assert words in catalogue.problems(ask)


@pytest.mark.parametrize(
    "ask",
    [
        Ask("minimax/h3", duration=4, ratio="16:9", prompt_chars=7000),
        Ask("minimax/h3", duration=15, ratio="adaptive", first_frame=True),
        Ask("minimax/h3", ratio="adaptive", references={"videos": 1}),
        Ask("minimax/h3", references={"images": 9, "videos": 3, "audios": 3}),
        Ask("minimax/h3", references={"videos": 1, "audios": 1}),
        Ask("minimax/h3-max", duration=5, resolution="480P"),
        Ask("video-01", prompt_chars=2000),
    ],
)
def test_what_the_docs_allow_is_not_refused(ask):
    assert catalogue.problems(ask) == []


def test_the_default_ratio_follows_what_was_given():
    assert H3.ratio_for(None, pictures=True) == "adaptive"
    assert H3.ratio_for(None, pictures=False) == "16:9"
    assert H3.ratio_for("9:16", pictures=False) == "9:16"
    assert H3_MAX.ratio_for(None, pictures=True) is None


def test_the_estimate_follows_the_length_for_models_priced_by_the_second():
    assert H3.price_per_second is not None
    # The per-video list price is the per-second one at the default length (what VIDEO_PRICES_USD holds).
    for model in (H3, H3_MAX):
        assert model.price_per_second is not None
        assert model.price_usd == model.price_per_second * model.default_duration
    assert H3.estimate_usd(10) == H3.price_per_second * 10
    assert H3.estimate_usd(15) > H3.estimate_usd(4)
    assert H3.estimate_usd(10, per_second=Decimal("0.1")) == Decimal("1")
    # The others stay priced per video.
    hailuo = catalogue.BY_ID["minimax/hailuo-02"]
    assert hailuo.estimate_usd(10) == hailuo.estimate_usd(6) == hailuo.price_usd


def test_the_browser_data_carries_the_range_the_ratios_and_the_limits():
    by_id = {item["id"]: item for item in catalogue.browser_data()}
    h3 = by_id["minimax/h3"]
    assert h3["length_range"] == [4, 15, 1]
    assert h3["prompt_max"] == 7000 and by_id["video-01"]["prompt_max"] == 2000
    assert h3["ratios"][0] == "adaptive" and h3["ratio_without_pictures"] == "16:9"
    assert "ratio" in h3["options"] and "enhance" not in h3["options"]
    assert [r["most"] for r in h3["references"]] == [9, 3, 3]
    assert h3["sound"] is True and by_id["video-01"]["sound"] is False
    assert by_id["minimax/hailuo-02"]["length_range"] is None


# --- The stand-in's strict check, field by field from the docs' schema -----------------------------
def bad_bodies() -> list[tuple[dict[str, Any], str]]:
    """One body per rule of the schema, each breaking that rule alone."""
    base = {"model": "minimax/h3", "prompt": "A lighthouse at dusk"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "enhance_prompt": True}, "property enhance_prompt should not exist"),
        ({**base, "seed": 1}, "property seed should not exist"),
        ({**base, "prompt": "x" * (FIELDS["prompt"]["maxLength"] + 1)}, "prompt must be shorter than"),
        ({**base, "prompt": 5}, "prompt must be a string"),
        ({**base, "image_url": "not a link"}, "image_url must be a URL address or a base64"),
        ({**base, "last_image_url": 3}, "last_image_url must be a URL address or a base64"),
    ]
    duration = FIELDS["duration"]
    cases += [
        (
            {**base, "duration": duration["minimum"] - 1},
            f"duration must not be less than {duration['minimum']}",
        ),
        (
            {**base, "duration": duration["maximum"] + 1},
            f"duration must not be greater than {duration['maximum']}",
        ),
        ({**base, "duration": "10"}, "duration must be an integer number"),
        ({**base, "duration": 6.5}, "duration must be an integer number"),
        ({**base, "duration": True}, "duration must be an integer number"),
    ]
    for name in ("resolution", "ratio"):
        cases.append(({**base, name: "5:4K"}, f"{name} must be one of the following values: "))
    for name in ("reference_image_urls", "video_urls", "audio_urls"):
        most = FIELDS[name]["maxItems"]
        cases.append(({**base, name: "https://example.com/a"}, f"{name} must be an array"))
        many = {name: ["https://example.com/a"] * (most + 1), "reference_image_urls": [PICTURE]}
        if name == "reference_image_urls":
            many = {name: [PICTURE] * (most + 1)}
        cases.append(({**base, **many}, f"{name} must contain no more than {most} elements"))
        # A list of something other than links, beside a reference a voice sample may lean on.
        cases.append(({**base, "reference_image_urls": [PICTURE], name: [7]}, f"each value in {name}"))
    cases.append(
        ({**base, "audio_urls": ["https://example.com/voice.mp3"]}, "audio_urls cannot be the only reference")
    )
    cases.append(
        (
            {**base, "video_urls": ["data:application/pdf;base64,JVBERi0="]},
            "each value in video_urls must be a video file",
        )
    )
    return cases


@pytest.mark.parametrize(("body", "words"), bad_bodies())
def test_the_stand_in_refuses_each_break_of_h3s_schema(standin, body, words):
    with httpx.Client(base_url=standin.url, timeout=10) as http:
        answer = http.post(catalogue.UNIVERSAL_PATH, json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert any(words in line for line in answer.json()["message"]), answer.json()["message"]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"duration": FIELDS["duration"]["minimum"]},
        {"duration": FIELDS["duration"]["maximum"], "ratio": "9:16", "resolution": "2K"},
        {"prompt": "x" * FIELDS["prompt"]["maxLength"]},
        {"image_url": PICTURE, "last_image_url": PICTURE, "ratio": "adaptive"},
        {
            "reference_image_urls": [PICTURE] * FIELDS["reference_image_urls"]["maxItems"],
            "video_urls": ["https://example.com/v.mp4"] * FIELDS["video_urls"]["maxItems"],
            "audio_urls": ["data:audio/mpeg;base64,SUQz"] * FIELDS["audio_urls"]["maxItems"],
        },
    ],
)
def test_the_stand_in_takes_every_body_the_schema_allows(standin, extra):
    body = {"model": "minimax/h3", "prompt": "A lighthouse at dusk", **extra}
    with httpx.Client(base_url=standin.url, timeout=10) as http:
        answer = http.post(catalogue.UNIVERSAL_PATH, json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    job = standin.app.job(answer.json()["id"])
    assert job is not None
    assert job["seconds"] == extra.get("duration", FIELDS["duration"]["default"])
    # A prompt alone is never adaptive: "defaults to 16:9 instead".
    pictures = any(k in extra for k in ("image_url", "reference_image_urls"))
    assert job["ratio"] == extra.get("ratio", "adaptive" if pictures else "16:9")


@pytest.mark.parametrize("kind", ["images", "videos", "audios"])
def test_the_forms_reference_hint_names_each_model_that_takes_the_kind_with_its_count(kind):
    hint = catalogue.reference_limits(kind)
    taking = [m for m in catalogue.MODELS if m.reference(kind) is not None]
    assert taking, kind
    for model in catalogue.MODELS:
        ref = model.reference(kind)
        assert (f"{ref.most} with {model.id}" in hint) if ref else (f"with {model.id}" not in hint)
