"""Continue from the last frame: the next video's first frame is this one's final picture."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageChops, ImageStat

from playground.generations import continuation
from playground.generations.models import Generation
from tests import factories
from tests.clips import decoded_frames, ready_generation, write_clip

GENERATE = reverse("generate")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def submit(client: Client, html: str, **extra: Any) -> Any:
    """Send the prefilled form as a person would, pressing Generate."""
    fields = {
        name: value
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
        if name != "csrfmiddlewaretoken"
    }
    prompt = re.search(r"<textarea[^>]*>\n?(.*?)</textarea>", html, re.S)
    assert prompt is not None
    model = re.search(r'name="model" value="([\w/.-]+)"[^>]*checked', html)
    assert model is not None
    return client.post(GENERATE, {**fields, "model": model.group(1), "prompt": prompt.group(1), **extra})


@pytest.mark.django_db
def test_continue_starts_the_new_video_from_the_last_frame(signed_in: Client, user: Any, tmp_path: Path):
    source = ready_generation(user, write_clip(tmp_path / "shot1.mp4", size=(1280, 720), frames=30))
    page = signed_in.get(reverse("generation", args=[source.pk])).content.decode()
    assert f'href="/generate/?continue={source.pk}"' in page

    form = signed_in.get(GENERATE, {"continue": source.pk})
    html = form.content.decode()
    assert f'Continuing from the last frame of <a href="/videos/{source.pk}/">video #{source.pk}</a>' in html
    assert source.prompt in html  # prefilled like Remix
    assert "We can fix this picture" not in html  # a 1280×720 frame passes as it is

    made = submit(signed_in, html)
    assert made.status_code == 302
    new = Generation.objects.exclude(pk=source.pk).get()
    assert new.continues == source
    assert (new.first_frame_width, new.first_frame_height) == (1280, 720)
    assert new.prompt == source.prompt and new.model == source.model

    with default_storage.open(source.video.name, "rb") as f:
        frames = decoded_frames(f)
    first = Image.open(io.BytesIO(default_storage.open(new.first_frame.name).read()))
    assert mean_difference(first, frames[-1]) < 2.0  # the last frame, within JPEG tolerance
    assert mean_difference(first, frames[-2]) > mean_difference(first, frames[-1])
    assert mean_difference(first, frames[0]) > 20  # and clearly not the first one


@pytest.mark.django_db
def test_the_last_frame_is_read_once_and_remembered(signed_in: Client, user: Any, tmp_path: Path):
    source = ready_generation(user, write_clip(tmp_path / "shot.mp4", size=(640, 360), frames=10))
    name = continuation.last_frame_of(source)
    source.refresh_from_db()
    assert source.last_frame.name == name
    assert continuation.last_frame_of(source) == name
    assert default_storage.listdir("last-frames")  # kept, and owned by the row (orphans sees it)


@pytest.mark.django_db
def test_a_last_frame_that_breaks_a_rule_is_offered_the_usual_fixes(
    signed_in: Client, user: Any, tmp_path: Path
):
    source = ready_generation(user, write_clip(tmp_path / "small.mp4", size=(480, 270), frames=8))
    html = signed_in.get(GENERATE, {"continue": source.pk}).content.decode()
    assert "We can fix this picture for you" in html
    assert "270" in html  # the rule is named with the frame's numbers
    fixes = dict(re.findall(r'name="apply_fix" value="([0-9a-f]{32}:(\w+))"', html))
    assert "enlarge" in fixes.values()
    value = next(v for v, key in fixes.items() if key == "enlarge")

    chosen = signed_in.post(
        reverse("apply_fix"), {"apply_fix": value, "continue_from": source.pk, "prompt": "x"}
    )
    assert f'name="staged_first_frame" value="{value}"' in chosen.content.decode()
    made = signed_in.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01",
            "prompt": "The keeper reaches the lamp",
            "continue_from": source.pk,
            "staged_first_frame": value,
        },
    )
    assert made.status_code == 302
    new = Generation.objects.exclude(pk=source.pk).get()
    assert new.continues == source
    assert new.first_frame_width is not None and new.first_frame_height is not None
    assert min(new.first_frame_width, new.first_frame_height) > 300


@pytest.mark.django_db
def test_submitting_an_unfixed_last_frame_is_refused_with_the_rule(
    signed_in: Client, user: Any, tmp_path: Path
):
    source = ready_generation(user, write_clip(tmp_path / "small.mp4", size=(480, 270), frames=8))
    refused = signed_in.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01",
            "prompt": "x",
            "continue_from": source.pk,
        },
    )
    assert refused.status_code == 200
    assert "We can fix this picture for you" in refused.content.decode()
    assert Generation.objects.count() == 1


@pytest.mark.django_db
def test_a_new_picture_instead_means_it_no_longer_continues(
    signed_in: Client, user: Any, tmp_path: Path, png
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    source = ready_generation(user, write_clip(tmp_path / "shot.mp4", size=(640, 360), frames=8))
    made = signed_in.post(
        GENERATE,
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01",
            "prompt": "Something else",
            "continue_from": source.pk,
            "first_frame": SimpleUploadedFile("other.png", png),
        },
    )
    assert made.status_code == 302
    assert Generation.objects.exclude(pk=source.pk).get().continues is None


@pytest.mark.django_db
def test_only_a_ready_video_can_be_continued(signed_in: Client, user: Any):
    running = factories.generation(created_by=user, model="video-01", prompt="x", state="running")
    assert signed_in.get(GENERATE, {"continue": running.pk}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_deleting_a_continued_video_removes_its_last_frame_too(signed_in: Client, user: Any, tmp_path: Path):
    source = ready_generation(user, write_clip(tmp_path / "shot.mp4", size=(640, 360), frames=6))
    name = continuation.last_frame_of(source)
    assert default_storage.exists(name)
    signed_in.post(reverse("delete", args=[source.pk]))
    assert not Generation.objects.filter(pk=source.pk).exists()
    assert not default_storage.exists(name)


@pytest.mark.django_db
def test_an_h3_clip_with_sound_and_references_continues_as_a_new_shot(
    signed_in: Client, user: Any, tmp_path: Path
):
    from playground.generations import references

    clip = write_clip(tmp_path / "h3.mp4", size=(1280, 720), frames=48, tone_hz=440.0)
    source = ready_generation(
        user, clip, model="minimax/h3", ratio="16:9", duration_seconds=4, has_sound=True
    )
    references.Reference.objects.create(
        generation=source,
        kind="images",
        position=0,
        file=references.store(factories.image_bytes(640, 480, "PNG"), "png"),
        mime="image/png",
        sha256="0" * 64,
    )
    html = signed_in.get(GENERATE, {"continue": source.pk}).content.decode()
    assert f'Continuing from the last frame of <a href="/videos/{source.pk}/">video #{source.pk}</a>' in html
    assert "We can fix this picture" not in html
    # A new shot: the model and prompt, and the last frame; its references stay with the take
    # (Remix carries them), so none is carried here.
    assert 'name="reference_picture"' not in html and 'name="reference_kept"' not in html

    made = submit(signed_in, html, duration_seconds="6", ratio="")
    assert made.status_code == 302
    new = Generation.objects.exclude(pk=source.pk).get()
    assert (new.model, new.continues, new.duration_seconds) == ("minimax/h3", source, 6)
    assert (new.first_frame_width, new.first_frame_height) == (1280, 720)
    # With a frame and no ratio chosen, H3 follows the picture.
    assert new.ratio == "adaptive"
    assert not references.Reference.objects.filter(generation=new).exists()
    with default_storage.open(source.video.name, "rb") as f:
        last = decoded_frames(f)[-1]
    first = Image.open(io.BytesIO(default_storage.open(new.first_frame.name).read()))
    assert mean_difference(first, last) < 2.0
