"""Review in Chromium: two members comment at moments, one replies and resolves the thread, a
comment's moment seeks the player, the markers are drawn, and an approved take shows in the
gallery's status filter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from playground.generations.models import Generation, State
from playground.lib.videofiles import inspect_video
from playground.review import comments
from playground.review.models import Comment, ReviewStatus
from playground.upstream.demo.render import render_video
from tests.browser_fixtures import ARTIFACTS, sign_in, wait_until
from tests.factories import generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: Any) -> dict[str, Any]:
    path = Path(tmp_path_factory.mktemp("clip")) / "clip.mp4"
    render_video(path, prompt="clip", first_frame=None, seconds=4, long_side=160)
    return {"video": path.read_bytes(), "poster": inspect_video(path).poster_jpeg}


def ready(user: Any, prompt: str, clip: dict[str, Any]) -> Generation:
    return generation(
        created_by=user,
        model="video-01",
        prompt=prompt,
        state=State.READY,
        video=default_storage.save("videos/c.mp4", ContentFile(clip["video"])),
        poster=default_storage.save("posters/c.jpg", ContentFile(clip["poster"])),
        video_size=len(clip["video"]),
        duration=4.0,
    )


def pause_at(page: Any, seconds: float) -> None:
    wait_until(page, "document.querySelector('video.player').readyState >= 1")
    page.evaluate(
        f"(() => {{ const v = document.querySelector('video.player'); v.pause(); v.currentTime = {seconds}; }})()"
    )


def comment_at(page: Any, seconds: float, text: str, moment: str) -> None:
    pause_at(page, seconds)
    wait_until(page, f"document.getElementById('comment-at').value === '{moment}'")
    page.locator("#comment-text").fill(text)
    page.get_by_role("button", name="Comment", exact=True).click()
    page.locator(".thread", has_text=text).wait_for()


def test_two_members_comment_reply_resolve_seek_and_approve(page: Any, browser: Any, live_server: Any, clip):
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    video = ready(alice, "A hand reaching for a glass of water", clip)
    other = ready(alice, "A cat asleep on a windowsill", clip)

    # Alice pauses at 0:01.5 and comments.
    page.goto(video.get_absolute_url())
    comment_at(page, 1.5, "The glass flickers here", "0:01.5")

    # Bob, in his own browser, comments later in the clip, replies to Alice and resolves her thread.
    bob_context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    bob = bob_context.new_page()
    sign_in(bob, "bob")
    bob.goto(video.get_absolute_url())
    comment_at(bob, 3.0, "At 0:03 the hand melts <script>alert(1)</script>", "0:03.0")
    first = bob.locator(".thread", has_text="The glass flickers here")
    first.locator("summary", has_text="Reply").click()
    first.get_by_label("Reply").fill("Agreed, see https://example.com/ref")
    first.get_by_role("button", name="Send reply").click()
    bob.locator(".reply", has_text="Agreed").wait_for()
    # The markers are drawn again from each new review section (here: two threads).
    assert wait_until(bob, "document.getElementById('marker-strip').dataset.drawn === '2'")
    assert bob.locator(".reply a[href='https://example.com/ref']").count() == 1
    bob.locator(".thread", has_text="The glass flickers here").get_by_role("button", name="Resolve").click()
    bob.locator(".resolved-note", has_text="Resolved by bob").wait_for()
    thread = Comment.objects.get(text="The glass flickers here")
    assert (
        thread.resolved_by_name == "bob"
        and Comment.objects.get(text__startswith="Agreed").parent_id == thread.pk
    )

    # Bob approves the take, marking the other take (none here with this first frame) in one step.
    bob.get_by_role("button", name="Approved", exact=True).click()
    wait_until(bob, "document.getElementById('review-status').textContent === 'Approved'")
    assert ReviewStatus.objects.get(is_current=True).status == "approved"
    bob_context.close()

    # Alice sees both threads in time order, with markers, and the script shown as text.
    page.reload()
    threads = page.locator("li.thread > article .comment-text")
    assert threads.nth(0).inner_text() == "The glass flickers here"
    assert threads.nth(1).inner_text() == "At 0:03 the hand melts <script>alert(1)</script>"
    assert wait_until(page, "document.getElementById('marker-strip').dataset.drawn") == "2"
    assert page.locator(".marks-open").get_attribute("d") and page.locator(".marks-resolved").get_attribute(
        "d"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-video-page.png"), full_page=True)

    # Clicking a comment's moment seeks there and pauses.
    pause_at(page, 0.2)
    page.locator("li.thread", has_text="hand melts").locator("button.seek").click()
    wait_until(page, "Math.abs(document.querySelector('video.player').currentTime - 3.0) < 0.05")
    assert page.evaluate("document.querySelector('video.player').paused") is True

    # The gallery: the approved take shows under the Approved filter; the other does not.
    page.goto("/gallery/")
    page.get_by_label("Review").select_option("approved")
    page.wait_for_url(re.compile(r"review=approved"))
    wait_until(page, "document.querySelectorAll('.card-item').length === 1")
    assert page.locator(f"#card-{video.pk}").count() == 1 and page.locator(f"#card-{other.pk}").count() == 0
    assert "Approved" in page.locator(f"#card-{video.pk}").inner_text()
    page.get_by_label("Review").select_option("unreviewed")
    wait_until(
        page, f"!!document.getElementById('card-{other.pk}') && !document.getElementById('card-{video.pk}')"
    )


def test_a_moment_on_the_comments_page_of_its_own_opens_the_video_there(page: Any, live_server: Any, clip):
    # "More comments" without htmx is a page with no player: its moments play on the video's page.
    sign_in(page, "alice")
    alice = get_user_model().objects.get(username="alice")
    video = ready(alice, "A lighthouse at dusk", clip)
    comments.add_comment(video, user=alice, at_ms=2600, text="The beam jumps here")
    page.goto(reverse("review_comments", args=[video.pk]))
    page.locator("button.seek", has_text="0:02.6").click()
    page.wait_for_url(re.compile(re.escape(video.get_absolute_url()) + "#at=2600$"))
    wait_until(page, "Math.abs(document.querySelector('video.player').currentTime - 2.6) < 0.05")
    assert page.evaluate("document.querySelector('video.player').paused")
    assert page.locator("#comment-at").input_value() == "0:02.6"
