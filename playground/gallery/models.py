"""The gallery's rows: a person's stars, and collections with their ordered entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    pass


class Star(models.Model):
    """A user's mark on a generation they want to find again."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stars")
    generation = models.ForeignKey("playground.Generation", on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "generation"], name="one_star_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.generation_id}"


class Collection(models.Model):
    """A named, ordered set of the team's videos. Everyone sees it; its maker or staff change it."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=1000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="collections"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Two "Harbour" collections in one picker would be a trap; case does not make a new name.
            models.UniqueConstraint(Lower("name"), name="collection_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("collection", args=[self.pk])

    def can_be_changed_by(self, user: User) -> bool:
        return bool(user.is_staff or (self.created_by_id is not None and self.created_by_id == user.pk))


class CollectionEntry(models.Model):
    """A video's place in a collection. Deleting either side removes only this row."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries")
    generation = models.ForeignKey(
        "playground.Generation", on_delete=models.CASCADE, related_name="collection_entries"
    )
    position = models.IntegerField(default=0)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "generation"], name="once_per_collection"),
        ]
        indexes = [models.Index(fields=["collection", "position"], name="entry_order_idx")]

    def __str__(self) -> str:
        return f"{self.collection_id}[{self.position}] = {self.generation_id}"
