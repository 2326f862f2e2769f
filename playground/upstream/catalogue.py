"""Every video model this site offers, described once, as data.

(Over 500 lines because the data and the rules that read it belong together: the models, their
refusal sentences, the page's data and the models table all come from here, so one file holds
everything a new model of the family needs.)

The form, its validation, the upstream client (aimlapi.py), the API-code view, the gallery
filter, the demo stand-in and the models page's table (docs/models.md) all read these descriptions, so a
model's field names, options and rules live here and nowhere else. Adding another model of
the MiniMax family is one more ``ModelSpec`` below (plus its tests).

Facts come from the AI/ML API's docs (``video-01.md``, ``video-01-live2d.md`` and
``minimax-family.md`` in the shared seeds; render times and recorded output sizes from the pages
of its ``api-docs`` repository under ``docs/api-references/video-models/``, named beside each
number). Where the docs are silent the choice is written beside the data, or the fact left out.
Nothing here imports Django: the stand-in runs without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

UNIVERSAL_PATH = "/v2/video/generations"
LEGACY_MINIMAX_PATH = "/v2/generate/video/minimax/generation"

# A resolution name gives the short side of the video, not a fixed frame: the service's recorded
# outputs follow the picture's shape (video-01 960×720 in video-models/README.md, video-01-live2d
# 720×1072, hailuo-02 768×1142, hailuo-2.3 and 2.3-fast 1364×768 on their model pages). So no page
# shows pixel sizes; these landscape frames are only the stand-in's shape for a video without a
# picture, and the order of the names.
RESOLUTION_SIZES: Mapping[str, tuple[int, int]] = {
    "480P": (854, 480),
    "720P": (1280, 720),
    "768P": (1366, 768),
    "1080P": (1920, 1080),
    # "the number refers to the short side in pixels" (MiniMax/h3.json); 2K is read as 1440.
    "2K": (2560, 1440),
}

# The options a request may carry besides the prompt, by the neutral names the rest of the
# app uses (form fields, Generation columns). Each model's wire says what the service calls them.
Option = Literal[
    "enhance",
    "first_frame",
    "last_frame",
    "resolution",
    "duration",
    "ratio",
    "prompt",
    "reference_images",
    "reference_videos",
    "reference_audios",
]
OPTION_LABELS: Mapping[str, str] = {
    "enhance": "Enhance prompt",
    "first_frame": "first-frame image",
    "last_frame": "last-frame image",
    "resolution": "resolution",
    "duration": "length",
    "ratio": "aspect ratio",
    "prompt": "prompt",
    "reference_images": "reference pictures",
    "reference_videos": "reference videos",
    "reference_audios": "voice samples",
}
# The prompt limit of the first models: the service's error text says "shorter than or equal to
# 2000 characters" for them (the demo stand-in answers with the same words).
LEGACY_PROMPT_MAX = 2000

ReferenceKind = Literal["images", "videos", "audios"]
REFERENCE_WORDS: Mapping[str, tuple[str, str]] = {
    # kind -> (one, several)
    "images": ("reference picture", "reference pictures"),
    "videos": ("reference video", "reference videos"),
    "audios": ("voice sample", "voice samples"),
}


@dataclass(frozen=True)
class References:
    """One list of references a model takes: its kind, its field on the wire and its count."""

    kind: ReferenceKind
    field: str  # the body's field, a JSON array of links or data URIs
    most: int  # the docs' maxItems
    # Kinds of which at least one must be given beside this one ("Cannot be the only reference —
    # pass at least one reference image or video alongside", for audio on MiniMax/h3.json).
    needs_one_of: tuple[ReferenceKind, ...] = ()

    @property
    def option(self) -> str:
        return f"reference_{self.kind}"

    def words(self, count: int | None = None) -> str:
        one, several = REFERENCE_WORDS[self.kind]
        return one if count == 1 else several


@dataclass(frozen=True)
class Wire:
    """How one route names things: where to send, and the body's field names."""

    name: str  # "universal" or "legacy"
    path: str  # both the create (POST) and the poll (GET ?generation_id=)
    id_fields: tuple[str, ...]  # where a create answer puts the generation id, most likely first
    first_frame: str
    enhance: str | None  # None: the route's schema has no such switch (MiniMax/h3.json)
    prompt: str = "prompt"
    last_frame: str | None = None
    resolution: str | None = None
    duration: str | None = None
    ratio: str | None = None

    def field_for(self, option: str) -> str | None:
        return {
            "enhance": self.enhance,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "resolution": self.resolution,
            "duration": self.duration,
            "ratio": self.ratio,
        }.get(option)

    @property
    def body_fields(self) -> frozenset[str]:
        names = {"model", self.prompt, self.first_frame}
        names |= {
            name
            for name in (self.enhance, self.last_frame, self.resolution, self.duration, self.ratio)
            if name
        }
        return frozenset(names)


def _universal(enhance: str | None = "enhance_prompt", **names: str) -> Wire:
    return Wire(
        name="universal",
        path=UNIVERSAL_PATH,
        id_fields=("id", "generation_id"),
        first_frame="image_url",
        enhance=enhance,
        **names,
    )


@dataclass(frozen=True)
class ModelSpec:
    id: str  # the `model` field, as the service spells it
    description: str  # one line for the Generate page and docs/models.md
    first_frame: Literal["optional", "required"]
    routes: Mapping[str, Wire]
    default_route: str
    # The resolution and length of what the service makes. With one value each, the model offers
    # no choice and the request carries no field for it.
    resolutions: tuple[str, ...]
    default_resolution: str
    durations: tuple[int, ...]
    default_duration: int
    # Longer clips exist only at some resolutions ("10-second clips at 768p").
    longest_at: Mapping[str, int] = field(default_factory=dict)
    # The estimate in dollars for one video with the default options (the service does not publish
    # prices; the real cost is read per job from its headers). VIDEO_PRICES_USD overrides it.
    price_usd: Decimal = Decimal("0.50")
    # The docs' time from accepted to finished, by length, in seconds: (shortest, longest); the
    # same number twice is one recorded run ("about"), a 0 means "under". Lengths the docs give
    # no time for are left out rather than guessed.
    render_seconds: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    sound: bool = False  # Whether its videos carry an audio track.
    # The setting that picks one of several routes, named in errors that a switch would mend.
    route_setting: str | None = None
    # The longest prompt the model takes, in characters (the docs' maxLength).
    prompt_max: int = LEGACY_PROMPT_MAX
    # 0: `durations` is a list of lengths. Above 0: the lengths are a range, every `length_step`
    # seconds from the shortest to the longest of `durations` (see _lengths()).
    length_step: int = 0
    # The aspect ratios it makes (none: it takes no ratio field) and the one used when none is
    # chosen. Some follow the pictures ("adaptive") and so cannot be made from a prompt alone:
    # those are listed in ratios_need_pictures, and ratio_without_pictures is used then instead
    # ("text-only generation cannot be adaptive and defaults to 16:9 instead", MiniMax/h3.json).
    ratios: tuple[str, ...] = ()
    default_ratio: str | None = None
    ratios_need_pictures: tuple[str, ...] = ()
    ratio_without_pictures: str | None = None
    references: tuple[References, ...] = ()
    # Where the docs publish no price: an estimate per second of video (dollars), so the estimate
    # follows the length; the app replaces it with what real jobs cost (their usd_spent).
    price_per_second: Decimal | None = None

    @property
    def wire(self) -> Wire:
        return self.routes[self.default_route]

    @property
    def takes_last_frame(self) -> bool:
        return self.wire.last_frame is not None

    @property
    def takes_resolution(self) -> bool:
        return self.wire.resolution is not None and len(self.resolutions) > 1

    @property
    def takes_duration(self) -> bool:
        return self.wire.duration is not None and len(self.durations) > 1

    @property
    def takes_ratio(self) -> bool:
        return self.wire.ratio is not None and len(self.ratios) > 1

    @property
    def takes_enhance(self) -> bool:
        return self.wire.enhance is not None

    @property
    def length_range(self) -> tuple[int, int, int] | None:
        """(shortest, longest, step) for a model whose lengths are a range, else None."""
        if not self.length_step:
            return None
        return min(self.durations), max(self.durations), self.length_step

    @property
    def sample_lengths(self) -> tuple[int, ...]:
        """The lengths a demo shows: each of a list; a range's shortest, default and longest."""
        if self.length_range is None:
            return self.durations
        return tuple(sorted({min(self.durations), self.default_duration, max(self.durations)}))

    def lengths_words(self) -> str:
        """ "6 s or 10 s", or "4 to 15 s, in whole seconds"."""
        span = self.length_range
        if span is None:
            return _or([f"{d} s" for d in self.durations])
        low, high, step = span
        every = "in whole seconds" if step == 1 else f"in steps of {step} s"
        return f"{low} to {high} s, {every}"

    @property
    def ratio_hint(self) -> str:
        """What "Default" means on the Generate page's ratio field."""
        if not self.takes_ratio:
            return ""
        hint = f"Default: {self.default_ratio}"
        if self.default_ratio in self.ratios_need_pictures:
            hint += f", which follows the pictures; from a prompt alone, {self.ratio_without_pictures}"
        return hint + "."

    def reference(self, kind: str) -> References | None:
        return next((r for r in self.references if r.kind == kind), None)

    def body_fields(self, wire: Wire | None = None) -> frozenset[str]:
        """Every field a create body may carry on `wire` (the default route)."""
        wire = wire or self.wire
        return wire.body_fields | {r.field for r in self.references}

    def ratio_for(self, ratio: str | None, *, pictures: bool) -> str | None:
        """The ratio a request carries: the chosen one, or the default for what it was given."""
        if not self.takes_ratio:
            return None
        if ratio:
            return ratio
        if not pictures and self.default_ratio in self.ratios_need_pictures:
            return self.ratio_without_pictures
        return self.default_ratio

    def estimate_usd(self, duration: int | None = None, per_second: Decimal | None = None) -> Decimal:
        """The estimate for one video: per second times its length, where the model is priced so."""
        rate = per_second if per_second is not None else self.price_per_second
        if rate is None:
            return self.price_usd
        return (rate * (duration or self.default_duration)).quantize(Decimal("0.000001"))

    @property
    def options(self) -> frozenset[str]:
        """The options this model takes, by their neutral names."""
        taken = {"first_frame"}
        if self.takes_enhance:
            taken.add("enhance")
        if self.takes_ratio:
            taken.add("ratio")
        taken |= {r.option for r in self.references}
        if self.takes_last_frame:
            taken.add("last_frame")
        if self.takes_resolution:
            taken.add("resolution")
        if self.takes_duration:
            taken.add("duration")
        return frozenset(taken)

    def durations_at(self, resolution: str) -> tuple[int, ...]:
        longest = self.longest_at.get(resolution)
        return tuple(d for d in self.durations if longest is None or d <= longest)

    def size(self, resolution: str | None = None) -> tuple[int, int]:
        return RESOLUTION_SIZES[resolution or self.default_resolution]

    def render_time(self, duration: int | None = None) -> str:
        """ "usually 4–5 minutes for 6 s" (or each length's, when none is given)."""
        lengths = [duration] if duration is not None else list(self.durations)
        parts = [
            f"{_span(*self.render_seconds[length])} for {length} s"
            for length in lengths
            if length in self.render_seconds
        ]
        return "usually " + " and ".join(parts) if parts else ""

    def wait_sentence(self, duration: int | None = None) -> str:
        """What the Generate page says so nobody thinks a long render is stuck."""
        span = self.render_time(duration or self.default_duration).removeprefix("usually ")
        return f"A render with {self.id} usually takes {span}; its page follows it live." if span else ""

    @property
    def need_frame_sentence(self) -> str:
        if self.first_frame == "required":
            return f"Required for {self.id}: the video starts from this picture."
        return f"Optional for {self.id}: without one, the video is made from the prompt alone."

    def wire_for(self, route: str | None) -> Wire:
        return self.routes.get(route or self.default_route, self.wire)


def _span(low: int, high: int) -> str:
    """(0, 60) "under a minute", (98, 98) "about 1 min 38 s", (240, 300) "4–5 minutes"."""
    if low == 0:
        return "under a minute" if high == 60 else f"under {_duration(high)}"
    if low == high:
        return f"about {_duration(low)}"
    if low % 60 == 0 and high % 60 == 0:
        return f"{low // 60}–{high // 60} minutes"
    return f"{_duration(low)} to {_duration(high)}"


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if not rest:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _lengths(shortest: int, longest: int, step: int = 1) -> tuple[int, ...]:
    """Every length of a range model, so the rules that read a list read a range too."""
    return tuple(range(shortest, longest + 1, step))


def _hailuo(
    model_id: str,
    description: str,
    *,
    first_frame: Literal["optional", "required"],
    price_usd: Decimal,
    render_seconds: Mapping[int, tuple[int, int]],
    last_frame: str | None = None,
) -> ModelSpec:
    """A Hailuo model on the universal route: 768P or 1080P, 6 or 10 s, and 10 s only at 768P
    ("supports 10-second clips at 768p"; the same rule is assumed for 2.3 and 2.3 Fast, whose
    docs don't say)."""
    extra = {"last_frame": last_frame} if last_frame else {}
    return ModelSpec(
        id=model_id,
        description=description,
        first_frame=first_frame,
        routes={"universal": _universal(resolution="resolution", duration="duration", **extra)},
        default_route="universal",
        resolutions=("768P", "1080P"),
        default_resolution="768P",
        durations=(6, 10),
        default_duration=6,
        longest_at={"1080P": 6},
        price_usd=price_usd,
        render_seconds=render_seconds,
    )


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="video-01",
        description="A cinematic 6-second clip from your prompt. A first-frame image is optional.",
        first_frame="optional",
        routes={"universal": _universal()},
        default_route="universal",
        resolutions=("720P",),
        default_resolution="720P",
        durations=(6,),
        default_duration=6,
        price_usd=Decimal("0.43"),
        # "usually less than a minute" (video-models/README.md, whose recorded run took about 20 s).
        render_seconds={6: (0, 60)},
    ),
    ModelSpec(
        id="video-01-live2d",
        description="Brings a still picture to life, Live2D style. Needs a first-frame image.",
        first_frame="required",
        # The seed page documents the vendor route (which "can still be called"); the current docs
        # list the universal one. The legacy route stays the default; LIVE2D_ROUTE switches.
        routes={
            "legacy": Wire(
                name="legacy",
                path=LEGACY_MINIMAX_PATH,
                id_fields=("generation_id", "id"),
                first_frame="first_frame_image",
                enhance="prompt_optimizer",
            ),
            "universal": _universal(),
        },
        default_route="legacy",
        route_setting="LIVE2D_ROUTE",
        resolutions=("720P",),
        default_resolution="720P",
        durations=(6,),
        default_duration=6,
        price_usd=Decimal("0.56"),
        # "around 3 minutes for a 6-second video" (MiniMax/video-01-live2d.md).
        render_seconds={6: (180, 180)},
    ),
    _hailuo(
        "minimax/hailuo-02",
        "MiniMax Hailuo 02: 6 or 10 s at 768P, or 6 s at 1080P. First and last frames are both optional.",
        first_frame="optional",
        last_frame="last_image_url",
        price_usd=Decimal("0.30"),
        # "around 4-5 minutes for a 6-second video and 8-9 minutes for a 10-second video"
        # (minimax/hailuo-02.md).
        render_seconds={6: (240, 300), 10: (480, 540)},
    ),
    _hailuo(
        "minimax/hailuo-2.3",
        "MiniMax Hailuo 2.3: 6 or 10 s at 768P, or 6 s at 1080P. A first-frame image is optional.",
        first_frame="optional",
        price_usd=Decimal("0.30"),
        # "Processing time: ~ 1 min 38 sec." for its shortest clip (minimax/hailuo-2.3.md); no time
        # for 10 s is recorded.
        render_seconds={6: (98, 98)},
    ),
    _hailuo(
        "minimax/hailuo-2.3-fast",
        "MiniMax Hailuo 2.3 Fast: quicker and cheaper from a picture. Needs a first-frame image.",
        first_frame="required",
        price_usd=Decimal("0.20"),
        # "Processing time: ~ 1 min 9 sec." for its shortest clip (minimax/hailuo-2.3-fast.md); no
        # time for 10 s is recorded.
        render_seconds={6: (69, 69)},
    ),
    ModelSpec(
        id="minimax/h3",
        description="MiniMax H3: 2K clips of 4 to 15 s with sound, directed by frames and references.",
        first_frame="optional",
        # Every field as MiniMax/h3.json names it; its schema has no enhance switch.
        routes={
            "universal": _universal(
                enhance=None,
                last_frame="last_image_url",
                resolution="resolution",
                duration="duration",
                ratio="ratio",
            )
        },
        default_route="universal",
        resolutions=("2K",),
        default_resolution="2K",
        durations=_lengths(4, 15),  # "integer", minimum 4, maximum 15
        length_step=1,
        default_duration=6,
        prompt_max=7000,
        ratios=("adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"),
        default_ratio="adaptive",
        ratios_need_pictures=("adaptive",),
        ratio_without_pictures="16:9",
        references=(
            References("images", "reference_image_urls", 9),
            References("videos", "video_urls", 3),
            References("audios", "audio_urls", 3, needs_one_of=("images", "videos")),
        ),
        sound=True,
        # The docs give no price: a guess per second, replaced by what real jobs cost.
        price_per_second=Decimal("0.08"),
        price_usd=Decimal("0.48"),
    ),
    # Its page (h3-max.md) was not in the docs snapshot of 21 August 2026 that this was written
    # from. The facts come from the model list: 5 to 15 s, 480p or 768p, 24 fps, stereo sound,
    # from a prompt, first and last frames or references. Its field names are inferred from
    # h3's page (the same universal route), and its resolution values from Hailuo's "768P"
    # spelling. The list gives no aspect ratios, so none is offered; nor does it give counts for
    # the references, so H3's are assumed.
    ModelSpec(
        id="minimax/h3-max",
        description="MiniMax H3 Max: 5 to 15 s at 480P or 768P with stereo sound, from frames or references.",
        first_frame="optional",
        routes={
            "universal": _universal(
                enhance=None, last_frame="last_image_url", resolution="resolution", duration="duration"
            )
        },
        default_route="universal",
        resolutions=("480P", "768P"),
        default_resolution="768P",
        durations=_lengths(5, 15),
        length_step=1,
        default_duration=6,
        prompt_max=7000,
        references=(
            References("images", "reference_image_urls", 9),
            References("videos", "video_urls", 3),
            References("audios", "audio_urls", 3, needs_one_of=("images", "videos")),
        ),
        sound=True,
        price_per_second=Decimal("0.05"),
        price_usd=Decimal("0.30"),
    ),
)

BY_ID: Mapping[str, ModelSpec] = {model.id: model for model in MODELS}
IDS: tuple[str, ...] = tuple(BY_ID)
CHOICES: list[tuple[str, str]] = [(model.id, model.id) for model in MODELS]


def get(model_id: str) -> ModelSpec | None:
    return BY_ID.get(model_id)


def reference_limits(kind: str) -> str:
    """ "Up to 9 with minimax/h3 and 9 with minimax/h3-max.": the form's hint, read from the models."""
    taking = [(m.id, ref.most) for m in MODELS if (ref := m.reference(kind)) is not None]
    if not taking:
        return ""
    return "Up to " + _and([f"{most} with {model_id}" for model_id, most in taking]) + "."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def usage_log_name(model_id: str) -> str:
    """How the usage log names a model: with its vendor ("minimax/video-01"), as newer ids already are."""
    return model_id if "/" in model_id else f"minimax/{model_id}"


@dataclass(frozen=True)
class Ask:
    """What a person asks one model for, by neutral names (None: not given)."""

    model: str
    first_frame: bool = False
    last_frame: bool = False
    resolution: str | None = None
    duration: int | None = None
    ratio: str | None = None
    prompt_chars: int | None = None
    # How many of each kind of reference ("images", "videos", "audios"); kinds left out: none.
    references: Mapping[str, int] = field(default_factory=dict)

    @property
    def pictures(self) -> bool:
        """Whether anything but the prompt shapes the video (what "adaptive" follows)."""
        given = self.references
        return self.first_frame or self.last_frame or bool(given.get("images") or given.get("videos"))


def problems(ask: Ask) -> list[str]:
    """Plain sentences for everything `ask` gets wrong for its model (empty when it is fine).

    The client refuses with them before sending anything.
    """
    return [sentence for _, sentence in refusals(ask)]


def refusals(ask: Ask) -> list[tuple[str, str]]:
    """(option, sentence) for each rule `ask` breaks; the option is "model" or an ``Option``.

    The form puts each sentence beside its field.
    """
    model = BY_ID.get(ask.model)
    if model is None:
        return [("model", f"The model {ask.model!r} is not available here. Choose one of: {', '.join(IDS)}.")]
    found: list[tuple[str, str]] = []
    if model.first_frame == "required" and not ask.first_frame:
        found.append(
            ("first_frame", f"{model.id} needs a first-frame image: choose a file or give an image link.")
        )
    if ask.last_frame and not model.takes_last_frame:
        takers = _or([m.id for m in MODELS if m.takes_last_frame])
        found.append(("last_frame", f"{model.id} takes no last-frame image. Remove it, or choose {takers}."))
    elif ask.last_frame and not ask.first_frame:
        # The docs don't say whether a last frame alone is allowed; asking for the safe thing.
        found.append(
            (
                "last_frame",
                f"A last-frame image needs a first-frame image too with {model.id}: add a first frame, "
                "or remove the last frame.",
            )
        )
    if ask.resolution is not None:
        if not model.takes_resolution:
            found.append(
                (
                    "resolution",
                    f"{model.id} makes {model.default_resolution} videos only; it takes no resolution.",
                )
            )
        elif ask.resolution not in model.resolutions:
            found.append(
                (
                    "resolution",
                    f"{model.id} makes videos at {_or(model.resolutions)}, not {ask.resolution!r}.",
                )
            )
    if ask.duration is not None:
        if not model.takes_duration:
            found.append(
                (
                    "duration",
                    f"{model.id} makes {model.default_duration}-second videos only; it takes no length.",
                )
            )
        elif ask.duration not in model.durations:
            found.append(
                ("duration", f"{model.id} makes videos of {model.lengths_words()}, not {ask.duration} s.")
            )
    if ask.prompt_chars is not None and ask.prompt_chars > model.prompt_max:
        found.append(
            (
                "prompt",
                f"{model.id} takes a prompt of at most {model.prompt_max:,} characters; "
                f"this one is {ask.prompt_chars:,}.",
            )
        )
    found += _ratio_refusals(model, ask)
    found += _reference_refusals(model, ask)
    resolution = ask.resolution or model.default_resolution
    duration = ask.duration or model.default_duration
    if resolution in model.resolutions and duration in model.durations:
        allowed = model.durations_at(resolution)
        if duration not in allowed:
            found.append(
                (
                    "duration",
                    f"{model.id} makes {duration}-second videos only at "
                    f"{_or([r for r in model.resolutions if duration in model.durations_at(r)])}; "
                    f"at {resolution} the longest is {max(allowed)} s.",
                )
            )
    return found


def _ratio_refusals(model: ModelSpec, ask: Ask) -> list[tuple[str, str]]:
    if ask.ratio is None:
        return []
    if not model.takes_ratio:
        return [("ratio", f"{model.id} takes no aspect ratio; remove {ask.ratio!r}.")]
    if ask.ratio not in model.ratios:
        return [("ratio", f"{model.id} makes videos at {_or(model.ratios)}, not {ask.ratio!r}.")]
    if ask.ratio in model.ratios_need_pictures and not ask.pictures:
        others = [r for r in model.ratios if r not in model.ratios_need_pictures]
        return [
            (
                "ratio",
                f"{model.id} can't make {ask.ratio!r} from a prompt alone: it follows the pictures. "
                f"Add a picture, or choose {_or(others)}.",
            )
        ]
    return []


def _reference_refusals(model: ModelSpec, ask: Ask) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for kind, count in ask.references.items():
        if not count:
            continue
        taken = model.reference(kind)
        words = REFERENCE_WORDS[kind][1]
        if taken is None:
            takers = _or([m.id for m in MODELS if m.reference(kind)])
            found.append(
                (f"reference_{kind}", f"{model.id} takes no {words}. Remove them, or choose {takers}.")
            )
        elif count > taken.most:
            found.append(
                (
                    taken.option,
                    f"{model.id} takes at most {taken.most} {taken.words(taken.most)}; you gave {count}.",
                )
            )
        elif taken.needs_one_of and not any(ask.references.get(k) for k in taken.needs_one_of):
            beside = _or([REFERENCE_WORDS[k][0] for k in taken.needs_one_of])
            found.append(
                (
                    taken.option,
                    f"With {model.id}, {taken.words()} need at least one {beside} beside them: "
                    f"add one, or remove the {taken.words()}.",
                )
            )
    return found


def _or(items: tuple[str, ...] | list[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" or {items[-1]}"


def browser_data() -> list[dict[str, Any]]:
    """What the Generate page's script needs to show each model's fields (a JSON script tag)."""
    return [
        {
            "id": model.id,
            "description": model.description,
            "first_frame": model.first_frame,
            "options": sorted(model.options),
            "resolutions": list(model.resolutions),
            "default_resolution": model.default_resolution,
            "durations": list(model.durations),
            "default_duration": model.default_duration,
            "durations_at": {r: list(model.durations_at(r)) for r in model.resolutions},
            "render_times": {str(d): model.render_time(d) for d in model.durations},
            "waits": {str(d): model.wait_sentence(d) for d in model.durations},
            "need_frame": model.need_frame_sentence,
            "longest_at": dict(model.longest_at),
            "length_range": list(span) if (span := model.length_range) else None,
            "lengths_words": model.lengths_words(),
            "prompt_max": model.prompt_max,
            "ratios": list(model.ratios),
            "default_ratio": model.default_ratio,
            "ratios_need_pictures": list(model.ratios_need_pictures),
            "ratio_without_pictures": model.ratio_without_pictures,
            "references": [
                {"kind": r.kind, "field": r.field, "most": r.most, "needs_one_of": list(r.needs_one_of)}
                for r in model.references
            ],
            "sound": model.sound,
            "ratio_hint": model.ratio_hint,
        }
        for model in MODELS
    ]


def markdown_table() -> str:
    """The models page's table (docs/models.md), made from the data so the two cannot drift."""
    rows = [
        "| Model | First frame | Last frame | Resolution | Length | Ratio | References | Prompt | Sound | "
        "Route (create and poll) | Estimate | Usually takes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        routes = " or ".join(
            f"`{wire.path}` ({wire.name}{_mark(name == model.default_route, model.routes)})"
            for name, wire in model.routes.items()
        )
        resolutions = " / ".join(
            f"{r}{_mark(r == model.default_resolution, model.resolutions)}" for r in model.resolutions
        )
        if model.length_range:
            durations = f"{model.lengths_words()}, default {model.default_duration} s"
        else:
            durations = " / ".join(
                f"{d} s{_mark(d == model.default_duration, model.durations)}" for d in model.durations
            )
        if model.longest_at:
            durations += "; " + ", ".join(f"{r}: up to {s} s" for r, s in model.longest_at.items())
        ratios = (
            " / ".join(f"{r}{_mark(r == model.default_ratio, model.ratios)}" for r in model.ratios)
            if model.takes_ratio
            else "—"
        )
        if model.ratio_without_pictures:
            ratios += f"; {model.ratio_without_pictures} from a prompt alone"
        references = (
            "<br>".join(
                f"{r.words()}: up to {r.most} (`{r.field}`"
                + (
                    f"; needs {_or([REFERENCE_WORDS[k][0] for k in r.needs_one_of])}"
                    if r.needs_one_of
                    else ""
                )
                + ")"
                for r in model.references
            )
            or "—"
        )
        price = (
            f"${model.price_per_second} a second (a guess)"
            if model.price_per_second
            else f"${model.price_usd}"
        )
        rows.append(
            f"| `{model.id}` | {model.first_frame} | "
            f"{'optional (`' + str(model.wire.last_frame) + '`)' if model.takes_last_frame else '—'} | "
            f"{resolutions} | {durations} | {ratios} | {references} | {model.prompt_max:,} | "
            f"{'yes' if model.sound else 'no'} | {routes} | {price} | {model.render_time() or '—'} |"
        )
    return "\n".join(rows)


def _mark(is_default: bool, among: object) -> str:
    # "default" only where there is a choice.
    return ", default" if is_default and len(among) > 1 else ""  # type: ignore[arg-type]
