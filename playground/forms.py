from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground import imagefix, images, linkfetch
from playground.archive import storage_stem
from playground.models import (
    MODEL_CHOICES,
    MODEL_DESCRIPTIONS,
    MODELS_NEEDING_FIRST_FRAME,
    Generation,
    allowance_for,
    month_start,
)
from playground.staging import Offer, Staging
from playground.uploads import UploadTooLarge

PROMPT_MAX = 2000


class GenerateForm(forms.Form):
    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    model = forms.ChoiceField(
        label="Model", choices=MODEL_CHOICES, initial="video-01", widget=forms.RadioSelect
    )
    prompt = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 5, "data-max": PROMPT_MAX}),
        help_text="Up to 2,000 characters: the scene, the subject and what happens.",
        error_messages={"required": "Write a prompt: describe the scene, the subject and what happens."},
    )
    first_frame = forms.FileField(
        label="First-frame image",
        required=False,
        help_text=(
            "Choose or drop a JPEG or PNG: at most 20 MB, shorter side over 300 px, "
            "and no wider or taller than 5:2."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    image_link = forms.CharField(
        label="Image link",
        required=False,
        max_length=2000,
        help_text="Or give an http(s) link to a JPEG or PNG instead of a file.",
        widget=forms.URLInput(attrs={"placeholder": "https://…/picture.jpg", "inputmode": "url"}),
    )
    # Remix and Retry carry the earlier generation's first frame, so nobody uploads it again.
    reuse_first_frame = forms.IntegerField(required=False, widget=forms.HiddenInput)
    drop_reused_first_frame = forms.BooleanField(label="Don't use this first frame", required=False)
    # A picture fixed with one of the one-click fixes ("<staging id>:<fix>"), owned by this session.
    staged_first_frame = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    enhance_prompt = forms.BooleanField(
        label="Enhance prompt",
        required=False,
        initial=True,
        help_text=(
            "The service may rewrite your prompt to improve the result. "
            "Turn it off to have your words followed strictly."
        ),
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        staging: Staging | None = None,
        upload_too_large: UploadTooLarge | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.staging = staging
        self.upload_too_large = upload_too_large
        self.offer: Offer | None = None  # fixes for a refused picture, when some would mend it
        self.refused: tuple[str, bytes, list[str]] | None = None  # (field, bytes, sentences)

    def model_options(self) -> list[tuple[Any, str]]:
        return [(radio, MODEL_DESCRIPTIONS[radio.data["value"]]) for radio in self["model"]]

    def reused_generation(self) -> Generation | None:
        """The generation whose first frame this form carries, if any."""
        value = self["reuse_first_frame"].value()
        if not value or (self.is_bound and self["drop_reused_first_frame"].value()):
            return None
        try:
            return Generation.objects.filter(pk=int(value)).exclude(first_frame="").first()
        except (TypeError, ValueError):
            return None

    def clean_prompt(self) -> str:
        # Browsers send new lines as CRLF; count them as one character, like the counter does.
        prompt: str = self.cleaned_data["prompt"].replace("\r\n", "\n")
        if len(prompt) > PROMPT_MAX:
            raise forms.ValidationError(
                f"The prompt is {len(prompt):,} characters long. It may be at most {PROMPT_MAX:,} characters."
            )
        return prompt

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["checked_image"] = None
        if not self._check_limits():
            return cleaned
        upload = cleaned.get("first_frame")
        link = (cleaned.get("image_link") or "").strip()
        if self.upload_too_large:
            size = self.upload_too_large.request_bytes
            # Only name a size when the request makes it clear; just over 20 MB reads better as "larger".
            about = (
                f"about {size / 1024 / 1024:,.0f} MB"
                if size and size > 21 * 1024 * 1024
                else "larger than 20 MB"
            )
            self.add_error("first_frame", f"This file is {about}. The largest image we can send is 20 MB.")
            return cleaned
        reused = self.reused_generation()
        staged = (cleaned.get("staged_first_frame") or "").strip()
        if upload and link:
            self.add_error("image_link", "Give either an image file or an image link, not both.")
        elif upload:
            self._check("first_frame", lambda: images.read_capped(upload))
        elif link:
            self._check("image_link", lambda: linkfetch.fetch_image(link))
        elif staged:
            checked = self.staging.checked(staged) if self.staging else None
            if checked is None:
                self.add_error(
                    "first_frame", "That fixed picture is no longer available. Choose the picture again."
                )
            cleaned["checked_image"] = checked
        elif reused:
            self._check("first_frame", lambda: _read_stored(reused.first_frame.name))
        elif cleaned.get("reuse_first_frame") and not cleaned.get("drop_reused_first_frame"):
            self.add_error(
                "first_frame", "That first frame is no longer available. Choose a picture instead."
            )
        elif cleaned.get("model") in MODELS_NEEDING_FIRST_FRAME:
            self.add_error(
                "first_frame",
                f"{cleaned['model']} needs a first-frame image: choose a file or give an image link.",
            )
        return cleaned

    def _check(self, field: str, read: Callable[[], bytes]) -> None:
        try:
            data = read()
        except images.ImageRejected as exc:
            self._refuse(field, exc.messages)
            return
        except linkfetch.LinkRejected as exc:
            self._refuse(field, [exc.message])
            return
        try:
            self.cleaned_data["checked_image"] = images.check_image(data)
        except images.ImageRejected as exc:
            self._refuse(field, exc.messages)
            # Kept for offer_fixes(), which stages it after is_valid(): clean() writes nothing.
            self.refused = (field, data, exc.messages)

    def offer_fixes(self) -> None:
        """After is_valid() said no: stage a refused picture that some fix would mend."""
        if self.refused is None or self.staging is None:
            return
        field, data, messages = self.refused
        try:
            self.offer = self.staging.offer(data, messages)
        except imagefix.FixerBusy as busy:
            self._refuse(field, busy.messages)

    def _refuse(self, field: str, messages: list[str]) -> None:
        for message in messages:
            self.add_error(field, message)

    def _check_limits(self) -> bool:
        """The monthly allowance and the per-minute brake; False (with an error) when over."""
        status = allowance_for(self.user)
        if status.exhausted:
            next_month = format_date(month_start(months_back=-1), "j F")
            self.add_error(
                None,
                f"You have used all {status.cap} of your videos for this month. "
                f"Your allowance starts again on {next_month}; an admin can raise it sooner.",
            )
            return False
        recent = Generation.objects.filter(
            created_by=self.user.pk, created_at__gte=timezone.now() - timedelta(minutes=1)
        ).count()
        if recent >= settings.SUBMISSIONS_PER_MINUTE:
            self.add_error(
                None,
                f"You have started {recent} videos in the last minute. "
                "Please wait a moment before starting another.",
            )
            return False
        return True

    def save(self) -> Generation | None:
        """Store the first frame and the row; a repeated submission returns the first one's row.

        Returns None (with a form error) if the allowance ran out while this form was checked.
        """
        data = self.cleaned_data
        checked: images.CheckedImage | None = data["checked_image"]
        name = ""
        if checked:
            name = default_storage.save(
                f"first-frames/{storage_stem()}.{checked.extension}", ContentFile(checked.data)
            )
        try:
            with transaction.atomic():
                # Two tabs submitting at once must not both squeeze under the allowance: lock
                # this user's row (SQLite's IMMEDIATE transactions already serialise writers).
                get_user_model().objects.select_for_update().filter(pk=self.user.pk).first()
                if not self._check_limits():
                    raise _OverLimit
                return Generation.objects.create(
                    created_by=self.user,
                    submission_token=data["submission_token"],
                    model=data["model"],
                    prompt=data["prompt"],
                    enhance_prompt=data["enhance_prompt"],
                    first_frame=name,
                    first_frame_sha256=checked.sha256 if checked else "",
                    first_frame_type=checked.mime if checked else "",
                    first_frame_width=checked.width if checked else None,
                    first_frame_height=checked.height if checked else None,
                    source_link=(data.get("image_link") or "").strip(),
                )
        except _OverLimit:
            if name:
                default_storage.delete(name)
            return None
        except IntegrityError:
            # Two copies of the same form raced past the view's check; the first one won.
            if name:
                default_storage.delete(name)
            return Generation.objects.get(submission_token=data["submission_token"], created_by=self.user)


class _OverLimit(Exception):
    pass


def _read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as f:
        data: bytes = f.read(images.MAX_BYTES + 1)  # check_image refuses anything longer
        return data


def remix_initial(source: Generation) -> dict[str, Any]:
    """The Generate form's starting values for another take of `source`."""
    return {
        "model": source.model,
        "prompt": source.prompt,
        "enhance_prompt": source.enhance_prompt,
        "reuse_first_frame": source.pk if source.first_frame else None,
    }


def initial_from_post(post: Any) -> dict[str, Any]:
    """The choices a person already made, to show the form again without checking it."""
    return {
        "submission_token": post.get("submission_token") or None,
        "model": post.get("model") or "video-01",
        "prompt": post.get("prompt", ""),
        "enhance_prompt": bool(post.get("enhance_prompt")),
    }
