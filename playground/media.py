"""Serving stored files (first frames, videos, posters) to signed-in users, with HTTP Range.

Browsers seek in a <video> by asking for byte ranges; without 206 answers Chromium cannot jump
around a video. Only one range per request is honoured, which is all media players ask for.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from typing import IO

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

CHUNK = 256 * 1024
SERVED_FOLDERS = ("first-frames/", "videos/", "posters/")
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
    if not name.startswith(SERVED_FOLDERS) or ".." in name.split("/"):
        raise Http404("No such file.")
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
    response = StreamingHttpResponse(_chunks(f, start, length), content_type=content_type)
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
