"""A batch: one submit of the Generate page, pictures x takes videos, made whole or not at all.

Every rule a batch must pass before anything is saved lives here once: the monthly allowance
and the per-minute brake, which counts submits (a batch is one), not takes; the dollar budget is
budgets.check, asked for the whole batch's count by the form and by retry(). The sentence the
page shows before Generate comes from here too, so what the page promises is what is checked.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground.generations.models import Batch, Generation
from playground.lib.videofiles import storage_stem
from playground.money import budgets
from playground.money.models import AllowanceStatus, allowance_for, month_start


def plan_words(model: str, count: int, allowance: AllowanceStatus) -> str:
    """What Generate will do: "4 videos · about $1.72 · 4 of your 96 left"."""
    parts = [f"{count} video{'s' if count != 1 else ''}"]
    parts.append(f"about {budgets.dollars(budgets.estimate(model) * count)}")
    if allowance.left is not None:
        parts.append(f"{count} of your {allowance.left} left")
    return " · ".join(parts)


def submits_in_last_minute(user: User) -> int:
    """Submits, not takes: each batch counts once, and so does a job made outside a batch."""
    since = timezone.now() - timedelta(minutes=1)
    counted = Generation.objects.filter(created_by=user.pk, created_at__gte=since).aggregate(
        batches=Count("batch", distinct=True), single=Count("pk", filter=Q(batch__isnull=True))
    )
    return int(counted["batches"]) + int(counted["single"])


def refusal(user: User, model: str, count: int) -> str | None:
    """Why a batch of `count` videos can't be made now, in a sentence; None when it fits."""
    status = allowance_for(user)
    if status.cap is not None and (status.left or 0) < count:
        next_month = format_date(month_start(months_back=-1), "j F")
        if status.exhausted:
            return (
                f"You have used all {status.cap} of your videos for this month. "
                f"Your allowance starts again on {next_month}; an admin can raise it sooner."
            )
        return (
            f"This would make {count} videos, but you have {status.left} of your {status.cap} left "
            f"this month, so nothing was started. Make fewer takes or pictures, or wait for your "
            f"allowance to start again on {next_month}."
        )
    budget = budgets.check(user, model, count)
    if budget:
        return budget
    recent = submits_in_last_minute(user)
    if recent >= settings.SUBMISSIONS_PER_MINUTE:
        return (
            f"You have pressed Generate {recent} times in the last minute (at most "
            f"{settings.SUBMISSIONS_PER_MINUTE}; a batch counts once). "
            "Please wait a moment before starting more."
        )
    return None


def retry(user: User, failed: list[Generation]) -> Batch | str:
    """A new batch with one fresh take for each failed one; the refusal sentence if it doesn't fit."""
    with transaction.atomic():
        # The same lock as the Generate form, so two tabs can't both squeeze under the allowance.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        budgets.lock()  # and the team budget's, as the form takes it
        first = failed[0]
        problem = refusal(user, first.model, len(failed))
        if problem:
            return problem
        batch = Batch.objects.create(
            created_by=user, model=first.model, prompt=first.prompt, pictures=len(failed), takes_per_picture=1
        )
        for take in failed:
            Generation.objects.create(
                created_by=user,
                batch=batch,
                model=take.model,
                prompt=take.prompt,
                enhance_prompt=take.enhance_prompt,
                first_frame=_copy(take.first_frame.name),
                first_frame_sha256=take.first_frame_sha256,
                first_frame_type=take.first_frame_type,
                first_frame_width=take.first_frame_width,
                first_frame_height=take.first_frame_height,
                source_link=take.source_link,
                # The take's last frame and options come along, so the retry makes the same video.
                end_frame=_copy(take.end_frame.name),
                end_frame_sha256=take.end_frame_sha256,
                end_frame_type=take.end_frame_type,
                end_frame_width=take.end_frame_width,
                end_frame_height=take.end_frame_height,
                end_frame_link=take.end_frame_link,
                resolution=take.resolution,
                duration_seconds=take.duration_seconds,
            )
        return batch


def _copy(name: str) -> str:
    """A take's own copy of a stored frame (each take deletes only its own files)."""
    if not name:
        return ""
    with default_storage.open(name, "rb") as f:
        return default_storage.save(
            f"first-frames/{storage_stem()}{Path(name).suffix}", ContentFile(f.read())
        )
