"""All the files of one request together: capped at the most a valid request can carry, read no
further than that (plus one chunk), refused with a sentence that keeps what came before."""

from __future__ import annotations

import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation
from playground.generations.references import Reference
from playground.lib.mediaprobe import REFERENCES_MAX_BYTES
from playground.lib.numbers import megabytes
from playground.pictures import MAX_BYTES, MAX_INPUT_BYTES
from playground.pictures.uploads import request_max_bytes, request_too_large
from tests import imagecorpus as corpus
from tests.factories import frames_and_videos, image_bytes
from tests.pictures.test_batch_fixes import carried
from tests.pictures.test_upload_limits import signed_in_post

pytestmark = pytest.mark.django_db
CHUNK = 64 * 1024  # what the server reads at a time, and what LazyParts hands out per read
KEPT_PROMPT = "A heron stands still in the shallows"


class LazyParts:
    """A multipart/form-data body made as it is read, from fields and files whose bytes are mostly
    zeros (an int in a file's pieces stands for that many zero bytes), so no file is ever held.

    `consumed` says how much the server read; like a socket it hands out at most one chunk a read.
    """

    def __init__(self, parts: list[tuple[str, str | None, list[bytes | int]]]) -> None:
        self.boundary = "----parts-" + uuid.uuid4().hex
        self._pieces: list[bytes | int] = []
        self.file_bytes = 0
        for name, filename, content in parts:
            disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            kind = "Content-Type: application/octet-stream\r\n" if filename else ""
            self._pieces.append(
                f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode()
            )
            self._pieces += content
            self._pieces.append(b"\r\n")
            if filename:
                self.file_bytes += sum(p if isinstance(p, int) else len(p) for p in content)
        self._pieces.append(f"--{self.boundary}--\r\n".encode())
        self.length = sum(p if isinstance(p, int) else len(p) for p in self._pieces)
        self.consumed = 0

    def _piece(self, limit: int) -> bytes:
        offset = self.consumed
        for piece in self._pieces:
            size = piece if isinstance(piece, int) else len(piece)
            if offset < size:
                if isinstance(piece, int):
                    return bytes(min(limit, size - offset))
                return piece[offset : offset + limit]
            offset -= size
        return b""

    def read(self, size: int = -1) -> bytes:
        piece = self._piece(CHUNK if size < 0 else min(size, CHUNK))
        self.consumed += len(piece)
        return piece

    def readline(self, size: int = -1) -> bytes:
        piece = self._piece(CHUNK if size < 0 else min(size, CHUNK))
        piece = piece[: piece.find(b"\n") + 1 or len(piece)]
        self.consumed += len(piece)
        return piece


def padded_png(total: int) -> list[bytes | int]:
    """A valid 640×480 PNG grown to exactly `total` bytes by a private chunk of zeros, in pieces."""
    png = corpus.PNG
    head, iend = png[:-12], png[-12:]
    zeros = total - len(png) - 12
    crc = zlib.crc32(b"paDd")
    block = bytes(CHUNK)
    for _ in range(zeros // CHUNK):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(zeros % CHUNK), crc)
    return [head + zeros.to_bytes(4, "big") + b"paDd", zeros, crc.to_bytes(4, "big") + iend]


Part = tuple[str, str | None, list[bytes | int]]


def field(name: str, value: str) -> Part:
    return (name, None, [value.encode()])


def fields(**extra: str) -> list[Part]:
    values = {
        "submission_token": str(uuid.uuid4()),
        "model": "minimax/h3",
        "prompt": KEPT_PROMPT,
        "ratio": "16:9",
        "duration_seconds": "10",
        **extra,
    }
    return [field(name, value) for name, value in values.items()]


@pytest.fixture
def upload_temp_dir(tmp_path: Path, settings: Any) -> Path:
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "upload-spool"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    return settings.FILE_UPLOAD_TEMP_DIR


def test_the_cap_is_the_largest_valid_request_from_the_limits(settings: Any):
    assert request_max_bytes() == settings.MAX_BATCH_PICTURES * MAX_BYTES + MAX_BYTES + REFERENCES_MAX_BYTES
    settings.MAX_BATCH_PICTURES = 10
    assert request_max_bytes() == 10 * MAX_BYTES + MAX_BYTES + REFERENCES_MAX_BYTES
    assert request_max_bytes() >= MAX_INPUT_BYTES  # the check before a fix reads one file that large


def largest_valid(extra: list[tuple[str, str | None, list[bytes | int]]] | None = None) -> LazyParts:
    """Every file at its own limit: one first frame (MAX_BATCH_PICTURES is 1 here), two reference
    pictures making the references' total, a last frame; in the order the page sends them."""
    return LazyParts(
        [
            *fields(),
            ("first_frame", "first.png", padded_png(MAX_BYTES)),
            ("reference_images", "style.png", padded_png(MAX_BYTES)),
            ("reference_images", "face.png", padded_png(REFERENCES_MAX_BYTES - MAX_BYTES)),
            *(extra or []),
            ("last_frame", "last.png", padded_png(MAX_BYTES)),
        ]
    )


def test_a_request_of_exactly_the_largest_valid_size_goes_through(
    signed_in: Client, settings: Any, upload_temp_dir: Path
):
    settings.MAX_BATCH_PICTURES = 1  # the same rule, a smaller maximum to send: 70 MB
    cap = request_max_bytes()
    body = largest_valid()
    assert body.file_bytes == cap

    response = signed_in_post(signed_in, body)

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert body.consumed == body.length
    generation = Generation.objects.get()
    assert generation.first_frame.size == MAX_BYTES
    assert generation.end_frame.size == MAX_BYTES
    sizes = sorted(r.file.size for r in Reference.objects.filter(generation=generation))
    assert sizes == [REFERENCES_MAX_BYTES - MAX_BYTES, MAX_BYTES]
    assert list(upload_temp_dir.iterdir()) == []


def test_one_byte_more_is_refused_with_the_prompt_kept(
    signed_in: Client, settings: Any, upload_temp_dir: Path
):
    settings.MAX_BATCH_PICTURES = 1
    body = largest_valid([("reference_videos", "one-byte.mp4", [b"x"])])
    assert body.file_bytes == request_max_bytes() + 1

    response = signed_in_post(signed_in, body)

    html = response.content.decode()
    assert response.status_code == 200
    assert "All the files in one request may add up to at most 70 MB; these came to more than 70 MB." in html
    assert KEPT_PROMPT in html
    assert_read_no_further_than_the_cap(body)
    assert not Generation.objects.exists()
    assert frames_and_videos() == set()
    assert list(upload_temp_dir.iterdir()) == []


def over_the_cap(files: int, size: int) -> LazyParts:
    """A batch of first frames, each under its own limit, together far past the request's."""
    return LazyParts(
        [
            *fields(model="video-01-live2d", ratio="", duration_seconds=""),
            *[("first_frame", f"{n}.png", padded_png(size)) for n in range(files)],
        ]
    )


def assert_read_no_further_than_the_cap(body: LazyParts) -> None:
    cap = request_max_bytes()
    not_files = body.length - body.file_bytes  # the fields and every part's headers: a few KB
    print(f"read {body.consumed:,} of {body.length:,} bytes; cap {cap:,}, fields and headers {not_files:,}")
    assert cap < body.consumed <= cap + not_files + CHUNK


def test_many_files_each_under_its_limit_are_stopped_once_they_pass_the_cap_together(
    signed_in: Client, upload_temp_dir: Path
):
    body = over_the_cap(18, MAX_BYTES - 1024 * 1024)  # 18 × 19 MB: 342 MB
    assert body.file_bytes > 2 * request_max_bytes()

    response = signed_in_post(signed_in, body)

    html = response.content.decode()
    assert response.status_code == 200
    assert_read_no_further_than_the_cap(body)
    cap = megabytes(request_max_bytes())
    assert cap == "130"  # 4 first frames × 20 MB, a last frame 20 MB, references 30 MB
    assert (
        f"All the files in one request may add up to at most {cap} MB; these came to more than {cap} MB."
        in html
    )
    assert KEPT_PROMPT in html
    assert not Generation.objects.exists()
    assert frames_and_videos() == set()
    assert list(upload_temp_dir.iterdir()) == []


def test_the_cap_follows_the_batch_setting(signed_in: Client, settings: Any, upload_temp_dir: Path):
    settings.MAX_BATCH_PICTURES = 1
    body = over_the_cap(6, 15 * 1024 * 1024)  # 90 MB, past 1 × 20 + 20 + 30

    response = signed_in_post(signed_in, body)

    assert_read_no_further_than_the_cap(body)
    assert request_too_large(70 * 1024 * 1024) in response.content.decode()


def test_the_check_before_a_fix_stops_at_the_cap_too(signed_in: Client, upload_temp_dir: Path):
    # Each under the 64 MB a fix may read, together past the cap.
    body = LazyParts([("first_frame", f"{n}.png", padded_png(60 * 1024 * 1024)) for n in range(4)])

    response = signed_in_post(signed_in, body, reverse("check_frame"))

    html = response.content.decode()
    assert response.status_code == 200
    assert request_too_large(request_max_bytes()) in html
    assert "too large even to fix" not in html
    assert_read_no_further_than_the_cap(body)
    assert list(upload_temp_dir.iterdir()) == []


def test_leaving_a_batch_picture_out_without_javascript_says_so_when_the_files_were_too_much(
    signed_in: Client, upload_temp_dir: Path
):
    # Without JavaScript, Remove sends the whole form to its own address, the chosen files too.
    body = LazyParts(
        [
            *fields(model="video-01-live2d", ratio="", duration_seconds="", remove_picture="nothing"),
            *[("first_frame", f"{n}.png", padded_png(MAX_BYTES)) for n in range(8)],
        ]
    )

    response = signed_in_post(signed_in, body, reverse("remove_picture"))

    html = response.content.decode()
    assert response.status_code == 200
    assert request_too_large(request_max_bytes()) in html
    assert KEPT_PROMPT in html
    assert_read_no_further_than_the_cap(body)
    assert list(upload_temp_dir.iterdir()) == []


def test_a_batch_kept_from_an_earlier_try_comes_back_when_later_files_pass_the_cap(
    signed_in: Client, upload_temp_dir: Path
):
    good, wide = image_bytes(640, 480, "PNG"), image_bytes(1200, 200, "PNG")
    first = signed_in.post(
        reverse("generate"),
        {
            "submission_token": str(uuid.uuid4()),
            "model": "minimax/h3",
            "prompt": KEPT_PROMPT,
            "first_frame": [SimpleUploadedFile("good.png", good), SimpleUploadedFile("wide.png", wide)],
        },
    ).content.decode()
    kept = carried(first)
    assert len(kept) == 2
    # In the page's order: the batch's list sits before the reference pictures' box.
    body = LazyParts(
        [
            *fields(),
            *[field("batch_picture", value) for value in kept],
            *[("reference_images", f"{n}.png", padded_png(MAX_BYTES - 1024 * 1024)) for n in range(8)],
        ]
    )

    response = signed_in_post(signed_in, body)

    page = response.content.decode()
    assert response.status_code == 200
    assert request_too_large(request_max_bytes()) in page
    assert carried(page) == kept
    assert KEPT_PROMPT in page
    assert_read_no_further_than_the_cap(body)
    assert not Generation.objects.exists()
