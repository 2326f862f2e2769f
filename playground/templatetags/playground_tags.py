from datetime import datetime, timedelta
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def duration_words(value: timedelta | float | int | None) -> str:
    """42 s, 3 min 05 s, 1 h 02 min: short enough for a status line."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def media_url(name: str) -> str:
    """The signed-in-only URL of a stored file."""
    return reverse("media", args=[name]) if name else ""


@register.filter
def ago(value: datetime | None) -> str:
    """ "3 hours ago": one unit is enough on a card."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def preset_changeable(preset: Any, user: Any) -> bool:
    return bool(preset.can_be_changed_by(user))
