"""The first-frame rules, against the hostile corpus in tests/imagecorpus.py and beyond it."""

import base64
import contextlib
import hashlib
import io
from typing import BinaryIO, cast

import pytest
from PIL import Image

from playground.pictures import (
    MAX_BYTES,
    MAX_PIXELS,
    CheckedImage,
    ImageRejected,
    check,
    check_image,
    jpeg,
    png,
    read_capped,
)
from tests import imagecorpus as corpus
from tests.factories import image_bytes

ACCEPTED = [case for case in corpus.HOSTILE if case.accepted_as]
CASES = {case.name: case for case in corpus.HOSTILE}


def rejected(data: bytes) -> list[str]:
    with pytest.raises(ImageRejected) as caught:
        check_image(data)
    assert str(caught.value) == " ".join(caught.value.messages)
    return caught.value.messages


# --- The corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", corpus.HOSTILE, ids=lambda case: case.name)
def test_each_file_in_the_corpus_gets_exactly_its_verdict(case):
    data = case.make()

    if case.refused_with:
        assert rejected(data) == list(case.refused_with)
    else:
        checked = check_image(data)
        assert (checked.mime, checked.width, checked.height) == case.accepted_as
        assert checked.data is data  # never re-encoded
        assert checked.extension == {"image/jpeg": "jpg", "image/png": "png"}[checked.mime]


# The broken-EXIF and MPF-bomb cases make Pillow warn, as they are meant to.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data", "ignore:Image appears to be a malformed MPO")
@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
def test_what_the_corpus_accepts_pillow_decodes_in_full(case):
    with Image.open(io.BytesIO(case.make())) as image:
        image.load()


def test_the_corpus_covers_every_kind_of_file_in_the_issue():
    names = set(CASES)
    for expected in (
        "impostor-gif",
        "impostor-webp",
        "impostor-bmp",
        "impostor-tiff",
        "impostor-psd",
        "impostor-eps",
        "impostor-html",
        "jpeg-mpo",
        "png-tiny-file-declaring-10000-mp",
        "png-just-over-the-pixel-cap",
        "jpeg-just-under-the-pixel-cap",
        "png-ztxt-bomb-64-mb",
        "apng",
        "png-16-bit-rgba",
        "png-palette",
        "jpeg-cmyk",
        "jpeg-progressive",
        "jpeg-cut-in-half",
        "png-bad-idat-crc",
        "empty",
        "random-bytes",
        "jpeg-header-then-garbage",
        "png-header-then-garbage",
        "jpeg-exif-orientation-6",
        "jpeg-broken-exif-garbage",
        "png-1000x400",
        "jpeg-400x1000",
        "png-300x500",
        "jpeg-301x500",
        "png-exactly-20-mb",
        "jpeg-20-mb-and-1-byte",
    ):
        assert expected in names


def test_the_tally_counts_every_case_and_finds_nothing_wrong():
    tally = corpus.judge(corpus.HOSTILE[:40])

    assert tally.tried == 40 == tally.refused_as_expected + tally.accepted_as_expected
    assert tally.all_as_expected


def test_the_tally_reports_wrong_verdicts_and_crashes(monkeypatch):
    wrong = [
        corpus.accept("accepted-but-refused", lambda: b"", 1, 1),
        corpus.refuse("refused-but-accepted", lambda: corpus.JPEG, "no"),
        corpus.refuse("other-sentence", lambda: b"", "no"),
    ]
    tally = corpus.judge(wrong)
    monkeypatch.setattr(corpus, "check_image", lambda data: 1 / 0)
    crashed = corpus.judge(wrong[:1])

    assert (tally.wrongly_refused[0].split(":")[0], tally.wrongly_accepted) == (
        "accepted-but-refused",
        ["refused-but-accepted"],
    )
    assert tally.wrong_sentence[0].startswith("other-sentence")
    assert crashed.crashes == ["accepted-but-refused: ZeroDivisionError('division by zero')"]


def test_only_the_jpeg_parser_of_pillow_ever_runs_and_only_on_a_one_mcu_skeleton(monkeypatch):
    opened: list[tuple[object, tuple[int, int]]] = []
    real_open = Image.open

    def spy(fp, mode="r", formats=None):
        image = real_open(fp, mode, formats)
        opened.append((formats, image.size))
        return image

    monkeypatch.setattr(Image, "open", spy)
    for case in corpus.HOSTILE:
        with contextlib.suppress(ImageRejected):
            check_image(case.make())

    assert opened
    assert {str(formats) for formats, _ in opened} == {"['JPEG']"}
    assert max(width * height for _, (width, height) in opened) <= 32 * 32


# --- What the corpus can't show ----------------------------------------------------------------


def test_checked_image_carries_the_bytes_their_hash_and_a_data_uri():
    data = image_bytes(640, 480, "JPEG")

    checked = check_image(data)

    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    prefix, encoded = checked.data_uri().split(",", 1)
    assert prefix == "data:image/jpeg;base64"
    assert base64.b64decode(encoded) == data
    assert "data=" not in repr(checked)
    assert isinstance(checked, CheckedImage)


def test_the_20_mb_cases_are_exactly_at_the_limit():
    assert len(CASES["png-exactly-20-mb"].make()) == MAX_BYTES == 20 * 1024 * 1024
    assert len(CASES["jpeg-exactly-20-mb"].make()) == MAX_BYTES
    assert len(CASES["jpeg-20-mb-and-1-byte"].make()) == MAX_BYTES + 1


def test_it_judges_by_content_not_by_what_the_name_says():
    # There is no name to pass: check_image only ever sees bytes, so a GIF renamed .png is a GIF.
    assert rejected(image_bytes(640, 480, "GIF"))[0].startswith("This file is a GIF image")


class Trickle(io.RawIOBase):
    """An endless stream that hands out at most 1000 bytes per read and counts them."""

    def __init__(self) -> None:
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), 1000)
        buffer[:count] = b"\x00" * count
        self.given += count
        return count


def test_read_capped_returns_a_stream_up_to_the_limit():
    assert read_capped(io.BytesIO(b"x" * 5000), limit=5000) == b"x" * 5000
    assert read_capped(io.BytesIO(b"")) == b""


def test_read_capped_stops_one_byte_after_the_limit():
    stream = Trickle()

    with pytest.raises(ImageRejected) as caught:
        read_capped(cast(BinaryIO, stream), limit=5 * 1024 * 1024)

    assert stream.given == 5 * 1024 * 1024 + 1
    assert caught.value.messages == ["This file is larger than 5 MB. The largest file we can send is 5 MB."]


def test_read_capped_default_limit_is_20_mb():
    with pytest.raises(ImageRejected, match="larger than 20 MB"):
        read_capped(io.BytesIO(b"\x00" * (MAX_BYTES + 1)))
    assert len(read_capped(io.BytesIO(b"\x00" * MAX_BYTES))) == MAX_BYTES


def test_damaged_jpeg_with_a_valid_header_would_fool_a_header_only_check():
    data = corpus.JPEG[: len(corpus.JPEG) // 2]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (640, 480)  # the header alone looks fine

    assert rejected(data) == [corpus.DAMAGED_JPEG]


@pytest.mark.parametrize(
    "name",
    ["jpeg-cut-then-end-marker-with-restart-markers", "jpeg-progressive-cut-between-scans-then-end-marker"],
)
def test_a_cut_jpeg_with_an_end_marker_glued_on_is_refused_though_pillow_decodes_it(name):
    data = CASES[name].make()
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # libjpeg only warns and paints the missing part grey

    assert rejected(data) == [corpus.DAMAGED_JPEG]


@pytest.mark.parametrize(
    "name",
    [
        "jpeg-12-bit-precision",
        "jpeg-scan-using-undefined-huffman-table",
        "jpeg-frame-using-undefined-quantization-table",
        "jpeg-bogus-huffman-table",
        "jpeg-unknown-marker-segment",
    ],
)
def test_libjpeg_itself_judges_the_tables_and_headers(name, monkeypatch):
    data = CASES[name].make()
    assert rejected(data) == [corpus.DAMAGED_JPEG]

    monkeypatch.setattr(jpeg, "_decode_skeleton", lambda skeleton, size: None)

    assert check_image(data).width == 640  # our own walk passes it: only libjpeg knows


# --- Pixel count and decompression bombs -------------------------------------------------------


def test_a_tiny_file_declaring_huge_dimensions_is_refused_quickly(monkeypatch):
    bomb = CASES["png-tiny-file-declaring-10000-mp"].make()
    assert len(bomb) < 200
    passes: list[png.PngHeader] = []

    def verify_png(header: png.PngHeader) -> None:
        passes.append(header)
        png.verify_png(header)

    monkeypatch.setattr(check, "verify_png", verify_png)  # the pass over every row, counted

    with corpus.pillow_work() as pillow, corpus.peak_memory() as peak:
        messages = rejected(bomb)

    # Refused from the header by the pixel cap: the pass over the rows never starts, nothing is
    # decoded, and nothing the size of 10,000 megapixels is allocated.
    assert messages == [corpus.too_many_pixels(100_000, 100_000)]
    assert passes == []
    assert pillow.opened == 0
    assert peak.python < 1024 * 1024


def test_the_pixel_cap_is_within_the_agreed_range():
    assert 24_000_000 <= MAX_PIXELS <= 50_000_000


@pytest.mark.parametrize(
    ("name", "largest"),
    [("png-ztxt-bomb-64-mb", 200 * 1024), ("jpeg-exif-ifd-bomb", None), ("jpeg-mpf-index-bomb", None)],
)
def test_crafted_metadata_costs_no_memory(name, largest):
    data = CASES[name].make()
    assert largest is None or len(data) < largest

    with corpus.peak_memory() as peak, contextlib.suppress(ImageRejected):
        check_image(data)

    assert peak.python < 8 * 1024 * 1024


def test_checking_a_large_png_streams_instead_of_decoding_it_whole():
    width, height = corpus.near_cap()
    data = image_bytes(width, height, "PNG", mode="RGB")

    with corpus.peak_memory() as peak:
        check_image(data)

    assert peak.python < 8 * 1024 * 1024  # the raw rows alone would be ~78 MB
    rss = corpus.rss_growth_of_check(data)
    assert rss is None or rss < 16 * 1024 * 1024


@pytest.mark.parametrize("subsampling", [2, 0], ids=["4:2:0", "4:4:4"])
def test_checking_a_progressive_jpeg_at_the_pixel_cap_costs_no_coefficient_memory(subsampling):
    # A decoder keeps every coefficient of a progressive JPEG: 3 (4:2:0) to 6 (4:4:4) bytes a
    # pixel, 78-156 MB here.
    width, height = corpus.near_cap()
    data = image_bytes(width, height, "JPEG", progressive=True, subsampling=subsampling)

    with corpus.peak_memory() as peak:
        check_image(data)

    assert peak.python < 8 * 1024 * 1024
    # libjpeg's memory is invisible to tracemalloc, and a process that freed big buffers before
    # reuses them unseen: measured in a fresh interpreter.
    rss = corpus.rss_growth_of_check(data)
    assert rss is None or rss < 16 * 1024 * 1024


# --- Details of particular cases ---------------------------------------------------------------


def test_orientation_cases_really_carry_their_exif_tag():
    for orientation in range(1, 9):
        for fmt in ("jpeg", "png"):
            data = CASES[f"{fmt}-exif-orientation-{orientation}"].make()
            with Image.open(io.BytesIO(data)) as image:
                assert image.getexif()[0x0112] == orientation


def test_the_mpo_case_really_holds_two_pictures_and_the_apng_case_frames():
    with Image.open(io.BytesIO(CASES["jpeg-mpo"].make())) as image:
        assert image.format == "MPO"
        assert getattr(image, "n_frames", 1) == 2
    apng = CASES["apng"].make()
    assert b"acTL" in apng
    assert b"fdAT" in apng
