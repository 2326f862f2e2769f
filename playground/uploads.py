"""An upload handler that stops reading a first-frame upload as soon as it passes the limit.

Without it Django reads the whole request body before the form sees the file, so a 1 GB upload
would cost 1 GB of reading and disk. Raising StopUpload(connection_reset=True) makes the
multipart parser stop right there; the fields that came before the file are kept, so the form
can say what went wrong and keep the user's prompt.
"""

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from playground.images import MAX_BYTES


@dataclass(frozen=True)
class UploadTooLarge:
    field_name: str
    request_bytes: int | None  # the whole request's Content-Length, a fair estimate of the file's size


class CappedUploadHandler(FileUploadHandler):
    def handle_raw_input(
        self, input_data: Any, META: Any, content_length: int, *args: Any, **kwargs: Any
    ) -> None:
        self.content_length = content_length

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > MAX_BYTES:
            if self.request is not None:
                self.request.upload_too_large = UploadTooLarge(self.field_name, self.content_length or None)  # type: ignore[attr-defined]
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
