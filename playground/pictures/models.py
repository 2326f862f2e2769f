"""A picture waiting in a person's staging (for a fix, or kept from a refused submit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    pass


class StagedPicture(models.Model):
    """A refused picture waiting under staging/<id>/ to be fixed, and what its check found.

    A batch's picture that passed is kept here too while the batch waits, with no messages
    (nothing refused) and no fixes; one that no fix mends has only its messages (no file). Kept so
    later steps (previews, choosing, submitting) need not
    check or decode it again, and so each person's staging can be capped (see playground/pictures/staging.py).
    """

    id = models.CharField(primary_key=True, max_length=32)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    mime = models.CharField(max_length=20)  # of the original, from its bytes
    width = models.PositiveIntegerField()  # as displayed, before any fix
    height = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField()  # bytes of the original
    messages = models.JSONField(default=list)  # the refusal's sentences
    fixes = models.JSONField(default=list)  # [{"key", "label", "explanation"}], as offered
    # Fixes already made: key -> {"name", "mime", "width", "height"}
    made = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"staged {self.mime} {self.width}×{self.height} of user {self.owner_id}"
