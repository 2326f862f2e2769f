"""Reference videos and voice samples: told by their content, probed with PyAV within stated limits."""

from __future__ import annotations

import pytest

from playground.lib import mediaprobe
from playground.lib.mediaprobe import MediaRejected
from tests.media_samples import sound, video

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" * 50


@pytest.mark.parametrize(
    ("kind", "mime"), [("mp4", "video/mp4"), ("mov", "video/mp4"), ("webm", "video/webm")]
)
def test_a_short_video_of_each_container_passes(kind: str, mime: str):
    checked = mediaprobe.check_video(video(3, kind=kind))
    assert (checked.kind, checked.mime) == ("videos", mime)
    assert checked.seconds == pytest.approx(3, abs=0.2)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (PDF, mediaprobe.NOT_VIDEO),
        (b"", mediaprobe.NOT_VIDEO),
        (sound(2), mediaprobe.NOT_VIDEO),  # a sound file is not a video, whatever its name
        (video(16), "This video is 16.0 seconds long; a reference video may be at most 15 seconds."),
        (
            bytes(mediaprobe.VIDEO_MAX_BYTES + 1),  # "10 MB; at most 10 MB" would read as a mistake
            "This video is larger than 10 MB; reference videos may be at most 10 MB.",
        ),
        (
            bytes(mediaprobe.VIDEO_MAX_BYTES * 123 // 100),
            "This video is 12.3 MB; reference videos may be at most 10 MB.",
        ),
    ],
)
def test_a_video_that_breaks_a_rule_is_refused_with_its_sentence(data: bytes, words: str):
    with pytest.raises(MediaRejected) as caught:
        mediaprobe.check_video(data)
    assert caught.value.message == words


@pytest.mark.parametrize(
    ("kind", "mime"),
    [
        ("wav", "audio/wav"),
        ("mp3", "audio/mpeg"),
        ("m4a", "audio/mp4"),
        ("ogg", "audio/ogg"),
        ("flac", "audio/flac"),
    ],
)
def test_a_voice_sample_of_each_common_format_passes(kind: str, mime: str):
    checked = mediaprobe.check_audio(sound(2, kind=kind))
    assert (checked.kind, checked.mime) == ("audios", mime)
    assert checked.seconds == pytest.approx(2, abs=0.2)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (PDF, mediaprobe.NOT_AUDIO),
        (video(2), mediaprobe.NOT_AUDIO),  # a video without sound
        (sound(2, loud=False), "This voice sample is silent: its loudest moment is below -60 dBFS."),
        (sound(2, kind="mp3", loud=False), "This voice sample is silent"),
        (sound(31), "This voice sample is 31.0 seconds long; a voice sample may be at most 30 seconds."),
        (sound(0.4), "This voice sample is 0.4 seconds long; it needs at least 1 second of voice."),
        (
            bytes(mediaprobe.AUDIO_MAX_BYTES * 2),
            "This voice sample is 10 MB; voice samples may be at most 5 MB.",
        ),
    ],
)
def test_a_voice_sample_that_breaks_a_rule_is_refused_with_its_sentence(data: bytes, words: str):
    with pytest.raises(MediaRejected) as caught:
        mediaprobe.check_audio(data)
    assert words in caught.value.message
