"""Which rows own which stored files: every FileField of every concrete model.

The orphan check and the backup both walk this, so models added later are covered by both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import models

from playground.lib.media import SERVED_FOLDERS


@dataclass(frozen=True)
class FileRef:
    model: type[models.Model]
    pk: Any
    field: str
    name: str

    def __str__(self) -> str:
        return f"{self.model._meta.label} #{self.pk} {self.field}: {self.name}"


def file_fields() -> list[tuple[type[models.Model], models.FileField]]:
    """Every FileField of every concrete model, so models added later are covered too."""
    found: list[tuple[type[models.Model], models.FileField]] = []
    for model in apps.get_models():
        # A proxy's rows are its concrete model's rows; an unmanaged model may have no table.
        if model._meta.proxy or not model._meta.managed:
            continue
        # Local fields only: a multi-table child's inherited fields are its parent's rows.
        for f in model._meta.local_concrete_fields:
            if isinstance(f, models.FileField):
                found.append((model, f))
    return found


def media_folders() -> list[str]:
    """The storage folders the walk lists: the served ones and any fixed upload_to prefix."""
    folders = set(SERVED_FOLDERS)
    for _, f in file_fields():
        if isinstance(f.upload_to, str) and f.upload_to:
            top = f.upload_to.split("/")[0]
            if top and "%" not in top:
                folders.add(f"{top}/")
    return sorted(folders)


def references() -> dict[str, list[FileRef]]:
    """Each stored name any row references, with the rows (one file may serve several rows)."""
    refs: dict[str, list[FileRef]] = {}
    for model, f in file_fields():
        rows = (
            model._base_manager.exclude(**{f.name: ""})
            .exclude(**{f"{f.name}__isnull": True})
            .values_list("pk", f.name)
        )
        for pk, name in rows.iterator():
            refs.setdefault(name, []).append(FileRef(model, pk, f.name, name))
    return refs


def is_referenced(name: str) -> bool:
    return any(model._base_manager.filter(**{f.name: name}).exists() for model, f in file_fields())


def exists(name: str) -> bool:
    try:
        return default_storage.exists(name)
    except SuspiciousFileOperation:
        # A name that points outside the media folder cannot be served; it counts as missing.
        return False


def stored_files(folders: list[str]) -> list[str]:
    names: list[str] = []
    pending = list(folders)
    while pending:
        folder = pending.pop()
        try:
            dirs, files = default_storage.listdir(folder)
        except FileNotFoundError:
            # Nothing stored there yet. (A bucket has no folders to ask about, only key prefixes.)
            continue
        names.extend(f"{folder}{name}" for name in files)
        pending.extend(f"{folder}{name}/" for name in dirs)
    return sorted(names)
