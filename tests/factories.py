"""The shared test world: members, staff, generations in each state, real Pillow images.

Test modules import from here (never from conftest, which pytest loads by itself). Each
generation factory fills in what a row in that state really has, so a test names only the
fields it is about; anything passed explicitly wins.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.upstream.videomodels import DEFAULT_MODEL
from tests.imagefiles import image_bytes as image_bytes

PASSWORD = "correct horse battery staple"
PROMPT = "A paper boat on a rainy street"
FAILED_REASON = "The video service could not make this video: it reported an error without saying why."


def member(username: str = "alice", *, password: str = PASSWORD, **fields: Any) -> User:
    fields.setdefault("email", f"{username}@example.com")
    return User.objects.create_user(username, password=password, **fields)


def staff(username: str = "sam", **fields: Any) -> User:
    return member(username, is_staff=True, **fields)


def generation(
    created_by: User | None = None, state: State | str = State.QUEUED, **fields: Any
) -> Generation:
    """A saved generation in `state`, with the timestamps and upstream facts that state implies."""
    state = State(state)
    now = timezone.now()
    model = fields.setdefault("model", DEFAULT_MODEL)
    fields.setdefault("prompt", PROMPT)
    if state != State.QUEUED and state != State.FAILED:
        fields.setdefault("create_sent_at", now)
    if state in (State.RUNNING, State.ARCHIVING, State.READY):
        fields.setdefault("upstream_id", f"{uuid.uuid4()}:{model}")
        fields.setdefault("submitted_at", now)
    if state in (State.ARCHIVING, State.READY):
        fields.setdefault("completed_at", now)
    if state in (State.READY, State.FAILED):
        fields.setdefault("finished_at", now)
    if state == State.FAILED:
        fields.setdefault("failure_code", "upstream_error")
        fields.setdefault("failure_reason", FAILED_REASON)
    return Generation.objects.create(created_by=created_by, state=state, **fields)


def ready(created_by: User | None = None, **fields: Any) -> Generation:
    return generation(created_by, State.READY, **fields)


def failed(created_by: User | None = None, **fields: Any) -> Generation:
    return generation(created_by, State.FAILED, **fields)


def media_files() -> set[str]:
    """Every stored file under this test's MEDIA_ROOT, as storage names."""
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def frames_and_videos() -> set[str]:
    """Stored files outside staging/ (where a refused but fixable picture waits, under a random name)."""
    staged = re.compile(r"staging/[0-9a-f]{32}/[\w.-]+")
    files = media_files()
    assert all(staged.fullmatch(name) for name in files if name.startswith("staging/")), files
    return {name for name in files if not name.startswith("staging/")}
