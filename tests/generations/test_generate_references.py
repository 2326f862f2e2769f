"""MiniMax H3's reference pictures on the Generate page: each with the first frame's checks, fixes and
its own verdict, kept across a round trip, counted against the model's limit, and sent by the worker."""

from __future__ import annotations

import html as htmllib
import re
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground import pictures
from playground.generations.models import Generation, State
from playground.generations.references import Reference
from playground.pictures.staging import Staging
from tests.factories import image_bytes
from tests.worker.test_worker import creates, drive, make

pytestmark = pytest.mark.django_db

GENERATE = reverse("generate")
APPLY = reverse("apply_fix")
REMOVE = reverse("remove_picture")
HTMX = {"HX-Request": "true"}
PROMPT = "A lighthouse keeper walks the stairs"


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "minimax/h3",
        "prompt": PROMPT,
        "ratio": "16:9",
        "duration_seconds": "10",
        **extra,
    }


def files(*pairs: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type="image/png") for name, data in pairs]


def carried(page: str) -> list[str]:
    return [htmllib.unescape(v) for v in re.findall(r'name="reference_picture" value="([^"]*)"', page)]


def fixes(page: str) -> dict[str, str]:
    return {
        key: f"{sid}:{key}"
        for sid, key in re.findall(r'name="apply_reference_fix" value="([0-9a-f]{32}):(\w+)"', page)
    }


def errors(response: Any) -> dict[str, list[str]]:
    return {name: [str(e) for e in errs] for name, errs in response.context["form"].errors.items()}


@pytest.fixture
def good() -> bytes:
    return image_bytes(640, 480, "PNG")


@pytest.fixture
def other() -> bytes:
    return image_bytes(800, 450, "PNG")


def test_two_reference_pictures_are_stored_for_each_take_in_order(
    signed_in: Client, good: bytes, other: bytes
):
    response = signed_in.post(
        GENERATE, fields(takes="2", reference_images=files(("a.png", good), ("b.png", other)))
    )
    assert response.status_code == 302, errors(response) if response.status_code == 200 else response
    takes = list(Generation.objects.order_by("pk"))
    assert len(takes) == 2
    names = set()
    for gen in takes:
        refs = list(Reference.objects.filter(generation=gen).order_by("position"))
        assert [(r.kind, r.position, r.mime) for r in refs] == [
            ("images", 0, "image/png"),
            ("images", 1, "image/png"),
        ]
        assert [default_storage.open(r.file.name).read() for r in refs] == [good, other]
        names |= {r.file.name for r in refs}
    assert len(names) == 4  # each take owns its copies
    # A reference counts as a picture for "adaptive".
    assert (
        signed_in.post(
            GENERATE, fields(ratio="adaptive", reference_images=files(("a.png", good)))
        ).status_code
        == 302
    )


def test_more_reference_pictures_than_the_model_takes_are_refused_with_the_numbers(
    signed_in: Client, good: bytes
):
    response = signed_in.post(
        GENERATE, fields(reference_images=files(*[(f"{i}.png", good) for i in range(10)]))
    )
    assert response.status_code == 200
    assert errors(response)["reference_images"] == [
        "minimax/h3 takes at most 9 reference pictures; you gave 10."
    ]
    assert not Generation.objects.exists()


def test_a_model_without_references_refuses_them(signed_in: Client, good: bytes):
    response = signed_in.post(
        GENERATE,
        fields(model="video-01", ratio="", duration_seconds="", reference_images=files(("a.png", good))),
    )
    assert response.status_code == 200
    assert any(
        "video-01 takes no reference pictures. Remove them, or choose minimax/h3 or minimax/h3-max." in e
        for e in errors(response)["__all__"]
    )


def test_a_refused_reference_gets_its_own_verdict_and_fixes_and_the_others_are_kept(
    signed_in: Client, user, good: bytes
):
    wide = image_bytes(1200, 200, "PNG")
    page = signed_in.post(
        GENERATE, fields(reference_images=files(("good.png", good), ("wide.png", wide)))
    ).content.decode()
    assert not Generation.objects.exists()
    assert "Reference picture 2 (wide.png): This image is 1200×200: too wide." in page
    kept, refused = carried(page)
    assert kept.endswith(" file:good.png") and refused.endswith(" file:wide.png")
    assert "✓ This picture can be used as it is (640×480)." in page
    offered = fixes(page)
    assert set(offered) == {"crop", "borders"}
    assert PROMPT in page

    # Without JavaScript: "Use this" posts the whole form to the fix URL; the list comes back fixed.
    chosen = signed_in.post(
        APPLY, fields(reference_picture=[kept, refused], apply_reference_fix=offered["crop"])
    ).content.decode()
    assert carried(chosen) == [kept, f"{offered['crop']} file:wide.png"]
    assert "✓ Fixed with “Crop to fit”" in chosen and PROMPT in chosen
    # With htmx: the list alone.
    fragment = signed_in.post(
        APPLY, {"reference_picture": [kept, refused], "apply_reference_fix": offered["borders"]}, headers=HTMX
    ).content.decode()
    assert fragment.lstrip().startswith('<section class="batch-pictures" id="reference-pictures"')

    made = signed_in.post(GENERATE, fields(reference_picture=carried(chosen)))
    assert made.status_code == 302
    gen = Generation.objects.get()
    fixed = Staging(user).checked(offered["crop"])
    assert fixed is not None
    sent = [
        default_storage.open(r.file.name).read()
        for r in Reference.objects.filter(generation=gen).order_by("position")
    ]
    assert sent == [good, fixed.data]
    for data in sent:
        pictures.check_image(data)


def test_a_full_list_of_nine_is_kept_beside_a_refused_one_and_all_are_sent(signed_in: Client, good: bytes):
    wide = image_bytes(1200, 200, "PNG")
    given = [(f"{i}.png", image_bytes(640 + i, 480, "PNG")) for i in range(8)] + [("wide.png", wide)]
    page = signed_in.post(GENERATE, fields(reference_images=files(*given))).content.decode()
    values = carried(page)
    assert len(values) == 9 and page.count("✓ This picture can be used as it is") == 8
    chosen = signed_in.post(APPLY, fields(reference_picture=values, apply_reference_fix=fixes(page)["crop"]))
    assert (
        signed_in.post(GENERATE, fields(reference_picture=carried(chosen.content.decode()))).status_code
        == 302
    )
    gen = Generation.objects.get()
    sent = [
        default_storage.open(r.file.name).read()
        for r in Reference.objects.filter(generation=gen).order_by("position")
    ]
    assert sent[:8] == [data for _, data in given[:8]] and len(sent) == 9


def test_a_removed_reference_leaves_the_others(signed_in: Client, good: bytes):
    wide = image_bytes(1200, 200, "PNG")
    page = signed_in.post(
        GENERATE, fields(reference_images=files(("good.png", good), ("wide.png", wide)))
    ).content.decode()
    kept, refused = carried(page)
    left = signed_in.post(
        REMOVE, fields(reference_picture=[kept, refused], remove_reference=refused)
    ).content.decode()
    assert carried(left) == [kept]
    assert signed_in.post(GENERATE, fields(reference_picture=carried(left))).status_code == 302
    assert Reference.objects.count() == 1


def test_references_that_passed_come_back_when_something_else_is_wrong(
    signed_in: Client, good: bytes, other: bytes
):
    response = signed_in.post(
        GENERATE, fields(ratio="5:4", reference_images=files(("a.png", good), ("b.png", other)))
    )
    assert response.status_code == 200
    page = htmllib.unescape(response.content.decode())
    assert "not '5:4'" in page
    # The ratio is refused, and the pictures still come back kept for the next try.
    assert PROMPT in page and len(carried(page)) == 2
    response = signed_in.post(
        GENERATE, fields(prompt="x" * 7001, reference_images=files(("a.png", good), ("b.png", other)))
    )
    assert response.status_code == 200
    back = carried(response.content.decode())
    assert len(back) == 2
    assert signed_in.post(GENERATE, fields(reference_picture=back)).status_code == 302
    gen = Generation.objects.get()
    assert Reference.objects.filter(generation=gen).count() == 2


def test_a_reference_link_goes_through_the_link_rules(signed_in: Client, image_server, good: bytes):
    response = signed_in.post(GENERATE, fields(reference_image_links="http://169.254.169.254/latest"))
    assert response.status_code == 200
    assert any("private or local network address" in e for e in errors(response)["reference_image_links"])
    link = image_server.put("/pictures/ref.png", good, "image/png")
    assert signed_in.post(GENERATE, fields(reference_image_links=link)).status_code == 302
    ref = Reference.objects.get()
    assert ref.link == link and default_storage.open(ref.file.name).read() == good


def test_the_worker_sends_the_references_as_data_uris(worker, upstream, user, good: bytes, other: bytes):
    gen = make(user, model="minimax/h3", duration_seconds=6, ratio="adaptive", enhance_prompt=False)
    for position, data in enumerate((good, other)):
        Reference.objects.create(
            generation=gen,
            kind="images",
            position=position,
            file=default_storage.save("first-frames/test/ref.png", ContentFile(data)),
            mime="image/png",
            sha256="0" * 64,
        )
    drive(worker, timeout=30)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    assert set(create.body) == {"model", "prompt", "duration", "ratio", "reference_image_urls"}
    assert len(create.body["reference_image_urls"]) == 2
    # The stand-in decoded and checked each one as a picture (its job keeps the count).
    assert upstream.app.job(gen.upstream_id)["references"] == {"images": 2}


# --- Each reference box names its kind once, and in full for screen readers ---------------------

REFERENCE_FIELDSETS = [
    ("reference_images", "Reference pictures", "Reference picture"),
    ("reference_videos", "Reference videos", "Reference video"),
    ("reference_audios", "Voice samples", "Voice sample"),
]


def visible(markup: str) -> str:
    """The text a sighted person reads: without the visually hidden parts and the tags."""
    shown = re.sub(r'<span class="visually-hidden">.*?</span>', "", markup, flags=re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", shown)).split())


def spoken(markup: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.mark.parametrize(("option", "legend", "one"), REFERENCE_FIELDSETS)
def test_a_reference_fieldset_reads_its_heading_once_and_names_each_box_in_full(
    signed_in: Client, option: str, legend: str, one: str
):
    page = signed_in.get(GENERATE + "?model=minimax/h3").content.decode()
    fieldset = re.search(rf'<fieldset class="field" data-option="{option}".*?</fieldset>', page, re.S)
    assert fieldset
    labels = dict(re.findall(r'<label for="([^"]+)">(.*?)</label>', fieldset[0], re.S))
    assert re.search(rf"<legend>{legend}</legend>", fieldset[0])
    # Sighted: the legend, then "Files" and "Links", the kind never said twice in a row.
    assert sorted(visible(text) for text in labels.values()) == ["Files", "Links"]
    # Screen readers: each box by its full name (what get_by_label finds).
    names = {box: spoken(text).lower() for box, text in labels.items()}
    files, links = sorted(names, key=lambda box: "link" in box)
    assert names[files] == f"{one} files".lower()
    assert names[links] == f"{one} links".lower()


def headings(markup: str) -> list[tuple[str, bool]]:
    """(text, shown) of each legend and heading: shown unless it is visually hidden."""
    found = re.findall(r"<(legend|h[1-6])\b([^>]*)>(.*?)</\1>", markup, re.S)
    return [(spoken(text), "visually-hidden" not in attrs) for _, attrs, text in found]


def test_the_reference_list_under_the_boxes_is_titled_once_and_still_named(signed_in: Client, good: bytes):
    wide = image_bytes(1200, 200, "PNG")
    page = signed_in.post(
        GENERATE, fields(reference_images=files(("good.png", good), ("wide.png", wide)))
    ).content.decode()
    assert 'id="reference-pictures"' in page  # the list came back, under the boxes
    titles = headings(page)
    # Sighted: the legend says it once; the list's own heading is for screen readers.
    assert [text for text, shown in titles if shown].count("Reference pictures") == 1
    assert ("Reference pictures", False) in titles
    section = re.search(
        r'<section class="batch-pictures" id="reference-pictures" aria-labelledby="([^"]+)"', page
    )
    assert section and re.search(rf'<h2 id="{section[1]}"[^>]*>Reference pictures</h2>', page)
    # The batch's list has no legend above it, so its heading stays in sight.
    batch = signed_in.post(
        GENERATE,
        fields(
            model="video-01",
            ratio="",
            duration_seconds="",
            first_frame=files(("a.png", good), ("w.png", wide)),
        ),
    ).content.decode()
    assert ("The pictures of this batch", True) in headings(batch)
