"""The references a generation sends beside its prompt (MiniMax H3): pictures, videos and voice
samples, each a stored file of its own, in the order given.

Each take of a batch owns its own copies, as with first frames, so deleting one take deletes
only its files. The worker sends them as data URIs under the field the catalogue names for
their kind (ModelSpec.references).
"""

from __future__ import annotations

import base64
from pathlib import Path

from django.contrib.auth.models import AnonymousUser, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models

from playground.lib.ids import parse_id
from playground.lib.videofiles import storage_stem

KINDS = (("images", "picture"), ("videos", "video"), ("audios", "voice sample"))
# A Remix carries a stored reference by naming it ("ref-<id>") where a kept file's staging id
# would stand: nothing is read or copied until Generate, which checks it and stores its own copy.
CARRIED = "ref-"


class Reference(models.Model):
    generation = models.ForeignKey(
        "playground.Generation", on_delete=models.CASCADE, related_name="references"
    )
    kind = models.CharField(max_length=8, choices=KINDS)  # the catalogue's kind: images, videos, audios
    position = models.PositiveSmallIntegerField()  # its place in its list, from 0
    file = models.FileField(max_length=300)
    mime = models.CharField(max_length=40)
    sha256 = models.CharField(max_length=64)
    link = models.URLField(max_length=2000, blank=True, help_text="The link the user gave, if any.")

    class Meta:
        ordering = ("kind", "position")
        constraints = [
            models.UniqueConstraint(fields=["generation", "kind", "position"], name="one_reference_per_place")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.position + 1} of generation {self.generation_id}"

    def data_uri(self) -> str:
        with self.file.open("rb") as f:
            return f"data:{self.mime};base64,{base64.b64encode(f.read()).decode('ascii')}"


def carried_token(ref: Reference) -> str:
    """The token a Remix page carries for `ref`, in place of a kept file's staging id."""
    return f"{CARRIED}{ref.pk}"


def is_carried(token: str) -> bool:
    return token.startswith(CARRIED)


def carried(token: str, user: User | AnonymousUser) -> Reference | None:
    """The stored reference a Remix token names, if `user` may see its video; None otherwise.

    Asked again wherever a token is used (the page, its thumbnails, Generate): every signed-in
    person of the team may see every video (the Remix link's own rule), nobody else any. The id
    is read by the project's one id parser, so a hand-made token names nothing."""
    pk = parse_id(token.removeprefix(CARRIED)) if is_carried(token) else None
    if pk is None or not user.is_authenticated or not user.is_active:
        return None
    return Reference.objects.filter(pk=pk).select_related("generation").first()


def read_carried(ref: Reference, limit: int) -> bytes | None:
    """The bytes of a carried reference, at most `limit` + 1 of them (so a check can refuse a
    larger one); None when its file is no longer stored."""
    try:
        with default_storage.open(ref.file.name, "rb") as f:
            data: bytes = f.read(limit + 1)
    except OSError:
        return None
    return data


def store(data: bytes, extension: str) -> str:
    return default_storage.save(f"first-frames/ref-{storage_stem()}.{extension}", ContentFile(data))


def copy(name: str) -> str:
    """A take's own copy of a stored reference."""
    with default_storage.open(name, "rb") as f:
        return default_storage.save(
            f"first-frames/ref-{storage_stem()}{Path(name).suffix}", ContentFile(f.read())
        )


def by_kind(generation_id: int) -> dict[str, list[str]]:
    """Kind -> the data URIs to send, in order (the worker's request)."""
    found: dict[str, list[str]] = {}
    for ref in Reference.objects.filter(generation=generation_id).order_by("kind", "position"):
        found.setdefault(ref.kind, []).append(ref.data_uri())
    return found


def summary(generation_id: int) -> str:
    """ "2 pictures, 1 voice sample" for the video's page ("" without references)."""
    counts: dict[str, int] = {}
    for kind in Reference.objects.filter(generation=generation_id).values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    words = dict(KINDS)
    return ", ".join(
        f"{counts[kind]} {words[kind]}{'s' if counts[kind] != 1 else ''}"
        for kind, _ in KINDS
        if kind in counts
    )


def file_names(generation_ids: list[int]) -> list[str]:
    """The stored files of these generations' references (deleted with them)."""
    return list(Reference.objects.filter(generation__in=generation_ids).values_list("file", flat=True))
