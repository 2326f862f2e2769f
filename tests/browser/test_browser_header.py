"""The top of every page for an admin, whose menu is the longest (ten items): at 1280 px it holds
the menu and the "Signed in as" line on one row; on a phone everything stays on screen."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.browser_fixtures import ARTIFACTS, sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOXES = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  return {
    links: [...document.querySelectorAll('.site-nav a')].map(box),
    account: box(document.querySelector('.signed-in-as')),
    signOut: box(document.querySelector('.account button')),
    brand: box(document.querySelector('.brand')),
    scrollWidth: document.documentElement.scrollWidth,
  };
}"""


def admin_page(browser: Any, live_server: Any, width: int, height: int, name: str) -> Any:
    get_user_model().objects.create_user(name, "ada@example.com", PASSWORD, is_staff=True, is_superuser=True)
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
    page = context.new_page()
    sign_in(page, name, create=False)
    page.goto("/gallery/")
    return page


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


NAMES = ["ada", "alexandra.konstantinopoulou-smith"]  # a long name is shortened, not wrapped under


@pytest.mark.parametrize("name", NAMES)
def test_an_admins_menu_and_the_signed_in_line_share_one_row_at_1280_px(
    browser: Any, live_server: Any, name: str
):
    page = admin_page(browser, live_server, 1280, 800, name)
    boxes = page.evaluate(BOXES)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / f"header-admin-1280-{len(name)}.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": 200},
    )

    links = boxes["links"]
    assert len(links) == 10
    assert len({round(link["top"]) for link in links}) == 1  # the menu on one line
    row_top, row_bottom = links[0]["top"], links[0]["bottom"]
    for part in (boxes["account"], boxes["signOut"], boxes["brand"]):
        middle = (part["top"] + part["bottom"]) / 2
        assert row_top <= middle <= row_bottom  # beside the menu, not under it
    assert boxes["account"]["left"] >= links[-1]["right"]
    assert boxes["scrollWidth"] <= 1280


@pytest.mark.parametrize("name", NAMES)
def test_an_admins_header_fits_a_phone(browser: Any, live_server: Any, name: str):
    page = admin_page(browser, live_server, 390, 844, name)
    boxes = page.evaluate(BOXES)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / f"header-admin-390-{len(name)}.png"),
        clip={"x": 0, "y": 0, "width": 390, "height": 400},
    )

    assert boxes["scrollWidth"] <= 390
    parts = [*boxes["links"], boxes["account"], boxes["signOut"], boxes["brand"]]
    for i, a in enumerate(parts):
        assert a["left"] >= 0 and a["right"] <= 390
        for b in parts[i + 1 :]:
            assert not overlaps(a, b)
    # Each item still a comfortable target.
    for link in boxes["links"]:
        assert link["bottom"] - link["top"] >= 44
