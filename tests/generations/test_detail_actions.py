"""The detail page's actions: star, delete, remix/retry, API code, other takes."""

from __future__ import annotations

import ast
import shlex
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from playground.gallery.models import Star
from playground.generations.models import Generation, State
from playground.worker.loop import Worker
from tests.factories import generation, media_files

HTMX = {"HX-Request": "true"}


def stored(name: str, data: bytes = b"data") -> str:
    return default_storage.save(name, ContentFile(data))


def ready(user: Any, png: bytes | None = None, **fields: Any) -> Generation:
    fields.setdefault("prompt", "A red kite over green hills")
    fields.setdefault("model", "video-01-live2d" if png else "video-01")
    gen = generation(
        created_by=user,
        state=State.READY,
        video=stored("videos/t.mp4", b"mp4"),
        poster=stored("posters/t.jpg", b"jpg"),
        first_frame=stored("first-frames/t.png", png) if png else "",
        first_frame_sha256="abc123" if png else "",
        duration=6.0,
        **fields,
    )
    return gen


def detail(client: Client, gen: Generation) -> str:
    response = client.get(reverse("generation", args=[gen.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- Star -----------------------------------------------------------------------------------


def test_star_toggles_per_user_with_htmx(signed_in: Client, user, other_user):
    gen = ready(other_user)
    url = reverse("star", args=[gen.pk])
    on = signed_in.post(url, headers=HTMX).content.decode()
    assert 'aria-pressed="true"' in on and "Starred" in on and "<header" not in on
    assert Star.objects.filter(user=user, generation=gen).exists()
    off = signed_in.post(url, headers=HTMX).content.decode()
    assert 'aria-pressed="false"' in off
    assert not Star.objects.exists()


def test_star_without_javascript_returns_to_the_page(signed_in: Client, user):
    gen = ready(user)
    response = signed_in.post(reverse("star", args=[gen.pk]))
    assert response.status_code == 302 and response["Location"] == gen.get_absolute_url()
    assert 'aria-pressed="true"' in detail(signed_in, gen)


def test_a_star_is_mine_alone(signed_in: Client, user, other_user):
    gen = ready(user)
    Star.objects.create(user=other_user, generation=gen)
    assert 'aria-pressed="false"' in detail(signed_in, gen)


# --- Delete ---------------------------------------------------------------------------------


def test_the_creator_deletes_after_confirming_and_the_files_go_too(signed_in: Client, user, png):
    gen = ready(user, png)
    assert len(media_files()) == 3
    html = detail(signed_in, gen)
    assert reverse("delete", args=[gen.pk]) in html
    confirm = signed_in.get(reverse("delete", args=[gen.pk])).content.decode()
    assert "It can't be undone." in confirm
    assert Generation.objects.filter(pk=gen.pk).exists()  # asking is not deleting
    response = signed_in.post(reverse("delete", args=[gen.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("gallery")
    assert not Generation.objects.filter(pk=gen.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_removes_the_stored_files(client: Client, user, png):
    client.force_login(user)
    gen = ready(user, png)
    client.post(reverse("delete", args=[gen.pk]))
    assert media_files() == set()


def test_someone_else_sees_no_delete_button_and_gets_403(client: Client, user, other_user):
    gen = ready(user)
    client.force_login(other_user)
    assert reverse("delete", args=[gen.pk]) not in detail(client, gen)
    assert client.get(reverse("delete", args=[gen.pk])).status_code == 403
    assert client.post(reverse("delete", args=[gen.pk])).status_code == 403
    assert Generation.objects.filter(pk=gen.pk).exists()


def test_staff_can_delete_anyones(client: Client, user):
    gen = ready(user)
    admin = get_user_model().objects.create_user("admin", is_staff=True)
    client.force_login(admin)
    assert reverse("delete", args=[gen.pk]) in detail(client, gen)
    client.post(reverse("delete", args=[gen.pk]))
    assert not Generation.objects.filter(pk=gen.pk).exists()


# --- Remix and retry ------------------------------------------------------------------------


def test_remix_opens_the_form_prefilled_with_the_first_frame_attached(signed_in: Client, user, png):
    gen = ready(user, png, enhance_prompt=False, prompt="Kite, take one")
    assert f"{reverse('generate')}?remix={gen.pk}" in detail(signed_in, gen)
    html = signed_in.get(reverse("generate"), {"remix": gen.pk}).content.decode()
    assert "Kite, take one" in html
    assert 'value="video-01-live2d"' in html.split("checked")[0] or 'value="video-01-live2d" checked' in html
    assert 'name="enhance_prompt"' in html and 'id="id_enhance_prompt" checked' not in html
    assert f'Using the first frame of <a href="{gen.get_absolute_url()}">video #{gen.pk}</a>' in html
    assert f'name="reuse_first_frame" value="{gen.pk}"' in html


def test_remix_makes_a_new_generation_with_its_own_copy_and_its_own_upstream_job(
    signed_in: Client, user, png, upstream, settings
):
    first = ready(user, png, upstream_id="first-job")
    response = signed_in.post(
        reverse("generate"),
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01-live2d",
            "prompt": "Kite, take two",
            "reuse_first_frame": str(first.pk),
            "enhance_prompt": "on",
        },
    )
    assert response.status_code == 302
    second = Generation.objects.exclude(pk=first.pk).get()
    assert second.first_frame.name != first.first_frame.name
    assert default_storage.open(second.first_frame.name).read() == png
    assert second.first_frame_sha256 and second.state == State.QUEUED
    worker = Worker(client=upstream.client(), name="w")
    for gen in Generation.objects.claim_due("w", 5, 60):
        worker.step(gen)
    second.refresh_from_db()
    assert second.upstream_id and second.upstream_id != "first-job"
    [create] = [c for c in upstream.app.calls if c.endpoint == "create"]
    assert create.prompt == "Kite, take two"


def test_a_remix_whose_first_frame_is_gone_asks_for_a_picture(signed_in: Client, user, png):
    first = ready(user, png)
    default_storage.delete(first.first_frame.name)
    Generation.objects.filter(pk=first.pk).update(first_frame="")
    response = signed_in.post(
        reverse("generate"),
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01-live2d",
            "prompt": "x",
            "reuse_first_frame": str(first.pk),
        },
    )
    assert "That first frame is no longer available" in response.content.decode()


def test_a_new_file_replaces_the_remixed_first_frame(signed_in: Client, user, png, jpeg):
    from django.core.files.uploadedfile import SimpleUploadedFile

    first = ready(user, png)
    signed_in.post(
        reverse("generate"),
        {
            "submission_token": str(uuid.uuid4()),
            "model": "video-01-live2d",
            "prompt": "y",
            "reuse_first_frame": str(first.pk),
            "first_frame": SimpleUploadedFile("new.jpg", jpeg, "image/jpeg"),
        },
    )
    second = Generation.objects.exclude(pk=first.pk).get()
    assert default_storage.open(second.first_frame.name).read() == jpeg


def test_a_failed_one_offers_retry(signed_in: Client, user):
    gen = generation(user, prompt="p", state=State.FAILED)
    html = detail(signed_in, gen)
    assert ">Retry</a>" in html and ">Remix</a>" not in html


# --- Details, API code, takes ---------------------------------------------------------------


def test_the_detail_page_shows_every_fact(signed_in: Client, user, png):
    from django.utils import timezone

    gen = ready(
        user,
        png,
        upstream_id="288439434137694",
        credits_used=120000,
        tokens_used=42,
        finished_at=timezone.now(),
    )
    html = detail(signed_in, gen)
    for fact in ("288439434137694", "120,000", "42", "Finished", "6.0 s", "video-01-live2d", "alice", "On"):
        assert fact in html, fact
    assert reverse("media", args=[gen.first_frame.name]) in html
    assert reverse("download", args=[gen.pk]) in html


@pytest.mark.parametrize(
    ("model", "path", "switch", "image_field", "id_field"),
    [
        ("video-01", "/v2/video/generations", "enhance_prompt", "image_url", "id"),
        (
            "video-01-live2d",
            "/v2/generate/video/minimax/generation",
            "prompt_optimizer",
            "first_frame_image",
            "generation_id",
        ),
    ],
)
def test_api_code_uses_the_models_own_endpoint_and_fields(
    model, path, switch, image_field, id_field, user, png, settings
):
    from playground.generations import apicode

    gen = ready(user, png, model=model, prompt='He said "hi": true love\'s test', enhance_prompt=False)
    code = apicode.for_generation(gen)
    assert f"https://api.aimlapi.com{path}" in code.python and path in code.curl
    assert "<YOUR_AIMLAPI_KEY>" in code.python and "<YOUR_AIMLAPI_KEY>" in code.curl
    assert settings.AIMLAPI_KEY not in code.python + code.curl
    # The Python is valid and its body is exactly the request the worker would send.
    tree = ast.parse(code.python)
    body_node = next(
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "body"
    )
    body = ast.literal_eval(body_node)
    assert body["prompt"] == gen.prompt
    assert body[switch] is False
    assert image_field in body
    assert f'created.json()["{id_field}"]' in code.python
    # The curl body survives the shell's quoting intact.
    words = shlex.split(code.curl.split("\n\n")[0].replace("\\\n", " "))
    sent = words[words.index("-d") + 1]
    import json

    assert json.loads(sent)["prompt"] == gen.prompt


def test_api_code_is_on_the_page(signed_in: Client, user):
    gen = ready(user)
    html = detail(signed_in, gen)
    assert "API code" in html and "httpx.post" in html and "curl -X POST" in html


def test_other_takes_from_the_same_first_frame_are_shown_side_by_side(
    signed_in: Client, user, other_user, png
):
    gen = ready(user, png)
    take = ready(other_user, png, prompt="Another take")
    unrelated = ready(other_user, prompt="No frame")
    html = detail(signed_in, gen)
    assert "Other takes from this first frame" in html
    assert f'href="{take.get_absolute_url()}"' in html
    assert f'href="{unrelated.get_absolute_url()}"' not in html
    assert html.count('class="take"') == 2
    assert "Play together" in html


def test_no_takes_section_without_other_takes(signed_in: Client, user, png):
    assert "Other takes" not in detail(signed_in, ready(user, png))
