"""Ids that are not ids, in every path, query and form field that takes one, are "not found" or "not valid".

The paths are read from the URL map, so a new route with an id is tested without being named here.
Query and form fields are not in the URL map; ID_INPUTS below lists every one the app reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from playground.gallery.collections import add_videos
from playground.gallery.models import Collection, CollectionEntry
from playground.generations.models import Generation, Preset
from playground.team.models import Role
from playground.team.roles import required_role
from tests.factories import staff
from tests.generations.test_detail_actions import ready

LARGEST = 2**63 - 1  # BigAutoField's range on both engines
# Each passes str.isdigit(), int(), or a form's IntegerField somewhere: none is an id.
HOSTILE = [
    "²",
    "\u0663",  # Arabic-Indic three: isdigit() and int() both take it
    "\uff17",  # full-width seven
    "-1",
    "+1",
    " 1",
    "1 ",
    "0x10",
    "1e3",
    "1.0",
    "9" * 30,
    str(LARGEST + 1),
    "\x00",
    "1\x00",
]
NOT_UNDERSTOOD = "The selection was not understood; reload the page and try again."


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every route of the app as (its path pattern, the pattern), leaving out Django's admin site."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin":
                yield from routes(entry.url_patterns, route)
        else:
            yield route, entry


def id_routes() -> list[tuple[str, URLPattern]]:
    return [(route, entry) for route, entry in routes() if "pk" in entry.pattern.converters]


def fill(route: str, entry: URLPattern, value: str) -> str:
    path = route
    for name in entry.pattern.converters:
        start = path.index("<")
        end = path.index(">", start)
        assert path[start:end].endswith(":" + name) or path[start:end] == "<" + name
        path = path[:start] + quote(value if name == "pk" else "x", safe="") + path[end + 1 :]
    return "/" + path


def test_every_id_in_a_path_is_read_by_the_one_id_reader():
    found = id_routes()
    names = {entry.name for _, entry in found}
    assert {"generation", "sequence_download", "collection_move", "preset_edit", "batch_retry"} <= names
    for route, entry in routes():
        for name, converter in entry.pattern.converters.items():
            assert not isinstance(converter, IntConverter), (
                f"{route}: <int:{name}> takes any number of digits"
            )
    for route, entry in found:
        assert type(entry.pattern.converters["pk"]).__name__ == "IdConverter", route


@pytest.mark.parametrize("value", HOSTILE)
def test_a_path_id_that_is_not_one_is_a_plain_404(signed_in: Client, world, value: str):
    for route, entry in id_routes():
        path = fill(route, entry, value)
        for method in ("get", "post", "head"):
            response = getattr(signed_in, method)(path)
            assert response.status_code == 404, (method, path)
            if method == "get":
                assert NOT_FOUND in response.content.decode()


def test_the_largest_id_is_one_and_names_nothing(signed_in: Client, world):
    admin = Client()
    admin.force_login(staff("root"))
    for route, entry in id_routes():
        path = fill(route, entry, str(LARGEST))
        # A page for admins is asked by an admin (others are refused before the id is read).
        client = admin if required_role(str(entry.name)) == Role.ADMIN else signed_in
        for method in ("get", "post", "head"):
            response = getattr(client, method)(path)
            assert response.status_code in (404, 405), (method, path)  # 405: the route exists


@dataclass(frozen=True)
class IdInput:
    """A query or form field that names a row, and what a value that is not an id gets."""

    route: str
    method: str  # "get": a query parameter; "post": a form field
    name: str
    refused: int  # the status for a value that is not an id
    said: str = ""  # …and what the page or its message says
    names: str = "video"  # which row of the world a real id in it names
    base: Callable[[SimpleNamespace], dict[str, Any]] = field(default=lambda w: {})
    args: Callable[[SimpleNamespace], list[Any]] = field(default=lambda w: [])

    def __str__(self) -> str:
        return f"{self.route}:{self.name}"


def submit(w: SimpleNamespace | None = None, **fields: Any) -> dict[str, Any]:
    """A Generate form that would make a video, with a fresh token each time."""
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01",
        "prompt": "A lighthouse at dusk",
        **fields,
    }


def bulk(w: SimpleNamespace) -> dict[str, Any]:
    return {"next": "/gallery/", "collection": w.harbour.pk}


def in_harbour(w: SimpleNamespace) -> list[Any]:
    return [w.harbour.pk]


NOT_FOUND = "We can't find that page"
GONE = "{} is no longer available."
NEXT_TO = "Say which video to put it next to."
ID_INPUTS = [
    IdInput("generate", "get", "remix", 404, NOT_FOUND),
    IdInput("generate", "get", "preset", 404, NOT_FOUND, names="preset"),
    IdInput("generate", "get", "continue", 404, NOT_FOUND),
    IdInput("gallery", "get", "before", 200),  # a filter that is not valid is left out
    IdInput("gallery_cards", "get", "collection", 404, NOT_FOUND, names="harbour"),
    IdInput("gallery_cards", "get", "active", 200),  # the poll names no card it knows
    IdInput("generate", "post", "reuse_first_frame", 200, GONE.format("That first frame"), base=submit),
    IdInput("generate", "post", "reuse_last_frame", 200, GONE.format("That last frame"), base=submit),
    IdInput("generate", "post", "continue_from", 200, GONE.format("The video to continue"), base=submit),
    IdInput("preset_save", "post", "reuse_first_frame", 302, base=lambda w: submit(preset_name="Dusk")),
    *(
        IdInput(route, "post", "ids", 302, NOT_UNDERSTOOD, base=bulk)
        for route in ("bulk_star", "bulk_delete", "bulk_zip", "bulk_add", "bulk_remove")
    ),
    *(
        IdInput(
            route, "post", "collection", 404, NOT_FOUND, names="harbour", base=lambda w: {"ids": [w.video.pk]}
        )
        for route in ("bulk_add", "bulk_remove")
    ),
    IdInput("collection_move", "post", "video", 400, "Say which video to move.", args=in_harbour),
    *(
        IdInput(
            "collection_move",
            "post",
            name,
            400,
            NEXT_TO,
            args=in_harbour,
            base=lambda w: {"video": w.video.pk},
        )
        for name in ("before", "after")
    ),
]


@pytest.fixture
def world(user: Any) -> SimpleNamespace:
    video, other, third = ready(user), ready(user), ready(user)  # ids 1, 2, 3 on a fresh SQLite database
    harbour = Collection.objects.create(name="Harbour", created_by=user)
    add_videos(harbour, [video.pk, other.pk, third.pk], user)
    preset = Preset.objects.create(name="Kite", model="video-01", prompt="A kite", first_frame_from=video)
    return SimpleNamespace(video=video, harbour=harbour, preset=preset)


def send(client: Client, given: IdInput, w: SimpleNamespace, **fields: Any) -> Any:
    from django.urls import reverse

    url = reverse(given.route, args=given.args(w))
    data = given.base(w) | fields
    response: Any = getattr(client, given.method)(url, data)
    # A streamed answer (the zip) is read to its end, as a browser would: that closes it and frees
    # its download slots for the next test.
    page = b"".join(response.streaming_content)[:0] if response.streaming else response.content
    response.said = " ".join(str(m) for m in get_messages(response.wsgi_request)) + page.decode()
    return response


def state() -> tuple[int, list[Any], list[Any]]:
    """What a refused request must leave as it was: the videos, the presets, every collection's order."""
    presets = list(Preset.objects.values_list("pk", "first_frame_from"))
    return (
        Generation.objects.count(),
        presets,
        list(CollectionEntry.objects.values_list("generation", "position")),
    )


@pytest.mark.parametrize("given", ID_INPUTS, ids=str)
def test_a_field_id_that_is_not_one_is_not_found_or_not_valid(signed_in: Client, world, given: IdInput):
    for value in HOSTILE:
        before = state()
        response = send(signed_in, given, world, **{given.name: value})
        assert (response.status_code, given.said in response.said) == (given.refused, True), value
        if given.route == "preset_save":
            # Saved, as for a video that is gone: the words without the picture.
            assert Preset.objects.latest("pk").first_frame_from is None, value
        else:
            assert state() == before, value


@pytest.mark.parametrize("given", ID_INPUTS, ids=str)
def test_an_empty_id_is_as_if_it_were_left_out(signed_in: Client, world, given: IdInput):
    left_out = send(signed_in, given, world)
    empty = send(signed_in, given, world, **{given.name: ""})
    assert empty.status_code == left_out.status_code


@pytest.mark.parametrize("given", ID_INPUTS, ids=str)
def test_every_id_field_still_takes_a_real_id(signed_in: Client, world, given: IdInput):
    response = send(signed_in, given, world, **{given.name: str(getattr(world, given.names).pk)})
    assert response.status_code in (200, 302), response.said[:300]


def test_an_id_is_ascii_digits_in_the_databases_range():
    from playground.lib.ids import parse_id

    assert [parse_id(v) for v in ("1", "42", str(LARGEST), 7)] == [1, 42, LARGEST, 7]
    assert [v for v in [*HOSTILE, "", "0", None, True, "1" * 5000] if parse_id(v) is not None] == []
