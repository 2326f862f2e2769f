"""Reference videos and voice samples, identified by their content and probed with PyAV.

A file's name and its stated type are never trusted: PyAV (FFmpeg) reads the bytes and names the
container, so a PDF renamed ``clip.mp4`` is refused. Nothing is decoded whole. A video is read
from its container's metadata plus its first decoded frame (proof that it is a picture stream
FFmpeg can decode); a voice sample's length comes from its metadata, and at most
AUDIO_MAX_SECONDS of its sound is decoded (as 16 kHz mono) to tell a voice from silence. The
input is already bounded by the size limits below, so memory is bounded by them too
(bench/reference_probe.py measures the largest allowed video).

The limits are this site's own (the docs state none): a reference video at most 15 seconds (the
longest clip H3 makes) and 10 MB, a voice sample 1 to 30 seconds and at most 5 MB. They keep a
request with three of each, sent as base64 data URIs, under about 65 MB.
"""

from __future__ import annotations

import io
import math
from array import array
from dataclasses import dataclass
from typing import BinaryIO, Literal

import av

VIDEO_MAX_BYTES = 10 * 1024 * 1024
VIDEO_MAX_SECONDS = 15.0
AUDIO_MAX_BYTES = 5 * 1024 * 1024
AUDIO_MAX_SECONDS = 30.0
AUDIO_MIN_SECONDS = 1.0
# All the references of one video together (pictures, videos, voice samples), in bytes: they
# travel inside the create request as base64, so this bounds its body (and the worker's memory
# while sending it) whatever their count. The docs state no such limit; this site's own.
REFERENCES_MAX_BYTES = 30 * 1024 * 1024
# Quieter than this at its loudest (dBFS) is silence: a voice sample of nothing.
SILENCE_DBFS = -60.0
# A container without a stated length is walked packet by packet (never decoded), at most this far.
MAX_PACKETS = 20_000

# FFmpeg's container names -> the type the file is sent as.
VIDEO_CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "video/mp4", "matroska,webm": "video/webm"}
AUDIO_CONTAINERS = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
}
NOT_VIDEO = "This file is not a video we can read. Send an MP4, MOV or WebM video."
NOT_AUDIO = "This file is not a sound recording we can read. Send an MP3, WAV, M4A/AAC, OGG or FLAC file."


class MediaRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedMedia:
    kind: Literal["videos", "audios"]
    data: bytes
    mime: str
    seconds: float
    extension: str


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f}".rstrip("0").rstrip(".")


# Per kind: (what one is called, what several are called, the byte limit).
_SIZE_WORDS = {
    "videos": ("video", "reference videos", VIDEO_MAX_BYTES),
    "audios": ("voice sample", "voice samples", AUDIO_MAX_BYTES),
}


def noun(kind: str) -> str:
    """What one reference of `kind` ("videos", "audios") is called in a sentence."""
    return _SIZE_WORDS[kind][0]


def too_large(kind: str, size: int, *, estimated: bool = False, linked: bool = False) -> str:
    """The sentence for a reference video or voice sample (`kind`) of `size` bytes, over its limit.

    `estimated`: the size is a whole request's, read no further than a limit (an upload stopped
    early), so it is only named when it is clearly larger, and as "about"; `linked`: a link's
    file, read no further than one byte past the limit.
    """
    noun, plural, limit = _SIZE_WORDS[kind]
    if estimated:
        shown = f"about {size / 1024 / 1024:,.0f}" if size > limit + 1024 * 1024 else None
    else:
        shown = megabytes(size)
    if shown is None or shown == megabytes(limit):  # "10 MB; at most 10 MB" would read as a mistake
        shown = f"larger than {megabytes(limit)}"
    this = f"The linked {noun}" if linked else f"This {noun}"
    return f"{this} is {shown} MB; {plural} may be at most {megabytes(limit)} MB."


def check_video(data: bytes) -> CheckedMedia:
    """A reference video that passes every rule, or MediaRejected with the sentence."""
    mime, seconds, extension = _video(io.BytesIO(data), len(data))
    return CheckedMedia("videos", data, mime, seconds, extension)


def _video(source: BinaryIO, size: int) -> tuple[str, float, str]:
    if size > VIDEO_MAX_BYTES:
        raise MediaRejected(too_large("videos", size))
    try:
        with av.open(source, mode="r") as container:
            mime = VIDEO_CONTAINERS.get(container.format.name)
            if mime is None or not container.streams.video:
                raise MediaRejected(NOT_VIDEO)
            seconds = _seconds(container)
            stream = container.streams.video[0]
            if next(container.decode(stream), None) is None:  # one frame: it really is a video
                raise MediaRejected(NOT_VIDEO)
    except (av.FFmpegError, ValueError, StopIteration) as exc:
        raise MediaRejected(NOT_VIDEO) from exc
    if seconds is None:
        raise MediaRejected("We couldn't tell how long this video is. Send an MP4, MOV or WebM video.")
    if seconds > VIDEO_MAX_SECONDS + 0.05:
        raise MediaRejected(
            f"This video is {seconds:.1f} seconds long; a reference video may be at most "
            f"{VIDEO_MAX_SECONDS:.0f} seconds."
        )
    return mime, seconds, "webm" if mime == "video/webm" else "mp4"


def check_audio(data: bytes) -> CheckedMedia:
    """A voice sample that passes every rule, or MediaRejected with the sentence."""
    mime, seconds, extension = _audio(io.BytesIO(data), len(data))
    return CheckedMedia("audios", data, mime, seconds, extension)


def _audio(source: BinaryIO, size: int) -> tuple[str, float, str]:
    if size > AUDIO_MAX_BYTES:
        raise MediaRejected(too_large("audios", size))
    try:
        with av.open(source, mode="r") as container:
            mime = AUDIO_CONTAINERS.get(container.format.name)
            if mime is None or not container.streams.audio:
                raise MediaRejected(NOT_AUDIO)
            seconds = _seconds(container)
            if seconds is not None and seconds > AUDIO_MAX_SECONDS + 0.05:
                raise MediaRejected(
                    f"This voice sample is {seconds:.1f} seconds long; a voice sample may be at most "
                    f"{AUDIO_MAX_SECONDS:.0f} seconds."
                )
            peak = _peak(container)
    except (av.FFmpegError, ValueError) as exc:
        raise MediaRejected(NOT_AUDIO) from exc
    if seconds is None:
        raise MediaRejected(
            "We couldn't tell how long this voice sample is. Send an MP3, WAV, M4A, OGG or FLAC file."
        )
    if seconds < AUDIO_MIN_SECONDS:
        raise MediaRejected(
            f"This voice sample is {seconds:.1f} seconds long; "
            f"it needs at least {AUDIO_MIN_SECONDS:.0f} second of voice."
        )
    loudest = 20 * math.log10(peak) if peak > 0 else -math.inf
    if loudest < SILENCE_DBFS:
        raise MediaRejected(
            f"This voice sample is silent: its loudest moment is below {SILENCE_DBFS:.0f} dBFS. "
            "Send a recording with a voice in it."
        )
    extension = {"audio/mpeg": "mp3", "audio/wav": "wav", "audio/mp4": "m4a", "audio/aac": "aac"}.get(
        mime, mime.removeprefix("audio/")
    )
    return mime, seconds, extension


def probe_stored(kind: str, source: BinaryIO, size: int) -> float:
    """The length in seconds of a stored reference video or voice sample (`kind`) of `size` bytes
    that passes its probe, read from `source` as it goes (PyAV reads a file object a buffer at a
    time), so the memory does not grow with the file; MediaRejected with the sentence if not."""
    return (_video if kind == "videos" else _audio)(source, size)[1]


def _seconds(container: av.container.InputContainer) -> float | None:
    """The length the container states; else the end of its last packet, walked (not decoded)."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    stream = (container.streams.video or container.streams.audio)[0]
    end = None
    for count, packet in enumerate(container.demux(stream)):
        if count >= MAX_PACKETS:
            return None
        if packet.pts is not None and packet.time_base is not None:
            finish = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = finish if end is None else max(end, finish)
    container.seek(0)
    return end


def _peak(container: av.container.InputContainer) -> float:
    """The loudest sample of the first AUDIO_MAX_SECONDS, from 0 to 1 (decoded as 16 kHz mono)."""
    container.seek(0)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
    budget = int(AUDIO_MAX_SECONDS * 16_000)
    loudest = 0
    for frame in container.decode(container.streams.audio[0]):
        for out in resampler.resample(frame):
            samples = array("h", bytes(out.planes[0])[: out.samples * 2])
            if samples:
                loudest = max(loudest, max(samples), -min(samples))
            budget -= out.samples
        if budget <= 0:
            break
    return min(loudest, 32767) / 32767
