"""Upload handlers for first frames.

CappedUploadHandler stops reading a file upload as soon as it passes the limit. Without it Django
reads the whole request body before the form sees the file, so a 1 GB upload would cost 1 GB of
reading and disk. Raising StopUpload(connection_reset=True) makes the multipart parser stop right
there; the fields that came before the file are kept, so the form can say what went wrong and keep
the user's prompt.

It also stops a request whose files together pass request_max_bytes(), the most a valid request
can carry (a batch's first frames, a last frame and every reference together): each file alone
under its limit, many of them could otherwise still make the server read and spool hundreds of MB.

SpoolUploadHandler replaces Django's TemporaryFileUploadHandler, which names its spool file after
the extension the browser sent: a hostile extension would reach the file system (and a very long
one fails the open with a 500). Ours spools under a name of its own; the user's file name is kept
only as a string on the upload object, and nothing stores it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from playground.lib import mediaprobe
from playground.lib.mediaprobe import REFERENCES_MAX_BYTES
from playground.pictures import MAX_BYTES, megabytes
from playground.pictures import MAX_INPUT_BYTES as MAX_FIX_INPUT_BYTES


def request_max_bytes() -> int:
    """The most file bytes one request may carry, all its files together.

    The largest valid request is the Generate page's: a batch's first frames (MAX_BATCH_PICTURES,
    each at most MAX_BYTES), a last frame (MAX_BYTES) and every reference together (at most
    REFERENCES_MAX_BYTES). The check before a fix reads one file up to MAX_FIX_INPUT_BYTES.
    """
    generate = settings.MAX_BATCH_PICTURES * MAX_BYTES + MAX_BYTES + REFERENCES_MAX_BYTES
    return max(generate, MAX_FIX_INPUT_BYTES)


def request_too_large(limit: int) -> str:
    """The sentence for a request whose files together passed `limit` bytes."""
    return (
        f"All the files in one request may add up to at most {megabytes(limit)} MB; "
        f"these came to more than {megabytes(limit)} MB. Send fewer or smaller files at a time."
    )


# The Generate form's file fields for reference videos and voice samples, by kind.
_MEDIA_FIELDS = {"reference_videos": "videos", "reference_audios": "audios"}


@dataclass(frozen=True)
class UploadTooLarge:
    field_name: str
    request_bytes: int | None  # the whole request's Content-Length, a fair estimate of the file's size
    # Set when the files together passed the request's limit (this many bytes), not one file its own.
    request_limit: int | None = None

    def sentence(self) -> str:
        """What went wrong, in the words for what was sent: the request's files together, or the
        file it stopped at (a reference video, a voice sample, else a picture)."""
        if self.request_limit:
            return request_too_large(self.request_limit)
        kind = _MEDIA_FIELDS.get(self.field_name)
        if kind:
            return mediaprobe.too_large(kind, self.request_bytes or 0, estimated=True)
        size = self.request_bytes
        # Only name a size when the request makes it clear; just over the limit reads better as "larger".
        largest = megabytes(MAX_BYTES)
        about = (
            f"about {size / 1024 / 1024:,.0f} MB"
            if size and size > MAX_BYTES + 1024 * 1024
            else f"larger than {largest} MB"
        )
        return f"This file is {about}. The largest image we can send is {largest} MB."


class CappedUploadHandler(FileUploadHandler):
    limit = MAX_BYTES  # a view may raise it with @fix_upload_limit
    too_large: UploadTooLarge | None = None
    request_received = 0  # every file's bytes so far, this request

    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, *args: Any, **kwargs: Any
    ) -> None:
        # Not self.content_length: new_file() overwrites that with the file part's own (unknown) length.
        self.request_length = content_length
        self.request_limit = request_max_bytes()

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        self.request_received += len(raw_data)
        length = getattr(self, "request_length", None) or None
        if self.received > self.limit:
            self.too_large = UploadTooLarge(self.field_name, length)
            raise StopUpload(connection_reset=True)
        limit = getattr(self, "request_limit", None) or request_max_bytes()
        if self.request_received > limit:
            self.too_large = UploadTooLarge(self.field_name, length, request_limit=limit)
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def too_large(request: HttpRequest) -> UploadTooLarge | None:
    """The file this request's upload stopped at, if it went past the limit (read POST first)."""
    return next((h.too_large for h in request.upload_handlers if isinstance(h, CappedUploadHandler)), None)


def fix_upload_limit(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let `view` take files up to what the one-click fixes read (a too-large photo can be
    compressed), not just the first-frame limit.

    Handlers can only change before the body is read, and the CSRF check reads it, so that check
    moves inside, after the change (Django's documented way to change upload handlers).
    """

    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def run(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        for handler in request.upload_handlers:
            if isinstance(handler, CappedUploadHandler):
                handler.limit = MAX_FIX_INPUT_BYTES
        return protected(request, *args, **kwargs)

    return run


class SpoolUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        # "upload" has no extension, so the spool file is tmpXXXXXXXX.upload whatever was sent.
        self.file = TemporaryUploadedFile(
            "upload", self.content_type, 0, self.charset, self.content_type_extra
        )
        self.file.name = self.file_name
