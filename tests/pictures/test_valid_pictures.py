"""No valid JPEG or PNG is refused: every picture in tests/validcorpus.py must pass the check."""

import io

import pytest
from PIL import Image

from playground.pictures import check_image
from tests import validcorpus
from tests.validcorpus import Valid

CASES = validcorpus.cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_valid_picture_is_accepted_at_its_displayed_size(case: Valid) -> None:
    data = case.make()
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # the corpus itself is sound: Pillow reads every byte of it
    checked = check_image(data)
    assert (checked.width, checked.height) == case.size
    assert checked.mime == ("image/png" if data.startswith(b"\x89PNG") else "image/jpeg")


def test_the_flat_1024_png_from_the_report_is_accepted() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (200, 30, 40)).save(buffer, "PNG")
    assert len(buffer.getvalue()) in range(5_000, 5_600)  # the report's file was 5,337 bytes
    assert check_image(buffer.getvalue()).width == 1024


def test_the_corpus_covers_the_kinds_the_issue_names() -> None:
    names = " ".join(case.name for case in CASES)
    for kind in (
        "interlaced",
        "16-bit",
        "1-bit",
        "2-bit",
        "4-bit",
        "level 0",
        "level 9",
        "noise",
        "flat",
        "progressive",
        "baseline",
        "subsampling 0",
        "subsampling 2",
        "CMYK",
        "orientation 6",
        "mpo",
        "apng",
        "tRNS",
    ):
        assert kind in names, kind
    assert len(CASES) > 120
