"""Chromium: a member shares a video with a password; a browser with no account opens it, plays and
seeks; the member turns the link off and the guest's reload shows the plain page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from playground.review.guest import GONE
from playground.review.links import ShareLink
from tests.browser.test_browser_gallery import clip, ready  # noqa: F401 - the module's real MP4
from tests.browser_fixtures import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "lantern-over-the-bay"


def test_a_guest_opens_a_password_link_plays_and_seeks_until_it_is_turned_off(
    page: Any,
    browser: Any,
    live_server: Any,
    clip: dict[str, Any],  # noqa: F811
):
    sign_in(page, "alice")
    video = ready(get_user_model().objects.get(username="alice"), "A harbour at dawn, for the client", clip)
    page.goto(f"/videos/{video.pk}/")
    page.get_by_role("link", name="Share for review").click()
    page.get_by_label("Password (optional)").fill(PASSWORD)
    page.get_by_role("button", name="Make the link").click()
    page.get_by_role("heading", name="The review link is ready").wait_for()
    url = page.locator("#share-link").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/s/[A-Za-z0-9_-]{{43}}/", url), url

    guest_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        guest = guest_context.new_page()
        guest.goto(url)
        assert "This link needs a password" in guest.inner_text("main")
        guest.get_by_label("Password").fill(PASSWORD)
        guest.get_by_role("button", name="Open").click()
        guest.get_by_role("heading", name="A video shared with you").wait_for()
        text = guest.inner_text("main")
        assert "harbour" not in text.lower() and "alice" not in text  # hidden unless chosen
        assert guest.get_by_role("link", name="Download").count() == 0
        position = guest.locator("video").evaluate(
            """async v => {
                v.muted = true;
                await v.play();
                v.pause();
                const seeked = new Promise(resolve => v.addEventListener('seeked', resolve, {once: true}));
                v.currentTime = 0.5;
                await seeked;
                return [v.readyState, v.currentTime];
            }"""
        )
        assert position[0] >= 2
        assert position[1] == pytest.approx(0.5, abs=0.05)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        guest.screenshot(path=str(ARTIFACTS / "guest-page.png"), full_page=True)

        page.goto("/share/")
        row = page.locator("tr", has_text=f"Video #{video.pk}")
        assert "Active" in row.inner_text()
        row.get_by_role("button", name="Turn off").click()
        page.wait_for_url(re.compile(r"/share/$"))
        assert ShareLink.objects.get().revoked_at is not None
        assert ShareLink.objects.get().views == 1

        guest.reload()
        assert GONE in guest.inner_text("main")
        assert guest.locator("video").count() == 0
    finally:
        guest_context.close()
