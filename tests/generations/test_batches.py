"""Batches: Takes on the Generate page, one batch per submit, refused whole, one poll per batch."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from playground.generations.models import Batch, Generation, State
from playground.worker.loop import Worker

pytestmark = pytest.mark.django_db


def submit(client: Client, token: uuid.UUID | None = None, **fields: Any) -> Any:
    data = {"submission_token": str(token or uuid.uuid4()), "model": "video-01", "prompt": "A fox in snow"}
    data |= {"enhance_prompt": "on", **fields}
    return client.post("/generate/", data)


def test_takes_make_a_batch_and_land_on_its_page(signed_in: Client, user) -> None:
    response = submit(signed_in, takes="3")
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/"
    assert batch.takes.count() == 3 and batch.size == 3
    assert set(Generation.objects.values_list("state", flat=True)) == {State.QUEUED}


def test_one_take_lands_on_the_videos_own_page(signed_in: Client) -> None:
    response = submit(signed_in)
    assert response["Location"] == f"/videos/{Generation.objects.get().pk}/"


def test_a_resent_form_makes_the_batch_once(signed_in: Client) -> None:
    token = uuid.uuid4()
    first = submit(signed_in, token, takes="4")
    again = submit(signed_in, token, takes="4")
    assert first["Location"] == again["Location"]
    assert Batch.objects.count() == 1 and Generation.objects.count() == 4


def test_takes_outside_the_range_are_refused_with_the_numbers(signed_in: Client, settings) -> None:
    settings.MAX_TAKES = 4
    html = submit(signed_in, takes="5").content.decode()
    assert "Takes must be a whole number from 1 to 4; you asked for 5." in html
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0


def test_a_batch_over_the_allowance_is_refused_whole(signed_in: Client, user, settings) -> None:
    settings.MONTHLY_GENERATION_CAP = 5
    Generation.objects.bulk_create(
        Generation(created_by=user, model="video-01", prompt="old") for _ in range(2)
    )
    html = submit(signed_in, takes="4").content.decode()
    assert "This would make 4 videos, but you have 3 of your 5 left this month" in html
    assert Generation.objects.count() == 2 and Batch.objects.count() == 0
    assert submit(signed_in, takes="3").status_code == 302  # exactly what is left fits


def test_the_per_minute_brake_counts_submits_not_takes(signed_in: Client, settings) -> None:
    settings.SUBMISSIONS_PER_MINUTE = 2
    assert submit(signed_in, takes="4").status_code == 302
    assert submit(signed_in, takes="4").status_code == 302
    html = submit(signed_in, takes="1").content.decode()
    assert "You have pressed Generate 2 times in the last minute" in html
    assert Generation.objects.count() == 8


def test_the_page_says_what_will_happen_before_generate(signed_in: Client, settings) -> None:
    settings.MONTHLY_GENERATION_CAP = 96
    settings.VIDEO_PRICES_USD = {"video-01": "0.43", "video-01-live2d": "0.56"}
    assert "1 video · about $0.43 · 1 of your 96 left" in signed_in.get("/generate/").content.decode()
    plan = signed_in.get("/generate/plan/?takes=4").content.decode().strip()
    assert plan == "4 videos · about $1.72 · 4 of your 96 left"


def test_every_take_of_a_picture_has_its_own_stored_copy(signed_in: Client, png: bytes) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    submit(signed_in, takes="2", first_frame=SimpleUploadedFile("f.png", png, "image/png"))
    names = list(Generation.objects.values_list("first_frame", flat=True))
    assert len(set(names)) == 2 and all(names)


def test_the_batch_page_polls_once_for_all_takes(signed_in: Client, user) -> None:
    submit(signed_in, takes="4")
    batch = Batch.objects.get()
    page = signed_in.get(f"/batches/{batch.pk}/").content.decode()
    assert page.count('hx-trigger="every') == 1
    with CaptureQueriesContext(connection) as captured:
        polled = signed_in.get(f"/batches/{batch.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert len(re.findall(r'id="take-\d+" hx-swap-oob="true"', polled)) == 4
    few = len(captured)
    Generation.objects.filter(batch=batch).update(state=State.FAILED, failure_reason="x")
    done = signed_in.get(f"/batches/{batch.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every' not in done  # polling stops when no take is active
    assert "Retry the failed ones (4)" in done
    assert few <= 6


def test_retry_the_failed_ones_makes_a_new_batch_of_just_those(signed_in: Client, user, settings) -> None:
    submit(signed_in, takes="3")
    batch = Batch.objects.get()
    a, b, c = batch.takes.order_by("id")
    Generation.objects.filter(pk__in=[a.pk, c.pk]).update(state=State.FAILED)
    Generation.objects.filter(pk=b.pk).update(state=State.READY)
    response = signed_in.post(f"/batches/{batch.pk}/retry/")
    retry = Batch.objects.exclude(pk=batch.pk).get()
    assert response["Location"] == f"/batches/{retry.pk}/"
    assert retry.takes.count() == 2


def test_retry_over_the_allowance_makes_nothing(signed_in: Client, user, settings) -> None:
    settings.MONTHLY_GENERATION_CAP = 3
    submit(signed_in, takes="3")
    batch = Batch.objects.get()
    Generation.objects.filter(batch=batch).update(state=State.FAILED, failure_code="upstream_error")
    response = signed_in.post(f"/batches/{batch.pk}/retry/", follow=True)
    assert (
        "you have 0 of your 3 left" in response.content.decode() or "used all 3" in response.content.decode()
    )
    assert Batch.objects.count() == 1 and Generation.objects.count() == 3


def test_cancelled_takes_are_never_sent_and_free_the_allowance(
    signed_in: Client, user, settings, worker: Worker, upstream: Any
) -> None:
    settings.MONTHLY_GENERATION_CAP = 4
    submit(signed_in, takes="4")
    signed_in.post("/queue/cancel-mine/")
    worker.run_until_idle(timeout=5)
    assert not [c for c in upstream.app.calls if c.endpoint == "create"]
    assert submit(signed_in, takes="4").status_code == 302  # the cancelled four don't count


def upload(name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, "image/png")


def test_several_pictures_times_takes_make_one_batch(signed_in: Client) -> None:
    from tests.factories import image_bytes

    files = [upload("wide.png", image_bytes(640, 480)), upload("tall.png", image_bytes(480, 640))]
    response = submit(signed_in, takes="2", first_frame=files)
    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/"
    assert batch.pictures == 2 and batch.size == 4
    sizes = sorted(Generation.objects.values_list("first_frame_width", "first_frame_height"))
    assert sizes == [(480, 640), (480, 640), (640, 480), (640, 480)]
    assert len(set(Generation.objects.values_list("first_frame", flat=True))) == 4


def test_several_links_one_per_line_make_one_batch(signed_in: Client, image_server: Any) -> None:
    from tests.factories import image_bytes

    a = image_server.put("/a.png", image_bytes(640, 480))
    b = image_server.put("/b.png", image_bytes(500, 500))
    assert submit(signed_in, image_link=f"{a}\r\n\r\n{b}\r\n").status_code == 302
    assert sorted(Generation.objects.values_list("source_link", flat=True)) == [a, b]


def test_one_refused_picture_names_itself_and_nothing_is_made(signed_in: Client, media_root: Any) -> None:
    from tests.factories import image_bytes

    files = [upload("good.png", image_bytes(640, 480)), upload("banner.png", image_bytes(1500, 300))]
    html = submit(signed_in, takes="2", first_frame=files).content.decode()
    assert "Picture 2 (banner.png):" in html and "Picture 1 (good.png):" not in html
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0
    # No first frame was stored either (the pictures wait in staging, see test_batch_fixes.py).
    assert not (media_root / "first-frames").exists()


def test_too_many_pictures_are_refused_with_the_numbers(signed_in: Client, settings) -> None:
    from tests.factories import image_bytes

    settings.MAX_BATCH_PICTURES = 2
    files = [upload(f"{i}.png", image_bytes(400, 400)) for i in range(3)]
    html = submit(signed_in, first_frame=files).content.decode()
    assert "You gave 3 pictures; one batch takes at most 2." in html
    assert Generation.objects.count() == 0


def test_pictures_times_takes_is_checked_against_the_allowance(signed_in: Client, settings) -> None:
    from tests.factories import image_bytes

    settings.MONTHLY_GENERATION_CAP = 5
    files = [upload(f"{i}.png", image_bytes(400, 400)) for i in range(2)]
    html = submit(signed_in, takes="3", first_frame=files).content.decode()
    assert "This would make 6 videos, but you have 5 of your 5 left this month" in html
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0


def test_the_plan_counts_links_and_chosen_files(signed_in: Client, settings) -> None:
    settings.MONTHLY_GENERATION_CAP = 96
    plan = signed_in.get("/generate/plan/", {"takes": "2", "picture_files": "3"}).content.decode()
    assert plan.strip().startswith("6 videos · about $") and plan.strip().endswith("6 of your 96 left")
    links = "https://example.com/a.png\nhttps://example.com/b.png"
    plan = signed_in.get("/generate/plan/", {"takes": "1", "image_link": links}).content.decode()
    assert plan.strip().startswith("2 videos")


def test_a_batch_over_the_dollar_budget_is_refused_whole_before_any_row(
    signed_in: Client, user, settings, upstream
) -> None:
    settings.MONTHLY_GENERATION_CAP = None
    settings.MONTHLY_BUDGET_USD = Decimal("1.50")  # three video-01 takes at the $0.43 estimate fit
    html = submit(signed_in, takes="4").content.decode()
    assert "These 4 videos would cost about $1.72" in html
    assert "$1.50 of your $1.50 left this month" in html
    assert Generation.objects.count() == 0 and Batch.objects.count() == 0
    assert upstream.app.calls == []
    assert submit(signed_in, takes="3").status_code == 302
    assert Generation.objects.count() == 3


def test_the_plan_prices_the_chosen_model(signed_in: Client, settings) -> None:
    settings.MONTHLY_GENERATION_CAP = 96
    settings.VIDEO_PRICES_USD = {**settings.VIDEO_PRICES_USD, "minimax/hailuo-02": Decimal("0.30")}
    plan = signed_in.get("/generate/plan/", {"takes": "2", "model": "minimax/hailuo-02"}).content.decode()
    assert plan.strip() == "2 videos · about $0.60 · 2 of your 96 left"
    html = signed_in.get("/generate/").content.decode()
    assert (
        'hx-include="[name=takes],[name=image_link],[name=picture_files],[name=model],[name=batch_picture],[name=duration_seconds]"'
        in html
    )


def test_a_retried_take_keeps_its_last_frame_resolution_and_length(signed_in: Client, user) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import image_bytes

    first, last = image_bytes(640, 360, "JPEG"), image_bytes(640, 360, "PNG")
    response = signed_in.post(
        "/generate/",
        {
            "submission_token": str(uuid.uuid4()),
            "model": "minimax/hailuo-02",
            "prompt": "A kite over dunes",
            "resolution": "1080P",
            "duration": "6",
            "takes": "2",
            "first_frame": SimpleUploadedFile("a.jpg", first, "image/jpeg"),
            "last_frame": SimpleUploadedFile("b.png", last, "image/png"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    batch = Batch.objects.get()
    Generation.objects.filter(batch=batch).update(state=State.FAILED, failure_code="upstream_error")
    signed_in.post(f"/batches/{batch.pk}/retry/")
    retry = Batch.objects.exclude(pk=batch.pk).get()
    originals = list(batch.takes.order_by("id"))
    for original, again in zip(originals, retry.takes.order_by("id"), strict=True):
        assert (again.resolution, again.duration_seconds) == ("1080P", 6)
        assert again.end_frame and again.end_frame.name != original.end_frame.name  # its own copy
        assert again.end_frame.read() == last
        assert (again.end_frame_sha256, again.end_frame_type) == (original.end_frame_sha256, "image/png")
        assert (again.end_frame_width, again.end_frame_height) == (640, 360)
