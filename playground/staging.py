"""Pictures waiting to be fixed: a refused original and the fixed versions made from it.

When a first frame breaks a rule that a Pillow fix can mend, the original is kept under
staging/<id>/ so the person can compare the fixes and pick one without uploading again. Only
the browser session that uploaded it can see it (the ids live in the session); nothing here
is a Generation yet. A staged picture becomes a first frame only when the form is submitted
with it, and then as a copy under first-frames/, so staging can be swept after a day.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from playground import imagefix, images

FOLDER = "staging"
_SERVABLE = re.compile(r"original|fixed-[a-z]+\.(jpg|png)")
SESSION_KEY = "staged_frames"
KEEP_IN_SESSION = 20
KEEP_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Offer:
    """A refused picture and the fixes that would make it pass."""

    id: str
    messages: list[str]
    fixes: list[imagefix.Fix]


@dataclass(frozen=True)
class Chosen:
    """A fixed picture, ready to be the first frame."""

    token: str  # "<id>:<fix key>", what the form carries
    label: str
    width: int
    height: int
    name: str  # file name within the staging folder, for its preview URL


class Staging:
    """The staged pictures of one browser session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def owns(self, staged_id: str) -> bool:
        return staged_id in self.session.get(SESSION_KEY, [])

    def offer(self, data: bytes, messages: list[str]) -> Offer | None:
        """Keep `data` if some fix would mend it; None if no fix applies."""
        fixes = imagefix.diagnose(data)
        if not fixes:
            return None
        staged_id = uuid.uuid4().hex
        default_storage.save(_path(staged_id, "original"), ContentFile(data))
        ids = [*self.session.get(SESSION_KEY, []), staged_id][-KEEP_IN_SESSION:]
        self.session[SESSION_KEY] = ids
        return Offer(id=staged_id, messages=messages, fixes=fixes)

    def fixes_for(self, staged_id: str) -> list[imagefix.Fix]:
        return imagefix.diagnose(self._original(staged_id))

    def preview(self, staged_id: str, key: str) -> bytes:
        """A small JPEG of what fix `key` would make (made once, then kept)."""
        if key not in imagefix.KEYS:
            raise images.ImageRejected(imagefix.DOES_NOT_APPLY)
        name = _path(staged_id, f"preview-{key}.jpg")
        if not default_storage.exists(name):
            fixed = self._fixed(staged_id, key)
            default_storage.save(name, ContentFile(imagefix.preview(fixed.data)))
        with default_storage.open(name, "rb") as f:
            data: bytes = f.read()
        return data

    def choose(self, staged_id: str, key: str) -> Chosen:
        """Apply fix `key` for real; raises ImageRejected if it does not apply or fails the rules."""
        fixed = self._fixed(staged_id, key)
        label = next(
            (fix.label for fix in imagefix.diagnose(self._original(staged_id)) if fix.key == key), key
        )
        return Chosen(
            token=f"{staged_id}:{key}",
            label=label,
            width=fixed.width,
            height=fixed.height,
            name=f"fixed-{key}.{fixed.extension}",
        )

    def chosen(self, token: str) -> Chosen | None:
        """What a form's staged_first_frame value stands for, if this session owns it."""
        staged_id, _, key = token.partition(":")
        if not self.owns(staged_id) or key not in imagefix.KEYS:
            return None
        try:
            return self.choose(staged_id, key)
        except images.ImageRejected:
            return None

    def checked(self, token: str) -> images.CheckedImage | None:
        staged_id, _, key = token.partition(":")
        if not self.owns(staged_id) or key not in imagefix.KEYS:
            return None
        try:
            return self._fixed(staged_id, key)
        except images.ImageRejected:
            return None

    def stored_name(self, staged_id: str, name: str) -> str:
        """The storage name of a staged file, for a name a URL may ask for."""
        if not _SERVABLE.fullmatch(name):
            raise ValueError("not a staged picture")
        return _path(staged_id, name)

    def _original(self, staged_id: str) -> bytes:
        with default_storage.open(_path(staged_id, "original"), "rb") as f:
            data: bytes = f.read()
        return data

    def _fixed(self, staged_id: str, key: str) -> images.CheckedImage:
        # Only known names reach a storage path: a crafted one ("x/../../first-frames/…") gets
        # the same answer as a fix that doesn't fit, so it can't tell whether such a file exists.
        if key not in imagefix.KEYS:
            raise images.ImageRejected(imagefix.DOES_NOT_APPLY)
        for extension in ("jpg", "png"):
            name = _path(staged_id, f"fixed-{key}.{extension}")
            if default_storage.exists(name):
                with default_storage.open(name, "rb") as f:
                    return images.check_image(f.read())
        fixed = imagefix.apply_fix(self._original(staged_id), key)
        default_storage.save(_path(staged_id, f"fixed-{key}.{fixed.extension}"), ContentFile(fixed.data))
        return fixed


def _path(staged_id: str, name: str) -> str:
    if len(staged_id) != 32 or not all(c in "0123456789abcdef" for c in staged_id):
        raise ValueError("not a staging id")
    return f"{FOLDER}/{staged_id}/{name}"


def sweep(older_than: timedelta = KEEP_FOR) -> int:
    """Delete staged pictures older than `older_than`; returns how many folders went."""
    cutoff = timezone.now() - older_than
    removed = 0
    folders, _ = default_storage.listdir(FOLDER) if default_storage.exists(FOLDER) else ([], [])
    for folder in folders:
        _, files = default_storage.listdir(f"{FOLDER}/{folder}")
        names = [f"{FOLDER}/{folder}/{name}" for name in files]
        if names and all(default_storage.get_modified_time(n) < cutoff for n in names):
            for name in names:
                default_storage.delete(name)
            removed += 1
    return removed
