"""Joining clips into one MP4 with PyAV: a film's picture and its sound.

When every clip has the same codec parameters (codec, size, pixel format,
time base and decoder setup bytes), packets are copied with their timestamps shifted: fast, and
no quality lost. Otherwise every frame is decoded, scaled to the first clip's size and encoded
again with libx264. Either way one clip is open at a time and packets or frames stream through,
so memory stays flat however many clips there are; each clip is copied out of storage to one
temporary file, used, and deleted before the next.

Sound: when any clip has an audio track, the film has one (AAC, 48 kHz stereo), laid clip by clip
under the picture. Each clip's sound is decoded and encoded again on both ways, because only then
can it be cut or padded to end exactly where that clip's picture ends (copied AAC comes in blocks
of 1,024 samples with their own start-up delay, and a clip without sound has no blocks to copy);
a clip without sound, or whose sound stops early, gets silence for the rest of its picture. So
the sound never drifts from the picture, however many clips there are. A film of clips that are
all silent has no audio track, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

OUTPUT_FPS = 24
AUDIO_RATE = 48_000  # a film's sound, whatever its clips' rates
AUDIO_LAYOUT = "stereo"


@dataclass(frozen=True)
class ClipParams:
    codec: str
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction | None
    extradata: bytes | None
    # Whether the clip has sound; not a reason to re-encode the picture, so not compared.
    sound: bool = field(default=False, compare=False)


def clip_params(path: Path) -> ClipParams:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        return ClipParams(
            codec=ctx.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt,
            time_base=stream.time_base,
            extradata=ctx.extradata,
            sound=_has_sound(container),
        )


def _has_sound(container: Any) -> bool:
    return any(stream.codec_context.channels > 0 for stream in container.streams.audio)


OnProgress = Callable[[float], None]
ClipSource = Callable[[int], Path]  # clip i -> a local file, valid until the next call


def stitch(count: int, clip: ClipSource, dest: Path, *, on_progress: OnProgress | None = None) -> str:
    """Write clips 0..count-1 of `clip` to `dest` as one MP4; "copy" or "re-encode"."""
    if count < 1:
        raise ValueError("nothing to stitch")
    params = [clip_params(clip(i)) for i in range(count)]
    same = all(p == params[0] for p in params)
    sound = any(p.sound for p in params)
    progress = on_progress or (lambda _: None)
    with av.open(str(dest), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        if same:
            _copy(count, clip, out, progress, sound)
            return "copy"
        _reencode(count, clip, out, params[0], progress, sound)
        return "re-encode"


class _Sound:
    """The film's audio track, written clip by clip so that it always ends where the picture does."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.stream = out.add_stream("aac", rate=AUDIO_RATE, layout=AUDIO_LAYOUT)
        self.written = 0  # samples so far: the film's sound clock

    def add(self, path: Path, until: float) -> None:
        """Lay `path`'s sound (if any) from here to `until` seconds into the film, cut or padded to fit."""
        end = round(until * AUDIO_RATE)
        start = self.written
        with av.open(str(path)) as source:
            if _has_sound(source):
                resampler = av.AudioResampler(format="s16", layout=AUDIO_LAYOUT, rate=AUDIO_RATE)
                for frame in source.decode(source.streams.audio[0]):
                    if self.written == start and frame.time and frame.time > 0:
                        self._silence(min(end, start + round(frame.time * AUDIO_RATE)))  # a late start
                    for chunk in resampler.resample(frame):
                        self._write(chunk, end)
                    if self.written >= end:
                        break
                for chunk in resampler.resample(None):
                    self._write(chunk, end)
        self._silence(end)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _write(self, chunk: Any, end: int) -> None:
        room = end - self.written
        if room <= 0:
            return
        count = min(chunk.samples, room)
        # Packed 16-bit stereo is one plane of 4 bytes a sample, so a cut is a slice of bytes.
        self._encode(bytes(chunk.planes[0])[: count * 4], count)

    def _silence(self, end: int) -> None:
        while self.written < end:
            count = min(end - self.written, AUDIO_RATE // 10)
            self._encode(bytes(count * 4), count)

    def _encode(self, data: bytes, count: int) -> None:
        frame = av.AudioFrame(format="s16", layout=AUDIO_LAYOUT, samples=count)
        frame.sample_rate = AUDIO_RATE
        frame.planes[0].update(data)
        frame.pts = self.written
        frame.time_base = Fraction(1, AUDIO_RATE)
        self.written += count
        for packet in self.stream.encode(frame):
            self.out.mux(packet)


def _copy(count: int, clip: ClipSource, out: Any, progress: OnProgress, sound: bool) -> None:
    out_stream = None
    track: _Sound | None = None
    offset = 0  # in the shared time base: where the next clip starts
    for i in range(count):
        path = clip(i)
        with av.open(str(path)) as source:
            stream = source.streams.video[0]
            if out_stream is None:
                out_stream = out.add_stream_from_template(stream)
                track = _Sound(out) if sound else None
            end = offset
            for packet in source.demux(stream):
                if packet.dts is None:
                    continue  # the demuxer's empty flush packet
                packet.pts = (packet.pts if packet.pts is not None else packet.dts) + offset
                packet.dts += offset
                end = max(end, packet.pts + (packet.duration or 0))
                packet.stream = out_stream
                out.mux(packet)
            offset = end
            time_base = stream.time_base
        if track is not None and time_base is not None:
            track.add(path, float(offset * time_base))
        progress((i + 1) / count)
    if track is not None:
        track.close()


def _reencode(
    count: int, clip: ClipSource, out: Any, first: ClipParams, progress: OnProgress, sound: bool
) -> None:
    stream = out.add_stream("libx264", rate=OUTPUT_FPS, options={"preset": "veryfast", "crf": "20"})
    # libx264 wants even sides.
    stream.width, stream.height = max(2, first.width // 2 * 2), max(2, first.height // 2 * 2)
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, OUTPUT_FPS)
    track = _Sound(out) if sound else None
    index = 0

    def emit(picture: Any) -> None:
        nonlocal index
        # The picture keeps its source's time base unless told; the encoder would rescale by it.
        picture.time_base = stream.codec_context.time_base
        picture.pts = index
        index += 1
        for packet in stream.encode(picture):
            out.mux(packet)

    for i in range(count):
        path = clip(i)
        with av.open(str(path)) as source:
            base = index
            start: float | None = None
            last = None
            length = source.duration / av.time_base if source.duration else None
            for frame in source.decode(video=0):
                # Each frame lands on the output's clock by its own time, so a clip of another
                # frame rate keeps its length (frames are repeated or dropped to fit).
                at = float(frame.time or 0.0)
                start = at if start is None else start
                target = base + round((at - start) * OUTPUT_FPS)
                if index > target:
                    continue
                last = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
                while index <= target:
                    emit(last)
            if last is not None and length:
                while index < base + round(length * OUTPUT_FPS):
                    emit(last)
        if track is not None:
            track.add(path, index / OUTPUT_FPS)
        progress((i + 1) / count)
    for packet in stream.encode(None):
        out.mux(packet)
    if track is not None:
        track.close()
