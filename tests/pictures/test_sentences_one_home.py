"""The picture check's sentences have one home (pictures/rules.py): the server fills them, and the
Generate page's script receives the same templates and fills them in the browser, retyping none."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from playground.pictures import rules
from tests.servers import ROOT

SCRIPT = ROOT / "static" / "js" / "generate.js"


def fragments(template: str) -> list[str]:
    """The literal words between a template's {places}, long enough to be telling."""
    return [part.strip() for part in re.split(r"\{\w+\}", template) if len(part.strip()) >= 12]


@pytest.mark.parametrize("name", sorted(rules.SENTENCES))
def test_the_script_retypes_no_sentence(name):
    script = SCRIPT.read_text()
    retyped = [words for words in fragments(rules.SENTENCES[name]) if words in script]
    assert retyped == [], f"generate.js retypes {name!r}; read it from RULES.sentences"


def test_the_fragments_would_catch_a_retyped_sentence():
    # Checked against a copy of the script with one sentence typed back in, so the test can fail.
    retyped = SCRIPT.read_text() + '\nconst x = "' + rules.SENTENCES["too_wide"] + '";\n'
    assert any(words in retyped for words in fragments(rules.SENTENCES["too_wide"]))


@pytest.mark.django_db
def test_the_generate_page_hands_the_script_every_sentence(signed_in):
    page = signed_in.get(reverse("generate")).content.decode()
    data = re.search(r'<script id="picture-rules" type="application/json">(.*?)</script>', page, re.S)
    assert data, "the page carries the picture rules for its script"
    assert json.loads(data[1])["sentences"] == rules.SENTENCES


def test_the_server_fills_the_same_templates():
    wide = rules.SENTENCES["too_wide"].format(width=2400, height=400, times="6")
    assert rules.rule_sentences(2400, 400) == [wide]
    assert rules.pixel_sentence(6000, 5000).startswith("This image is 6000×5000 pixels (30 megapixels).")
