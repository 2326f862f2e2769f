import functools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.contrib.auth.models import User
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from playground.generations.models import Generation, Preset
from playground.review.models import Status

register = template.Library()


@register.filter
def dollars(value: Decimal | None) -> str:
    """$0.43, as people read prices."""
    from playground.money.budgets import dollars as in_dollars

    return in_dollars(value)


@register.filter
def price_words(estimates: dict[str, Decimal], model: Any) -> str:
    """ "about $0.43 a video", or for a model priced by the second "about $0.08 a second (an estimate)"."""
    from playground.money.budgets import dollars as in_dollars
    from playground.upstream import catalogue

    amount = estimates.get(str(model))
    described = catalogue.get(str(model))
    if amount is not None and described is not None and described.price_per_second is not None:
        return f"about {in_dollars(amount / described.default_duration)} a second (an estimate)"
    return f"about {in_dollars(amount)} a video"


@register.filter
def duration_words(value: timedelta | float | int | None) -> str:
    """42 s, 3 min 05 s, 1 h 02 min: short enough for a status line.

    Hand-written because Django's timesince/naturaltime stop at whole minutes, and a job's
    elapsed time is watched second by second.
    """
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
    """ "3 hours ago": Django's naturaltime (kept under this name, which templates use)."""
    return "" if value is None else str(naturaltime(value))


@register.filter
def manageable_by(generation: Generation, user: User) -> bool:
    """May `user` cancel or delete this generation (its maker, or staff)?"""
    return generation.can_be_deleted_by(user)


@register.filter
def review_label(value: str | None) -> str:
    """A review status's words ("Needs changes") from its stored value; none set is unreviewed."""
    try:
        return str(Status(value or Status.UNREVIEWED).label)
    except ValueError:
        return ""


@register.filter
def preset_changeable(preset: Preset, user: User) -> bool:
    return preset.can_be_changed_by(user)


@register.filter
def errors_here(field: Any) -> list[str]:
    """A bound field's errors less those its page says elsewhere (a form's `shown_elsewhere`)."""
    elsewhere = getattr(field.form, "shown_elsewhere", ())
    return [error for error in field.errors if error not in elsewhere]


@register.simple_tag
def progress_steps(generation: Generation) -> SafeString:
    """The status fragment's steps as list items, the current one marked for screen readers.

    A tag rather than a template loop: every watcher's status poll draws these every 2 s, and the
    loop was a third of the fragment's rendering time (generations/poll.py). The steps take one of
    a handful of shapes, each drawn once.
    """
    return _steps_html(tuple(generation.steps))


@functools.lru_cache(maxsize=16)
def _steps_html(steps: tuple[tuple[str, str], ...]) -> SafeString:
    current = mark_safe(' aria-current="step"')
    return format_html_join(
        "\n",
        '<li class="step-{}"{}>{}</li>',
        ((status, current if status == "current" else "", label) for label, status in steps),
    )
