"""Every download URL answers HEAD as it answers GET, without a body; the URL map says which they are.

A route is a download when its name or its view's name says so ("download", "zip", "media"); each
must be listed below, so a new one is tested for HEAD from the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.handlers.base import BaseHandler
from django.test import Client, RequestFactory
from django.urls import reverse

from playground.films.sequences import ExportState, SequenceExport
from playground.review import links
from tests.factories import ready
from tests.lib.test_hostile_ids import routes

SIZE = 2048


def stored(folder: str) -> str:
    return default_storage.save(f"{folder}/head.mp4", ContentFile(bytes(range(256)) * (SIZE // 256)))


def a_video(user: User) -> list[Any]:
    return [ready(user, video=stored("videos")).pk]


def a_film(user: User) -> list[Any]:
    film = SequenceExport.objects.create(
        created_by=user, clip_ids=[1, 2], state=ExportState.READY, video=stored("sequences"), duration=2.0
    )
    return [film.pk]


def a_stored_file(user: User) -> list[Any]:
    return [stored("videos")]


def a_review_link(user: User) -> list[Any]:
    video = ready(user, video=stored("videos"))
    _, token = links.make(by=user, generation=video, days=7, allow_download=True)
    return [token, video.pk]


# Each download that answers a GET, and how to make something for it to serve.
DOWNLOADS: dict[str, Callable[[User], list[Any]]] = {
    "download": a_video,
    "sequence_download": a_film,
    "media": a_stored_file,
    "guest_download": a_review_link,  # a review link's download, for someone with no account
}
# The zip of a selection is made for a POST (the selection is its body): it has no GET to mirror,
# so HEAD is refused like any other method it does not take, with Allow naming POST.
POST_ONLY = {"bulk_zip"}
# django-allauth's recovery codes as a text file: a small page of allauth's own, not a media download.
NOT_MEDIA = {"mfa_download_recovery_codes"}
SAYS_DOWNLOAD = re.compile(r"download|zip|media")


def test_every_download_route_is_listed_here():
    found = {
        entry.name
        for _, entry in routes()
        if SAYS_DOWNLOAD.search(f"{entry.name} {getattr(entry.callback, '__name__', '')}")
    }
    assert found - NOT_MEDIA == set(DOWNLOADS) | POST_ONLY


def without_test_client(client: Client, method: str, path: str, **headers: str) -> Any:
    """The app's own answer, through its middleware, before the test client strips a HEAD's body."""
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    request = getattr(RequestFactory(), method)(path, HTTP_COOKIE=cookies, headers=headers)
    handler = BaseHandler()
    handler.load_middleware()
    return handler.get_response(request)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


@pytest.mark.parametrize("behind_nginx", [False, True], ids=["served by the app", "handed to nginx"])
@pytest.mark.parametrize("route", sorted(DOWNLOADS))
def test_head_on_every_download_is_get_without_a_body(
    signed_in: Client, user: User, settings: Any, route: str, behind_nginx: bool
):
    settings.MEDIA_X_ACCEL = behind_nginx
    settings.SENDFILE_ROOT = str(settings.MEDIA_ROOT)
    path = reverse(route, args=DOWNLOADS[route](user))
    for headers in ({}, {"Range": "bytes=0-99"}):
        got = without_test_client(signed_in, "get", path, **headers)
        head = without_test_client(signed_in, "head", path, **headers)
        assert head.status_code == got.status_code == (206 if headers and not behind_nginx else 200)
        assert dict(head.headers) == dict(got.headers)
        assert body(head) == b""
        if not behind_nginx:
            assert len(body(got)) == int(got["Content-Length"]) == (100 if headers else SIZE)


def test_the_zip_of_a_selection_says_it_takes_a_post(signed_in: Client):
    head = signed_in.head(reverse("bulk_zip"))
    assert (head.status_code, head["Allow"]) == (405, "POST")
