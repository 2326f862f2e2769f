"""Media in an S3-compatible bucket: moto's S3 server on loopback stands in for AWS or MinIO.

The whole path runs against it: an upload through the Generate view, the worker archiving a video
and its poster, the media and download views handing signed-in users short-lived signed links
(which the bucket then serves, ranges included), delete, and the orphans walk.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from moto.server import ThreadedMotoServer

from playground.generations.models import Generation, State
from playground.lib import media
from playground.ops import backup, orphans
from playground.settings import s3_origin, s3_storage_options
from tests.factories import generation
from tests.worker.test_worker import drive

KEYS = {"aws_access_key_id": "moto-test-key", "aws_secret_access_key": "moto-test-secret"}
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    # moto's request log would drown pytest's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh bucket, and the app's default storage pointed at it as the environment would."""
    # Credentials are given, so boto3 never asks an instance-metadata address for some.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    name = f"media-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION, **KEYS)
    s3.create_bucket(Bucket=name)
    for var, value in {
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr("playground.settings.AWS_STORAGE_BUCKET_NAME", name)
    monkeypatch.setattr("playground.settings.AWS_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setattr("playground.settings.AWS_S3_REGION_NAME", REGION)
    options = s3_storage_options()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    settings.MEDIA_LINK_SECONDS = 120

    class Bucket:
        def keys(self) -> set[str]:
            listed = s3.list_objects_v2(Bucket=name)
            return {item["Key"] for item in listed.get("Contents", [])}

        def body(self, key: str) -> bytes:
            return bytes(s3.get_object(Bucket=name, Key=key)["Body"].read())

    return Bucket()


def test_the_settings_select_s3_and_allow_its_origin_for_media(bucket: Any, s3_endpoint: str):
    options = s3_storage_options()
    assert options["addressing_style"] == "path"
    assert options["querystring_expire"] == 300
    assert options["default_acl"] is None
    assert s3_origin(options) == s3_endpoint
    assert s3_origin({"bucket_name": "team-videos", "region_name": "eu-west-1"}) == (
        "https://team-videos.s3.eu-west-1.amazonaws.com"
    )
    assert media.is_remote()


def test_an_upload_through_the_generate_view_lands_in_the_bucket(signed_in: Client, bucket: Any, png: bytes):
    data = {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01-live2d",
        "prompt": "A paper boat drifts on a pond",
        "first_frame": SimpleUploadedFile("frame.png", png, content_type="image/png"),
    }
    response = signed_in.post(reverse("generate"), data)
    assert response.status_code == 302
    gen = Generation.objects.get()
    assert gen.first_frame.name.startswith("first-frames/")
    assert bucket.keys() == {gen.first_frame.name}
    assert bucket.body(gen.first_frame.name) == png


@pytest.fixture
def ready(bucket: Any, worker: Any, user: Any) -> Generation:
    """A generation the worker made and archived into the bucket through the stand-in."""
    gen = generation(user, prompt="A koi pond at dawn")
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    return gen


def test_the_worker_archives_the_video_and_poster_into_the_bucket(ready: Generation, bucket: Any):
    assert bucket.keys() == {ready.video.name, ready.poster.name}
    assert bucket.body(ready.video.name)[4:8] == b"ftyp"
    assert bucket.body(ready.poster.name)[:3] == b"\xff\xd8\xff"
    assert ready.video_size == len(bucket.body(ready.video.name))


def test_media_is_a_short_lived_signed_link_that_the_bucket_serves_with_ranges(
    signed_in: Client, ready: Generation, bucket: Any, s3_endpoint: str
):
    response = signed_in.get(reverse("media", args=[ready.video.name]))
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert link.startswith(f"{s3_endpoint}/")
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]

    whole = httpx.get(link)
    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.content == bucket.body(ready.video.name)
    part = httpx.get(link, headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == whole.content[4:12]
    assert part.headers["Content-Range"] == f"bytes 4-11/{len(whole.content)}"

    poster = signed_in.get(reverse("media", args=[ready.poster.name]))
    assert httpx.get(poster["Location"]).headers["Content-Type"] == "image/jpeg"


def test_a_download_link_names_the_file(signed_in: Client, ready: Generation):
    response = signed_in.get(reverse("download", args=[ready.pk]))
    assert response.status_code == 302
    answer = httpx.get(response["Location"])
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "_video-01_a-koi-pond-at-dawn.mp4" in disposition


def test_anonymous_visitors_get_the_sign_in_page_not_a_link(
    client: Client, ready: Generation, s3_endpoint: str
):
    response = client.get(reverse("media", args=[ready.video.name]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert s3_endpoint not in response["Location"]


def test_names_outside_the_media_folders_get_no_link(signed_in: Client, bucket: Any):
    for name in ("secrets/key.txt", "videos/../secrets/key.txt"):
        assert signed_in.get(reverse("media", args=[name])).status_code == 404


def test_deleting_a_video_removes_its_objects(
    signed_in: Client, ready: Generation, bucket: Any, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(reverse("delete", args=[ready.pk]))
    assert response.status_code == 302
    assert bucket.keys() == set()


def test_orphans_walks_the_bucket_and_backup_refuses_it(ready: Generation, bucket: Any, tmp_path):
    stray = default_storage.save("videos/2020/01/stray.mp4", SimpleUploadedFile("x", b"not a row's"))
    report = orphans.find_orphans(min_age=0)
    assert report.files_seen == 3
    assert report.unowned == [stray]
    with pytest.raises(backup.BackupError, match="S3 bucket"):
        backup.create_backup(tmp_path / "backup.tar.gz")
