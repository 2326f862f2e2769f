"""Finish notifications in real Chromium: permission granted through the browser context, and the
page's own Notification calls recorded by wrapping the constructor before any script runs."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from playground.generations.models import Batch, Generation, State
from playground.notify.notifications import NotifyPreference
from playground.worker.loop import Worker
from tests import factories
from tests.browser_fixtures import sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every notification the page makes and every permission request, keeping the real API.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notes = [];
  window.__noteObjects = [];
  window.__permissionRequests = 0;
  class Recording extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title: title, body: (options || {}).body || "" });
      window.__noteObjects.push(this);
    }
  }
  Object.defineProperty(Recording, "permission", { get: () => Real.permission });
  Recording.requestPermission = function () {
    window.__permissionRequests += 1;
    return Real.requestPermission.apply(Real, arguments);
  };
  window.Notification = Recording;
})();
"""


@pytest.fixture
def notify_page(browser: Any, live_server: Any) -> Any:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=live_server.url, permissions=["notifications"]
    )
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    yield page
    context.close()


def start_job(
    username: str = "carol", prompt: str = "A lighthouse beam sweeps across a stormy sea at night"
) -> Generation:
    user = get_user_model().objects.get(username=username)
    return factories.generation(created_by=user, model="video-01", prompt=prompt)


def test_a_notification_is_shown_when_a_watched_job_is_ready(notify_page: Any, running_worker: Worker):
    page = notify_page
    sign_in(page)
    gen = start_job()
    # Held back until the person has opted in, so a quick worker can't finish it first.
    Generation.objects.filter(pk=gen.pk).update(next_attempt_at=timezone.now() + timedelta(days=1))
    page.goto(f"/videos/{gen.pk}/")
    button = page.get_by_role("button", name="Tell me when it's ready")
    button.click()
    page.get_by_role("button", name="Stop telling me").wait_for()
    assert NotifyPreference.objects.get(user__username="carol").when_done
    assert page.evaluate("window.__notes.length") == 0  # nothing until the job ends
    Generation.objects.filter(pk=gen.pk).update(next_attempt_at=timezone.now())

    notes = wait_until(page, "window.__notes.length && window.__notes", timeout=45)
    assert notes == [
        {"title": f"Video #{gen.pk} is ready", "body": "A lighthouse beam sweeps across a stormy sea…"}
    ]
    gen.refresh_from_db()
    assert gen.state == State.READY
    assert page.title().startswith("Ready")


def test_a_failed_job_is_notified_and_clicking_opens_the_video(notify_page: Any):
    page = notify_page
    sign_in(page)
    NotifyPreference.objects.create(user=get_user_model().objects.get(username="carol"), when_done=True)
    gen = start_job(prompt="Paper lanterns drift over a quiet river")
    Generation.objects.filter(pk=gen.pk).update(
        state=State.RUNNING, upstream_id="job-1", upstream_status="generating"
    )
    page.goto(f"/videos/{gen.pk}/")
    page.get_by_role("button", name="Stop telling me").wait_for()  # remembered from the server
    page.evaluate("window.__marker = 'before'")

    Generation.objects.filter(pk=gen.pk).update(
        state=State.FAILED,
        failure_code="upstream_error",
        failure_reason="The video service could not make this video.",
    )
    notes = wait_until(page, "window.__notes.length && window.__notes", timeout=15)
    assert notes == [{"title": f"Video #{gen.pk} failed", "body": "Paper lanterns drift over a quiet river"}]
    assert page.evaluate("window.__permissionRequests") == 0  # already granted: never asked again

    with page.expect_navigation():
        page.evaluate("window.__noteObjects[0].onclick()")
    assert page.evaluate("typeof window.__marker") == "undefined"  # a fresh page was loaded
    assert page.url.endswith(f"/videos/{gen.pk}/")


def test_without_permission_nothing_is_asked_until_the_click_and_the_title_still_follows(
    browser: Any, live_server: Any
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    try:
        sign_in(page)
        gen = start_job(prompt="Snow falls on a sleeping village")
        Generation.objects.filter(pk=gen.pk).update(
            state=State.RUNNING, upstream_id="job-2", upstream_status="generating"
        )
        page.goto(f"/videos/{gen.pk}/")
        time.sleep(0.5)
        assert page.evaluate("window.__permissionRequests") == 0  # never on page load
        page.get_by_role("button", name="Tell me when it's ready").click()
        wait_until(page, "window.__permissionRequests === 1")
        wait_until(page, "document.querySelector('.notify-note').textContent.length > 0")
        Generation.objects.filter(pk=gen.pk).update(state=State.FAILED, failure_reason="Stopped.")
        wait_until(page, "document.title.startsWith('Failed')")
        assert page.evaluate("window.__notes.length") == 0  # not allowed: no notification, the title says it
    finally:
        context.close()


def test_the_batch_page_notifies_each_take_as_it_ends(notify_page: Any):
    page = notify_page
    sign_in(page)
    carol = get_user_model().objects.get(username="carol")
    NotifyPreference.objects.create(user=carol, when_done=True)
    batch = Batch.objects.create(
        created_by=carol, model="video-01", prompt="Harbour at dawn", takes_per_picture=2
    )
    takes = [
        factories.generation(
            created_by=carol,
            batch=batch,
            model="video-01",
            prompt=f"Harbour at dawn, take {n}",
            state=State.RUNNING,
            upstream_id=f"job-{n}",
            upstream_status="generating",
        )
        for n in (1, 2)
    ]
    page.goto(f"/batches/{batch.pk}/")
    page.get_by_role("button", name="Stop telling me").wait_for()  # the preference, from the server
    assert page.evaluate("window.__notes.length") == 0

    Generation.objects.filter(pk=takes[0].pk).update(
        state=State.FAILED, failure_code="upstream_error", failure_reason="The service could not make it."
    )
    notes = wait_until(page, "window.__notes.length && window.__notes", timeout=15)
    assert notes == [{"title": f"Video #{takes[0].pk} failed", "body": "Harbour at dawn, take 1"}]

    Generation.objects.filter(pk=takes[1].pk).update(state=State.FAILED, failure_code="upstream_error")
    notes = wait_until(page, "window.__notes.length === 2 && window.__notes", timeout=15)
    assert notes[1] == {"title": f"Video #{takes[1].pk} failed", "body": "Harbour at dawn, take 2"}
    # Every take has ended: the poll stops and there is nothing left to offer.
    wait_until(page, "!document.getElementById('batch-poll').hasAttribute('hx-get')")
    assert page.locator("#notify-control").count() == 0


def test_the_offer_goes_away_when_the_watched_video_is_ready(notify_page: Any):
    page = notify_page
    sign_in(page)
    gen = start_job(prompt="A heron lifts off the marsh")
    Generation.objects.filter(pk=gen.pk).update(
        state=State.RUNNING, upstream_id="job-3", upstream_status="generating"
    )
    page.goto(f"/videos/{gen.pk}/")
    offer = page.get_by_role("button", name="Tell me when it's ready")
    offer.wait_for()

    Generation.objects.filter(pk=gen.pk).update(
        state=State.READY, video="videos/heron.mp4", duration=6.0, finished_at=timezone.now()
    )
    wait_until(page, "document.title.startsWith('Ready')")
    page.locator("#outcome dt", has_text="Finished").wait_for()  # the last fragment has settled
    assert page.locator("#notify-control").count() == 0
    assert offer.count() == 0
    # A fresh load of the finished page offers nothing either.
    page.reload()
    page.get_by_role("link", name="Download").wait_for()
    assert page.locator("#notify-control").count() == 0
