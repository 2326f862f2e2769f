from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from playground import batches, budgets, continuation, imagefix, images, linkfetch
from playground.archive import storage_stem
from playground.models import (
    MODEL_CHOICES,
    MODEL_DESCRIPTIONS,
    MODELS_NEEDING_FIRST_FRAME,
    Batch,
    Generation,
)
from playground.staging import Offer, Staging
from playground.uploads import UploadTooLarge
from playground.videomodels import DEFAULT_MODEL, PROMPT_MAX_CHARS, VideoModel

PROMPT_MAX = PROMPT_MAX_CHARS
LINK_MAX = 2000
LINKS_MAX = 20000  # several links, one per line; each is held to LINK_MAX


class PicturesInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PicturesField(forms.FileField):
    """One first-frame file, or several for a batch (a list then)."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        if not isinstance(data, list | tuple):
            return super().clean(data, initial)
        cleaned = []
        for item in data:
            if item:
                cleaned.append(super().clean(item, initial))
        return cleaned


class GenerateForm(forms.Form):
    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    model = forms.ChoiceField(
        label="Model", choices=MODEL_CHOICES, initial=DEFAULT_MODEL, widget=forms.RadioSelect
    )
    prompt = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 5, "data-max": PROMPT_MAX}),
        help_text=f"Up to {PROMPT_MAX:,} characters: the scene, the subject and what happens.",
        error_messages={"required": "Write a prompt: describe the scene, the subject and what happens."},
    )
    first_frame = PicturesField(
        label="First-frame image",
        required=False,
        help_text=(
            "Choose or drop a JPEG or PNG: at most 20 MB, shorter side over 300 px, "
            "and no wider or taller than 5:2."
        ),
        widget=PicturesInput(attrs={"accept": "image/jpeg,image/png", "multiple": True}),
    )
    image_link = forms.CharField(
        label="Image link",
        required=False,
        max_length=LINKS_MAX,
        help_text="Or give an http(s) link to a JPEG or PNG instead of a file (several, one per line).",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "https://…/picture.jpg", "inputmode": "url"}),
    )
    # Remix and Retry carry the earlier generation's first frame, so nobody uploads it again.
    reuse_first_frame = forms.IntegerField(required=False, widget=forms.HiddenInput)
    drop_reused_first_frame = forms.BooleanField(label="Don't use this first frame", required=False)
    # Continue: the last frame of this ready generation becomes the first frame (continuation.py).
    continue_from = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # A picture fixed with one of the one-click fixes ("<staging id>:<fix>"), owned by this session.
    staged_first_frame = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    takes = forms.IntegerField(
        label="Takes",
        initial=1,
        required=False,
        help_text="How many videos to make from each picture (or from the prompt alone).",
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
    )
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
        user: User,
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
        self.fields["takes"].widget.attrs["max"] = settings.MAX_TAKES

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

    def continued_generation(self) -> Generation | None:
        """The ready generation whose last frame this form continues from, if any."""
        value = self["continue_from"].value()
        if not value or (self.is_bound and self["drop_reused_first_frame"].value()):
            return None
        try:
            return Generation.objects.filter(pk=int(value), state="ready").exclude(video="").first()
        except (TypeError, ValueError):
            return None

    def check_continued(self, staging: Staging) -> list[str]:
        """Before any submit: the continued frame's problems, with fixes offered when some apply."""
        continued = self.continued_generation()
        if continued is None:
            return []
        data = b""
        try:
            data = _read_last_frame(continued)
            images.check_image(data)
        except images.ImageRejected as exc:
            if data:
                self.offer = staging.offer(data, exc.messages)
            return exc.messages
        return []

    def clean_prompt(self) -> str:
        # Browsers send new lines as CRLF; count them as one character, like the counter does.
        prompt: str = self.cleaned_data["prompt"].replace("\r\n", "\n")
        if len(prompt) > PROMPT_MAX:
            raise forms.ValidationError(
                f"The prompt is {len(prompt):,} characters long. It may be at most {PROMPT_MAX:,} characters."
            )
        return prompt

    def clean_takes(self) -> int:
        takes: int | None = self.cleaned_data.get("takes")
        if takes is None:
            return 1
        if not 1 <= takes <= settings.MAX_TAKES:
            raise forms.ValidationError(
                f"Takes must be a whole number from 1 to {settings.MAX_TAKES}; you asked for {takes}."
            )
        return takes

    def batch_size(self) -> int:
        """How many videos this submit makes: pictures x takes (takes alone without a picture)."""
        cleaned = getattr(self, "cleaned_data", {})
        uploads, links = self._given_pictures()
        return int(cleaned.get("takes") or 1) * max(1, len(uploads) + len(links))

    def _given_pictures(self) -> tuple[list[Any], list[str]]:
        cleaned = getattr(self, "cleaned_data", {})
        uploads = cleaned.get("first_frame") or []
        if not isinstance(uploads, list):
            uploads = [uploads]
        links = [line.strip() for line in (cleaned.get("image_link") or "").splitlines() if line.strip()]
        return uploads, links

    def _check_several(self, uploads: list[Any], links: list[str]) -> None:
        """Every picture of a batch gets the single picture's checks; each refusal names its picture."""
        given = len(uploads) + len(links)
        if given > settings.MAX_BATCH_PICTURES:
            field = "first_frame" if uploads else "image_link"
            self.add_error(
                field, f"You gave {given} pictures; one batch takes at most {settings.MAX_BATCH_PICTURES}."
            )
            return
        checked: list[tuple[images.CheckedImage, str]] = []
        for number, upload in enumerate(uploads, 1):
            label = f"Picture {number} ({upload.name})"
            picture = self._check_one("first_frame", label, functools.partial(images.read_capped, upload))
            if picture:
                checked.append((picture, ""))
        for number, link in enumerate(links, 1):
            label = f"Link {number} ({link[:60]})"
            if len(link) > LINK_MAX:
                self.add_error("image_link", f"{label}: a link may be at most {LINK_MAX:,} characters.")
                continue
            picture = self._check_one("image_link", label, functools.partial(linkfetch.fetch_image, link))
            if picture:
                checked.append((picture, link))
        self.cleaned_data["checked_images"] = checked

    def _check_one(self, field: str, label: str, read: Callable[[], bytes]) -> images.CheckedImage | None:
        try:
            return images.check_image(read())
        except images.ImageRejected as exc:
            messages = exc.messages
        except linkfetch.LinkRejected as exc:
            messages = [exc.message]
        for message in messages:
            self.add_error(field, f"{label}: {message} Fix or remove this picture; nothing was sent.")
        return None

    def planned_model(self) -> str:
        """The model the page announces a plan for: the chosen one, or the default."""
        value = str(self["model"].value() or "")
        return value if value in VideoModel.values else str(DEFAULT_MODEL)

    def planned_count(self) -> int:
        """The batch size the page announces before Generate, from the fields as they stand."""
        try:
            takes = int(self["takes"].value() or 1)
        except (TypeError, ValueError):
            takes = 1
        links = [line for line in str(self["image_link"].value() or "").splitlines() if line.strip()]
        files = len(self.files.getlist("first_frame")) if self.files else 0
        try:
            # The page's script counts the chosen files (a GET can't carry the files themselves).
            files = files or int(self.data.get("picture_files") or 0)
        except (TypeError, ValueError):
            files = 0
        pictures = max(1, min(files + len(links), settings.MAX_BATCH_PICTURES))
        return max(1, min(takes, settings.MAX_TAKES)) * pictures

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["checked_image"] = None
        if not self._check_limits():
            return cleaned
        uploads, links = self._given_pictures()
        if len(uploads) + len(links) > 1 and not (uploads and links):
            self._check_several(uploads, links)
            return cleaned
        upload = uploads[0] if uploads else None
        link = links[0] if links else ""
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
        continued = self.continued_generation()
        staged = (cleaned.get("staged_first_frame") or "").strip()
        # Still a continuation if its frame (or a fix of it) is used, not another picture.
        cleaned["continues"] = continued if continued and not (upload or link) else None
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
        elif continued:
            self._check("first_frame", lambda: _read_last_frame(continued))
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
        """Allowance, budget and per-minute brake for the whole batch; False (with an error) when over."""
        model = self.cleaned_data.get("model") or str(DEFAULT_MODEL)  # an invalid one has its own error
        problem = batches.refusal(self.user, model, self.batch_size())
        if problem:
            self.add_error(None, problem)
            return False
        return True

    def save(self) -> Generation | None:
        """Store the first frame and the row; a repeated submission returns the first one's row.

        Returns None (with a form error) if the allowance ran out while this form was checked.
        """
        data = self.cleaned_data
        single: images.CheckedImage | None = data["checked_image"]
        link = (data.get("image_link") or "").strip()
        pictures: list[tuple[images.CheckedImage | None, str]] = data.get("checked_images") or [
            (single, link)
        ]
        takes = int(data.get("takes") or 1)
        plan = [picture for picture in pictures for _ in range(takes)]
        # One stored copy per take: deleting one take deletes its own file, never another's.
        names = [_store_first_frame(checked) if checked else "" for checked, _ in plan]
        try:
            with transaction.atomic():
                # Two tabs submitting at once must not both squeeze under the allowance: lock
                # this user's row (SQLite's IMMEDIATE transactions already serialise writers).
                get_user_model().objects.select_for_update().filter(pk=self.user.pk).first()
                # The team budget is shared by everyone: its lock makes concurrent starts take turns.
                budgets.lock()
                if not self._check_limits():
                    raise _OverLimit
                batch = Batch.objects.create(
                    created_by=self.user,
                    submission_token=data["submission_token"],
                    model=data["model"],
                    prompt=data["prompt"],
                    takes_per_picture=takes,
                    pictures=sum(1 for checked, _ in pictures if checked),
                )
                made = [
                    Generation(
                        created_by=self.user,
                        batch=batch,
                        # The first take carries the form's token, so a resent form finds it.
                        submission_token=data["submission_token"] if i == 0 else uuid.uuid4(),
                        model=data["model"],
                        prompt=data["prompt"],
                        enhance_prompt=data["enhance_prompt"],
                        first_frame=names[i],
                        first_frame_sha256=checked.sha256 if checked else "",
                        first_frame_type=checked.mime if checked else "",
                        first_frame_width=checked.width if checked else None,
                        first_frame_height=checked.height if checked else None,
                        source_link=source,
                        continues=data.get("continues"),
                    )
                    for i, (checked, source) in enumerate(plan)
                ]
                for gen in made:
                    gen.save()
                return made[0]
        except _OverLimit:
            _delete_stored(names)
            return None
        except IntegrityError:
            # Two copies of the same form raced past the view's check; the first one won.
            _delete_stored(names)
            return Generation.objects.get(submission_token=data["submission_token"], created_by=self.user)


class _OverLimit(Exception):
    pass


def _store_first_frame(checked: images.CheckedImage) -> str:
    return default_storage.save(
        f"first-frames/{storage_stem()}.{checked.extension}", ContentFile(checked.data)
    )


def _delete_stored(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def _read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as f:
        data: bytes = f.read(images.MAX_BYTES + 1)  # check_image refuses anything longer
        return data


def _read_last_frame(source: Generation) -> bytes:
    try:
        return _read_stored(continuation.last_frame_of(source))
    except (continuation.NotAVideo, OSError) as exc:
        raise images.ImageRejected(
            f"We couldn't read the last frame of video #{source.pk}, so it can't be continued. "
            "Choose a picture instead."
        ) from exc


def continue_initial(source: Generation) -> dict[str, Any]:
    """The Generate form's starting values for the shot after `source`: its last frame first."""
    return {
        "model": source.model,
        "prompt": source.prompt,
        "enhance_prompt": source.enhance_prompt,
        "continue_from": source.pk,
    }


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
        "model": post.get("model") or DEFAULT_MODEL,
        "prompt": post.get("prompt", ""),
        "enhance_prompt": bool(post.get("enhance_prompt")),
        "continue_from": post.get("continue_from") or None,
    }
