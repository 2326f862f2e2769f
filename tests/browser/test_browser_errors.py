"""A click htmx sends that fails says so on the page, in the server's words when it sent some."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.generations.models import State
from playground.lib.outage import SENTENCE
from tests.browser_fixtures import sign_in, wait_until
from tests.factories import generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def star_button(page: Any) -> Any:
    return page.locator(".star-form button")


def test_a_star_pressed_while_the_database_is_down_says_so_and_works_once_it_is_back(page: Any):
    sign_in(page, "carol")
    gen = generation(get_user_model().objects.get(username="carol"), prompt="A lantern", state=State.READY)
    page.goto(f"/videos/{gen.pk}/")
    assert star_button(page).get_attribute("aria-pressed") == "false"

    # The outage's answer to htmx, as the server sends it (tests/lib/test_outage.py checks that side).
    def outage(route: Any) -> None:
        route.fulfill(status=503, body=SENTENCE, content_type="text/plain; charset=utf-8")

    page.route(f"**/videos/{gen.pk}/star/", outage)
    star_button(page).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == SENTENCE
    assert star_button(page).get_attribute("aria-pressed") == "false"

    page.unroute(f"**/videos/{gen.pk}/star/")
    star_button(page).click()
    # wait_until, not Playwright's wait_for_function: once its first look finds the answer not yet
    # back, it polls with eval, which the page's Content-Security-Policy refuses (a busy machine).
    wait_until(page, "document.querySelector('.star-form button').getAttribute('aria-pressed') === 'true'")
    assert page.get_by_role("alert").count() == 0


def test_a_click_that_cannot_reach_the_site_says_so(page: Any):
    sign_in(page, "carol")
    gen = generation(get_user_model().objects.get(username="carol"), prompt="A lantern", state=State.READY)
    page.goto(f"/videos/{gen.pk}/")
    page.route(f"**/videos/{gen.pk}/star/", lambda route: route.abort())
    star_button(page).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "could not be reached" in alert.inner_text()


def test_a_server_page_in_answer_is_not_shown_raw(page: Any):
    sign_in(page, "carol")
    gen = generation(get_user_model().objects.get(username="carol"), prompt="A lantern", state=State.READY)
    page.goto(f"/videos/{gen.pk}/")
    page.route(
        f"**/videos/{gen.pk}/star/",
        lambda route: route.fulfill(status=500, body="<html><h1>Error</h1></html>", content_type="text/html"),
    )
    star_button(page).click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "<" not in alert.inner_text() and "nothing was changed" in alert.inner_text()


def test_a_refused_action_stays_said_while_other_requests_succeed(page: Any):
    sign_in(page, "carol")
    gen = generation(get_user_model().objects.get(username="carol"), prompt="A lantern", state=State.READY)
    page.goto(f"/videos/{gen.pk}/")
    page.route(
        f"**/videos/{gen.pk}/star/",
        lambda route: route.fulfill(status=400, body="Say which video to star.", content_type="text/plain"),
    )
    star_button(page).click()
    page.get_by_role("alert").wait_for()
    # Another htmx request (as a poll would be) succeeds: the refusal is still on the page.
    page.evaluate("htmx.ajax('GET', '/gallery/cards/', {target: 'body', swap: 'none'})")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("alert").inner_text() == "Say which video to star."
