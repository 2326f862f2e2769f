"""The Generate page: the form, its rules, and what a submit saves."""

import base64
import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation, State
from tests.factories import image_bytes, media_files

URL = reverse("generate")


def form_data(**overrides):
    data = {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01",
        "prompt": "A red fox trots through fresh snow at dawn",
        "enhance_prompt": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(data: bytes, name: str = "frame.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_it_redirects_anonymous_visitors_to_sign_in(client: Client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_the_form_with_its_labels(signed_in: Client):
    html = signed_in.get(URL).content.decode()
    for label in ("Model", "Prompt", "First-frame image", "Image link", "Enhance prompt"):
        assert f">{label}<" in html or f"> {label}<" in html or f"{label}</label>" in html, label
    assert 'type="submit"' in html
    assert ">Generate<" in html
    assert (
        'name="enhance_prompt" checked' in html
        or 'checked name="enhance_prompt"' in html
        or ('id="id_enhance_prompt" checked' in html)
    )
    assert "video-01-live2d" in html
    assert "Needs a first-frame image" in html


def test_it_saves_a_text_only_video_01_job_and_redirects_without_calling_upstream(
    signed_in: Client, upstream
):
    response = signed_in.post(URL, form_data())
    gen = Generation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == gen.get_absolute_url()
    assert gen.state == State.QUEUED
    assert gen.model == "video-01"
    assert gen.enhance_prompt is True
    assert not gen.first_frame
    assert gen.created_by.username == "alice"
    assert upstream.app.calls == []


def test_it_stores_an_uploaded_first_frame_under_a_generated_name(signed_in: Client, png: bytes):
    response = signed_in.post(
        URL,
        form_data(
            model="video-01-live2d", first_frame=upload(png, "../../etc/passwd.png"), enhance_prompt=None
        ),
    )
    assert response.status_code == 302
    gen = Generation.objects.get()
    assert gen.enhance_prompt is False
    assert gen.first_frame.name.startswith("first-frames/")
    assert gen.first_frame.name.endswith(".png")
    assert "passwd" not in gen.first_frame.name
    assert default_storage.open(gen.first_frame.name).read() == png
    assert (gen.first_frame_width, gen.first_frame_height) == (640, 480)


def test_it_fetches_a_linked_image_and_stores_what_it_checked(signed_in: Client, image_server, jpeg: bytes):
    link = image_server.put("/pictures/cat.jpg", jpeg, "image/jpeg")
    response = signed_in.post(URL, form_data(model="video-01-live2d", image_link=link))
    assert response.status_code == 302
    gen = Generation.objects.get()
    assert gen.source_link == link
    assert gen.first_frame.name.endswith(".jpg")
    assert default_storage.open(gen.first_frame.name).read() == jpeg


def test_it_refuses_a_link_to_a_private_address_with_a_sentence(signed_in: Client):
    response = signed_in.post(
        URL, form_data(model="video-01-live2d", image_link="http://169.254.169.254/latest")
    )
    assert response.status_code == 200
    assert "private or local network address" in response.content.decode()
    assert not Generation.objects.exists()


def test_it_refuses_both_an_upload_and_a_link(signed_in: Client, png: bytes, image_server):
    link = image_server.put("/a.png", png)
    response = signed_in.post(URL, form_data(first_frame=upload(png), image_link=link))
    assert "Give either an image file or an image link, not both." in response.content.decode()
    assert not Generation.objects.exists()


def test_live2d_needs_a_first_frame(signed_in: Client):
    response = signed_in.post(URL, form_data(model="video-01-live2d"))
    assert "video-01-live2d needs a first-frame image" in response.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "Write a prompt"),
        ("   ", "Write a prompt"),
        # The default model's own limit, in its own words (catalogue.py).
        ("x" * 2001, "video-01 takes a prompt of at most 2,000 characters; this one is 2,001."),
        # Past the longest any model takes, the plain bound.
        ("x" * 7001, "The prompt is 7,001 characters long. It may be at most 7,000 characters."),
    ],
)
def test_it_refuses_an_empty_or_too_long_prompt(signed_in: Client, prompt: str, message: str):
    response = signed_in.post(URL, form_data(prompt=prompt))
    assert message in response.content.decode()
    assert not Generation.objects.exists()


def test_a_prompt_of_exactly_2000_characters_counting_new_lines_once_is_accepted(signed_in: Client):
    prompt = ("a" * 99 + "\r\n") * 19 + "a" * 100  # 2000 characters once CRLF counts as one
    response = signed_in.post(URL, form_data(prompt=prompt))
    assert response.status_code == 302
    assert len(Generation.objects.get().prompt) == 2000


def test_a_bad_image_gets_its_sentence_and_the_prompt_is_kept(signed_in: Client):
    wide = image_bytes(1200, 200, "PNG")
    response = signed_in.post(
        URL, form_data(model="video-01-live2d", prompt="Keep my words", first_frame=upload(wide))
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "1200×200" in html
    assert "too wide" in html
    assert "Keep my words" in html
    assert 'value="video-01-live2d"' in html
    assert "checked" in html
    assert not Generation.objects.exists()
    # Only the staged original waits, for the one-click fixes offered on the page.
    assert "We can fix this picture for you" in html
    assert all(name.startswith("staging/") for name in media_files())


def test_a_gif_named_jpg_is_refused(signed_in: Client):
    gif = image_bytes(640, 480, "GIF")
    response = signed_in.post(URL, form_data(first_frame=upload(gif, "photo.jpg", "image/jpeg")))
    assert "GIF" in response.content.decode()
    assert not Generation.objects.exists()


def test_an_upload_over_20_mb_is_refused_and_the_prompt_kept(signed_in: Client):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (20 * 1024 * 1024)
    response = signed_in.post(URL, form_data(prompt="Still here", first_frame=upload(big)))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The largest image we can send is 20 MB" in html
    assert "Still here" in html
    assert not Generation.objects.exists()


def test_posting_the_same_form_twice_makes_one_generation(signed_in: Client, png: bytes):
    data = form_data(model="video-01-live2d")
    first = signed_in.post(URL, {**data, "first_frame": upload(png)})
    second = signed_in.post(URL, {**data, "first_frame": upload(png)})
    assert Generation.objects.count() == 1
    assert first["Location"] == second["Location"] == Generation.objects.get().get_absolute_url()
    assert len([f for f in media_files() if f.startswith("first-frames/")]) == 1


def test_csrf_is_enforced(user, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(URL, form_data())
    assert response.status_code == 403
    assert not Generation.objects.exists()


def test_the_first_frame_is_sent_as_stored(signed_in: Client, jpeg: bytes):
    """What was checked is what the worker will send: the stored bytes, as a data URI."""
    signed_in.post(URL, form_data(model="video-01-live2d", first_frame=upload(jpeg, "x.jpeg", "image/jpeg")))
    gen = Generation.objects.get()
    from playground.worker.loop import Worker

    uri = Worker(client=object(), name="t")._first_frame_data_uri(gen)  # type: ignore[arg-type]
    assert uri == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
