"""Every choice the Generate page already keeps is sent before any file.

Reading stops at a file past its limit, or where the request's files pass their total
(playground/pictures/uploads.py); the fields after that point never arrive. Browsers send a form's
fields in the page's order, so the kept choices' hidden inputs sit at the top of the form
(generate.html's #kept-choices): a stopped upload still carries them, and the page comes back
holding every one.
"""

from __future__ import annotations

import html as htmllib
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation
from playground.generations.references import Reference
from playground.pictures import MAX_BYTES
from playground.pictures.uploads import UploadTooLarge
from tests.factories import image_bytes
from tests.media_samples import sound
from tests.pictures.test_request_limit import LazyParts, Part, field
from tests.pictures.test_upload_limits import signed_in_post

pytestmark = pytest.mark.django_db
GENERATE = reverse("generate")
PROMPT = "A kite over the dunes at noon"
# The hidden inputs that carry what an earlier try kept.
KEPT = ("staged_first_frame", "staged_last_frame", "batch_picture", "reference_picture", "reference_kept")


class FormFields(HTMLParser):
    """The Generate form's controls in the page's order, as a browser sends them: (name, type,
    value), file inputs with value "", disabled ones (or inside a disabled fieldset) left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str, str]] = []
        self._in_form = False
        self._disabled: list[bool] = []  # one per open fieldset
        self._text: tuple[str, list[str]] | None = None  # an open textarea
        self._select: tuple[str, list[str]] | None = None  # an open select, its chosen value

    def _off(self, attrs: dict[str, str | None]) -> bool:
        return "disabled" in attrs or any(self._disabled)

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "form" and attrs.get("id") == "generate-form":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "fieldset":
            self._disabled.append("disabled" in attrs)
        name = attrs.get("name") or ""
        if tag == "input" and name and not self._off(attrs):
            kind = attrs.get("type") or "text"
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "image", "reset"):
                self.fields.append((name, kind, "" if kind == "file" else attrs.get("value") or ""))
        elif tag == "textarea" and name and not self._off(attrs):
            self._text = (name, [])
        elif tag == "select" and name and not self._off(attrs):
            self._select = (name, [])
        elif tag == "option" and self._select is not None and "selected" in attrs:
            self._select[1].append(attrs.get("value") or "")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self._in_form:
            return
        if tag == "form":
            self._in_form = False
        elif tag == "fieldset" and self._disabled:
            self._disabled.pop()
        elif tag == "textarea" and self._text is not None:
            self.fields.append((self._text[0], "textarea", "".join(self._text[1]).lstrip("\n")))
            self._text = None
        elif tag == "select" and self._select is not None:
            self.fields.append((self._select[0], "select", (self._select[1] or [""])[0]))
            self._select = None


def form_fields(page: str) -> list[tuple[str, str, str]]:
    parser = FormFields()
    parser.feed(page)
    return parser.fields


def assert_no_field_after_a_file(fields: list[tuple[str, str, str]]) -> None:
    kinds = [kind for _, kind, _ in fields]
    assert "file" in kinds, "the page has no file input"
    first_file = kinds.index("file")
    late = [name for name, kind, _ in fields[first_file:] if kind == "hidden"]
    assert late == [], f"hidden inputs after the first file input {fields[first_file][0]}: {late}"


def kept_values(page: str) -> dict[str, list[str]]:
    return {name: [v for n, _, v in form_fields(page) if n == name] for name in KEPT}


def png(name: str, width: int = 640, height: int = 480) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(width, height, "PNG"), content_type="image/png")


def keeping_page(client: Client, settings: Any) -> str:
    """The page after a try that left a first frame, a last frame, a reference picture and a voice
    sample kept: every file passed, but the month's allowance was used up, so nothing was made."""
    cap = settings.MONTHLY_GENERATION_CAP
    settings.MONTHLY_GENERATION_CAP = 0
    response = client.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "minimax/h3",
            "prompt": PROMPT,
            "ratio": "16:9",
            "duration_seconds": "10",
            "first_frame": png("first.png"),
            "last_frame": png("last.png", 800, 450),
            "reference_images": png("style.png", 720, 480),
            "reference_audios": SimpleUploadedFile("voice.wav", sound(2.0), content_type="audio/wav"),
        },
    )
    settings.MONTHLY_GENERATION_CAP = cap
    assert response.status_code == 200 and not Generation.objects.exists()
    return response.content.decode()


def as_sent(page: str, files: dict[str, list[tuple[str, list[bytes | int]]]] | None = None) -> LazyParts:
    """The page's form as a browser sends it, in its order: the prompt filled in, each file input
    with the files given for it (else one empty part, as browsers send an empty file input)."""
    parts: list[Part] = []
    sent = set()
    for name, kind, value in form_fields(page):
        if kind == "file":
            for filename, content in (files or {}).get(name, [("", [])]) if name not in sent else []:
                parts.append((name, filename or "", content))
            sent.add(name)
        elif name == "prompt":
            parts.append(field(name, PROMPT))
        else:
            parts.append(field(name, value))
    return LazyParts(parts)


def test_every_kept_choice_comes_before_the_first_file_input(signed_in: Client, settings: Any):
    page = keeping_page(signed_in, settings)

    fields = form_fields(page)
    kept = kept_values(page)
    assert len(kept["staged_first_frame"]) == len(kept["staged_last_frame"]) == 1
    assert len(kept["reference_picture"]) == 1
    assert [v.split()[0] for v in kept["reference_kept"]] == ["audios"]
    assert_no_field_after_a_file(fields)
    # The model and the prompt come first too; the file inputs all follow the kept choices.
    names = [name for name, _, _ in fields]
    first_file = [kind for _, kind, _ in fields].index("file")
    assert {"model", "prompt", "submission_token", *[k for k in KEPT if kept[k]]} <= set(names[:first_file])


def test_a_batch_and_reference_pictures_kept_come_before_the_first_file_input_and_in_the_fragments(
    signed_in: Client, settings: Any
):
    settings.MONTHLY_GENERATION_CAP = 0  # refused, so the page comes back holding the pictures
    response = signed_in.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "minimax/h3",
            "prompt": PROMPT,
            "ratio": "16:9",
            "duration_seconds": "10",
            "first_frame": [png("one.png"), png("wide.png", 1200, 200)],
            "reference_images": [png("style.png"), png("face.png", 720, 480)],
        },
    )
    page = response.content.decode()
    kept = kept_values(page)
    assert len(kept["batch_picture"]) == 2 and len(kept["reference_picture"]) == 2
    assert_no_field_after_a_file(form_fields(page))

    # Remove with htmx: the list comes back, and its hidden inputs go to the top of the form.
    removed = signed_in.post(
        reverse("remove_picture"),
        {"batch_picture": kept["batch_picture"], "remove_picture": kept["batch_picture"][0]},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert '<div id="batch-pictures-kept" hx-swap-oob="true">' in removed
    assert htmllib.unescape(removed).count('name="batch_picture"') == 1
    assert 'type="hidden"' not in removed.partition('<div id="batch-pictures-kept"')[0]


def test_an_upload_stopped_at_a_reference_video_keeps_every_kept_choice_and_the_next_generate_uses_them(
    signed_in: Client, settings: Any, tmp_path: Path
):
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path
    page = keeping_page(signed_in, settings)
    kept = kept_values(page)

    # The same page sent again with a reference video past its limit: reading stops inside it.
    body = as_sent(page, {"reference_videos": [("huge.mp4", [MAX_BYTES + 5 * 1024 * 1024])]})
    response = signed_in_post(signed_in, body)

    again = response.content.decode()
    assert response.status_code == 200
    assert body.consumed < body.length  # it did stop
    assert htmllib.escape(UploadTooLarge("reference_videos", body.length).sentence()) in again
    assert kept_values(again) == kept
    assert "Voice sample 1 (voice.wav): kept from your last try" in htmllib.unescape(again)
    assert PROMPT in again
    assert not Generation.objects.exists()

    # Generate as the page now stands: the kept first frame, last frame and voice sample are used.
    made = signed_in_post(signed_in, as_sent(again))
    assert made.status_code == 302, made.content.decode()[-3000:]
    gen = Generation.objects.get()
    assert gen.prompt == PROMPT
    assert (gen.first_frame_width, gen.first_frame_height) == (640, 480)
    assert (gen.end_frame_width, gen.end_frame_height) == (800, 450)
    assert Reference.objects.filter(generation=gen, kind="images").count() == 1
    voices = Reference.objects.filter(generation=gen, kind="audios")
    assert [default_storage.open(r.file.name).read() for r in voices] == [sound(2.0)]
