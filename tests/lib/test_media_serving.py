"""How files reach browsers in production: media headers, static files through WhiteNoise, gunicorn.

Media from the local folder: the right type for each kind, private caching for ever (names are
random and never reused), Range. Static files: collected with hashed names and compressed, and
served by WhiteNoise with a year of immutable caching for hashed names only.
"""

from __future__ import annotations

import gzip
import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client, RequestFactory
from django.urls import reverse
from whitenoise.middleware import WhiteNoiseMiddleware

from tests.factories import image_bytes
from tests.servers import ROOT, Prepared


@pytest.mark.parametrize(
    ("name", "body", "content_type"),
    [
        ("videos/2026/11/a.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(100), "video/mp4"),
        ("posters/2026/11/a.jpg", image_bytes(400, 300, "JPEG"), "image/jpeg"),
        ("first-frames/2026/11/a.png", image_bytes(400, 300, "PNG"), "image/png"),
        ("first-frames/2026/11/a.jpg", image_bytes(400, 300, "JPEG"), "image/jpeg"),
    ],
)
def test_each_kind_of_media_has_its_type_and_private_lasting_cache(
    signed_in: Client, name: str, body: bytes, content_type: str
):
    stored = default_storage.save(name, ContentFile(body))
    response = signed_in.get(reverse("media", args=[stored]))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Accept-Ranges"] == "bytes"
    assert b"".join(response.streaming_content) == body  # type: ignore[attr-defined]


def test_a_range_answer_keeps_the_same_headers(signed_in: Client):
    stored = default_storage.save("videos/2026/11/b.mp4", ContentFile(bytes(range(256)) * 4))
    response = signed_in.get(reverse("media", args=[stored]), HTTP_RANGE="bytes=1000-")
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 1000-1023/1024"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert b"".join(response.streaming_content) == (bytes(range(256)) * 4)[1000:]  # type: ignore[attr-defined]


def test_local_media_are_streamed_by_the_app_not_redirected(signed_in: Client):
    stored = default_storage.save("posters/2026/11/c.jpg", ContentFile(b"\xff\xd8\xff"))
    response = signed_in.get(reverse("media", args=[stored]))
    assert response.status_code == 200
    assert "Location" not in response


@pytest.fixture
def collected(settings: Any, tmp_path: Path, prepared_site: Prepared) -> Path:
    """Static files collected as production does: hashed names, gzip copies, a manifest (the run's
    `collectstatic` with production settings, copied: tests/servers.py, Prepared)."""
    settings.STATIC_ROOT = prepared_site.copy_static(tmp_path / "static")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    return Path(settings.STATIC_ROOT)


def serve_static(path: str, **headers: str) -> Any:
    def not_static(request: Any) -> Any:
        raise AssertionError(f"{path} did not reach WhiteNoise")

    middleware = WhiteNoiseMiddleware(not_static)
    return middleware(RequestFactory().get(path, headers=headers))


def test_hashed_static_files_are_cached_for_a_year_and_sent_compressed(collected: Path):
    from django.contrib.staticfiles.storage import staticfiles_storage

    url = staticfiles_storage.url("css/app.css")
    assert url != "/static/css/app.css"  # the name carries the content's hash
    response = serve_static(url, accept_encoding="gzip")
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    body = b"".join(response.streaming_content)
    assert gzip.decompress(body) == (ROOT / "static" / "css" / "app.css").read_bytes()


def test_a_static_file_asked_for_by_its_plain_name_is_cached_briefly(collected: Path):
    response = serve_static("/static/css/app.css")
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=3600, public"


def test_the_gunicorn_config_follows_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("GUNICORN_THREADS", "6")
    monkeypatch.setenv("PORT", "9001")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (5, 6, "gthread")
    assert config["bind"] == ["127.0.0.1:9001"]
    assert config["wsgi_app"] == "playground.wsgi:application"
    assert config["control_socket_disable"] is True


@pytest.fixture
def ready_video(user: Any) -> Any:
    from tests.factories import ready

    video = default_storage.save("videos/2026/12/head.mp4", ContentFile(bytes(range(256)) * 8))
    return ready(user, prompt="A red fox in the snow", video=video)


def test_a_nul_byte_in_a_media_name_is_404_not_a_server_error(signed_in: Client):
    assert signed_in.get("/media/first-frames/a%00.jpg").status_code == 404
    assert signed_in.get("/media/videos/x%00/../../settings.py").status_code == 404


@pytest.mark.parametrize("route", ["media", "download"])
def test_head_on_media_and_downloads_answers_as_get_without_a_body(signed_in: Client, ready_video, route):
    args = [ready_video.video.name] if route == "media" else [ready_video.pk]
    got = signed_in.get(reverse(route, args=args))
    head = signed_in.head(reverse(route, args=args))
    assert head.status_code == 200
    for header in ("Content-Type", "Content-Length", "Cache-Control", "Accept-Ranges", "Content-Disposition"):
        assert head.get(header) == got.get(header), header
    assert head["Content-Length"] == "2048"
    ranged = signed_in.head(reverse(route, args=args), HTTP_RANGE="bytes=0-99")
    assert (ranged.status_code, ranged["Content-Range"]) == (206, "bytes 0-99/2048")


def test_head_on_media_reads_no_bytes(user: Any, ready_video):
    from playground.lib.media import media

    request = RequestFactory().head(reverse("media", args=[ready_video.video.name]))
    request.user = user
    response: Any = media(request, ready_video.video.name)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b""
    assert response["Content-Length"] == "2048"


def test_behind_nginx_media_are_handed_over_with_x_accel_redirect(signed_in: Client, ready_video, settings):
    settings.MEDIA_X_ACCEL = True
    settings.SENDFILE_ROOT = str(settings.MEDIA_ROOT)
    shown = signed_in.get(reverse("media", args=[ready_video.video.name]), HTTP_RANGE="bytes=0-9")
    assert shown.status_code == 200  # nginx answers the range itself
    assert shown["X-Accel-Redirect"] == f"/protected-media/{ready_video.video.name}"
    assert shown["Content-Type"] == "video/mp4"
    assert shown["Cache-Control"] == "private, max-age=31536000, immutable"
    assert shown.content == b""
    download = signed_in.get(reverse("download", args=[ready_video.pk]))
    assert download["X-Accel-Redirect"] == f"/protected-media/{ready_video.video.name}"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "video-01_a-red-fox-in-the-snow.mp4" in download["Content-Disposition"]
    assert signed_in.get(reverse("media", args=["videos/missing.mp4"])).status_code == 404
    assert signed_in.get("/media/first-frames/a%00.jpg").status_code == 404


def test_without_the_proxy_setting_the_app_streams_media_itself(signed_in: Client, ready_video, settings):
    assert settings.MEDIA_X_ACCEL is False
    response = signed_in.get(reverse("media", args=[ready_video.video.name]), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206
    assert "X-Accel-Redirect" not in response
