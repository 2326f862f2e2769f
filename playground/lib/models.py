"""Rows with no domain: named locks held for a transaction, and the worker processes' heartbeats."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    pass


class Lock(models.Model):
    """A named row that transactions lock to take turns (SELECT ... FOR UPDATE on PostgreSQL; on
    SQLite every write transaction starts IMMEDIATE, which already serialises them)."""

    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def hold(cls, name: str) -> None:
        """Lock `name` until the surrounding transaction ends (call inside transaction.atomic)."""
        cls.objects.get_or_create(name=name)
        # An UPDATE holds the row lock until commit on PostgreSQL (as SELECT FOR UPDATE would), and
        # on SQLite it takes the database's write lock now, even outside IMMEDIATE mode.
        cls.objects.filter(name=name).update(name=name)


class WorkerHeartbeat(models.Model):
    """One row per running worker process, touched every few seconds."""

    name = models.CharField(max_length=100, unique=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})

    @classmethod
    def someone_alive(cls, within: float = 30.0) -> bool:
        return cls.objects.filter(seen_at__gte=timezone.now() - timedelta(seconds=within)).exists()
