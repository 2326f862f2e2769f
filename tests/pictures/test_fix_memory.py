"""One-click fixes are bounded: memory per fix, how many at once, and memory given back."""

from __future__ import annotations

import tempfile
import threading
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from bench import fix_memory
from playground.pictures import fixing
from tests.factories import image_bytes
from tests.pictures.test_fix_flow import APPLY, GENERATE, form, offers


@pytest.fixture
def one_slot_taken(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    settings.PICTURE_FIX_WAIT_SECONDS = 0.05
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(fixing, "_slots", slots)
    slots.acquire()
    yield
    slots.release()


def test_a_fix_waits_for_a_slot_then_says_busy(one_slot_taken: Any) -> None:
    with pytest.raises(fixing.FixerBusy) as busy:
        fixing.apply_fix(image_bytes(1200, 200), "borders")
    assert busy.value.messages == ["The picture fixer is busy with other pictures. Try again in a moment."]


def test_a_fix_gets_the_slot_when_it_frees_in_time(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.PICTURE_FIX_WAIT_SECONDS = 5
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(fixing, "_slots", slots)
    slots.acquire()
    threading.Timer(0.2, slots.release).start()
    assert fixing.apply_fix(image_bytes(1200, 200), "borders").height == 481


def test_the_pages_say_busy_in_a_plain_sentence(signed_in: Client, monkeypatch, settings) -> None:
    html = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("w.png", image_bytes(1200, 200)))
    ).content.decode()
    value = offers(html)["borders"]
    settings.PICTURE_FIX_WAIT_SECONDS = 0.05
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(fixing, "_slots", slots)
    slots.acquire()
    chosen = signed_in.post(APPLY, {**form(), "apply_fix": value}).content.decode()
    assert "The picture fixer is busy with other pictures. Try again in a moment." in chosen
    preview = signed_in.get(reverse("staged_image", args=[value[:32], "preview-borders.jpg"]))
    assert preview.status_code == 503
    offered = signed_in.post(
        GENERATE, form(first_frame=SimpleUploadedFile("t.png", image_bytes(200, 1200)))
    ).content.decode()
    assert "too tall" in offered and "Try again in a moment" in offered
    slots.release()
    assert "fix-chosen" in signed_in.post(APPLY, {**form(), "apply_fix": value}).content.decode()


@pytest.mark.slow
def test_a_fix_peaks_under_twice_the_decoded_picture_and_gives_the_memory_back() -> None:
    # The picture from the report: a small PNG declaring 10190×2540, fixed with "Add borders".
    with tempfile.NamedTemporaryFile(suffix=".png") as file:
        file.write(fix_memory.picture())
        file.flush()
        decoded = fix_memory.measure(file.name, "decode", 1)["rss_growth"]
        fix = fix_memory.measure(file.name, "fix", 1)
    assert decoded > 70 * 1024 * 1024  # the picture really is decoded whole
    assert fix["rss_growth"] <= 2.2 * decoded  # 220-550 MB (2.2-5.5×) before
    assert fix["retained"] <= decoded / 2  # and given back, not kept for the next request


def test_the_check_endpoint_says_busy_without_claiming_there_is_no_fix(
    signed_in: Client, one_slot_taken: Any
):
    answer = signed_in.post(
        reverse("check_frame"), {"first_frame": SimpleUploadedFile("w.png", image_bytes(1200, 200))}
    ).content.decode()
    assert "too wide" in answer and "Try again in a moment" in answer
    assert "no automatic fix" not in answer
