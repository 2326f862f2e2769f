"""Many videos as one zip, written while it is sent.

zipstream-ng builds the archive as an iterator: each video is read from storage in CHUNK pieces
and passed straight to the response, so memory stays flat however many gigabytes go out. Videos
are stored, not compressed (MP4 is already compressed), which also lets the archive's exact
length be known up front: the browser shows real progress. With an S3 bucket each object's body
is streamed from the bucket the same way, never downloaded whole first.

A zip holds a web thread for as long as its reader takes (nginx passes it through unbuffered), so
however many are asked for, these bounds keep the site answering:

- Per web process, at most half its threads and never all of them (`streams_for`): 2 of
  gunicorn's default 4, 4 of 8, none with 1 (then a sentence says zips are off). gunicorn.conf.py
  tells each process its thread count; elsewhere (runserver, tests) the default 4 is assumed.
- Per person, ZIP_STREAMS_PER_PERSON (2) at once across every web process on the host: each slot
  is a lock file in VAR_DIR/zip-slots held with flock() while the zip streams, and the kernel lets
  go of it if the process dies. (Web processes on several hosts each count their own.)
- A stalled reader: under gunicorn the connection gets a send timeout of ZIP_STALL_SECONDS (30).
  A piece of the zip (256 KB of a video, or the index whole) that cannot be handed to the client
  within that ends the download and frees the thread and the slots: a reader must take ~8.5 KB/s.

A zip over a bound is answered 503 with Retry-After and the sentence that says which bound.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from zipstream import ZipStream

from playground.generations.models import Generation
from playground.lib.csvexport import csv_bytes
from playground.lib.http import AuthenticatedHttpRequest
from playground.lib.media import is_remote

CHUNK = 256 * 1024
INDEX_NAME = "index.csv"
INDEX_COLUMNS = ["file", "video", "prompt", "model", "maker", "date", "cost_usd", "credits"]


class TooBusy(Exception):
    pass


# What a refused zip's answer says to wait before asking again.
RETRY_AFTER_SECONDS = 60


def streams_for(threads: int) -> int:
    """How many zips one web process may send at once: at most half its threads, never all."""
    return min(threads // 2, threads - 1)


ZIP_STREAMS_PER_PROCESS = streams_for(4)
_streams = threading.BoundedSemaphore(ZIP_STREAMS_PER_PROCESS)


def use_threads(threads: int) -> None:
    """Called in each gunicorn web process (gunicorn.conf.py) with its real thread count."""
    global ZIP_STREAMS_PER_PROCESS, _streams
    ZIP_STREAMS_PER_PROCESS = streams_for(threads)
    _streams = threading.BoundedSemaphore(max(ZIP_STREAMS_PER_PROCESS, 1))


def _person_slot(user_pk: int) -> int | None:
    """An open, flock()ed slot file of this person's (its descriptor), or None if all are taken.

    flock() locks belong to an open file, so two threads of one process contend as two
    processes do; closing the descriptor, or the process ending, lets go.
    """
    folder = settings.VAR_DIR / "zip-slots"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(settings.ZIP_STREAMS_PER_PERSON):
        fd = os.open(folder / f"{user_pk}-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


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
    lines: list[list[object]] = [list(INDEX_COLUMNS)]
    for gen, name in zip(rows, names, strict=True):
        maker = gen.created_by.get_username() if gen.created_by else "a former member"
        lines.append(
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
    return csv_bytes(lines)


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
    """The archive's bytes; closing it (Django closes a response's content) frees its slots once."""

    def __init__(self, stream: Iterator[bytes], release: Callable[[], None]) -> None:
        self.stream = stream
        self.release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.stream
        finally:
            self.close()

    def close(self) -> None:
        if self.release is not None:
            self.release()
            self.release = None


def _take_slots(user_pk: int) -> Callable[[], None]:
    """One of the person's slots and one of the process's, and what lets go of both; or TooBusy."""
    if ZIP_STREAMS_PER_PROCESS == 0:
        raise TooBusy(
            "This server sends no zips: each of its web processes has one thread, which pages need. "
            "Download the videos one by one, or ask the admin to set GUNICORN_THREADS to 2 or more."
        )
    person = _person_slot(user_pk)
    if person is None:
        raise TooBusy(
            f"You already have {settings.ZIP_STREAMS_PER_PERSON} zip downloads running; "
            "let one finish, then try again."
        )
    process = _streams
    if not process.acquire(blocking=False):
        os.close(person)
        raise TooBusy("Other zip downloads are being sent right now. Try again in a minute.")

    def release() -> None:
        os.close(person)
        process.release()

    return release


def zip_response(request: AuthenticatedHttpRequest, rows: list[Generation]) -> StreamingHttpResponse:
    release = _take_slots(request.user.pk)
    try:
        zs = archive(rows)
        length = len(zs)
    except BaseException:
        release()
        raise
    # gthread hands the connection's socket to this thread with no timeout, so a reader that
    # takes nothing would hold the thread for ever; Python's sendall() keeps one deadline per
    # call, and gunicorn makes one call per piece. Gunicorn resets the timeout on keep-alive.
    connection = request.META.get("gunicorn.socket")
    if connection is not None:
        connection.settimeout(settings.ZIP_STALL_SECONDS)
    response = StreamingHttpResponse(_Held(iter(zs), release), content_type="application/zip")
    response["Content-Length"] = str(length)
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    name = f"videos_{stamp}_{len(rows)}.zip"
    response["Content-Disposition"] = content_disposition_header(True, name) or ""
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    # Behind nginx: pass the stream through as it comes instead of spooling up to a gigabyte
    # per download into nginx's temporary files; the bounds above limit the threads held.
    response["X-Accel-Buffering"] = "no"
    return response
