"""The admin page of film exports: read-only, since the worker alone makes them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from playground.films.sequences import SequenceExport


@admin.register(SequenceExport)
class SequenceExportAdmin(admin.ModelAdmin[SequenceExport]):
    list_display = ["id", "created_at", "created_by", "state", "progress", "method", "duration"]
    list_filter = ["state", "method"]
    readonly_fields = [f.name for f in SequenceExport._meta.get_fields() if f.concrete and f.name != "id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
