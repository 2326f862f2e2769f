"""A film's sound stays in step with its picture: each clip's tone is heard exactly while that
clip is seen, and a clip without sound is silence for exactly its own length, on both ways of
joining. Checked by decoding the film's two streams with PyAV."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import pytest
from django.core.files.storage import default_storage

from playground.films import sequences
from playground.films.sequences import ExportState
from playground.generations.continuation import last_frame_jpeg
from tests.clips import write_clip
from tests.films.test_sequences import chain
from tests.sound import Sound, decode_sound, has_audio, loudness, tone_strength, video_seconds

# Where a clip's span is judged (a picture's length in from each end, so the edges' own
# smoothing does not count).
STEP = 1 / 24
# How far a switch between sound and silence may sit from the change of picture: two 5 ms
# windows. An AAC block is 1,024 samples (21 ms), so sound laid a block off fails here.
EDGE = 0.012
# The film's sound may run on by at most the encoder's last block.
TAIL = 1024 / 48_000 + 0.001


def boundaries(source: Any, seeds: list[int]) -> list[float]:
    """When each clip's picture starts in the film, found from the pictures themselves: every
    clip's frames have their own green level (tests/clips.py's `picture`, by seed)."""
    greens = [(90 + 37 * seed) % 256 for seed in seeds]
    starts: list[float] = []
    with av.open(source) as container:
        for frame in container.decode(video=0):
            green = frame.to_image().getpixel((2, 2))[1]
            clip = min(range(len(greens)), key=lambda i: abs(greens[i] - green))
            if len(starts) <= clip:
                assert len(starts) == clip, "clips out of order"
                starts.append(float(frame.time or 0.0))
    return starts


def edges(sound: Sound, window: float = 0.005) -> list[float]:
    """The moments the sound turns on or off, to the nearest 5 ms window."""
    size = round(window * sound.rate)
    levels = [
        loudness(sound.samples[i : i + size]) > 0.05 for i in range(0, len(sound.samples) - size + 1, size)
    ]
    return [i * window for i in range(1, len(levels)) if levels[i] != levels[i - 1]]


def assert_in_step(data: bytes, spans: list[tuple[float | None, int]]) -> None:
    """`spans`: each clip's tone (None: no sound) and seed, in order."""
    film = io.BytesIO(data)
    assert has_audio(film)
    starts = boundaries(io.BytesIO(data), [seed for _, seed in spans])
    end = video_seconds(io.BytesIO(data))
    sound = decode_sound(io.BytesIO(data))
    # As long as the picture, not a block more or less per clip.
    assert end - 0.001 <= sound.seconds <= end + TAIL
    stops = [*starts[1:], end]
    for (tone, _), start, stop in zip(spans, starts, stops, strict=True):
        inside = sound.span(start + STEP, stop - STEP)
        if tone is None:
            assert loudness(inside) < 0.005, f"sound where the clip at {start:.2f}-{stop:.2f} s has none"
        else:
            assert tone_strength(inside, tone) > 0.15, f"no {tone} Hz tone at {start:.2f}-{stop:.2f} s"
            others = [t for t, _ in spans if t is not None and t != tone]
            assert all(tone_strength(inside, other) < 0.02 for other in others)
    # Every switch between sound and silence sits on a change of clip.
    expected = [
        start
        for (tone, _), (before, _), start in zip(spans[1:], spans[:-1], starts[1:], strict=True)
        if (tone is None) != (before is None)
    ]
    found = edges(sound)
    assert len(found) >= len(expected)
    for moment in expected:
        assert min(abs(moment - f) for f in found) <= EDGE, (moment, found)


def film_of(user: Any, tmp_path: Path, specs: list[dict[str, Any]]) -> tuple[str, bytes]:
    clips = chain(user, tmp_path, specs)
    job = sequences.start_export(clips, user)
    assert sequences.export_due("test-worker")
    job.refresh_from_db()
    assert job.state == ExportState.READY, job.failure_reason
    with default_storage.open(job.video.name, "rb") as f:
        return job.method, f.read()


@pytest.mark.django_db
def test_stream_copy_keeps_each_clips_sound_under_its_picture_and_silence_for_a_silent_clip(
    user: Any, tmp_path: Path
):
    specs = [
        {"size": (160, 90), "frames": 24, "tone_hz": 440.0},
        {"size": (160, 90), "frames": 36},
        {"size": (160, 90), "frames": 30, "tone_hz": 700.0},
    ]
    method, data = film_of(user, tmp_path, specs)
    assert method == "copy"
    assert_in_step(data, [(440.0, 0), (None, 1), (700.0, 2)])


@pytest.mark.django_db
def test_re_encoding_keeps_each_clips_sound_under_its_picture_whatever_its_frame_rate(
    user: Any, tmp_path: Path
):
    specs = [
        {"size": (160, 90), "frames": 24},
        # Sound at CD rate: the film's track is 48 kHz, so this clip's is resampled.
        {"size": (320, 180), "frames": 30, "fps": 30, "tone_hz": 520.0, "audio_rate": 44_100},
        {"size": (160, 90), "frames": 18, "fps": 12},
        {"size": (160, 90), "frames": 24, "tone_hz": 900.0},
    ]
    method, data = film_of(user, tmp_path, specs)
    assert method == "re-encode"
    assert_in_step(data, [(None, 0), (520.0, 1), (None, 2), (900.0, 3)])


@pytest.mark.django_db
def test_a_film_of_silent_clips_has_no_audio_track(user: Any, tmp_path: Path):
    _, data = film_of(user, tmp_path, [{"size": (160, 90), "frames": 12}] * 2)
    assert not has_audio(io.BytesIO(data))


def test_continue_reads_the_last_frame_of_a_clip_with_sound(tmp_path: Path):
    from PIL import Image

    clip = write_clip(tmp_path / "c.mp4", size=(160, 90), frames=72, tone_hz=440.0)
    last = Image.open(io.BytesIO(last_frame_jpeg(str(clip)))).convert("RGB")
    assert last.size == (160, 90)
    # The backdrop's red grows from 40 on the first picture to 220 on the last (tests/clips.py).
    red, _, _ = last.getpixel((2, 2))  # type: ignore[misc]
    assert red > 205
