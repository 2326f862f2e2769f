"""Notices of new comments: the maker and the thread's people are told, the author is not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from playground.review.comments import add_comment
from playground.review.notices import MAX_NOTICES, new_for
from tests import factories
from tests.review.world import make_world

pytestmark = pytest.mark.django_db


def test_the_maker_and_the_people_in_the_thread_are_told_and_the_author_is_not():
    world = make_world()
    carol = factories.member("carol")
    for person in (world.alice, world.bob, world.sam, carol):
        assert new_for(person.pk) == []  # the first ask starts the clock
    thread = add_comment(world.video, user=world.bob, at_ms=3200, text="The hand melts")
    add_comment(world.video, user=carol, at_ms=0, text="Agreed", parent=thread)
    alice = new_for(world.alice.pk)  # the maker: both
    assert [n["title"] for n in alice] == [
        f"carol commented on video #{world.video.pk} at 0:03.2",
        f"bob commented on video #{world.video.pk} at 0:03.2",
    ]
    assert alice[0]["url"].startswith(world.video.get_absolute_url() + "#comment-")
    assert [n["body"] for n in new_for(world.bob.pk)] == ["Agreed"]  # in the thread: carol's reply
    assert new_for(carol.pk) == []  # her own reply; bob's first comment came before she joined
    assert new_for(world.sam.pk) == []  # not in the thread, not the maker
    assert new_for(world.alice.pk) == []  # already told


def test_a_poll_is_bounded_and_needs_a_post():
    world = make_world()
    client = world.client(world.alice)
    url = reverse("review_notices")
    assert client.get(url).status_code == 405
    assert client.post(url).json()["notices"] == []
    for i in range(MAX_NOTICES + 3):
        add_comment(world.video, user=world.bob, at_ms=i, text=f"n{i}")
    assert len(client.post(url).json()["notices"]) == MAX_NOTICES
