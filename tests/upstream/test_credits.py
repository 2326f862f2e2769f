"""Credits as the service reported them: its x-aimlapi-credits-used header, wherever people read them.

The header is the billed create's number; the poll answer's `meta.usage` is read only when no
header came (the service may leave either out). One real video through the worker and the
stand-in, then the video's page, the webhook body, the zip's index and the Usage page.
"""

from __future__ import annotations

import csv
import io
import zipfile
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from playground.gallery import zipdownload
from playground.generations.models import Generation, State
from playground.money.usage import month_usage
from playground.notify import webhooks
from tests.factories import ready
from tests.worker.test_worker import drive, make


def zip_index(client: Client, gen: Generation) -> list[dict[str, str]]:
    response: Any = client.post(reverse("bulk_zip"), {"ids": [gen.pk]})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))


def page(client: Client, url: str) -> str:
    return unescape(client.get(url).content.decode())


def test_the_headers_credits_are_shown_on_the_page_in_the_webhook_the_zip_and_usage(
    worker, upstream, user, signed_in: Client
):
    gen = make(user)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY
    # The stand-in's create answer carries meta.usage.credits_used 1 and the header 860,000
    # (0.43 USD at 2,000,000 credits per dollar): the two disagree, and the header is the bill.
    assert gen.credits_used == 1
    assert gen.credits_spent == 860_000

    assert '<dd class="credits">860,000</dd>' in page(signed_in, gen.get_absolute_url())
    assert webhooks.payload(gen, "generation.ready")["credits"] == 860_000
    [row] = zip_index(signed_in, gen)
    assert row["credits"] == "860000"
    assert month_usage().team.credits == 860_000
    usage = page(signed_in, reverse("usage"))
    assert "<td>860,000</td>" in usage
    assert gen.credits_reported == 860_000


@pytest.mark.parametrize("header", [None, 0], ids=["no-header", "only-a-free-polls-0"])
def test_the_polls_credits_are_shown_only_when_no_header_gave_the_bill(user, signed_in: Client, header):
    gen = ready(user, credits_used=1234.0, credits_spent=header)
    assert webhooks.payload(gen, "generation.ready")["credits"] == 1234.0
    assert zipdownload.credits(gen) == "1234"
    assert month_usage().team.credits == 1234.0
    assert '<dd class="credits">1,234</dd>' in page(signed_in, gen.get_absolute_url())


def test_usage_adds_up_header_and_poll_credits_per_person(user, other_user):
    ready(user, credits_spent=500_000, credits_used=1.0)
    ready(user, credits_spent=None, credits_used=20.0)
    ready(other_user, credits_spent=0, credits_used=None)  # a free failure: 0 is its number
    rows = {row.who: row.credits for row in month_usage().rows}
    assert rows == {"alice": 500_020.0, "bob": 0.0}


def test_large_numbers_are_written_out_in_full_in_the_zip_index(user):
    assert zipdownload.credits(ready(user, credits_spent=12_345_678)) == "12345678"
    assert zipdownload.credits(ready(user, credits_used=None)) == ""
