"""The review tests' shared world: a ready 6-second video by alice, and people in each role."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.test import Client

from playground.generations.models import Generation
from playground.team import roles
from playground.team.models import Role
from tests import factories

HTMX = {"HX-Request": "true"}


@dataclass
class World:
    alice: User  # member, the video's maker
    bob: User  # member
    sam: User  # admin
    vic: User  # viewer
    video: Generation

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client


def make_world() -> World:
    alice = factories.member("alice")
    bob = factories.member("bob")
    sam = factories.staff("sam")
    roles.set_role(sam, Role.ADMIN)
    vic = factories.member("vic")
    roles.set_role(vic, Role.VIEWER)
    video = factories.ready(alice, duration=6.0, video="videos/a.mp4", poster="posters/a.jpg")
    return World(alice, bob, sam, vic, video)


def fresh(user: User) -> User:
    """The same person read again (the role is cached on the object for one request)."""
    return User.objects.get(pk=user.pk)
