"""The Generate form: the one judge of a submit, from its fields to the batch it saves.

Longer than our usual 500 lines because every rule a submit must pass is asked here, in order,
before anything is stored; the parts with their own state live beside it (the pictures of a
batch in batch_pictures.py, the limits in batches.py, the fixes in staging.py).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.http import QueryDict

from playground import pictures
from playground.generations import continuation, references
from playground.generations.models import MODEL_CHOICES, MODEL_DESCRIPTIONS, Batch, Generation
from playground.lib import linkfetch, mediaprobe
from playground.lib.ids import IdField, parse_id
from playground.lib.videofiles import storage_stem
from playground.money import starts
from playground.pictures import batch_pictures, fixing
from playground.pictures.staging import REFERENCE_PICTURES_MAX, Kept, Offer, Staging
from playground.pictures.uploads import UploadTooLarge
from playground.upstream import catalogue
from playground.upstream.videomodels import DEFAULT_MODEL, PROMPT_MAX_CHARS, VideoModel, clean_prompt

# Where the form puts a catalogue refusal, by the catalogue's option names.
_FIELD_OF_OPTION = {
    "model": "model",
    "first_frame": "first_frame",
    "last_frame": "last_frame",
    "resolution": "resolution",
    "duration": "duration_seconds",
    "ratio": "ratio",
    "prompt": "prompt",
    "reference_images": "reference_images",
    "reference_videos": "reference_videos",
    "reference_audios": "reference_audios",
}
# Per kind of reference video or sound: (files field, links field, the probe, its byte limit, its noun).
_MEDIA = {
    "videos": (
        "reference_videos",
        "reference_video_links",
        mediaprobe.check_video,
        mediaprobe.VIDEO_MAX_BYTES,
        "Reference video",
    ),
    "audios": (
        "reference_audios",
        "reference_audio_links",
        mediaprobe.check_audio,
        mediaprobe.AUDIO_MAX_BYTES,
        "Voice sample",
    ),
}
_RESOLUTIONS = sorted(
    {r for m in catalogue.MODELS if m.takes_resolution for r in m.resolutions},
    key=lambda r: catalogue.RESOLUTION_SIZES[r][1],
)
_DURATIONS = sorted({d for m in catalogue.MODELS if m.takes_duration for d in m.durations})
# The lengths shown as radios (models with a list of lengths); range models get a slider.
LISTED_DURATIONS = sorted(
    {d for m in catalogue.MODELS if m.takes_duration and not m.length_range for d in m.durations}
)
_RATIOS = list(dict.fromkeys(r for m in catalogue.MODELS if m.takes_ratio for r in m.ratios))
REFERENCES_MAX_BYTES = mediaprobe.REFERENCES_MAX_BYTES
LINK_MAX = linkfetch.MAX_LINK_LENGTH
LINKS_MAX = 20000  # several links, one per line; each is held to LINK_MAX
# A reused picture's video that is gone, or an id that names nothing (one sentence for both).
GONE = "{} is no longer available. Choose a picture instead."


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


class ValuesField(forms.Field):
    """Every value sent under one name (a hidden input each), as a list of strings."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        return [str(v) for v in value] if isinstance(value, list | tuple) else []


class GenerateForm(forms.Form):
    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    model = forms.ChoiceField(
        label="Model", choices=MODEL_CHOICES, initial=DEFAULT_MODEL, widget=forms.RadioSelect
    )
    prompt = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 5, "data-max": PROMPT_MAX_CHARS}),
        help_text=f"Up to {PROMPT_MAX_CHARS:,} characters: the scene, the subject and what happens.",
        error_messages={"required": "Write a prompt: describe the scene, the subject and what happens."},
    )
    first_frame = PicturesField(
        label="First-frame image",
        required=False,
        help_text=(
            f"Choose or drop a JPEG or PNG: at most {pictures.megabytes(pictures.MAX_BYTES)} MB, "
            f"shorter side over {pictures.MIN_SHORT_SIDE} px, and no wider or taller than 5:2."
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
    reuse_first_frame = IdField(
        required=False, widget=forms.HiddenInput, error_messages={"invalid": GONE.format("That first frame")}
    )
    drop_reused_first_frame = forms.BooleanField(label="Don't use this first frame", required=False)
    # Continue: the last frame of this ready generation becomes the first frame (continuation.py).
    continue_from = IdField(
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid": GONE.format("The video to continue")},
    )
    # A picture fixed with one of the one-click fixes ("<staging id>:<fix>"), owned by this session.
    staged_first_frame = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    # The pictures of a batch the page came back with, one value each (batch_pictures.py).
    batch_picture = ValuesField(required=False)
    # Reference pictures (models that take them, catalogue.py): files, links, and those carried back.
    reference_images = PicturesField(
        label="Reference pictures",
        required=False,
        help_text=(
            "JPEG or PNG pictures the video should take its style or content from, each with the "
            f"first frame's rules. {catalogue.reference_limits('images')}"
        ),
        widget=PicturesInput(attrs={"accept": "image/jpeg,image/png", "multiple": True}),
    )
    reference_image_links = forms.CharField(
        label="Reference picture links",
        required=False,
        max_length=LINKS_MAX,
        help_text="Or http(s) links to JPEG or PNG pictures, one per line.",
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "https://…/reference.jpg", "inputmode": "url"}
        ),
    )
    reference_picture = ValuesField(required=False)
    # Reference videos and voice samples (lib/mediaprobe.py says what passes).
    reference_videos = PicturesField(
        label="Reference video files",
        required=False,
        help_text=(
            f"MP4, MOV or WebM, each at most {mediaprobe.VIDEO_MAX_SECONDS:.0f} seconds and "
            f"{mediaprobe.megabytes(mediaprobe.VIDEO_MAX_BYTES)} MB. {catalogue.reference_limits('videos')}"
        ),
        widget=PicturesInput(attrs={"accept": "video/mp4,video/quicktime,video/webm", "multiple": True}),
    )
    reference_video_links = forms.CharField(
        label="Reference video links",
        required=False,
        max_length=LINKS_MAX,
        help_text="Or http(s) links to videos, one per line.",
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "https://…/reference.mp4", "inputmode": "url"}
        ),
    )
    reference_audios = PicturesField(
        label="Voice sample files",
        required=False,
        help_text=(
            f"MP3, WAV, M4A/AAC, OGG or FLAC, {mediaprobe.AUDIO_MIN_SECONDS:.0f} to "
            f"{mediaprobe.AUDIO_MAX_SECONDS:.0f} seconds and at most "
            f"{mediaprobe.megabytes(mediaprobe.AUDIO_MAX_BYTES)} MB each, whose voice the video's speech "
            f"follows. {catalogue.reference_limits('audios')} At least one reference picture or video "
            "goes beside them."
        ),
        widget=PicturesInput(attrs={"accept": "audio/*", "multiple": True}),
    )
    # Reference videos and voice samples that passed on an earlier try, kept in staging:
    # "<kind> <staged id> <file name>" each (a browser can't put a file back in its box).
    reference_kept = ValuesField(required=False)
    reference_audio_links = forms.CharField(
        label="Voice sample links",
        required=False,
        max_length=LINKS_MAX,
        help_text="Or http(s) links to sound files, one per line.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "https://…/voice.mp3", "inputmode": "url"}),
    )
    # Only for the models that take them (catalogue.py); left out, the model's default is used.
    resolution = forms.ChoiceField(
        label="Resolution",
        required=False,
        # The name alone: the service keeps the picture's shape, so no pixel size is promised.
        choices=[(r, r) for r in _RESOLUTIONS],
        widget=forms.RadioSelect,
    )
    # Any whole number: a length the chosen model does not make gets the catalogue's sentence,
    # which names the model and its lengths (the radios are for list models, a slider for ranges).
    duration_seconds = forms.IntegerField(
        label="Length",
        required=False,
        widget=forms.RadioSelect(choices=[(str(d), f"{d} seconds") for d in _DURATIONS]),
    )
    # Left at "default": the model's default for what was given (catalogue.ModelSpec.ratio_for).
    # Free text up to a bound, so a ratio the model does not make gets the catalogue's sentence.
    ratio = forms.CharField(
        label="Aspect ratio",
        required=False,
        max_length=16,
        widget=forms.Select(choices=[("", "Default")] + [(r, r) for r in _RATIOS]),
    )
    last_frame = forms.FileField(
        label="Last-frame image",
        required=False,
        help_text="The video ends on this picture. Same rules as the first frame.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    last_frame_link = forms.CharField(
        label="Last-frame link",
        required=False,
        max_length=LINK_MAX,
        help_text="Or give an http(s) link to a JPEG or PNG instead of a file.",
        widget=forms.URLInput(attrs={"placeholder": "https://…/last.jpg", "inputmode": "url"}),
    )
    reuse_last_frame = IdField(
        required=False, widget=forms.HiddenInput, error_messages={"invalid": GONE.format("That last frame")}
    )
    drop_reused_last_frame = forms.BooleanField(label="Don't use this last frame", required=False)
    staged_last_frame = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
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
        # slot -> (field, bytes, sentences) of a refused picture, for offer_fixes()
        self.refused: dict[str, tuple[str, bytes, list[str]]] = {}
        self.last_offer: Offer | None = None  # the same for the last frame
        # A batch's pictures as checked (set by clean()), then as staged for the page (offer_fixes()).
        self.batch_checked: list[batch_pictures.Checked] | None = None
        self.batch: list[batch_pictures.Item] | None = None
        # The same for the reference pictures.
        self.references_checked: list[batch_pictures.Checked] | None = None
        self.references: list[batch_pictures.Item] | None = None
        # Reference videos and voice samples as checked: (kind, staged id or "", name, media, link).
        self.media_checked: list[tuple[str, str, str, mediaprobe.CheckedMedia, str]] = []
        # Those kept for the page after a refused submit: (value, sentence).
        self.media_kept: list[tuple[str, str]] = []
        # Errors the page says in the batch's list, beside each picture, not under the fields too.
        self.shown_elsewhere: list[str] = []
        if not self.is_bound:
            # The page starts with the chosen model's own defaults ticked.
            model = self.chosen_model()
            if self.initial.get("resolution") is None and "resolution" in model.options:
                self.initial["resolution"] = model.default_resolution
            if self.initial.get("duration_seconds") is None and "duration" in model.options:
                self.initial["duration_seconds"] = model.default_duration
        self.fields["takes"].widget.attrs["max"] = settings.MAX_TAKES
        # The chosen model's own prompt limit; the page's script follows a change of model.
        chosen = self.chosen_model()
        self.fields["prompt"].widget.attrs["data-max"] = chosen.prompt_max
        self.fields["prompt"].help_text = (
            f"Up to {chosen.prompt_max:,} characters with {chosen.id}: "
            "the scene, the subject and what happens."
        )

    def media_fields(self) -> list[tuple[Any, Any, str, str, str]]:
        """The reference video and voice sample fields, for the page: (files, links, option, legend,
        what one is called: said to screen readers before "Files" and "Links", not shown again)."""
        return [
            (
                self["reference_videos"],
                self["reference_video_links"],
                "reference_videos",
                "Reference videos",
                "Reference video",
            ),
            (
                self["reference_audios"],
                self["reference_audio_links"],
                "reference_audios",
                "Voice samples",
                "Voice sample",
            ),
        ]

    def length_radios(self) -> list[Any]:
        """The length radios for the models with a list of lengths (range models have a slider)."""
        return [radio for radio in self["duration_seconds"] if int(radio.data["value"]) in LISTED_DURATIONS]

    def chosen_length(self) -> int:
        """The length the slider starts at: the one chosen, or the chosen model's default."""
        try:
            return int(self["duration_seconds"].value() or 0) or self.chosen_model().default_duration
        except (TypeError, ValueError):
            return self.chosen_model().default_duration

    def model_options(self) -> list[tuple[Any, str]]:
        return [(radio, MODEL_DESCRIPTIONS[radio.data["value"]]) for radio in self["model"]]

    def chosen_model(self) -> catalogue.ModelSpec:
        """The model the page shows fields for (the default one if the choice is unknown)."""
        return catalogue.get(str(self["model"].value() or "")) or catalogue.MODELS[0]

    def reused_generation(self) -> Generation | None:
        """The generation whose first frame this form carries, if any."""
        return self._reused("reuse_first_frame", "drop_reused_first_frame", "first_frame")

    def reused_last_generation(self) -> Generation | None:
        """The generation whose last frame this form carries, if any."""
        return self._reused("reuse_last_frame", "drop_reused_last_frame", "end_frame")

    def _reused(self, field: str, drop: str, column: str) -> Generation | None:
        pk = parse_id(self[field].value())
        if pk is None or (self.is_bound and self[drop].value()):
            return None
        return Generation.objects.filter(pk=pk).exclude(**{column: ""}).first()

    def continued_generation(self) -> Generation | None:
        """The ready generation whose last frame this form continues from, if any."""
        pk = parse_id(self["continue_from"].value())
        if pk is None or (self.is_bound and self["drop_reused_first_frame"].value()):
            return None
        return Generation.objects.filter(pk=pk, state="ready").exclude(video="").first()

    def check_continued(self, staging: Staging) -> list[str]:
        """Before any submit: the continued frame's problems, with fixes offered when some apply."""
        continued = self.continued_generation()
        if continued is None:
            return []
        data = b""
        try:
            data = _read_last_frame(continued)
            pictures.check_image(data)
        except pictures.ImageRejected as exc:
            if data:
                self.offer = staging.offer(data, exc.messages)
            return exc.messages
        return []

    def clean_prompt(self) -> str:
        return clean_prompt(self.cleaned_data["prompt"])

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
        count = len(self.given_batch()) + len(uploads) + len(links)
        return int(cleaned.get("takes") or 1) * max(1, count)

    def given_batch(self) -> list[batch_pictures.Given]:
        """The pictures of a batch this form carries back from an earlier round trip."""
        return batch_pictures.parse_all(self["batch_picture"].value() or [])

    def _given_pictures(self) -> tuple[list[Any], list[str]]:
        cleaned = getattr(self, "cleaned_data", {})
        uploads = cleaned.get("first_frame") or []
        if not isinstance(uploads, list):
            uploads = [uploads]
        links = [line.strip() for line in (cleaned.get("image_link") or "").splitlines() if line.strip()]
        return uploads, links

    def _check_several(self, uploads: list[Any], links: list[str]) -> None:
        """Every picture of a batch gets the single picture's checks; each refusal names its picture.

        The pictures carried back from an earlier round trip come first, already staged, then the
        files and links given now. Nothing is staged here: offer_fixes() does that after is_valid().
        """
        given = self.given_batch()
        count = len(given) + len(uploads) + len(links)
        if count > settings.MAX_BATCH_PICTURES:
            field = "image_link" if links and not (uploads or given) else "first_frame"
            self.add_error(
                field, f"You gave {count} pictures; one batch takes at most {settings.MAX_BATCH_PICTURES}."
            )
            return
        checked = batch_pictures.check(self.staging, given, uploads, links, link_max=LINK_MAX)
        for number, entry in enumerate(checked, 1):
            field = "image_link" if entry.given.link else "first_frame"
            for message in entry.messages:
                sentence = batch_pictures.refusal(entry.given.label(number), message)
                self.shown_elsewhere.append(sentence)
                self.add_error(field, sentence)
        self.batch_checked = checked
        self.cleaned_data["checked_images"] = [(c.picture, c.given.link) for c in checked if c.picture]

    def given_references(self) -> tuple[list[batch_pictures.Given], list[Any], list[str]]:
        """The reference pictures: those carried back, the files and the links given now."""
        cleaned = getattr(self, "cleaned_data", {})
        uploads = cleaned.get("reference_images") or []
        if not isinstance(uploads, list):
            uploads = [uploads]
        lines = (cleaned.get("reference_image_links") or "").splitlines()
        links = [line.strip() for line in lines if line.strip()]
        return batch_pictures.parse_all(self["reference_picture"].value() or []), uploads, links

    def carried_media(self, kind: str) -> list[tuple[str, str]]:
        """(staged id, file name) of the `kind` references kept from an earlier try, or carried by a
        Remix ("ref-<id>" for the id: read from the source video's copy at Generate)."""
        found = []
        for value in self["reference_kept"].value() or []:
            given_kind, _, rest = str(value).partition(" ")
            staged_id, _, name = rest.partition(" ")
            carried = references.is_carried(staged_id) and len(staged_id) <= 24
            if given_kind == kind and (len(staged_id) == 32 or carried) and len(value) <= 300:
                found.append((staged_id, name))
        return found

    def given_media(self, kind: str) -> tuple[list[Any], list[str]]:
        """The reference videos or voice samples (`kind`) given now: files and links."""
        cleaned = getattr(self, "cleaned_data", {})
        files_field, links_field, *_ = _MEDIA[kind]
        uploads = cleaned.get(files_field) or []
        if not isinstance(uploads, list):
            uploads = [uploads]
        lines = (cleaned.get(links_field) or "").splitlines()
        return uploads, [line.strip() for line in lines if line.strip()]

    def _check_media(self) -> None:
        """Each reference video and voice sample probed (lib/mediaprobe.py); each refusal names it.

        Only for a model that takes the kind, and only when the count fits, so the work is bounded
        by the catalogue's counts and the probe's size limits.
        """
        model = catalogue.get(self.cleaned_data.get("model") or "")
        checked: list[tuple[mediaprobe.CheckedMedia, str]] = []
        for kind, (files_field, links_field, probe, max_bytes, noun) in _MEDIA.items():
            uploads, links = self.given_media(kind)
            carried = self.carried_media(kind)
            count = len(uploads) + len(links) + len(carried)
            taken = model.reference(kind) if model else None
            if not count or taken is None or count > taken.most:
                continue
            # (field, name, link, staged id, read), the kept ones first, as the page lists them.
            reads: list[tuple[str, str, str, str, Callable[[], bytes]]] = []
            for staged_id, name in carried:
                reads.append(
                    (files_field, name, "", staged_id, functools.partial(self._read_kept, staged_id))
                )
            for upload in uploads:
                reads.append(
                    (
                        files_field,
                        str(upload.name),
                        "",
                        "",
                        functools.partial(_read_upload, upload, max_bytes, kind),
                    )
                )
            for link in links:
                fetch = functools.partial(
                    linkfetch.fetch_image,
                    link,
                    max_bytes=max_bytes,
                    noun=mediaprobe.noun(kind),
                    too_large=mediaprobe.too_large(kind, max_bytes + 1, linked=True),
                )
                reads.append((links_field, link[:60], link, "", fetch))
            for number, (field, name, link, staged_id, reader) in enumerate(reads, 1):
                try:
                    media = probe(reader())
                except mediaprobe.MediaRejected as exc:
                    self.add_error(field, f"{noun} {number} ({name}): {exc.message}")
                except linkfetch.LinkRejected as exc:
                    self.add_error(field, f"{noun} {number} ({name}): {exc.message}")
                else:
                    checked.append((media, link))
                    self.media_checked.append((kind, staged_id, f"{noun} {number} ({name})", media, link))
        self.cleaned_data["checked_media"] = checked

    def carry_references(self, source: Generation) -> list[str]:
        """A Remix of `source`: its reference pictures, videos and voice samples, carried by naming
        each stored reference ("ref-<id>", references.carried) where a kept file would stand, so the
        form starts with the same take settings and sends its own copies of the same files.

        Nothing is read whole or copied here: a picture's size and the rules it decides come from
        its headers, a video's or voice sample's probe reads its file as it goes, so the page's
        memory does not grow with the files (docs/using.md gives the number). Generate reads and
        checks each one whole, as an upload, and stores the new video's own copy. Returns the
        sentence for any that are no longer stored (or no longer pass)."""
        if self.staging is None:
            return []
        origin = f"from video #{source.pk}"
        given: list[tuple[batch_pictures.Given, Kept]] = []
        missing = 0
        order = [kind for kind, _ in references.KINDS]  # pictures, videos, voice samples, as the page
        rows = references.Reference.objects.filter(generation=source)
        for ref in sorted(rows, key=lambda r: (order.index(r.kind), r.position)):
            token = references.carried_token(ref)
            if ref.kind == "images":
                kept = self.staging.carried(token)
                if kept is None:
                    missing += 1
                    continue
                given.append(
                    (
                        batch_pictures.Given.of_link(ref.link, token)
                        if ref.link
                        else batch_pictures.Given.of_file(origin, token),
                        kept,
                    )
                )
            elif ref.kind in _MEDIA:
                probed = self.staging.carried_media(token)
                if probed is None:
                    missing += 1
                    continue
                noun = _MEDIA[ref.kind][4]
                number = 1 + sum(value.startswith(ref.kind + " ") for value, _ in self.media_kept)
                self.media_kept.append(
                    (
                        f"{ref.kind} {token} {origin}",
                        f"{noun} {number} ({origin}): carried over by Remix ({probed[1]:.1f} s).",
                    )
                )
        if given:
            items = [batch_pictures.Item(g, n, kept=k) for n, (g, k) in enumerate(given, 1)]
            self.references = batch_pictures.named(items, batch_pictures.REFERENCES)
        if not missing:
            return []
        return [
            f"{missing} of the references of video #{source.pk} "
            f"{'is' if missing == 1 else 'are'} no longer stored, so the Remix can't carry "
            f"{'it' if missing == 1 else 'them'}. Choose {'it' if missing == 1 else 'them'} again."
        ]

    def _read_kept(self, staged_id: str) -> bytes:
        found = self.staging.kept_media(staged_id) if self.staging else None
        if found is None:
            raise mediaprobe.MediaRejected("It is no longer kept here. Choose it again.")
        return found[0]

    def _check_references(self) -> None:
        """Each reference picture through the first frame's checks; each refusal names its picture.

        Checked only for a model that takes them and only when their count fits its limit (else
        refusals() said so), so the work is bounded by the catalogue's count. They are checked even
        when another field is wrong, so the page comes back holding them (a browser can't put a
        file back in its box). Nothing is staged here: offer_fixes() does that.
        """
        carried, uploads, links = self.given_references()
        model = catalogue.get(self.cleaned_data.get("model") or "")
        taken = model.reference("images") if model else None
        count = len(carried) + len(uploads) + len(links)
        if not count or taken is None or count > taken.most:
            return
        checked = batch_pictures.check(self.staging, carried, uploads, links, link_max=LINK_MAX)
        for number, entry in enumerate(checked, 1):
            field = "reference_image_links" if entry.given.link else "reference_images"
            label = entry.given.label(number, batch_pictures.REFERENCES)
            for message in entry.messages:
                sentence = batch_pictures.refusal(label, message)
                self.shown_elsewhere.append(sentence)
                self.add_error(field, sentence)
        self.references_checked = checked
        self.cleaned_data["checked_references"] = [(c.picture, c.given.link) for c in checked if c.picture]

    def planned_model(self) -> str:
        """The model the page announces a plan for: the chosen one, or the default."""
        value = str(self["model"].value() or "")
        return value if value in VideoModel.values else str(DEFAULT_MODEL)

    def planned_seconds(self) -> int | None:
        """The length the page announces a plan for (None: the model's default)."""
        try:
            return int(self["duration_seconds"].value() or 0) or None
        except (TypeError, ValueError):
            return None

    def planned_count(self, batch: int | None = None) -> int:
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
        # The batch the page shows holds the files sent with it; a fresh form has what it carries.
        carried = len(self.given_batch()) + files if batch is None else batch
        count = max(1, min(carried + len(links), settings.MAX_BATCH_PICTURES))
        return max(1, min(takes, settings.MAX_TAKES)) * count

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["checked_image"] = cleaned["checked_last_image"] = None
        # A hidden field's error shows nowhere: one that is not an id (a hand-made request) is
        # said above the form, in the words for a video that is gone.
        for name in ("reuse_first_frame", "reuse_last_frame", "continue_from"):
            for message in self.errors.pop(name, []):
                self.add_error(None, message)
        # Over a limit, the pictures are still checked (at most a batch's worth, each bounded like
        # any check), so the page says everything at once and comes back holding what passed.
        self._check_limits()
        uploads, links = self._given_pictures()
        if self.upload_too_large:
            self._refuse_too_large(self.upload_too_large)
            # The reference videos and voice samples kept earlier (sent before any file) and any
            # that came whole before the stop are probed as usual, so the page comes back holding them.
            self._check_media()
            return cleaned
        if not self._check_options(cleaned):
            self._check_references()
            self._check_media()
            return cleaned
        # A batch carried back may take files and links beside it; alone, a file and a link clash.
        if self.given_batch() or (len(uploads) + len(links) > 1 and not (uploads and links)):
            self._check_several(uploads, links)
        else:
            self._check_frame(cleaned, "first_frame")
        # A batch's takes all end on the same last frame, and share the same references.
        if "last_frame" in (catalogue.get(cleaned.get("model") or "") or catalogue.MODELS[0]).options:
            self._check_frame(cleaned, "last_frame")
        self._check_references()
        self._check_media()
        self._check_references_total()
        return cleaned

    def _refuse_too_large(self, stopped: UploadTooLarge) -> None:
        """Reading stopped at a file past its limit, or at the request's files passing theirs: said
        by the field it stopped at, or above the form for the request (later fields never arrived)."""
        field: str | None = stopped.field_name
        if stopped.request_limit:
            field = None
        elif field not in ("last_frame", "reference_images", *(files for files, *_ in _MEDIA.values())):
            field = "first_frame"
        self.add_error(field, stopped.sentence())

    def _check_references_total(self) -> None:
        total = sum(len(p.data) for p, _ in self.cleaned_data.get("checked_references") or [])
        total += sum(len(m.data) for m, _ in self.cleaned_data.get("checked_media") or [])
        if total > REFERENCES_MAX_BYTES:
            self.add_error(
                None,
                f"Your references come to {mediaprobe.megabytes(total)} MB together; one video's "
                f"references may be at most {mediaprobe.megabytes(REFERENCES_MAX_BYTES)} MB together, "
                "because they are sent inside its request. Remove some, or send smaller files.",
            )

    def _given(self, cleaned: dict[str, Any], slot: str) -> bool:
        """Whether the form carries a picture for `slot` ("first_frame" or "last_frame")."""
        link_field, staged, reuse, drop = _SLOT_FIELDS[slot]
        reused = cleaned.get(reuse) and not cleaned.get(drop)
        return bool(
            cleaned.get(slot)
            or (cleaned.get(link_field) or "").strip()
            or (cleaned.get(staged) or "").strip()
            or (slot == "first_frame" and bool(self.given_batch()))
            or reused
            # Continuing a video starts from its last frame.
            or (slot == "first_frame" and self.continued_generation() is not None)
        )

    def _check_options(self, cleaned: dict[str, Any]) -> bool:
        """The catalogue's rules for the chosen model; False (with errors by the fields) if broken.

        A field the model does not take is refused rather than dropped, so a hand-made request
        never learns that it was ignored; the page only ever sends the fields the model takes.
        """
        model = cleaned.get("model")
        if not model:
            return False
        ask = catalogue.Ask(
            model,
            first_frame=self._given(cleaned, "first_frame"),
            last_frame=self._given(cleaned, "last_frame"),
            resolution=cleaned.get("resolution") or None,
            duration=cleaned.get("duration_seconds"),
            ratio=cleaned.get("ratio") or None,
            prompt_chars=len(cleaned["prompt"]) if "prompt" in cleaned else None,
            references={
                "images": sum(len(given) for given in self.given_references()),
                **{
                    kind: sum(len(given) for given in self.given_media(kind)) + len(self.carried_media(kind))
                    for kind in _MEDIA
                },
            },
        )
        found = catalogue.refusals(ask)
        taken = described.options if (described := catalogue.get(model)) else frozenset()
        for option, sentence in found:
            # A field the model does not take is not on its page: say it above the form.
            shown = option in taken or option in {"model", "first_frame", "prompt"}
            self.add_error(_FIELD_OF_OPTION.get(option) if shown else None, sentence)
        # A prompt too long for the model is the prompt's own error: the pictures are still
        # checked, so the page comes back holding those that passed (as for any prompt error).
        return not [option for option, _ in found if option != "prompt"]

    def _check_frame(self, cleaned: dict[str, Any], slot: str) -> None:
        """Check the picture given for `slot` the one way it was given, into checked_<slot>."""
        link_field, staged_field, _, _ = _SLOT_FIELDS[slot]
        cleaned[_CHECKED[slot]] = None
        upload = cleaned.get(slot)
        if isinstance(upload, list):  # the first-frame field takes several files for a batch
            upload = upload[0] if upload else None
        lines = [line.strip() for line in (cleaned.get(link_field) or "").splitlines() if line.strip()]
        link = lines[0] if lines else ""
        staged = (cleaned.get(staged_field) or "").strip()
        reused = self.reused_generation() if slot == "first_frame" else self.reused_last_generation()
        picture = "first frame" if slot == "first_frame" else "last frame"
        continued = self.continued_generation() if slot == "first_frame" else None
        if slot == "first_frame":
            # Still a continuation if its frame (or a fix of it) is used, not another picture.
            cleaned["continues"] = continued if continued and not (upload or link) else None
        if upload and link:
            self.add_error(link_field, "Give either an image file or an image link, not both.")
        elif upload:
            self._check(slot, lambda: pictures.read_capped(upload), slot=slot)
        elif link:
            self._check(
                link_field, lambda: linkfetch.fetch_image(link, max_bytes=pictures.MAX_BYTES), slot=slot
            )
        elif staged:
            checked = self.staging.checked(staged) if self.staging else None
            if checked is None:
                self.add_error(slot, "That fixed picture is no longer available. Choose the picture again.")
            cleaned[_CHECKED[slot]] = checked
        elif continued:
            self._check("first_frame", lambda: _read_last_frame(continued))
        elif reused:
            name = getattr(reused, "first_frame" if slot == "first_frame" else "end_frame").name
            self._check(slot, lambda: _read_stored(name), slot=slot)
        elif cleaned.get(_SLOT_FIELDS[slot][2]) and not cleaned.get(_SLOT_FIELDS[slot][3]):
            self.add_error(slot, GONE.format(f"That {picture}"))

    def _check(self, field: str, read: Callable[[], bytes], *, slot: str = "first_frame") -> None:
        try:
            data = read()
        except pictures.ImageRejected as exc:
            self._refuse(field, exc.messages)
            return
        except linkfetch.LinkRejected as exc:
            self._refuse(field, [exc.message])
            return
        try:
            self.cleaned_data[_CHECKED[slot]] = pictures.check_image(data)
        except pictures.ImageRejected as exc:
            self._refuse(field, exc.messages)
            # Kept for offer_fixes(), which stages it after is_valid(): clean() writes nothing.
            self.refused[slot] = (field, data, exc.messages)

    def offer_fixes(self) -> None:
        """After is_valid() said no: stage each refused picture (first, last frame) some fix would mend.

        A batch's pictures are all staged, the ones that passed too, so the page comes back with them.
        """
        if self.staging is None:
            return
        if self.batch_checked is not None:
            self.batch = batch_pictures.stage(self.staging, self.batch_checked)
            # Its links are in the batch's list now: the box comes back empty, so none is sent twice.
            shown = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            shown["image_link"] = ""
            self.data = shown
        elif given := self.given_batch():
            # Refused before its pictures were looked at (the allowance, say): show them as they were.
            given = given[: settings.MAX_BATCH_PICTURES]
            self.batch = [batch_pictures.describe(self.staging, g, n) for n, g in enumerate(given, 1)]
        if self.references_checked is not None:
            staged = batch_pictures.stage(self.staging, self.references_checked)
            self.references = batch_pictures.named(staged, batch_pictures.REFERENCES)
            # Its links are in the list now: the box comes back empty, so none is sent twice.
            shown = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            shown["reference_image_links"] = ""
            self.data = shown
        elif carried := self.given_references()[0]:
            # Refused before its pictures were looked at (a count, the allowance): shown as they were.
            carried = carried[:REFERENCE_PICTURES_MAX]
            described = [batch_pictures.describe(self.staging, g, n) for n, g in enumerate(carried, 1)]
            self.references = batch_pictures.named(described, batch_pictures.REFERENCES)
        for kind, staged_id, label, media, _ in self.media_checked:
            kept = staged_id or self.staging.keep_media(media.data, media.mime)
            name = label.partition("(")[2].removesuffix(")")
            self.media_kept.append(
                (f"{kind} {kept} {name}", f"{label}: kept from your last try ({media.seconds:.1f} s).")
            )
        if self.media_kept:
            # The kept files stand in for those given: the link boxes come back empty.
            shown = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            shown["reference_video_links"] = shown["reference_audio_links"] = ""
            self.data = shown
        for slot, (field, data, messages) in self.refused.items():
            try:
                offer = self.staging.offer(data, messages)
            except fixing.FixerBusy as busy:
                self._refuse(field, busy.messages)
                continue
            if slot == "first_frame":
                self.offer = offer
            else:
                self.last_offer = offer
        for slot in _CHECKED:
            self._keep_passed(slot)

    def _keep_passed(self, slot: str) -> None:
        """Stage a file given for `slot` that passed, so the page comes back holding it: a browser
        can't put a file back in its box. (A link stays in its own box; a batch has its list.)"""
        picture = self.cleaned_data.get(_CHECKED[slot])
        upload = self.cleaned_data.get(slot)
        if picture is None or not upload or self.staging is None:
            return
        shown = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        shown[_SLOT_FIELDS[slot][1]] = self.staging.keep(picture)  # a kept picture's token is its id
        self.data = shown

    def _refuse(self, field: str, messages: list[str]) -> None:
        for message in messages:
            self.add_error(field, message)

    def _check_limits(self) -> bool:
        """Allowance, budget and per-minute brake for the whole batch; False (with an error) when over."""
        model = self.cleaned_data.get("model") or str(DEFAULT_MODEL)  # an invalid one has its own error
        problem = starts.refusal(
            self.user, model, self.batch_size(), self.cleaned_data.get("duration_seconds")
        )
        if problem:
            self.add_error(None, problem)
            return False
        return True

    def save(self) -> Generation | None:
        """Store the first frame and the row; a repeated submission returns the first one's row.

        Returns None (with a form error) if the allowance ran out while this form was checked.
        """
        data = self.cleaned_data
        single: pictures.CheckedImage | None = data["checked_image"]
        last: pictures.CheckedImage | None = data.get("checked_last_image")
        link = (data.get("image_link") or "").strip()
        frames: list[tuple[pictures.CheckedImage | None, str]] = data.get("checked_images") or [
            (single, link)
        ]
        takes = int(data.get("takes") or 1)
        plan = [picture for picture in frames for _ in range(takes)]
        # One stored copy per take: deleting one take deletes its own file, never another's.
        names = [_store_first_frame(checked) if checked else "" for checked, _ in plan]
        last_names = [_store_first_frame(last) if last else "" for _ in plan]
        # Each take's own copies of the reference pictures, in the order given.
        given_refs: list[tuple[pictures.CheckedImage, str]] = data.get("checked_references") or []
        # Then the reference videos and voice samples, in the order given.
        given_media: list[tuple[mediaprobe.CheckedMedia, str]] = data.get("checked_media") or []
        ref_names = [
            [references.store(p.data, p.extension) for p, _ in given_refs]
            + [references.store(m.data, m.extension) for m, _ in given_media]
            for _ in plan
        ]
        stored = names + last_names + [name for take in ref_names for name in take]
        model = data["model"]

        def make() -> Generation:
            batch = Batch.objects.create(
                created_by=self.user,
                submission_token=data["submission_token"],
                model=data["model"],
                prompt=data["prompt"],
                takes_per_picture=takes,
                pictures=sum(1 for checked, _ in frames if checked),
            )
            made = [
                Generation(
                    created_by=self.user,
                    batch=batch,
                    # The first take carries the form's token, so a resent form finds it.
                    submission_token=data["submission_token"] if i == 0 else uuid.uuid4(),
                    model=data["model"],
                    prompt=data["prompt"],
                    # A model without the switch (H3) gets none: stored off, so the row says so.
                    enhance_prompt=data["enhance_prompt"] and "enhance" in catalogue.BY_ID[model].options,
                    first_frame=names[i],
                    first_frame_sha256=checked.sha256 if checked else "",
                    first_frame_type=checked.mime if checked else "",
                    first_frame_width=checked.width if checked else None,
                    first_frame_height=checked.height if checked else None,
                    source_link=source,
                    end_frame=last_names[i],
                    end_frame_sha256=last.sha256 if last else "",
                    end_frame_type=last.mime if last else "",
                    end_frame_width=last.width if last else None,
                    end_frame_height=last.height if last else None,
                    end_frame_link=(data.get("last_frame_link") or "").strip() if last else "",
                    resolution=self._option(data, "resolution") or "",
                    duration_seconds=self._option(data, "duration"),
                    ratio=catalogue.BY_ID[model].ratio_for(
                        data.get("ratio") or None,
                        pictures=bool(
                            checked or last or given_refs or any(m.kind == "videos" for m, _ in given_media)
                        ),
                    )
                    or "",
                    continues=data.get("continues"),
                )
                for i, (checked, source) in enumerate(plan)
            ]
            for gen, take_refs in zip(made, ref_names, strict=True):
                gen.save()
                rows = [("images", p.mime, p.sha256, link) for p, link in given_refs] + [
                    (m.kind, m.mime, hashlib.sha256(m.data).hexdigest(), link) for m, link in given_media
                ]
                positions: dict[str, int] = {}
                for (kind, mime, sha256, link), name in zip(rows, take_refs, strict=True):
                    references.Reference.objects.create(
                        generation=gen,
                        kind=kind,
                        position=positions.setdefault(kind, 0),
                        file=name,
                        mime=mime,
                        sha256=sha256,
                        link=link,
                    )
                    positions[kind] += 1
            return made[0]

        try:
            return starts.start(self.user, model, len(plan), make, data.get("duration_seconds"))
        except starts.Refused as refused:
            self.add_error(None, refused.sentence)
            _delete_stored(stored)
            return None
        except IntegrityError:
            # Two copies of the same form raced past the view's check; the first one won.
            _delete_stored(stored)
            return Generation.objects.get(submission_token=data["submission_token"], created_by=self.user)

    @staticmethod
    def _option(data: dict[str, Any], option: str) -> Any:
        """The chosen value, or the model's default, for a model that takes `option`; else None.

        Storing the default makes the row say exactly what was asked for (Remix, API code).
        """
        model = catalogue.BY_ID[data["model"]]
        if option not in model.options:
            return None
        if option == "resolution":
            return data.get("resolution") or model.default_resolution
        return data.get("duration_seconds") or model.default_duration


# Per picture slot: (link field, staged-fix field, reused-generation field, "don't reuse" field).
_SLOT_FIELDS = {
    "first_frame": ("image_link", "staged_first_frame", "reuse_first_frame", "drop_reused_first_frame"),
    "last_frame": ("last_frame_link", "staged_last_frame", "reuse_last_frame", "drop_reused_last_frame"),
}
_CHECKED = {"first_frame": "checked_image", "last_frame": "checked_last_image"}


def _store_first_frame(checked: pictures.CheckedImage) -> str:
    return default_storage.save(
        f"first-frames/{storage_stem()}.{checked.extension}", ContentFile(checked.data)
    )


def _delete_stored(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def _read_upload(upload: Any, max_bytes: int, kind: str) -> bytes:
    """An uploaded reference file (`kind`), refused by its whole size when over its limit (reading
    stops at the limit, so the probe would only see that much)."""
    if upload.size is not None and upload.size > max_bytes:
        raise mediaprobe.MediaRejected(mediaprobe.too_large(kind, upload.size))
    upload.seek(0)
    data: bytes = upload.read(max_bytes + 1)
    return data


def _read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as f:
        data: bytes = f.read(pictures.MAX_BYTES + 1)  # check_image refuses anything longer
        return data


def _read_last_frame(source: Generation) -> bytes:
    try:
        return _read_stored(continuation.last_frame_of(source))
    except (continuation.NotAVideo, OSError) as exc:
        raise pictures.ImageRejected(
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
        "reuse_last_frame": source.pk if source.end_frame else None,
        "resolution": source.resolution or None,
        "duration_seconds": source.duration_seconds,
        "ratio": source.ratio or None,
    }


def initial_from_post(post: Any) -> dict[str, Any]:
    """The choices a person already made, to show the form again without checking it."""
    return {
        "submission_token": post.get("submission_token") or None,
        "model": post.get("model") or DEFAULT_MODEL,
        "prompt": post.get("prompt", ""),
        "enhance_prompt": bool(post.get("enhance_prompt")),
        "resolution": post.get("resolution") or None,
        "duration_seconds": post.get("duration_seconds") or None,
        "ratio": post.get("ratio") or None,
        "continue_from": post.get("continue_from") or None,
        "takes": post.get("takes") or None,
        # Beside a batch's list, the links box holds only links added since (see offer_fixes).
        "image_link": post.get("image_link", "") if post.getlist("batch_picture") else "",
    }
