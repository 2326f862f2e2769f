"""A batch with a refused picture: each picture offered the single picture's fixes, or removed.

The batch is sent only when every picture it still holds passes; the pictures that passed, the
prompt and the takes come back with the page, with or without JavaScript.
"""

from __future__ import annotations

import html as htmllib
import re
import uuid
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground import pictures
from playground.generations.models import Batch, Generation
from playground.pictures.models import StagedPicture
from playground.pictures.staging import Staging
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

GENERATE = reverse("generate")
APPLY = reverse("apply_fix")
REMOVE = reverse("remove_picture")
HTMX = {"HX-Request": "true"}
PROMPT = "The harbour wakes up"


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01",
        "prompt": PROMPT,
        "enhance_prompt": "on",
        "takes": "2",
        **extra,
    }


def carried(page: str) -> list[str]:
    """The batch's pictures a page carries back, in order (one hidden value each)."""
    return [htmllib.unescape(v) for v in re.findall(r'name="batch_picture" value="([^"]*)"', page)]


def batch_fixes(page: str) -> dict[str, str]:
    """The fixes offered for the batch's pictures: key -> the value of its "Use this" button."""
    return {
        key: f"{sid}:{key}"
        for sid, key in re.findall(r'name="apply_batch_fix" value="([0-9a-f]{32}):(\w+)"', page)
    }


@pytest.fixture
def good() -> bytes:
    return image_bytes(640, 480, "PNG")


@pytest.fixture
def wide() -> bytes:
    return image_bytes(1200, 200, "PNG")


@pytest.fixture
def refused_batch(signed_in: Client, good: bytes, wide: bytes) -> str:
    """The page after sending a good picture and a too-wide one, two takes each."""
    files = [SimpleUploadedFile("good.png", good), SimpleUploadedFile("wide.png", wide)]
    page = signed_in.post(GENERATE, fields(first_frame=files)).content.decode()
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0
    return page


def test_a_refused_picture_is_fixed_by_crop_and_the_whole_batch_is_made(
    signed_in: Client, user, refused_batch: str, good: bytes, wide: bytes
) -> None:
    page = refused_batch
    assert "Picture 2 (wide.png): This image is 1200×200: too wide." in page
    assert "Fix or remove this picture; nothing was sent." in page
    kept, refused = carried(page)
    assert kept.endswith(" file:good.png") and refused.endswith(" file:wide.png")
    assert "✓ This picture can be used as it is (640×480)." in page
    offered = batch_fixes(page)
    assert set(offered) == {"crop", "borders"}
    # The prompt and the takes come back; nothing is lost.
    assert PROMPT in page and re.search(r'name="takes"[^>]*value="2"', page)
    assert "4 videos" in page
    for key, value in offered.items():
        staged = value.split(":")[0]
        preview = signed_in.get(reverse("staged_image", args=[staged, f"preview-{key}.jpg"]))
        assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
    thumbnail = signed_in.get(reverse("staged_image", args=[kept.split()[0], "original"]))
    assert thumbnail["Content-Type"] == "image/png"

    # Without JavaScript: "Use this" posts the whole form to the fix URL.
    chosen = signed_in.post(
        APPLY, fields(batch_picture=[kept, refused], apply_batch_fix=offered["crop"])
    ).content.decode()
    crop = offered["crop"]
    assert carried(chosen) == [kept, f"{crop} file:wide.png"]
    assert "✓ Fixed with “Crop to fit”" in chosen and PROMPT in chosen
    assert re.search(r'name="takes"[^>]*value="2"', chosen) and "4 videos" in chosen
    assert Generation.objects.count() == 0

    made = signed_in.post(GENERATE, fields(batch_picture=carried(chosen)))
    batch = Batch.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/batches/{batch.pk}/"
    assert batch.pictures == 2 and batch.takes.count() == 4
    fixed = Staging(user).checked(crop)
    assert fixed is not None
    frames = [default_storage.open(g.first_frame.name).read() for g in batch.takes.order_by("pk")]
    assert frames == [good, good, fixed.data, fixed.data]
    assert wide not in frames
    for data in frames:
        pictures.check_image(data)  # every first frame sent passes every rule
    sizes = [(g.first_frame_width, g.first_frame_height) for g in batch.takes.order_by("pk")]
    assert sizes == [(640, 480), (640, 480), (fixed.width, fixed.height), (fixed.width, fixed.height)]


def test_with_htmx_choosing_a_fix_returns_the_batchs_list_alone(
    signed_in: Client, refused_batch: str
) -> None:
    kept, refused = carried(refused_batch)
    crop = batch_fixes(refused_batch)["crop"]
    fragment = signed_in.post(
        APPLY, {"batch_picture": [kept, refused], "apply_batch_fix": crop}, headers=HTMX
    ).content.decode()
    assert fragment.lstrip().startswith('<section class="batch-pictures" id="batch-pictures"')
    assert carried(fragment) == [kept, f"{crop} file:wide.png"]
    assert "data-refused" not in fragment and "data-autofocus" in fragment
    assert "Picture 2 (wide.png): This image is" not in fragment  # what was wrong goes with it


def test_each_refusal_is_said_once_beside_the_batchs_list(refused_batch: str) -> None:
    sentence = "Picture 2 (wide.png): This image is 1200×200: too wide."
    assert refused_batch.count(sentence) == 1
    assert refused_batch.index(sentence) > refused_batch.index('id="batch-pictures"')
    assert 'id="id_first_frame_error"' not in refused_batch  # the field's own list has nothing left to say


def test_the_plan_counts_the_pictures_the_page_carries_back(signed_in: Client, refused_batch: str) -> None:
    plan = signed_in.get(
        reverse("generate_plan"),
        {"takes": "3", "batch_picture": carried(refused_batch), "picture_files": "1"},
    )
    assert plan.content.decode().strip().startswith("9 videos")


def test_removing_the_refused_picture_sends_the_others(
    signed_in: Client, user, refused_batch: str, good: bytes
) -> None:
    kept, refused = carried(refused_batch)
    refused_id = refused.split()[0]
    page = signed_in.post(
        REMOVE, fields(batch_picture=[kept, refused], remove_picture=refused)
    ).content.decode()
    assert carried(page) == [kept]
    assert PROMPT in page and "2 videos" in page
    assert not StagedPicture.objects.filter(pk=refused_id).exists()  # its staged copy went too
    assert Generation.objects.count() == 0

    made = signed_in.post(GENERATE, fields(batch_picture=[kept]))
    assert made.status_code == 302
    takes = list(Generation.objects.order_by("pk"))
    assert len(takes) == 2
    assert all(default_storage.open(g.first_frame.name).read() == good for g in takes)


def test_with_htmx_removing_returns_the_list_without_it(signed_in: Client, refused_batch: str) -> None:
    kept, refused = carried(refused_batch)
    fragment = signed_in.post(
        REMOVE, {"batch_picture": [kept, refused], "remove_picture": kept}, headers=HTMX
    ).content.decode()
    assert carried(fragment) == [refused]
    assert 'id="batch-heading" class="fix-heading" tabindex="-1" data-autofocus' in fragment
    emptied = signed_in.post(REMOVE, {"batch_picture": [refused], "remove_picture": refused}, headers=HTMX)
    assert carried(emptied.content.decode()) == []
    assert "Every picture was left out of this batch." in emptied.content.decode()


def test_nothing_is_saved_while_any_picture_is_still_refused(
    signed_in: Client, refused_batch: str, media_root: Any
) -> None:
    again = signed_in.post(GENERATE, fields(batch_picture=carried(refused_batch))).content.decode()
    assert "Picture 2 (wide.png): This image is 1200×200: too wide." in again
    assert carried(again) == carried(refused_batch)  # the same pictures, staged once
    # A picture added beside them joins the list, and still nothing is made.
    added = SimpleUploadedFile("more.png", image_bytes(500, 500, "PNG"))
    more = signed_in.post(
        GENERATE, fields(batch_picture=carried(refused_batch), first_frame=[added])
    ).content.decode()
    assert [v.split(" ", 1)[1] for v in carried(more)] == ["file:good.png", "file:wide.png", "file:more.png"]
    assert "6 videos" in more
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0
    assert not (media_root / "first-frames").exists()


def test_a_picture_no_fix_can_mend_stays_until_it_is_removed(signed_in: Client, good: bytes) -> None:
    files = [SimpleUploadedFile("good.png", good), SimpleUploadedFile("notes.png", b"just some text")]
    page = signed_in.post(GENERATE, fields(first_frame=files)).content.decode()
    kept, broken = carried(page)
    assert (
        re.fullmatch(r"[0-9a-f]{32} file:notes.png", broken)
        and "Refused: remove it to send the others." in page
    )
    again = htmllib.unescape(signed_in.post(GENERATE, fields(batch_picture=[kept, broken])).content.decode())
    # The same reason as the first time, not a general one.
    assert "Picture 2 (notes.png): This file is a text file, not a JPEG or PNG." in again
    assert Generation.objects.count() == 0
    left = signed_in.post(REMOVE, fields(batch_picture=[kept, broken], remove_picture=broken))
    assert not StagedPicture.objects.filter(pk=broken[:32]).exists()
    assert signed_in.post(GENERATE, fields(batch_picture=carried(left.content.decode()))).status_code == 302
    assert Generation.objects.count() == 2


def test_links_are_kept_fixed_and_sent_with_their_source(signed_in: Client, image_server: Any) -> None:
    a = image_server.put("/a.png", image_bytes(640, 480))
    b = image_server.put("/b.png", image_bytes(1200, 200))
    page = signed_in.post(GENERATE, fields(image_link=f"{a}\n{b}")).content.decode()
    assert f"Link 2 ({b[:60]}): This image is 1200×200: too wide." in page
    assert re.search(r'<textarea name="image_link"[^>]*>\s*</textarea>', page)  # moved into the list
    values = carried(page)
    assert values[1].endswith(f" link:{b}")
    chosen = signed_in.post(
        APPLY, fields(batch_picture=values, apply_batch_fix=batch_fixes(page)["borders"])
    ).content.decode()
    assert signed_in.post(GENERATE, fields(batch_picture=carried(chosen), takes="1")).status_code == 302
    assert list(Generation.objects.order_by("pk").values_list("source_link", flat=True)) == [a, b]


def test_someone_elses_staged_picture_cannot_join_a_batch(
    signed_in: Client, refused_batch: str, other_user
) -> None:
    stranger = Client()
    stranger.force_login(other_user)
    kept, _ = carried(refused_batch)
    page = stranger.post(GENERATE, fields(batch_picture=[kept])).content.decode()
    assert "Picture 1 (good.png): This picture is no longer kept here." in page
    assert stranger.get(reverse("staged_image", args=[kept.split()[0], "original"])).status_code == 404
    assert Generation.objects.count() == 0


def test_a_refusal_before_the_pictures_are_looked_at_keeps_the_batch(
    signed_in: Client, refused_batch: str, settings: Any
) -> None:
    crop = batch_fixes(refused_batch)["crop"]
    values = carried(
        signed_in.post(
            APPLY, fields(batch_picture=carried(refused_batch), apply_batch_fix=crop)
        ).content.decode()
    )
    settings.MONTHLY_GENERATION_CAP = 3
    page = signed_in.post(GENERATE, fields(batch_picture=values)).content.decode()
    assert "This would make 4 videos, but you have 3 of your 3 left this month" in page
    assert carried(page) == values
    assert signed_in.post(GENERATE, fields(batch_picture=values, takes="1")).status_code == 302


def test_the_work_per_request_is_bounded_by_the_batch_limit(
    signed_in: Client, refused_batch: str, settings: Any
) -> None:
    kept, refused = carried(refused_batch)
    many = [kept] * 40 + [refused]
    page = signed_in.post(GENERATE, fields(batch_picture=many, takes="1")).content.decode()
    assert f"You gave 41 pictures; one batch takes at most {settings.MAX_BATCH_PICTURES}." in page
    assert len(carried(page)) == settings.MAX_BATCH_PICTURES
    removed = signed_in.post(REMOVE, {"batch_picture": many, "remove_picture": refused}, headers=HTMX)
    assert len(carried(removed.content.decode())) == settings.MAX_BATCH_PICTURES
    assert Generation.objects.count() == 0


def test_staging_keeps_a_whole_batch_even_beyond_the_usual_cap(
    signed_in: Client, user, settings: Any
) -> None:
    from playground.pictures import staging

    settings.MAX_BATCH_PICTURES = staging.KEEP_PER_PERSON + 2
    files = [
        SimpleUploadedFile(f"{i}.png", image_bytes(400 + i, 400, "PNG"))
        for i in range(settings.MAX_BATCH_PICTURES - 1)
    ]
    files.append(SimpleUploadedFile("wide.png", image_bytes(1200, 200, "PNG")))
    page = signed_in.post(GENERATE, fields(first_frame=files, takes="1")).content.decode()
    values = carried(page)
    assert len(values) == settings.MAX_BATCH_PICTURES
    assert StagedPicture.objects.filter(owner=user).count() == settings.MAX_BATCH_PICTURES
    left = carried(
        signed_in.post(REMOVE, fields(batch_picture=values, remove_picture=values[-1])).content.decode()
    )
    assert signed_in.post(GENERATE, fields(batch_picture=left, takes="1")).status_code == 302
    assert Generation.objects.count() == settings.MAX_BATCH_PICTURES - 1


def test_validating_a_batch_stages_nothing_until_the_view_asks(user, good: bytes, wide: bytes) -> None:
    from playground.generations.forms import GenerateForm

    files = {"first_frame": [SimpleUploadedFile("good.png", good), SimpleUploadedFile("wide.png", wide)]}
    bound = GenerateForm(fields(), files, user=user, staging=Staging(user))
    assert not bound.is_valid()
    assert not StagedPicture.objects.exists() and not default_storage.exists("staging")
    bound.offer_fixes()
    assert bound.batch is not None and [item.refused for item in bound.batch] == [False, True]
    assert StagedPicture.objects.filter(owner=user).count() == 2


def test_a_picture_no_fix_mends_keeps_its_own_reason_across_round_trips(
    signed_in: Client, good: bytes
) -> None:
    pdf = b"%PDF-1.7\n" + b"0" * 2000
    files = [SimpleUploadedFile("good.png", good), SimpleUploadedFile("report.png", pdf)]
    reason = "Picture 2 (report.png): This file is a PDF document, not a JPEG or PNG."
    first = htmllib.unescape(signed_in.post(GENERATE, fields(first_frame=files)).content.decode())
    assert reason in first

    again = htmllib.unescape(signed_in.post(GENERATE, fields(batch_picture=carried(first))).content.decode())
    assert reason in again
    assert "no fix applies" not in again
    # Its reason is remembered; its bytes are not.
    noted = StagedPicture.objects.get(messages__0__startswith="This file is a PDF")
    assert noted.fixes == [] and noted.size == 0
    assert not default_storage.exists(f"staging/{noted.pk}/original")
    assert Generation.objects.count() == 0

    # Removing it sends the rest.
    left = [value for value in carried(again) if "report.png" not in value]
    assert signed_in.post(GENERATE, fields(batch_picture=left)).status_code == 302
    assert Generation.objects.count() == 2
