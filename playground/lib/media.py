"""Serving stored files (first frames, videos, posters) to signed-in users, with HTTP Range.

Browsers seek in a <video> by asking for byte ranges; without 206 answers Chromium cannot jump
around a video. Only one range per request is honoured, which is all media players ask for.

With an S3-compatible bucket (MEDIA_STORAGE=s3) the app does not stream media itself: a signed-in
user is redirected to a signed link valid for MEDIA_LINK_SECONDS, and the bucket answers the
ranges. Sign-in (LoginRequiredMiddleware) still stands in front of every link handed out.

Behind nginx (MEDIA_X_ACCEL=true, deploy/nginx/) the app checks the request and answers with an
X-Accel-Redirect through django-sendfile2; nginx then sends the file and its ranges from an
internal location, so a slow reader holds no app thread. HEAD gets the headers of a GET only.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage, storages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe
from django_sendfile import sendfile

CHUNK = 256 * 1024
SERVED_FOLDERS = ("first-frames/", "videos/", "posters/", "last-frames/", "sequences/")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _chunks(f: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    try:
        f.seek(start)
        while length > 0:
            data = f.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        f.close()


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single satisfiable range; None to send the whole file.

    Raises ValueError for a range that cannot be satisfied (416).
    """
    match = _RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            raise ValueError("empty suffix range")
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range outside the file")
    return start, end


def serve_stored_file(
    request: HttpRequest, name: str, *, download_as: str | None = None
) -> HttpResponse | StreamingHttpResponse:
    if not name.startswith(SERVED_FOLDERS) or ".." in name.split("/") or "\x00" in name:
        raise Http404("No such file.")
    if is_remote():
        return _redirect_to_signed_link(name, download_as)
    if settings.MEDIA_X_ACCEL:
        return _hand_to_nginx(request, name, download_as)
    try:
        size = default_storage.size(name)
        f = default_storage.open(name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("No such file.") from exc
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        byte_range = parse_range(request.headers.get("Range", ""), size)
    except ValueError:
        f.close()
        refusal = HttpResponse(status=416)
        refusal["Content-Range"] = f"bytes */{size}"
        return refusal
    start, end = byte_range or (0, size - 1)
    length = max(0, end - start + 1)
    if request.method == "HEAD":
        f.close()  # the headers of the GET, without reading the file
        body: Iterator[bytes] = iter(())
    else:
        body = _chunks(f, start, length)
    response = StreamingHttpResponse(body, content_type=content_type)
    if byte_range:
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    # Names are random and never reused, so a browser may keep the file; "private" keeps shared
    # caches from storing what only signed-in users may see.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    if download_as:
        response["Content-Disposition"] = content_disposition_header(True, download_as) or ""
    return response


S3_BACKEND = "storages.backends.s3.S3Storage"


def is_remote() -> bool:
    """True when media live in a bucket that hands out signed links (see settings.MEDIA_STORAGE)."""
    return bool(settings.STORAGES["default"]["BACKEND"] == S3_BACKEND)


def _hand_to_nginx(request: HttpRequest, name: str, download_as: str | None) -> HttpResponse:
    # A relative name is taken inside SENDFILE_ROOT (MEDIA_ROOT); a missing file is a 404 here.
    response: HttpResponse = sendfile(
        request, name, attachment=bool(download_as), attachment_filename=download_as
    )
    # nginx keeps these from the app's answer when it serves the file (see the nginx example).
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _redirect_to_signed_link(name: str, download_as: str | None) -> HttpResponseRedirect:
    # No existence check first: it would cost a round trip to the bucket on every play, and a
    # link to a missing object just gets the bucket's own 404.
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    parameters = {"ResponseContentType": content_type}
    if download_as:
        parameters["ResponseContentDisposition"] = content_disposition_header(True, download_as) or ""
    bucket: Any = storages["default"]  # S3Storage.url takes more arguments than Storage.url
    url = bucket.url(name, parameters=parameters, expire=settings.MEDIA_LINK_SECONDS)
    response = HttpResponseRedirect(url)
    # The link is a short-lived credential for this user: no cache may keep or share it.
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def media(request: HttpRequest, name: str) -> HttpResponseBase:
    return serve_stored_file(request, name)
