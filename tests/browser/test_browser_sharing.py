"""Chromium: a member shares a video with a password, guests allowed to comment and approve; a browser
with no account opens it, plays and seeks, gives a name, comments at the moment and approves; the
member sees the guest's comment and the approval, turns the link off, and the guest's reload shows
the plain page."""

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
PLAY_AND_SEEK = """async v => {
    v.muted = true;
    await v.play();
    v.pause();
    const seeked = new Promise(resolve => v.addEventListener('seeked', resolve, {once: true}));
    v.currentTime = 0.5;
    await seeked;
    return [v.readyState, v.currentTime];
}"""


def test_a_guest_opens_a_password_link_comments_and_approves_until_it_is_turned_off(
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
    assert not page.get_by_label("Guests may comment").is_checked()  # off unless chosen
    page.get_by_label("Guests may comment").check()
    page.get_by_label("Guests may set the review status").check()
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
        position = guest.locator("video").evaluate(PLAY_AND_SEEK)
        assert position[0] >= 2
        assert position[1] == pytest.approx(0.5, abs=0.05)

        # A name first (a cookie on the link's path, no account), then a comment at the paused moment.
        assert guest.locator("#comment-form").count() == 0
        guest.get_by_label("Your name").fill("Ada <b>Client</b>")
        guest.get_by_role("button", name="Save my name").click()
        guest.locator("#comment-form").wait_for()
        assert "Ada <b>Client</b> (guest)" in guest.inner_text("#guest-name")
        guest.locator("video").evaluate(PLAY_AND_SEEK)  # the page came back after the name: seek again
        assert guest.locator("#comment-at").input_value() == "0:00.5"  # review.js, as on the team's page
        guest.locator("#comment-text").fill("The sail could be brighter here")
        guest.get_by_role("button", name="Comment", exact=True).click()
        guest.locator(".thread", has_text="The sail could be brighter here").wait_for()
        assert guest.locator("#marker-strip").get_attribute("data-drawn") == "1"
        guest.get_by_role("button", name="Approved").click()
        guest.locator("#review-status", has_text="Approved").wait_for()
        assert not any(c["name"] == "sessionid" for c in guest_context.cookies())
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        guest.screenshot(path=str(ARTIFACTS / "guest-page.png"), full_page=True)

        # The team sees the guest's comment, marked, at its moment, and the approval in the history.
        page.goto(f"/videos/{video.pk}/")
        thread = page.locator(".thread", has_text="The sail could be brighter here")
        assert "Ada <b>Client</b> (guest)" in thread.inner_text()
        assert "via review link #" in thread.inner_text()
        assert thread.locator("button.seek").inner_text() == "0:00.5"
        assert page.locator("#review-status").inner_text() == "Approved"
        page.locator(".review-history summary").click()
        assert "Approved · Ada <b>Client</b> (guest)" in page.locator(".review-history").inner_text()

        page.goto("/share/")
        row = page.locator("tr", has_text=f"Video #{video.pk}")
        assert "Active" in row.inner_text()
        row.get_by_role("button", name="Turn off").click()
        page.wait_for_url(re.compile(r"/share/$"))
        assert ShareLink.objects.get().revoked_at is not None
        assert ShareLink.objects.get().views >= 1

        guest.reload()
        assert GONE in guest.inner_text("main")
        assert guest.locator("video").count() == 0
    finally:
        guest_context.close()
