"""MiniMax H3's reference videos and voice samples on the Generate page: probed by content, refused
with sentences naming the file, the rule and the numbers, and sent by the worker."""

from __future__ import annotations

import io
import random
import uuid
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from playground.generations import forms
from playground.generations.models import Generation, State
from playground.generations.references import Reference
from playground.lib import mediaprobe
from tests.factories import image_bytes
from tests.media_samples import sound, video
from tests.worker.test_worker import creates, drive

pytestmark = pytest.mark.django_db
GENERATE = reverse("generate")


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "minimax/h3",
        "prompt": "She says good morning to the sea",
        "ratio": "9:16",
        "duration_seconds": "10",
        **extra,
    }


def upload(name: str, data: bytes, kind: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=kind)


def errors(response: Any) -> dict[str, list[str]]:
    return {name: [str(e) for e in errs] for name, errs in response.context["form"].errors.items()}


@pytest.fixture
def picture() -> SimpleUploadedFile:
    return upload("face.png", image_bytes(640, 480, "PNG"), "image/png")


def test_a_picture_a_video_and_a_voice_sample_are_stored_in_order(signed_in: Client, picture):
    voice, clip = sound(2, kind="mp3"), video(3)
    response = signed_in.post(
        GENERATE,
        fields(
            reference_images=[picture],
            reference_videos=[upload("walk.mp4", clip, "video/mp4")],
            reference_audios=[upload("voice.mp3", voice, "audio/mpeg")],
        ),
    )
    assert response.status_code == 302, errors(response) if response.status_code == 200 else response
    gen = Generation.objects.get()
    refs = list(Reference.objects.filter(generation=gen).order_by("kind", "position"))
    assert [(r.kind, r.position, r.mime) for r in refs] == [
        ("audios", 0, "audio/mpeg"),
        ("images", 0, "image/png"),
        ("videos", 0, "video/mp4"),
    ]
    assert default_storage.open(refs[0].file.name).read() == voice
    assert default_storage.open(refs[2].file.name).read() == clip
    page = signed_in.get(gen.get_absolute_url()).content.decode()
    assert "<dt>References</dt><dd>1 picture, 1 video, 1 voice sample</dd>" in page


def test_a_voice_sample_alone_is_refused(signed_in: Client):
    response = signed_in.post(GENERATE, fields(reference_audios=[upload("voice.wav", sound(2))]))
    assert response.status_code == 200
    assert errors(response)["reference_audios"] == [
        "With minimax/h3, voice samples need at least one reference picture or reference video beside them: "
        "add one, or remove the voice samples."
    ]
    assert not Generation.objects.exists()


def test_a_video_is_enough_beside_a_voice_sample(signed_in: Client):
    response = signed_in.post(
        GENERATE,
        fields(
            reference_videos=[upload("a.webm", video(2, kind="webm"))],
            reference_audios=[upload("v.flac", sound(2, kind="flac"))],
        ),
    )
    assert response.status_code == 302, errors(response)
    assert sorted(Reference.objects.values_list("kind", "mime")) == [
        ("audios", "audio/flac"),
        ("videos", "video/webm"),
    ]


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        (
            {"reference_videos": [upload("clip.mp4", b"%PDF-1.4 renamed\n" * 100, "video/mp4")]},
            "reference_videos",
            "Reference video 1 (clip.mp4): This file is not a video we can read. Send an MP4, MOV or WebM video.",
        ),
        (
            {"reference_videos": [upload("long.mp4", video(16))]},
            "reference_videos",
            "Reference video 1 (long.mp4): This video is 16.0 seconds long; a reference video may be at most 15 seconds.",
        ),
        (
            {"reference_audios": [upload("quiet.wav", sound(2, loud=False))]},
            "reference_audios",
            "Voice sample 1 (quiet.wav): This voice sample is silent: its loudest moment is below -60 dBFS.",
        ),
        (
            {"reference_audios": [upload("talk.mp3", sound(31, kind="mp3"))]},
            "reference_audios",
            "Voice sample 1 (talk.mp3): This voice sample is 31.0 seconds long; a voice sample may be at most 30 seconds.",
        ),
        (
            {"reference_audios": [upload("song.wav", video(2))]},
            "reference_audios",
            "Voice sample 1 (song.wav): This file is not a sound recording we can read.",
        ),
        (
            {"reference_videos": [upload(f"{i}.mp4", b"x") for i in range(4)]},
            "reference_videos",
            "minimax/h3 takes at most 3 reference videos; you gave 4.",
        ),
        (
            {"reference_video_links": "http://127.0.0.1/clip.mp4"},
            "reference_video_links",
            "Reference video 1 (http://127.0.0.1/clip.mp4): ",
        ),
    ],
)
def test_a_reference_that_breaks_a_rule_is_refused_with_its_sentence(
    signed_in: Client, picture, extra, field, words
):
    response = signed_in.post(GENERATE, fields(reference_images=[picture], **extra))
    assert response.status_code == 200
    assert any(e.startswith(words) for e in errors(response).get(field, [])), errors(response)
    assert not Generation.objects.exists()
    assert response.context["form"]["prompt"].value() == "She says good morning to the sea"


def noisy_png(seed: int) -> bytes:
    """A 2000×1500 PNG of noise: about 9 MB, since noise does not compress."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    out = io.BytesIO()
    Image.frombytes("RGB", (2000, 1500), rng.randbytes(2000 * 1500 * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def test_references_over_their_total_are_refused_with_the_numbers(signed_in: Client):
    pictures = [noisy_png(seed) for seed in range(4)]
    total = sum(len(p) for p in pictures)
    assert total > forms.REFERENCES_MAX_BYTES  # each passes alone; together they are too much
    response = signed_in.post(
        GENERATE,
        fields(reference_images=[upload(f"{i}.png", p, "image/png") for i, p in enumerate(pictures)]),
    )
    assert response.status_code == 200
    assert errors(response)["__all__"] == [
        f"Your references come to {mediaprobe.megabytes(total)} MB together; one video's references may be "
        "at most 30 MB together, because they are sent inside its request. Remove some, or send smaller files."
    ]
    assert not Generation.objects.exists()


def test_h3_max_takes_references_and_video_01_none(signed_in: Client):
    response = signed_in.post(
        GENERATE,
        fields(model="video-01", ratio="", duration_seconds="", reference_videos=[upload("a.mp4", video(2))]),
    )
    assert any("video-01 takes no reference videos." in e for e in errors(response)["__all__"])


def test_the_worker_sends_videos_and_voice_samples_as_data_uris(signed_in: Client, worker, upstream, picture):
    response = signed_in.post(
        GENERATE,
        fields(
            reference_images=[picture],
            reference_videos=[upload("walk.mp4", video(2))],
            reference_audios=[upload("voice.m4a", sound(2, kind="m4a"))],
        ),
    )
    assert response.status_code == 302, errors(response)
    drive(worker, timeout=30)
    gen = Generation.objects.get()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    assert set(create.body) == {
        "model",
        "prompt",
        "duration",
        "ratio",
        "reference_image_urls",
        "video_urls",
        "audio_urls",
    }
    # The stand-in read each data URI's type: a picture, a video and a sound.
    assert upstream.app.job(gen.upstream_id)["references"] == {"images": 1, "videos": 1, "audios": 1}


def test_a_video_and_a_voice_sample_that_passed_come_back_kept_and_are_sent_next_time(
    signed_in: Client, picture
):
    import html as htmllib
    import re

    voice, clip = sound(2, kind="ogg"), video(2)
    response = signed_in.post(
        GENERATE,
        fields(
            ratio="5:4",
            reference_images=[picture],
            reference_videos=[upload("walk.mp4", clip)],
            reference_audios=[upload("voice.ogg", voice)],
        ),
    )
    assert response.status_code == 200 and not Generation.objects.exists()
    page = htmllib.unescape(response.content.decode())
    assert "Reference video 1 (walk.mp4): kept from your last try (2.0 s)." in page
    assert "Voice sample 1 (voice.ogg): kept from your last try" in page
    kept = re.findall(r'name="reference_kept" value="([^"]*)"', page)
    pictures_back = re.findall(r'name="reference_picture" value="([^"]*)"', page)
    assert [v.split()[0] for v in kept] == ["videos", "audios"] and len(pictures_back) == 1
    made = signed_in.post(GENERATE, fields(reference_kept=kept, reference_picture=pictures_back))
    assert made.status_code == 302, errors(made)
    gen = Generation.objects.get()
    stored = {
        r.kind: default_storage.open(r.file.name).read() for r in Reference.objects.filter(generation=gen)
    }
    assert stored["videos"] == clip and stored["audios"] == voice and "images" in stored


def test_a_kept_file_that_is_gone_is_said(signed_in: Client, picture):
    response = signed_in.post(
        GENERATE, fields(reference_images=[picture], reference_kept=["videos " + "0" * 32 + " walk.mp4"])
    )
    assert response.status_code == 200
    assert errors(response)["reference_videos"] == [
        "Reference video 1 (walk.mp4): It is no longer kept here. Choose it again."
    ]


def remix_page(client: Client, gen: Generation) -> tuple[str, list[str], list[str]]:
    """The Generate page a Remix of `gen` opens: its text, the pictures and the media it carries."""
    import html as htmllib
    import re

    page = htmllib.unescape(client.get(GENERATE, {"remix": gen.pk}).content.decode())
    kept = re.findall(r'name="reference_kept" value="([^"]*)"', page)
    pictures_back = re.findall(r'name="reference_picture" value="([^"]*)"', page)
    return page, pictures_back, kept


def test_a_remix_carries_the_references_and_sends_the_same_files_again(signed_in: Client, picture):
    other = upload("hat.png", image_bytes(720, 480, "PNG"), "image/png")
    voice, clip = sound(2, kind="mp3"), video(3)
    first = signed_in.post(
        GENERATE,
        fields(
            reference_images=[picture, other],
            reference_videos=[upload("walk.mp4", clip, "video/mp4")],
            reference_audios=[upload("voice.mp3", voice, "audio/mpeg")],
        ),
    )
    assert first.status_code == 302, errors(first) if first.status_code == 200 else first
    source = Generation.objects.get()

    page, pictures_back, kept = remix_page(signed_in, source)
    # The two pictures in their order, then the video and the voice sample, each said as carried.
    assert [v.partition(" ")[2] for v in pictures_back] == [f"file:from video #{source.pk}"] * 2
    assert "Reference picture 1 (from video #" in page and "Reference picture 2 (from video #" in page
    assert [v.split()[0] for v in kept] == ["videos", "audios"]
    assert f"Reference video 1 (from video #{source.pk}): carried over by Remix (3.0 s)." in page
    assert f"Voice sample 1 (from video #{source.pk}): carried over by Remix (2.0 s)." in page

    # Generate as it stands: the new video has its own copies of the same files, in the same order.
    made = signed_in.post(GENERATE, fields(reference_picture=pictures_back, reference_kept=kept))
    assert made.status_code == 302, errors(made) if made.status_code == 200 else made
    remix = Generation.objects.exclude(pk=source.pk).get()

    def files(gen: Generation) -> list[tuple[str, int, str, bytes]]:
        refs = Reference.objects.filter(generation=gen).order_by("kind", "position")
        return [(r.kind, r.position, r.mime, default_storage.open(r.file.name).read()) for r in refs]

    assert files(remix) == files(source)
    assert [k for k, *_ in files(remix)] == ["audios", "images", "images", "videos"]
    assert not set(Reference.objects.filter(generation=remix).values_list("file", flat=True)) & set(
        Reference.objects.filter(generation=source).values_list("file", flat=True)
    )


def test_a_remix_without_references_carries_none_and_one_whose_file_is_gone_says_so(
    signed_in: Client, picture
):
    plain = signed_in.post(GENERATE, fields())
    assert plain.status_code == 302
    _, pictures_back, kept = remix_page(signed_in, Generation.objects.get())
    assert (pictures_back, kept) == ([], [])

    made = signed_in.post(
        GENERATE,
        fields(reference_images=[picture], reference_audios=[upload("voice.wav", sound(2), "audio/wav")]),
    )
    assert made.status_code == 302
    source = Generation.objects.latest("pk")
    for ref in Reference.objects.filter(generation=source):
        default_storage.delete(ref.file.name)
    page, pictures_back, kept = remix_page(signed_in, source)
    assert (pictures_back, kept) == ([], [])
    assert (
        f"2 of the references of video #{source.pk} are no longer stored, so the Remix can't carry them. "
        "Choose them again."
    ) in page


# --- Each kind named in its own words when too large, and in its links' refusals --------------


def test_an_uploaded_video_over_its_limit_names_its_own_size_and_kind(signed_in: Client, picture):
    big = bytes(mediaprobe.VIDEO_MAX_BYTES * 123 // 100)  # its size is refused before any probe
    response = signed_in.post(
        GENERATE, fields(reference_images=[picture], reference_videos=[upload("big.mp4", big, "video/mp4")])
    )
    assert errors(response)["reference_videos"] == [
        "Reference video 1 (big.mp4): This video is 12.3 MB; reference videos may be at most 10 MB."
    ]
    assert not Generation.objects.exists()


def test_a_voice_sample_past_what_is_read_of_any_file_is_called_a_voice_sample(signed_in: Client, picture):
    # Past 20 MB, reading stops at the file itself: the sentence still names the kind.
    huge = upload("talk.wav", bytes(25 * 1024 * 1024), "audio/wav")
    response = signed_in.post(GENERATE, fields(reference_images=[picture], reference_audios=[huge]))
    assert response.status_code == 200
    assert errors(response) == {
        "reference_audios": ["This voice sample is about 25 MB; voice samples may be at most 5 MB."]
    }
    assert response.context["form"]["prompt"].value() == "She says good morning to the sea"
    assert not Generation.objects.exists()


@pytest.mark.parametrize(
    ("field", "label", "noun", "limit"),
    [
        (
            "reference_video_links",
            "Reference video 1",
            "video",
            "The linked video is larger than 10 MB; reference videos may be at most 10 MB.",
        ),
        (
            "reference_audio_links",
            "Voice sample 1",
            "voice sample",
            "The linked voice sample is larger than 5 MB; voice samples may be at most 5 MB.",
        ),
    ],
)
def test_a_reference_link_that_fails_names_the_kind_it_should_send(
    signed_in: Client, picture, image_server, field, label, noun, limit
):
    huge = image_server.put("/huge", bytes(11 * 1024 * 1024), "application/octet-stream")
    gone = f"http://{image_server.host}/gone"
    links = "\n".join(["example.com/clip", gone, huge])
    response = signed_in.post(GENERATE, fields(reference_images=[picture], **{field: links}))
    article = "an" if noun[0] in "aeiou" else "a"
    assert errors(response)[field] == [
        f"{label} (example.com/clip): This link doesn't start with http:// or https://. "
        f"Give the full web address of the {noun}.",
        f"{label[:-1]}2 ({gone}): The link answered 404 Not Found instead of sending {article} {noun}.",
        f"{label[:-1]}3 ({huge}): {limit}",
    ]
    assert not Generation.objects.exists()
