"""The review links' test world: a sharer, a ready video with a stored file, and a link to it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from playground.generations.models import Generation
from playground.review import links
from playground.review.links import ShareLink
from tests import factories

BODY = bytes(range(256)) * 64  # 16 KiB standing in for an MP4 (the type comes from the name)
POSTER = b"\xff\xd8\xff\xe0poster"


def stored_video(user: User | None, **fields: Any) -> Generation:
    video = default_storage.save("videos/2026/12/take.mp4", ContentFile(BODY))
    poster = default_storage.save("posters/2026/12/take.jpg", ContentFile(POSTER))
    return factories.ready(user, video=video, poster=poster, duration=2.0, **fields)


def share(by: User, generation: Generation | None = None, **fields: Any) -> tuple[ShareLink, str]:
    fields.setdefault("days", 7)
    return links.make(by=by, generation=generation, **fields)


def page(token: str) -> str:
    return reverse("guest_page", args=[token])


def play(token: str, pk: int) -> str:
    return reverse("guest_play", args=[token, pk])


def download(token: str, pk: int) -> str:
    return reverse("guest_download", args=[token, pk])


def unlock(token: str) -> str:
    return reverse("guest_unlock", args=[token])
