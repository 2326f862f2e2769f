"""Pictures waiting to be fixed: a refused original and the fixed versions made from it.

When a first frame breaks a rule that a Pillow fix can mend, the original is kept under
staging/<id>/ so the person can compare the fixes and pick one without uploading again. A
StagedPicture row says whose it is and what its check found (type, size, the refusal, the fixes
offered, the fixes made), so later steps read that instead of checking or decoding it again.
Nothing here is a Generation yet: a staged picture becomes a first frame only when the form is
submitted with it, and then as a copy under first-frames/, so staging can be swept after a day.

A batch of several pictures that can't be sent yet keeps every picture here, the ones that
passed too (kept as they are, with no refusal and no fixes), so the page can come back with all
of them and the person never uploads one twice (see batch_pictures.py).

A Remix carries its video's stored references by naming them ("ref-<id>", references.py) where
a staging id would stand: Staging answers for them too (their size, their probe, their bytes at
Generate, their thumbnail), asking each time that the person may see the video, and stages none.

Each person has at most keep_limit() staged pictures (KEEP_PER_PERSON, and never fewer than a
whole batch, its last frame and the most reference pictures a model takes) and
KEEP_BYTES_PER_PERSON bytes of originals; staging one more drops the oldest at once, files and all.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from playground import pictures
from playground.generations import references
from playground.lib import mediaprobe
from playground.pictures import fixing
from playground.pictures.models import StagedPicture
from playground.upstream import catalogue


def keep_limit() -> int:
    """How many staged pictures a person keeps: a whole batch, its last frame and a full list of
    reference pictures, and never fewer than KEEP_PER_PERSON."""
    return max(
        KEEP_PER_PERSON, settings.MAX_BATCH_PICTURES + 1 + REFERENCE_PICTURES_MAX + REFERENCE_MEDIA_MAX
    )


FOLDER = "staging"
_SERVABLE = re.compile(r"original|fixed-[a-z]+\.(jpg|png)")
KEEP_PER_PERSON = 5
# The most reference pictures (and videos and voice samples) any model takes (catalogue.py), all
# kept across a round trip.
REFERENCE_PICTURES_MAX = max(
    (r.most for m in catalogue.MODELS for r in m.references if r.kind == "images"), default=0
)
REFERENCE_MEDIA_MAX = max(
    (sum(r.most for r in m.references if r.kind != "images") for m in catalogue.MODELS), default=0
)
KEEP_BYTES_PER_PERSON = 128 * 1024 * 1024
KEEP_FOR = timedelta(days=1)
GONE = "That picture is no longer waiting to be fixed. Choose it again."


@dataclass(frozen=True)
class Offer:
    """A refused picture and the fixes that would make it pass."""

    id: str
    messages: list[str]
    fixes: list[fixing.Fix]


@dataclass(frozen=True)
class Kept:
    """A picture of a batch that passed as it is, kept so the page can come back with it."""

    id: str
    width: int
    height: int


@dataclass(frozen=True)
class Chosen:
    """A fixed picture, ready to be the first frame."""

    token: str  # "<id>:<fix key>", or "<id>" alone for a picture kept as it passed (as a batch's are)
    label: str  # the fix's label; empty for a picture kept as it passed
    width: int
    height: int
    name: str  # file name within the staging folder, for its preview URL


class Staging:
    """The staged pictures of one person."""

    def __init__(self, owner: User) -> None:
        self.owner = owner

    def _record(self, staged_id: str) -> StagedPicture | None:
        if not _is_id(staged_id) or not getattr(self.owner, "pk", None):
            return None
        return StagedPicture.objects.filter(pk=staged_id, owner=self.owner.pk).first()

    def owns(self, staged_id: str) -> bool:
        """Whether this person may be shown the staged file: their own, or a reference a Remix carries."""
        return self._record(staged_id) is not None or self._carried(staged_id) is not None

    def _carried(self, token: str) -> references.Reference | None:
        return references.carried(token, self.owner) if references.is_carried(token) else None

    def carried(self, token: str) -> Kept | None:
        """A reference picture a Remix carries ("ref-<id>"), as the page shows it: its size and the
        rules its size decides, read from its headers alone (pictures.stored_size); None when it is
        gone, breaks a rule, or is not this person's to see. Generate checks it whole."""
        ref = self._carried(token)
        if ref is None or ref.kind != "images":
            return None
        try:
            size = default_storage.size(ref.file.name)
            with default_storage.open(ref.file.name, "rb") as f:
                width, height = pictures.stored_size(cast(BinaryIO, f), size)
        except (OSError, pictures.ImageRejected):
            return None
        return Kept(id=token, width=width, height=height)

    def carried_media(self, token: str) -> tuple[str, float] | None:
        """(kind, seconds) of a reference video or voice sample a Remix carries, probed as its file
        is read (mediaprobe.probe_stored); None when gone, refused, or not this person's to see."""
        ref = self._carried(token)
        if ref is None or ref.kind not in ("videos", "audios"):
            return None
        try:
            size = default_storage.size(ref.file.name)
            with default_storage.open(ref.file.name, "rb") as f:
                return ref.kind, mediaprobe.probe_stored(ref.kind, cast(BinaryIO, f), size)
        except (OSError, mediaprobe.MediaRejected):
            return None

    def carried_bytes(self, token: str) -> bytes | None:
        """The bytes of a reference picture a Remix carries, for Generate's whole check (at most one
        byte past a picture's limit); None when gone or not this person's to see."""
        ref = self._carried(token)
        if ref is None or ref.kind != "images":
            return None
        return references.read_carried(ref, pictures.MAX_BYTES)

    def offer(self, data: bytes, messages: list[str]) -> Offer | None:
        """Keep `data` if some fix would mend it; None if no fix applies."""
        found = fixing.diagnose_picture(data, refused=True)
        if found is None or not getattr(self.owner, "pk", None):
            return None
        fixes = [{"key": f.key, "label": f.label, "explanation": f.explanation} for f in found.fixes]
        staged_id = self._stage(data, found.mime, found.width, found.height, messages=messages, fixes=fixes)
        return Offer(id=staged_id, messages=messages, fixes=found.fixes)

    def keep(self, picture: pictures.CheckedImage) -> str:
        """Keep a picture that passed as it is (no decode: it was checked); returns its id."""
        return self._stage(picture.data, picture.mime, picture.width, picture.height)

    def keep_media(self, data: bytes, mime: str) -> str:
        """Keep a reference video or voice sample that passed its probe, for the next round trip."""
        return self._stage(data, mime, 0, 0)

    def kept_media(self, staged_id: str) -> tuple[bytes, str] | None:
        """The bytes and type of a kept reference video or voice sample; None if gone. One a Remix
        carries is read from its video's stored copy (at most a byte past its kind's limit)."""
        if references.is_carried(staged_id):
            ref = self._carried(staged_id)
            if ref is None or ref.kind not in ("videos", "audios"):
                return None
            limit = mediaprobe.VIDEO_MAX_BYTES if ref.kind == "videos" else mediaprobe.AUDIO_MAX_BYTES
            carried = references.read_carried(ref, limit)
            return None if carried is None else (carried, ref.mime)
        record = self._record(staged_id)
        if record is None or record.messages or not record.mime.startswith(("video/", "audio/")):
            return None
        with default_storage.open(_path(record.id, "original"), "rb") as f:
            data: bytes = f.read()
        return data, record.mime

    def note_refused(self, messages: list[str]) -> str:
        """Remember why a batch's picture that no fix mends was refused, for the page's next round
        trip; its bytes are not kept (nothing can be done with them)."""
        return self._stage(b"", "", 0, 0, messages=messages)

    def _stage(self, data: bytes, mime: str, width: int, height: int, **verdict: list[Any]) -> str:
        """Store the original and its record (what its check found), then keep within the caps."""
        staged_id = uuid.uuid4().hex
        if data:
            default_storage.save(_path(staged_id, "original"), ContentFile(data))
        StagedPicture.objects.create(
            id=staged_id,
            owner_id=self.owner.pk,
            mime=mime,
            size=len(data),
            width=width,
            height=height,
            **verdict,
        )
        self._drop_beyond_cap()
        return staged_id

    def found(self, staged_id: str) -> Kept | Offer | None:
        """What a staged picture is now: kept as it passed, waiting for a fix (its offer), or gone."""
        record = self._record(staged_id)
        if record is None:
            return None
        if not record.messages:
            return Kept(id=record.id, width=record.width, height=record.height)
        return Offer(id=record.id, messages=record.messages, fixes=[fixing.Fix(**f) for f in record.fixes])

    def kept(self, staged_id: str) -> pictures.CheckedImage | None:
        """The bytes of a picture kept as it passed, ready to be a first frame; None if not that."""
        record = self._record(staged_id)
        if record is None or record.messages:
            return None
        with default_storage.open(_path(record.id, "original"), "rb") as f:
            data: bytes = f.read()
        extension = "png" if record.mime == "image/png" else "jpg"
        return pictures.CheckedImage(
            data=data, mime=record.mime, extension=extension, width=record.width, height=record.height
        )

    def original_type(self, staged_id: str) -> str:
        """The content type of a staged original, as its check found it."""
        if ref := self._carried(staged_id):
            return ref.mime
        record = self._record(staged_id)
        return record.mime if record else "application/octet-stream"

    def drop(self, staged_id: str) -> None:
        """Forget one of this person's staged pictures now, files and all."""
        if self._record(staged_id) is not None:
            _delete_folder(staged_id)
            StagedPicture.objects.filter(pk=staged_id).delete()

    def fixes_for(self, staged_id: str) -> list[fixing.Fix]:
        record = self._record(staged_id)
        return [fixing.Fix(**fix) for fix in record.fixes] if record else []

    def preview(self, staged_id: str, key: str) -> bytes:
        """A small JPEG of what fix `key` would make (made once, then kept)."""
        record = self._known(staged_id, key)
        name = _path(staged_id, f"preview-{key}.jpg")
        if not default_storage.exists(name):
            self._made(record, key)  # makes the preview from the same decode
        with default_storage.open(name, "rb") as f:
            data: bytes = f.read()
        return data

    def choose(self, staged_id: str, key: str) -> Chosen:
        """Apply fix `key` for real; raises ImageRejected if it does not apply or fails the rules."""
        record = self._known(staged_id, key)
        made = self._made(record, key)
        label = next(fix["label"] for fix in record.fixes if fix["key"] == key)
        return Chosen(
            token=f"{staged_id}:{key}",
            label=label,
            width=made["width"],
            height=made["height"],
            name=made["name"],
        )

    def chosen(self, token: str) -> Chosen | None:
        """What a form's staged_first_frame value stands for, if this person owns it."""
        staged_id, _, key = token.partition(":")
        if not key:
            kept = self.found(staged_id)
            if not isinstance(kept, Kept):
                return None
            return Chosen(token=token, label="", width=kept.width, height=kept.height, name="original")
        try:
            return self.choose(staged_id, key)
        except pictures.ImageRejected:
            return None

    def checked(self, token: str) -> pictures.CheckedImage | None:
        """The fixed picture a form's value stands for; it was checked when it was made."""
        staged_id, _, key = token.partition(":")
        if not key:
            return self.kept(staged_id)
        try:
            return self._fixed(self._known(staged_id, key), key)
        except pictures.ImageRejected:
            return None

    def stored_name(self, staged_id: str, name: str) -> str:
        """The storage name of a staged file, for a name a URL may ask for."""
        if not _SERVABLE.fullmatch(name):
            raise ValueError("not a staged picture")
        if references.is_carried(staged_id):
            ref = self._carried(staged_id)
            if ref is None or ref.kind != "images" or name != "original":
                raise ValueError("not a carried reference picture")
            return str(ref.file.name)
        return _path(staged_id, name)

    def _known(self, staged_id: str, key: str) -> StagedPicture:
        # Only a fix offered for this picture reaches a storage path: a crafted name
        # ("x/../../first-frames/…") gets the same answer as a fix that doesn't fit, so the
        # answer can't tell whether such a file exists.
        record = self._record(staged_id)
        if record is None:
            raise pictures.ImageRejected(GONE)
        if key not in fixing.KEYS or all(fix["key"] != key for fix in record.fixes):
            raise pictures.ImageRejected(fixing.DOES_NOT_APPLY)
        return record

    def _made(self, record: StagedPicture, key: str) -> dict[str, Any]:
        if key not in record.made:
            with default_storage.open(_path(record.id, "original"), "rb") as f:
                original = f.read()
            fixed, preview = fixing.apply_fix_with_preview(original, key)
            name = f"fixed-{key}.{fixed.extension}"
            default_storage.save(_path(record.id, name), ContentFile(fixed.data))
            default_storage.save(_path(record.id, f"preview-{key}.jpg"), ContentFile(preview))
            record.made[key] = {
                "name": name,
                "mime": fixed.mime,
                "width": fixed.width,
                "height": fixed.height,
            }
            record.save(update_fields=["made"])
        made: dict[str, Any] = record.made[key]
        return made

    def _fixed(self, record: StagedPicture, key: str) -> pictures.CheckedImage:
        made = self._made(record, key)
        with default_storage.open(_path(record.id, made["name"]), "rb") as f:
            data: bytes = f.read()
        return pictures.CheckedImage(
            data=data,
            mime=made["mime"],
            extension=made["name"].rpartition(".")[2],
            width=made["width"],
            height=made["height"],
        )

    def _drop_beyond_cap(self) -> None:
        """Keep the newest KEEP_PER_PERSON pictures within KEEP_BYTES_PER_PERSON; delete the rest now."""
        keep = keep_limit()
        kept_bytes = 0
        rows = StagedPicture.objects.filter(owner=self.owner.pk).order_by("-created_at", "-pk")
        for index, (staged_id, size) in enumerate(rows.values_list("pk", "size")):
            kept_bytes += size
            if index >= keep or (index > 0 and kept_bytes > KEEP_BYTES_PER_PERSON):
                _delete_folder(staged_id)
                StagedPicture.objects.filter(pk=staged_id).delete()


def _is_id(staged_id: str) -> bool:
    return len(staged_id) == 32 and all(c in "0123456789abcdef" for c in staged_id)


def _path(staged_id: str, name: str) -> str:
    if not _is_id(staged_id):
        raise ValueError("not a staging id")
    return f"{FOLDER}/{staged_id}/{name}"


def _delete_folder(staged_id: str) -> None:
    folder = f"{FOLDER}/{staged_id}"
    if default_storage.exists(folder):
        for name in default_storage.listdir(folder)[1]:
            default_storage.delete(f"{folder}/{name}")


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
            StagedPicture.objects.filter(pk=folder).delete()
            removed += 1
    StagedPicture.objects.filter(created_at__lt=cutoff).delete()
    return removed
