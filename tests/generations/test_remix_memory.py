"""A Remix page carries the source video's references without reading them: its memory does not
grow with their size, and opening it twice leaves the first page's Generate working."""

from __future__ import annotations

import html as htmllib
import io
import os
import re
import tracemalloc
import uuid
from typing import Any

import av
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from playground.generations.models import Generation
from playground.generations.references import Reference
from tests import factories
from tests.factories import image_bytes
from tests.media_samples import sound, video

pytestmark = pytest.mark.django_db
GENERATE = reverse("generate")
# The most the Remix page may allocate (Python's own allocations, traced) while it carries about
# 28 MB of references; reading them whole took more than ten times this.
PEAK_BOUND = 2 * 1024 * 1024


def noisy_png(width: int, height: int) -> bytes:
    """A real PNG that does not compress: as many bytes as pixels x 3."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "PNG", compress_level=0)
    return out.getvalue()


def noisy_video(seconds: float, size: tuple[int, int] = (480, 270), fps: int = 12) -> bytes:
    """A real MP4 of noise, so it is large for its length."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream: Any = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for _ in range(int(seconds * fps)):
            picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def stored(name: str, data: bytes) -> str:
    return default_storage.save(f"first-frames/ref-{name}", ContentFile(data))


@pytest.fixture(scope="module")
def large_files() -> dict[str, bytes]:
    return {
        "one.png": noisy_png(1800, 1600),
        "two.png": noisy_png(1600, 1800),
        "walk.mp4": noisy_video(3, fps=10),
        "voice.wav": sound(25, rate=96_000),
    }


def source_with(user: Any, files: dict[str, bytes]) -> Generation:
    gen = factories.generation(created_by=user, model="minimax/h3", prompt="The sea at dawn", ratio="16:9")
    kinds = {"png": ("images", "image/png"), "mp4": ("videos", "video/mp4"), "wav": ("audios", "audio/wav")}
    positions: dict[str, int] = {}
    for name, data in files.items():
        kind, mime = kinds[name.rpartition(".")[2]]
        Reference.objects.create(
            generation=gen,
            kind=kind,
            position=positions.setdefault(kind, 0),
            file=stored(name, data),
            mime=mime,
            sha256="",
        )
        positions[kind] += 1
    return gen


def contents(gen: Generation) -> dict[tuple[str, int], bytes]:
    refs = Reference.objects.filter(generation=gen)
    return {(r.kind, r.position): default_storage.open(r.file.name).read() for r in refs}


def remix_page(client: Client, gen: Generation) -> tuple[str, list[str], list[str]]:
    page = htmllib.unescape(client.get(GENERATE, {"remix": gen.pk}).content.decode())
    pictures_back = re.findall(r'name="reference_picture" value="([^"]*)"', page)
    kept = re.findall(r'name="reference_kept" value="([^"]*)"', page)
    return page, pictures_back, kept


def test_a_remix_page_of_large_references_allocates_little(signed_in: Client, user, large_files):
    total = sum(len(data) for data in large_files.values())
    assert 25 * 1024 * 1024 < total <= 30 * 1024 * 1024  # what one video's references may come to
    source = source_with(user, large_files)
    remix_page(signed_in, factories.generation(created_by=user))  # imports and caches warmed up
    tracemalloc.start()
    try:
        page, pictures_back, kept = remix_page(signed_in, source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"Remix page: {total / 2**20:.1f} MB of references, peak {peak / 2**20:.2f} MB allocated")
    # Everything is still carried and said, each picture with its verdict.
    assert len(pictures_back) == 2 and len(kept) == 2
    assert "✓ This picture can be used as it is (1800×1600)." in page
    assert "✓ This picture can be used as it is (1600×1800)." in page
    assert f"Reference video 1 (from video #{source.pk}): carried over by Remix (3.0 s)." in page
    assert f"Voice sample 1 (from video #{source.pk}): carried over by Remix (25.0 s)." in page
    assert peak < PEAK_BOUND, f"peak {peak:,} bytes"


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "minimax/h3",
        "prompt": "The sea at dawn",
        "ratio": "16:9",
        "duration_seconds": "10",
        **extra,
    }


def test_the_first_of_several_remix_pages_of_one_video_still_generates(signed_in: Client, user):
    files = {
        "one.png": image_bytes(640, 480, "PNG"),
        "two.png": image_bytes(480, 640, "PNG"),
        "walk.mp4": video(3),
        "voice.wav": sound(2),
    }
    source = source_with(user, files)
    _, first_pictures, first_kept = remix_page(signed_in, source)
    for _ in range(5):  # the same Remix opened again in other tabs, or reloaded
        remix_page(signed_in, source)
    made = signed_in.post(GENERATE, fields(reference_picture=first_pictures, reference_kept=first_kept))
    assert made.status_code == 302, made.context["form"].errors if made.status_code == 200 else made
    remix = Generation.objects.exclude(pk=source.pk).get()
    assert contents(remix) == contents(source)
    assert sorted(contents(source).values()) == sorted(files.values())
    # Its own copies, not the source's files.
    assert not set(Reference.objects.filter(generation=remix).values_list("file", flat=True)) & set(
        source.references.values_list("file", flat=True)
    )


def small_source(user: Any) -> tuple[Generation, dict[str, bytes]]:
    files = {"one.png": image_bytes(640, 480, "PNG"), "voice.wav": sound(2)}
    return source_with(user, files), files


def test_a_carried_picture_shows_its_thumbnail_and_nothing_else_is_served(signed_in: Client, user):
    source, files = small_source(user)
    page, pictures_back, kept = remix_page(signed_in, source)
    token = pictures_back[0].split()[0]
    thumbnail = reverse("staged_image", args=[token, "original"])
    assert f'src="{thumbnail}"' in page
    answer = signed_in.get(thumbnail)
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    assert answer.getvalue() == files["one.png"]
    voice = kept[0].split()[1]
    for staged_id, name in [
        (token, "fixed-borders.jpg"),  # only the file itself
        (voice, "original"),  # a voice sample is no picture to show
        ("ref-0", "original"),
        ("ref-٣", "original"),
        ("ref-99999999999999999999", "original"),
        (f"ref-{token.removeprefix('ref-')}0", "original"),  # names nothing
    ]:
        assert signed_in.get(reverse("staged_image", args=[staged_id, name])).status_code == 404, staged_id


@pytest.mark.parametrize("token", ["ref-0", "ref-x1", "ref-٣", "ref-99999999999999999999", "ref-"])
def test_a_hand_made_carried_token_names_nothing(signed_in: Client, user, token):
    source_with(user, {"one.png": image_bytes(640, 480, "PNG")})
    made = signed_in.post(
        GENERATE,
        fields(
            reference_picture=[f"{token} file:from video #1"],
            reference_kept=[f"videos {token} from video #1"],
        ),
    )
    assert made.status_code == 200
    errors = made.context["form"].errors
    assert "This picture is no longer kept here." in " ".join(errors["reference_images"])
    assert errors["reference_videos"] == [
        "Reference video 1 (from video #1): It is no longer kept here. Choose it again."
    ]
    assert Generation.objects.count() == 1


def test_a_video_deleted_after_its_remix_page_opened_carries_nothing(signed_in: Client, user):
    source, _ = small_source(user)
    _, pictures_back, kept = remix_page(signed_in, source)
    Generation.objects.filter(pk=source.pk).delete()
    made = signed_in.post(GENERATE, fields(reference_picture=pictures_back, reference_kept=kept))
    assert made.status_code == 200
    errors = made.context["form"].errors
    assert "This picture is no longer kept here." in " ".join(errors["reference_images"])
    assert errors["reference_audios"] == [
        f"Voice sample 1 (from video #{source.pk}): It is no longer kept here. Choose it again."
    ]
    assert not Generation.objects.exists()


def test_a_carried_picture_damaged_past_its_headers_is_refused_at_generate(signed_in: Client, user):
    whole = noisy_png(700, 500)
    damaged = whole[: len(whole) // 2] + bytes(len(whole) - len(whole) // 2)  # its pixels lost
    source = source_with(user, {"one.png": damaged, "two.png": image_bytes(640, 480, "PNG")})
    page, pictures_back, _ = remix_page(signed_in, source)
    # The page reads headers only, so it shows the size; Generate checks the whole file.
    assert "✓ This picture can be used as it is (700×500)." in page
    made = signed_in.post(GENERATE, fields(reference_picture=pictures_back))
    assert made.status_code == 200
    assert made.context["form"].errors["reference_images"] == [
        f"Reference picture 1 (from video #{source.pk}): This PNG file is damaged or incomplete, so it "
        "can't be used. Fix or remove this picture; nothing was sent."
    ]
    assert Generation.objects.count() == 1
    # Back on the page: the refused one is said beside it, the other still carried as it was.
    back = htmllib.unescape(made.content.decode())
    values = re.findall(r'name="reference_picture" value="([^"]*)"', back)
    assert values[1] == pictures_back[1]
    assert "Refused: remove it to send the others." in back
