"""A page that comes back refused still holds the pictures that passed.

A browser can't put a file back in its box, so a first or last frame uploaded with a form that is
refused for another reason (the prompt, the allowance, a model option) is staged as it is and the
page carries it; the next submit uses those same bytes without the person choosing it again.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation
from tests.factories import image_bytes
from tests.pictures.test_fix_flow import form

URL = reverse("generate")


def carried(html: str, field: str) -> str:
    found = re.findall(rf'name="{field}" value="([^"]*)"', html)
    assert len(found) == 1, found
    return found[0]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(gen: Generation, field: str = "first_frame") -> bytes:
    with default_storage.open(getattr(gen, field).name, "rb") as f:
        data: bytes = f.read()
    return data


def test_a_passed_upload_comes_back_with_a_refused_prompt_and_is_sent_next_time(signed_in: Client) -> None:
    picture = image_bytes(640, 480, "JPEG")
    refused = signed_in.post(URL, form(prompt="x" * 2001, first_frame=SimpleUploadedFile("fox.jpg", picture)))
    html = refused.content.decode()
    assert "video-01-live2d takes a prompt of at most 2,000 characters; this one is 2,001." in html
    assert "Kept from your last try: 640×480." in html
    token = carried(html, "staged_first_frame")
    assert not Generation.objects.exists()

    # The kept picture is shown from staging, with its own type.
    shown = signed_in.get(reverse("staged_image", args=[token[:32], "original"]))
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"

    assert signed_in.post(URL, form(staged_first_frame=token)).status_code == 302
    gen = Generation.objects.get()
    assert sha(stored(gen)) == sha(picture)
    assert (gen.first_frame_width, gen.first_frame_height, gen.first_frame_type) == (640, 480, "image/jpeg")


def test_over_the_allowance_the_picture_is_still_checked_and_kept(signed_in: Client, settings: Any) -> None:
    settings.MONTHLY_GENERATION_CAP = 0
    html = signed_in.post(
        URL, form(first_frame=SimpleUploadedFile("fox.png", image_bytes(640, 480, "PNG")))
    ).content.decode()
    assert "Kept from your last try: 640×480." in html
    assert re.fullmatch(r"[0-9a-f]{32}", carried(html, "staged_first_frame"))  # kept as it passed

    # A picture that breaks a rule is named in the same answer, beside the allowance.
    html = signed_in.post(
        URL, form(first_frame=SimpleUploadedFile("wide.png", image_bytes(1200, 200, "PNG")))
    ).content.decode()
    assert "1200×200: too wide" in html
    assert not Generation.objects.exists()


def test_a_last_frame_is_kept_beside_a_batch_and_every_take_ends_on_it(signed_in: Client) -> None:
    last = image_bytes(640, 480, "PNG")
    html = signed_in.post(
        URL,
        form(
            model="minimax/hailuo-02",
            prompt="x" * 2001,
            first_frame=[
                SimpleUploadedFile("a.png", image_bytes(640, 480, "PNG")),
                SimpleUploadedFile("b.png", image_bytes(800, 600, "PNG")),
            ],
            last_frame=SimpleUploadedFile("end.png", last),
        ),
    ).content.decode()
    batch = re.findall(r'name="batch_picture" value="([^"]*)"', html)
    assert len(batch) == 2
    token = carried(html, "staged_last_frame")

    answer = signed_in.post(
        URL, form(model="minimax/hailuo-02", batch_picture=batch, staged_last_frame=token)
    )
    assert answer.status_code == 302
    takes = list(Generation.objects.all())
    assert len(takes) == 2
    assert {sha(stored(gen, "end_frame")) for gen in takes} == {sha(last)}


def test_a_link_stays_in_its_box_and_is_not_staged_twice(signed_in: Client, image_server: Any) -> None:
    link = image_server.put("/fox.png", image_bytes(640, 480, "PNG"))
    html = signed_in.post(URL, form(prompt="x" * 2001, image_link=link)).content.decode()
    assert link in html
    assert "Kept from your last try" not in html
    assert 'name="staged_first_frame" value=""' in html or 'name="staged_first_frame"' not in html

    assert signed_in.post(URL, form(image_link=link)).status_code == 302
    assert Generation.objects.get().source_link == link


def test_another_members_kept_picture_is_not_theirs_to_use(
    signed_in: Client, other_user: User, client: Client
) -> None:
    html = signed_in.post(
        URL, form(prompt="x" * 2001, first_frame=SimpleUploadedFile("fox.png", image_bytes(640, 480, "PNG")))
    ).content.decode()
    token = carried(html, "staged_first_frame")

    other = Client()
    other.force_login(other_user)
    answer = other.post(URL, form(staged_first_frame=token))
    assert answer.status_code == 200
    assert "That fixed picture is no longer available" in answer.content.decode()
    assert other.get(reverse("staged_image", args=[token[:32], "original"])).status_code == 404
    assert not Generation.objects.exists()
