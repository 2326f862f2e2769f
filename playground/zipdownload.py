"""Many videos as one zip, written while it is sent.

zipstream-ng builds the archive as an iterator: each video is read from storage in CHUNK pieces
and passed straight to the response, so memory stays flat however many gigabytes go out. Videos
are stored, not compressed (MP4 is already compressed), which also lets the archive's exact
length be known up front: the browser shows real progress. With an S3 bucket each object's body
is streamed from the bucket the same way, never downloaded whole first.

Each zip occupies a web thread for as long as the download lasts, so at most
ZIP_STREAMS_PER_PROCESS run at once in a process; another asks the person to try again shortly.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from zipstream import ZipStream

from playground.media import is_remote
from playground.models import Generation

CHUNK = 256 * 1024
INDEX_NAME = "index.csv"
INDEX_COLUMNS = ["file", "video", "prompt", "model", "maker", "date", "cost_usd", "credits"]


class TooBusy(Exception):
    pass


ZIP_STREAMS_PER_PROCESS = 4
_streams = threading.BoundedSemaphore(ZIP_STREAMS_PER_PROCESS)


def unique_names(rows: list[Generation]) -> list[str]:
    """The single-download names, with " (2)", " (3)"… before .mp4 where two would collide."""
    seen: dict[str, int] = {}
    names = []
    for gen in rows:
        name = gen.download_name
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        if count > 1:
            stem = name.removesuffix(".mp4")
            name = f"{stem} ({count}).mp4"
            while name.lower() in seen:
                count += 1
                name = f"{stem} ({count}).mp4"
            seen[name.lower()] = 1
        names.append(name)
    return names


def cost(gen: Generation) -> str:
    """What the video cost in dollars, as the service reported it (empty where it did not)."""
    return "" if gen.usd_spent is None else f"{gen.usd_spent.normalize():f}"


def credits(gen: Generation) -> str:
    """The credits the service reported (its header's, else the poll's), written out in full."""
    value = gen.credits_reported
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def index_csv(rows: list[Generation], names: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(INDEX_COLUMNS)
    for gen, name in zip(rows, names, strict=True):
        maker = gen.created_by.get_username() if gen.created_by else "a former member"
        writer.writerow(
            [
                name,
                gen.pk,
                gen.prompt,
                gen.model,
                maker,
                timezone.localtime(gen.created_at).isoformat(),
                cost(gen),
                credits(gen),
            ]
        )
    # A BOM so spreadsheet programs read the prompts' accents as UTF-8.
    return ("\ufeff" + out.getvalue()).encode()


def _local_chunks(name: str) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as f:
        while data := f.read(CHUNK):
            yield data


def _bucket_chunks(name: str) -> Iterator[bytes]:
    # S3Storage.open() would copy the whole object into a temporary file before the first read;
    # the object's own body streams instead. _normalize_name adds the configured location prefix.
    storage: Any = default_storage
    body = storage.bucket.Object(storage._normalize_name(name)).get()["Body"]
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def _sizes(rows: list[Generation]) -> dict[int, int]:
    """Each video's stored size; a video whose file is missing is left out.

    A wrong size would break the archive halfway, after the headers are sent, so local files
    are measured (a stat each). In a bucket that would be a round trip per video: the size
    recorded when the video was archived is used, and the bucket asked only where none was.
    """
    sizes: dict[int, int] = {}
    for gen in rows:
        try:
            if is_remote() and gen.video_size is not None:
                sizes[gen.pk] = gen.video_size
            else:
                sizes[gen.pk] = default_storage.size(gen.video.name)
        except (FileNotFoundError, OSError):
            continue
    return sizes


def archive(rows: list[Generation]) -> ZipStream:
    sizes = _sizes(rows)
    rows = [gen for gen in rows if gen.pk in sizes]
    zs = ZipStream(sized=True)
    names = unique_names(rows)
    read = _bucket_chunks if is_remote() else _local_chunks
    for gen, name in zip(rows, names, strict=True):
        zs.add(read(gen.video.name), name, size=sizes[gen.pk])
    zs.add(index_csv(rows, names), INDEX_NAME)
    return zs


class _Held:
    """The archive's bytes; closing it (Django closes a response's content) frees the slot once."""

    def __init__(self, stream: Iterator[bytes]) -> None:
        self.stream = stream
        self.held = True

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        finally:
            self.close()

    def close(self) -> None:
        if self.held:
            self.held = False
            _streams.release()


def zip_response(rows: list[Generation]) -> StreamingHttpResponse:
    if not _streams.acquire(blocking=False):
        raise TooBusy("Other zip downloads are being sent right now. Try again in a minute.")
    try:
        zs = archive(rows)
        length = len(zs)
    except BaseException:
        _streams.release()
        raise
    response = StreamingHttpResponse(_Held(iter(zs)), content_type="application/zip")
    response["Content-Length"] = str(length)
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    name = f"videos_{stamp}_{len(rows)}.zip"
    response["Content-Disposition"] = content_disposition_header(True, name) or ""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    # Behind nginx: pass the stream through as it comes instead of spooling up to a gigabyte
    # per download into nginx's temporary files; ZIP_STREAMS_PER_PROCESS bounds the threads held.
    response["X-Accel-Buffering"] = "no"
    return response
