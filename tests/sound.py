"""Reading a video's sound in tests, with PyAV alone: the samples, their loudness, and a tone's
strength (the Goertzel filter), so a test can say which clip's tone is heard at a given moment.

Independent of the app's own code on purpose: it decodes what a person would hear.
"""

from __future__ import annotations

import array
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

RATE = 48_000


@dataclass(frozen=True)
class Sound:
    samples: array.array[int]  # mono, signed 16 bit, at RATE, from the track's time 0
    rate: int = RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def span(self, start: float, end: float) -> array.array[int]:
        return self.samples[round(start * self.rate) : round(end * self.rate)]


def tone_frame(hz: float, start: int, end: int, level: float = 0.3, rate: int = RATE) -> av.AudioFrame:
    """Samples start..end-1 of a mono sine at `hz` (or silence at hz=0), ready for an AAC encoder."""
    peak = level * 32767
    samples = array.array("h", (int(peak * math.sin(2 * math.pi * hz * n / rate)) for n in range(start, end)))
    frame = av.AudioFrame(format="s16", layout="mono", samples=end - start)
    frame.sample_rate = rate
    frame.planes[0].update(samples.tobytes())
    frame.pts = start
    frame.time_base = Fraction(1, rate)
    return frame


def has_audio(source: Any) -> bool:
    with av.open(source) as container:
        return bool(container.streams.audio)


def video_seconds(source: Any) -> float:
    """How long the picture lasts: the last frame's time plus one frame."""
    with av.open(source) as container:
        stream = container.streams.video[0]
        times = [float(frame.time or 0.0) for frame in container.decode(stream)]
        rate = stream.average_rate or Fraction(24)
    return max(times) + float(1 / rate)


def decode_sound(source: Any) -> Sound:
    """The first audio track as mono samples; silence is put in front if the track starts late."""
    samples: array.array[int] = array.array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    with av.open(source) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if not samples and frame.time:
                samples.extend([0] * max(0, round(frame.time * RATE)))
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
        for out in resampler.resample(None):
            samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    return Sound(samples)


def loudness(samples: array.array[int]) -> float:
    """Root mean square, as a share of full scale (0 is silence)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def tone_strength(samples: array.array[int], hz: float, rate: int = RATE) -> float:
    """How much of `samples` is a sine at `hz` (Goertzel), as an amplitude share of full scale."""
    n = len(samples)
    if not n:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for sample in samples:
        s0 = sample + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * math.sqrt(max(power, 0.0)) / n / 32768
