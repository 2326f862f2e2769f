"""Chromium: a member and an admin open Costs at desktop and phone widths, in light and dark, and download the CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from playground.gallery.models import Collection, CollectionEntry
from playground.generations.models import State
from playground.money.models import month_start
from tests.browser_fixtures import ARTIFACTS, sign_in
from tests.factories import generation, member, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def spend(alice: User, bob: User) -> None:
    start = month_start()
    days = max(1, (timezone.now() - start).days)
    harbour = Collection.objects.create(name="Harbour")
    for n in range(12):
        who = alice if n % 3 else bob
        gen = generation(
            who,
            State.READY,
            prompt=f"clip {n}",
            model="video-01-live2d" if n % 2 else "video-01",
            usd_spent=Decimal("0.43") * (1 + n % 4),
            created_at=start + timedelta(days=n % days, hours=3),
        )
        if n % 4 == 0:
            CollectionEntry.objects.create(collection=harbour, generation=gen)


def look(page: Any, who: str, width: int) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/costs/")
        chart = page.locator("svg.cost-chart:visible")
        assert chart.count() == 1  # the wide one or the narrow one, never both
        assert chart.locator("rect.chart-bar").count() >= 1
        assert chart.locator("line.chart-budget").count() >= 1
        assert chart.get_attribute("role") == "img"
        box = chart.bounding_box()
        assert box is not None and box["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (
            f"{who} at {width} scrolls sideways"
        )
        if scheme == "dark":
            fill = page.evaluate(
                "getComputedStyle(document.querySelector('svg.cost-chart:not([hidden]) rect.chart-bar')).fill"
            )
            assert fill == "rgb(164, 155, 255)"  # the dark theme's accent, from the class
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"costs-{who}-{width}-{scheme}.png"), full_page=True)


def download(page: Any, tmp_path: Path) -> list[list[str]]:
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as CSV").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name.startswith("costs_") and saved.name.endswith(".csv")
    return list(csv.reader(io.StringIO(saved.read_text("utf-8-sig"))))


@pytest.mark.parametrize("width", [1280, 390])
def test_a_member_and_an_admin_open_costs_and_download_the_csv(
    browser: Any, live_server: Any, tmp_path, width
):
    alice, bob = member("alice"), member("bob")
    staff("ann")
    spend(alice, bob)
    for who in ("alice", "ann"):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, base_url=live_server.url, is_mobile=width < 600
        )
        page = context.new_page()
        try:
            sign_in(page, who, create=False)
            page.get_by_role("link", name="Costs", exact=True).click()
            page.wait_for_url("**/costs/")
            look(page, who, width)
            people = page.locator("#cost-person tbody th").all_inner_texts()
            assert people == (["alice"] if who == "alice" else ["alice", "bob"])  # most dollars first
            rows = download(page, tmp_path)
            assert {r[1] for r in rows if r[0] == "Person"} == set(people)
            total = page.locator("#cost-person tfoot td.usd").inner_text()
            assert f"${rows[-1][3]}" == total
        finally:
            context.close()


def test_a_bad_range_says_which_rule_it_broke(page: Any):
    sign_in(page, "alice")
    page.goto("/costs/")
    page.get_by_label("From").fill("2026-03-05")
    page.get_by_label("To (included)").fill("2026-03-01")
    page.get_by_role("button", name="Show these dates").click()
    assert "the end date must be on or after the start date" in page.get_by_role("alert").inner_text()
