"""One-click fixes through the pages: offered for a refused picture, previewed, chosen, used."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground import pictures
from playground.generations.models import Generation
from tests import imagecorpus as corpus
from tests.factories import image_bytes

GENERATE = reverse("generate")
CHECK = reverse("check_frame")
APPLY = reverse("apply_fix")


def form(**extra: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01-live2d",
        "prompt": "The picture comes alive",
        "enhance_prompt": "on",
        **extra,
    }


def offers(html: str) -> dict[str, str]:
    """The fixes offered on a page: key -> the apply_fix value of its button."""
    return {
        key: f"{staged}:{key}"
        for staged, key in re.findall(r'name="apply_fix" value="([0-9a-f]{32}):(\w+)"', html)
    }


@pytest.mark.parametrize(
    ("make", "filename", "expected"),
    [
        (lambda: image_bytes(1000, 200, "PNG"), "wide.png", {"crop", "borders"}),
        (lambda: image_bytes(200, 1000, "JPEG"), "tall.jpg", {"crop", "borders"}),
        (lambda: image_bytes(1000, 400, "PNG"), "exactly-5-2.png", {"crop", "borders"}),
        (lambda: image_bytes(300, 300, "PNG"), "small.png", {"enlarge"}),
        (lambda: image_bytes(640, 480, "WEBP"), "photo.webp", {"convert"}),
    ],
    ids=["1000x200", "200x1000", "1000x400", "300x300", "webp"],
)
def test_each_fix_is_offered_previewed_chosen_and_used_without_javascript(
    signed_in: Client, make, filename, expected
):
    original = make()
    refused = signed_in.post(GENERATE, form(first_frame=SimpleUploadedFile(filename, original)))
    html = refused.content.decode()
    assert "We can fix this picture for you" in html
    offered = offers(html)
    assert set(offered) == expected
    for key, value in offered.items():
        staged = value.split(":")[0]
        preview = signed_in.get(reverse("staged_image", args=[staged, f"preview-{key}.jpg"]))
        assert preview.status_code == 200
        assert preview["Content-Type"] == "image/jpeg"
        # Choosing it shows the form again with the fixed picture attached, nothing made yet.
        before = Generation.objects.count()
        chosen = signed_in.post(APPLY, {**form(), "apply_fix": value}).content.decode()
        assert f'name="staged_first_frame" value="{value}"' in chosen
        assert "The picture comes alive" in chosen
        assert Generation.objects.count() == before
        made = signed_in.post(GENERATE, form(staged_first_frame=value))
        assert made.status_code == 302
        gen = Generation.objects.latest("pk")
        stored = default_storage.open(gen.first_frame.name).read()
        fixed = pictures.check_image(stored)  # what is stored (and sent) passes every rule
        assert stored != original
        assert (gen.first_frame_width, gen.first_frame_height) == (fixed.width, fixed.height)


def test_the_fixed_sizes_are_the_nearest_that_pass(signed_in: Client):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    offered = offers(html)
    for key, size in (("borders", (1000, 401)), ("crop", (751, 301))):
        signed_in.post(GENERATE, form(staged_first_frame=offered[key]))
        gen = Generation.objects.latest("pk")
        assert (gen.first_frame_width, gen.first_frame_height) == size


def test_htmx_choosing_a_fix_returns_just_the_chosen_picture(signed_in: Client):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    value = offers(html)["borders"]
    fragment = signed_in.post(APPLY, {"apply_fix": value}, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div class="fix-chosen" data-fixed="The fixed picture">')
    assert f'value="{value}"' in fragment
    assert "1000×401" in fragment


def test_the_check_endpoint_reads_a_file_before_the_form_is_sent(signed_in: Client):
    fine = signed_in.post(CHECK, {"first_frame": SimpleUploadedFile("ok.png", image_bytes(640, 480, "PNG"))})
    assert "This picture can be used as it is (640×480)" in fine.content.decode()
    wide = signed_in.post(
        CHECK, {"first_frame": SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG"))}
    ).content.decode()
    assert "too wide" in wide and set(offers(wide)) == {"crop", "borders"}
    broken = signed_in.post(
        CHECK, {"first_frame": SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n garbage")}
    ).content.decode()
    assert "no automatic fix" in broken
    assert offers(broken) == {}


def test_a_picture_over_20_mb_can_be_compressed(signed_in: Client):
    big = corpus.pad_png(image_bytes(1200, 900, "PNG"), 22 * 1024 * 1024)
    html = signed_in.post(CHECK, {"first_frame": SimpleUploadedFile("big.png", big)}).content.decode()
    assert "The largest file we can send is 20 MB" in html
    offered = offers(html)
    assert "compress" in offered
    signed_in.post(GENERATE, form(staged_first_frame=offered["compress"]))
    gen = Generation.objects.get()
    assert gen.first_frame.size <= pictures.MAX_BYTES


def test_the_check_endpoint_reads_a_link_too(signed_in: Client, image_server):
    link = image_server.put("/wide.png", image_bytes(1000, 200, "PNG"))
    html = signed_in.post(CHECK, {"image_link": link}).content.decode()
    assert "too wide" in html and "borders" in offers(html)
    assert (
        "private or local network address"
        in signed_in.post(CHECK, {"image_link": "http://10.0.0.1/x.png"}).content.decode()
    )


@pytest.mark.parametrize(
    "hostile",
    [
        corpus.png_header_only(100_000, 100_000),
        b"\xff\xd8\xff\xe0" + b"\0" * 100,
        b"<html><body>hi</body></html>",
    ],
    ids=["bomb", "truncated-jpeg", "html"],
)
def test_hostile_pictures_get_no_fixes(signed_in: Client, hostile: bytes):
    html = signed_in.post(CHECK, {"first_frame": SimpleUploadedFile("x.png", hostile)}).content.decode()
    assert offers(html) == {}
    assert "field-errors" in html


def test_someone_elses_staged_picture_cannot_be_seen_or_used(signed_in: Client, other_user):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    value = offers(html)["borders"]
    staged = value.split(":")[0]
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(reverse("staged_image", args=[staged, "preview-borders.jpg"])).status_code == 404
    assert stranger.get(reverse("staged_image", args=[staged, "original"])).status_code == 404
    response = stranger.post(GENERATE, form(staged_first_frame=value))
    assert "That fixed picture is no longer available" in response.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    "name", ["../original", "preview-../x.jpg", "fixed-borders.exe", "..%2f..%2fsettings.py"]
)
def test_staged_file_names_are_checked(signed_in: Client, name):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    staged = offers(html)["borders"].split(":")[0]
    assert signed_in.get(f"/generate/staged/{staged}/{name}").status_code == 404


def test_staged_pictures_older_than_a_day_are_swept(signed_in: Client, settings):
    import os
    import time
    from pathlib import Path

    from playground.pictures import staging

    signed_in.post(GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG"))))
    signed_in.post(GENERATE, form(first_frame=SimpleUploadedFile("t.png", image_bytes(200, 1000, "PNG"))))
    folders = sorted(Path(settings.MEDIA_ROOT, "staging").iterdir())
    assert len(folders) == 2
    two_days_ago = time.time() - 2 * 86400
    for file in folders[0].iterdir():
        os.utime(file, (two_days_ago, two_days_ago))
    assert staging.sweep() == 1
    assert [f.name for f in Path(settings.MEDIA_ROOT, "staging").iterdir() if any(f.iterdir())] == [
        folders[1].name
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_a_crafted_fix_name_gets_the_plain_answer_and_reads_no_file(signed_in: Client, htmx: bool):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    staged = offers(html)["crop"].split(":")[0]
    # A stored file another path could reach, and one that isn't there: the answers must match.
    there = default_storage.save(
        "first-frames/someone-else.png", SimpleUploadedFile("x", image_bytes(640, 480))
    )
    headers = {"HX-Request": "true"} if htmx else {}
    answers = []
    stem = there.removesuffix(".png")  # the fixer adds the extension itself
    for key in (f"x/../../../{stem}", "x/../../../first-frames/missing", "nonsense", "original", ""):
        response = signed_in.post(APPLY, {**form(), "apply_fix": f"{staged}:{key}"}, headers=headers)
        assert response.status_code == 200
        body = response.content.decode()
        assert "That fix does not apply to this image." in body
        assert "staged_first_frame" not in body
        answers.append(body.replace(str(staged), "").count("<"))
    assert len(set(answers)) == 1
    # Nor as a form value or a preview name.
    made = signed_in.post(GENERATE, form(staged_first_frame=f"{staged}:x/../../../{stem}"))
    assert "That fixed picture is no longer available" in made.content.decode()
    preview = signed_in.get(reverse("staged_image", args=[staged, "preview-nonsense.jpg"]))
    assert preview.status_code == 404


def test_each_person_keeps_at_most_the_cap_of_staged_pictures_oldest_dropped_at_once(
    signed_in: Client, settings, user, other_user
):
    from pathlib import Path

    from playground.pictures import staging
    from playground.pictures.models import StagedPicture

    stranger = Client()
    stranger.force_login(other_user)
    stranger.post(GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG"))))
    staged = []
    for index in range(staging.keep_limit() + 2):
        picture = image_bytes(1000 + index, 200, "PNG")
        html = signed_in.post(
            GENERATE, form(first_frame=SimpleUploadedFile("w.png", picture))
        ).content.decode()
        staged.append(offers(html)["crop"].split(":")[0])
    mine = set(StagedPicture.objects.filter(owner=user).values_list("pk", flat=True))
    assert mine == set(staged[-staging.keep_limit() :])
    assert StagedPicture.objects.filter(owner=other_user).count() == 1  # others' are untouched
    folders = {f.name for f in Path(settings.MEDIA_ROOT, "staging").iterdir() if any(f.iterdir())}
    assert folders >= mine and not folders & set(staged[:2])  # the dropped ones' files are gone
    assert len(folders) == staging.keep_limit() + 1
    dropped = signed_in.post(APPLY, {**form(), "apply_fix": f"{staged[0]}:crop"}).content.decode()
    assert "no longer waiting to be fixed" in dropped


def test_staged_bytes_are_capped_too(signed_in: Client, user, monkeypatch):
    from playground.pictures import staging
    from playground.pictures.models import StagedPicture

    size = len(image_bytes(1000, 200, "PNG"))
    monkeypatch.setattr(staging, "KEEP_BYTES_PER_PERSON", 2 * size + size // 2)
    for width in (1000, 1001, 1002):
        signed_in.post(
            GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(width, 200, "PNG")))
        )
    sizes = list(StagedPicture.objects.filter(owner=user).values_list("size", flat=True))
    assert len(sizes) == 2  # a third would pass the byte cap; the newest is always kept


def test_the_first_frames_type_is_stored_and_the_fix_flow_remembers_what_it_found(signed_in: Client, user):
    from playground.pictures.models import StagedPicture

    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.webp", image_bytes(1200, 200, "WEBP")))
    ).content.decode()
    record = StagedPicture.objects.get(owner=user)
    assert (record.mime, record.width, record.height) == ("image/webp", 1200, 200)
    assert {fix["key"] for fix in record.fixes} == {"crop", "borders"}
    signed_in.post(GENERATE, form(staged_first_frame=offers(html)["borders"]))
    gen = Generation.objects.get()
    assert gen.first_frame_type == "image/jpeg" == gen.first_frame_mime
    # A PNG stored under a name that says JPEG is still sent as what it is.
    gen.first_frame_type = "image/png"
    assert gen.first_frame_mime == "image/png"


def test_the_check_endpoint_still_demands_the_csrf_token(user):
    # Its larger upload limit is set inside the view, so the CSRF check runs there too.
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    upload = SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG"))
    assert client.post(CHECK, {"first_frame": upload}).status_code == 403
    page = client.get(GENERATE).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    upload.seek(0)
    answer = client.post(CHECK, {"first_frame": upload, "csrfmiddlewaretoken": token.group(1)})
    assert answer.status_code == 200 and "too wide" in answer.content.decode()


def test_each_action_has_its_own_url(signed_in: Client):
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG")))
    ).content.decode()
    assert f'formaction="{APPLY}"' in html and f'hx-post="{APPLY}"' in html
    # The generate URL no longer makes fixes: an apply_fix value there is just a submit.
    value = offers(html)["borders"]
    assert "fix-chosen" not in signed_in.post(GENERATE, {**form(), "apply_fix": value}).content.decode()
    chosen = signed_in.post(APPLY, {**form(), "apply_fix": value}).content.decode()
    assert f'action="{GENERATE}"' in chosen  # the page shown from /generate/fix/ still submits to Generate
    assert signed_in.get(APPLY).status_code == 405


def test_validating_the_form_stages_nothing_until_the_view_asks(user):
    from playground.generations.forms import GenerateForm
    from playground.pictures.models import StagedPicture
    from playground.pictures.staging import Staging

    upload = SimpleUploadedFile("w.png", image_bytes(1000, 200, "PNG"))
    bound = GenerateForm(form(), {"first_frame": upload}, user=user, staging=Staging(user))
    assert not bound.is_valid()
    assert "too wide" in str(bound.errors["first_frame"])
    assert not StagedPicture.objects.exists() and not default_storage.exists("staging")
    bound.offer_fixes()
    assert bound.offer is not None and StagedPicture.objects.filter(owner=user).count() == 1
