"""The worker's own rows: permits under the key's limits, and the usage-log calls it made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    pass


class UsageLogCall(models.Model):
    """One request to the usage log (/v2/logs), by any worker, to keep all of them under its rate limit."""

    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S.%f}"


class UpstreamPermit(models.Model):
    """One of the API key's permits, shared by every worker on every machine (see keylimits).

    kind "slot": one of UPSTREAM_MAX_IN_FLIGHT places for a job in flight, held by `holder`
    while that generation is in flight (and until `until`, covering the moment before it is).
    kind "create": one of UPSTREAM_CREATES_PER_MINUTE tickets, spent until `until` (a minute).
    """

    kind = models.CharField(max_length=8)
    number = models.PositiveIntegerField()
    holder = models.PositiveBigIntegerField(null=True, blank=True, help_text="A generation's id.")
    until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "number"], name="one_permit_per_number")]

    def __str__(self) -> str:
        return f"{self.kind} {self.number}: {self.holder}"
