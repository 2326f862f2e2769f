"""Fill the gallery with a team's worth of past videos, for demos, screenshots and benchmarks.

Only finished generations (ready or failed) are made: an unfinished one would be picked up by
the worker and sent to the video service, which costs money when a key is set. Each follows its
model's rules in the catalogue, as a request from the Generate form would: a first frame where
one is needed, only the resolutions and lengths the model takes (10 s only where its resolution
allows), and a video as long as the length asked for.
"""

import io
import random
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from PIL import Image, ImageDraw

from playground import pictures
from playground.generations.models import Generation, State
from playground.lib.videofiles import inspect_video, storage_stem
from playground.upstream import catalogue
from playground.upstream.demo.render import render_video, tone_for
from playground.upstream.demo.upstream import PRICES_USD

MEMBERS = ["ana", "ben", "chloe", "dev", "eli", "farah", "gus", "hana", "ivan", "jo"]
SUBJECTS = [
    "a red fox",
    "an old lighthouse",
    "a paper boat",
    "a jazz trio",
    "a hummingbird",
    "a vintage tram",
    "a glass of iced tea",
    "a sleeping cat",
    "a neon street",
    "a snowy mountain hut",
    "a koi pond",
    "a lone astronaut",
    "a market stall of oranges",
    "a ballet dancer",
    "a desert caravan",
    "a robot barista",
]
ACTIONS = [
    "slowly turns toward the camera",
    "glows as the sun sets",
    "drifts through light rain",
    "is revealed by a dolly-in shot",
    "moves in slow motion",
    "is lit by flickering candles",
    "spins gently in the wind",
    "comes alive at dawn",
    "is framed by falling leaves",
]
STYLES = ["cinematic, 35mm film", "soft pastel colours", "high contrast noir", "dreamy watercolour look", ""]
FAILURES = [
    (
        "upstream_error",
        "The video service could not make this video: the prompt was flagged by its content filter.",
    ),
    ("timed_out", "The video service did not finish this video within 30 minutes, so we stopped waiting."),
    ("refused", "The AI/ML API account has no credits left."),
]
PALETTE = ["#4b3fd1", "#e4572e", "#17bebb", "#ffc914", "#2e282a", "#76b041", "#b8336a"]


class Command(BaseCommand):
    help = "Add finished demo generations by several made-up team members (ready and failed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generations", type=int, default=300)
        parser.add_argument("--members", type=int, default=5, help="How many made-up members (at most 10).")
        parser.add_argument("--days", type=int, default=60, help="Spread them over this many past days.")
        parser.add_argument(
            "--no-media",
            action="store_true",
            help="Share one set of files between all rows (fast; for benchmarks only, never delete them).",
        )
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])  # noqa: S311 (made-up demo data, repeatable on purpose)
        members = [self._member(name) for name in MEMBERS[: max(1, min(10, options["members"]))]]
        frames = [_first_frame(rng, i) for i in range(4)]
        clips = self._clips(rng, frames)
        shared = self._store(clips[0]) if options["no_media"] else None
        now = timezone.now()
        rows = []
        for i in range(options["generations"]):
            prompt = f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(ACTIONS)}"
            if style := rng.choice(STYLES):
                prompt += f", {style}"
            clip = rng.choice(clips)
            model = catalogue.BY_ID[clip["model"]]
            created = now - timedelta(seconds=rng.uniform(60, options["days"] * 86400))
            gen = Generation(
                created_by=rng.choice(members),
                created_at=created,
                model=model.id,
                # As the form stores them: an option only for a model that takes it.
                resolution=rng.choice(clip["resolutions"]) if "resolution" in model.options else "",
                duration_seconds=clip["seconds"] if "duration" in model.options else None,
                prompt=prompt,
                enhance_prompt="enhance" in model.options and rng.random() < 0.8,
                upstream_id=f"seed-{i}-{rng.getrandbits(40):x}",
                submitted_at=created + timedelta(seconds=2),
                credits_used=1.0,
                next_attempt_at=created,
            )
            if clip["frame"] is not None:
                checked = clip["frame"]
                gen.first_frame_sha256 = checked.sha256
                gen.first_frame_width, gen.first_frame_height = checked.width, checked.height
            if rng.random() < 0.1:
                gen.state = State.FAILED
                gen.failure_code, gen.failure_reason = rng.choice(FAILURES)
                gen.finished_at = created + timedelta(seconds=rng.uniform(20, 300))
            else:
                gen.state = State.READY
                gen.finished_at = created + timedelta(seconds=rng.uniform(90, 400))
                gen.completed_at = gen.finished_at
                gen.duration = clip["duration"]
                gen.has_sound = clip["has_sound"]
                gen.tokens_used = 1.0
                # What the stand-in charges for a video of this model, so seeded usage shows dollars.
                gen.usd_spent = PRICES_USD[clip["model"]]
                names = shared or self._store(clip)
                gen.video, gen.poster, gen.video_size = names["video"], names["poster"], names["size"]
            if clip["frame"] is not None:
                gen.first_frame = shared["frame"] if shared else self._store_frame(clip["frame"])
            rows.append(gen)
            if len(rows) >= 2000:
                Generation.objects.bulk_create(rows)
                rows = []
        Generation.objects.bulk_create(rows)
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {options['generations']} finished generations by {len(members)} members."
            )
        )

    def _member(self, name: str) -> Any:
        user, created = get_user_model().objects.get_or_create(username=name)
        if created:
            user.set_unusable_password()
            user.save()
        return user

    def _clips(self, rng: random.Random, frames: list[pictures.CheckedImage]) -> list[dict[str, Any]]:
        """A few real videos to share out: for every catalogue model, one of each length it makes,
        with a first frame and, where the model can do without, without one."""
        plans = [(model, seconds, True) for model in catalogue.MODELS for seconds in model.sample_lengths]
        plans += [
            (model, seconds, False)
            for model in catalogue.MODELS
            if model.first_frame == "optional"
            for seconds in model.sample_lengths
        ]
        clips = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (model, seconds, framed) in enumerate(plans):
                frame = frames[i % len(frames)] if framed else None
                path = Path(tmp) / f"clip{i}.mp4"
                render_video(
                    path,
                    prompt=f"{SUBJECTS[i % len(SUBJECTS)].capitalize()} {ACTIONS[i % len(ACTIONS)]}",
                    first_frame=frame.data if frame else None,
                    seconds=seconds,
                    long_side=480,
                    tone_hz=tone_for(f"seed-{i}") if model.sound else None,
                )
                info = inspect_video(path)
                clips.append(
                    {
                        "model": model.id,
                        "frame": frame,
                        "seconds": seconds,
                        # Only the resolutions that make this length ("10-second clips at 768p").
                        "resolutions": [r for r in model.resolutions if seconds in model.durations_at(r)],
                        "video": path.read_bytes(),
                        "poster": info.poster_jpeg,
                        "duration": info.duration,
                        "has_sound": info.has_sound,
                    }
                )
        return clips

    def _store(self, clip: dict[str, Any]) -> dict[str, Any]:
        stem = storage_stem()
        stored: dict[str, Any] = {
            "video": default_storage.save(f"videos/{stem}.mp4", ContentFile(clip["video"])),
            "poster": default_storage.save(f"posters/{stem}.jpg", ContentFile(clip["poster"])),
            "size": len(clip["video"]),
        }
        if clip["frame"] is not None:
            stored["frame"] = self._store_frame(clip["frame"])
        return stored

    def _store_frame(self, frame: pictures.CheckedImage) -> str:
        return default_storage.save(
            f"first-frames/{storage_stem()}.{frame.extension}", ContentFile(frame.data)
        )


def _first_frame(rng: random.Random, index: int) -> pictures.CheckedImage:
    """A colourful abstract picture, different for each index, that passes the first-frame rules."""
    width, height = [(960, 540), (540, 960), (800, 800), (1024, 576)][index % 4]
    picture = Image.new("RGB", (width, height), PALETTE[index % len(PALETTE)])
    draw = ImageDraw.Draw(picture)
    for _ in range(14):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(40, max(41, min(width, height) // 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(PALETTE))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=88)
    return pictures.check_image(buffer.getvalue())
