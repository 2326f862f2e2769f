"""stored_size: a stored picture's displayed size and the rules it decides, from its headers alone,
agreeing with check_image on every valid picture of the corpus."""

import io

import pytest

from playground.pictures import ImageRejected, check_image, stored_size
from tests import validcorpus
from tests.factories import image_bytes
from tests.validcorpus import Valid

CASES = validcorpus.cases()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_headers_give_the_size_the_check_gives(case: Valid) -> None:
    data = case.make()
    checked = check_image(data)
    assert stored_size(io.BytesIO(data), len(data)) == (checked.width, checked.height) == case.size


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (image_bytes(1000, 300, "PNG"), "too wide"),
        (image_bytes(200, 200, "JPEG"), "px"),
        (b"%PDF-1.4 not a picture", "JPEG or PNG"),
        (image_bytes(640, 480, "PNG")[:20], "damaged"),
        (image_bytes(640, 480, "JPEG")[:100], "damaged"),
    ],
)
def test_a_size_the_rules_refuse_or_headers_that_end_early_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        stored_size(io.BytesIO(data), len(data))
    assert words in " ".join(refused.value.messages), refused.value.messages


def test_a_file_over_the_limit_is_refused_by_its_size_before_any_read() -> None:
    class Unread(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("read")

    with pytest.raises(ImageRejected) as refused:
        stored_size(Unread(), 21 * 1024 * 1024)
    assert "21 MB" in refused.value.messages[0]
