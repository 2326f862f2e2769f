"""Outgoing webhooks: a real receiver on loopback, signatures checked the way docs/webhooks.md says."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.server
import itertools
import json
import logging
import socket
import threading
import time
import types
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.lib import linkfetch
from playground.notify import webhooks
from playground.notify.webhooks import DeliveryState, Webhook, WebhookDelivery
from tests import factories
from tests.db_sessions import closing
from tests.worker.test_worker import drive, make

SECRET = "whsec-test-NEVER-SHOWN-5f2c9a7e"


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST; answers with the next status from `replies` (200 when they run out)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.replies: list[int] = []
        self.delay = 0.0
        self.delays: list[float] = []  # per request, before falling back to `delay`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        # The answer is chosen on arrival, so a request still sleeping can't take a later one's.
        status = self.server.replies.pop(0) if self.server.replies else 200
        delay = self.server.delays.pop(0) if self.server.delays else self.server.delay
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # Loopback is refused unless an admin allows the host: the test receiver is allowed this way.
    settings.WEBHOOK_ALLOWED_HOSTS = [server.netloc]
    settings.WEBHOOK_RETRY_BASE = 0.01
    settings.WEBHOOK_RETRY_CAP = 0.05
    settings.WEBHOOK_TIMEOUT = 1.0
    settings.SITE_URL = "https://videos.example.com"
    yield server
    server.shutdown()
    server.server_close()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance: float = 300) -> bool:
    """The receiver's side, as docs/webhooks.md shows it."""
    timestamp = headers["x-playground-timestamp"]
    expected = (
        "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    )
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["x-playground-signature"])


def deliver_all(owner: str = "test-worker", *, until_quiet: float = 3.0) -> None:
    """Run delivery rounds until nothing is pending (retries are due within milliseconds here)."""
    deadline = time.monotonic() + until_quiet
    while time.monotonic() < deadline:
        webhooks.deliver_due(owner)
        if not WebhookDelivery.objects.filter(state=DeliveryState.PENDING, webhook__active=True).exists():
            return
        time.sleep(0.02)


def hook(url: str, **kw: Any) -> Webhook:
    return Webhook.objects.create(url=url, secret=SECRET, **kw)


@pytest.mark.django_db
def test_a_ready_video_is_delivered_signed_and_verifiable(worker, upstream, user, receiver):
    hook(receiver.url, name="team")
    gen = make(user, prompt="A red fox walks through fresh snow at dawn, breath steaming")
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY

    deliver_all()

    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert verify(SECRET, headers, body)
    assert not verify("another-secret-of-enough-length", headers, body)
    assert not verify(SECRET, headers, body + b" ")  # the signature covers the raw body
    data = json.loads(body)
    assert data["event"] == "generation.ready" == headers["x-playground-event"]
    assert data["video"] == {"id": gen.pk, "url": f"https://videos.example.com/videos/{gen.pk}/"}
    assert data["prompt"] == gen.prompt
    assert data["model"] == "video-01"
    assert data["maker"] == "alice"
    assert data["state"] == "ready"
    assert data["duration"] == pytest.approx(gen.duration)
    assert gen.usd_spent and data["cost"] == str(gen.usd_spent)  # dollars, as the service reported
    assert data["credits"] == gen.credits_spent == 860_000  # the x-aimlapi-credits-used header
    assert data["time"] == gen.finished_at.isoformat()
    assert data["text"].startswith(f"Video #{gen.pk} is ready: “A red fox walks")
    assert "by alice" in data["text"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, "HTTP 200 OK")


@pytest.mark.django_db
def test_a_failed_video_is_announced_only_to_webhooks_that_want_failures(worker, upstream, user, receiver):
    hook(receiver.url, events="ready")
    hook(receiver.url + "?failed", events="failed")
    gen = make(user)
    Generation.objects.filter(pk=gen.pk).update(created_at=timezone.now() - timedelta(hours=2))
    drive(worker)  # past the deadline before it was ever sent: fails, uncharged
    gen.refresh_from_db()
    assert gen.state == State.FAILED

    deliver_all()

    assert len(receiver.received) == 1
    data = json.loads(receiver.received[0][1])
    assert data["event"] == "generation.failed"
    assert data["state"] == "failed"
    assert data["failure_reason"] == gen.failure_reason
    assert gen.failure_reason in data["text"]


@pytest.mark.django_db
def test_a_500_is_retried_and_then_delivered(user, receiver, settings):
    settings.WEBHOOK_TIMEOUT = 10.0  # answers that are late under load are not what this is about
    hook(receiver.url)
    receiver.replies = [500, 503]
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
    webhooks.enqueue(gen)

    deliver_all()

    assert len(receiver.received) == 3
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # the same bytes every time
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, "HTTP 200 OK")
    assert Webhook.objects.get().consecutive_failures == 0


@pytest.mark.django_db
def test_the_backoff_waits_longer_each_time_and_is_capped(settings):
    settings.WEBHOOK_RETRY_BASE = 10
    settings.WEBHOOK_RETRY_CAP = 60
    delays = [webhooks.retry_delay(n) for n in range(1, 8)]
    assert 8 <= delays[0] <= 10
    assert 16 <= delays[1] <= 20
    assert all(d <= 60 for d in delays)
    assert delays[-1] >= 48


@pytest.mark.django_db
def test_a_timeout_is_retried_and_a_4xx_is_not(user, receiver, settings):
    settings.WEBHOOK_TIMEOUT = 0.2
    timing_out = hook(receiver.url + "?slow")
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
    receiver.delay = 0.5
    webhooks.enqueue(gen)
    webhooks.deliver_due("w")
    delivery = WebhookDelivery.objects.get(webhook=timing_out)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.last_status == "No answer within 0.2 s"

    receiver.delay = 0.0
    # The 4xx half must not race the clock: on a loaded machine (CI runs three passes at once) a
    # prompt answer once took longer than 0.2 s, so the 404 came on a second attempt.
    settings.WEBHOOK_TIMEOUT = 10
    timing_out.delete()
    hook(receiver.url)
    receiver.replies = [404]
    webhooks.enqueue(gen)
    deliver_all()
    gone = WebhookDelivery.objects.get()
    assert (gone.state, gone.attempts, gone.last_status) == ("failed", 1, "HTTP 404 Not Found")


class Dribbler:
    """A receiver on loopback that reads the request, then answers one byte every `gap` seconds
    for ever: each byte comes well within any read timeout, so only a deadline ends it."""

    def __init__(self, answer: bytes, gap: float = 0.1) -> None:
        self.answer = answer
        self.gap = gap
        self.hung_up = threading.Event()  # the sender closed the connection
        self.asked = threading.Event()  # a request arrived
        self._server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self._server.getsockname()[1]}"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._server.accept()
            with conn:
                conn.recv(65536)
                self.asked.set()
                try:
                    for i in itertools.count():
                        conn.sendall(self.answer[i % len(self.answer) : i % len(self.answer) + 1])
                        time.sleep(self.gap)
                except OSError:
                    self.hung_up.set()

    def close(self) -> None:
        self._server.close()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        # Headers that never end.
        b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 100_000,
        # "Wait, more is coming", over and over.
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ],
    ids=["headers-byte-by-byte", "endless-100-continue"],
)
def test_an_attempt_ends_at_its_deadline_however_slowly_the_receiver_answers(settings, answer):
    # Long enough that the request is sent before the deadline even on a loaded machine: at 0.5 s
    # CI's three passes once used the whole of it before connecting, and the receiver, never
    # asked, could not see a hang-up (the clock-driven test below holds the deadline exactly).
    settings.WEBHOOK_TIMEOUT = 2
    dribbler = Dribbler(answer)
    settings.WEBHOOK_ALLOWED_HOSTS = [dribbler.netloc]
    delivery = webhooks.enqueue_test(hook(f"http://{dribbler.netloc}/hook"))
    try:
        started = time.monotonic()
        webhooks.deliver_due("w")
        took = time.monotonic() - started
        assert dribbler.asked.is_set(), "the request was never sent: the deadline passed before connecting"
        # The receiver dribbles for ever: the sender hung up on it, mid-answer.
        assert dribbler.hung_up.wait(10), "the connection was left open"
    finally:
        dribbler.close()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)  # a retry later
    assert delivery.last_status == "No answer within 2 s"
    assert delivery.lease_owner == ""
    # A bound, not a speed: loose enough for a busy machine. That the deadline is WEBHOOK_TIMEOUT
    # itself, not a multiple, is held by the clock-driven test below.
    assert took < 20 * settings.WEBHOOK_TIMEOUT


class SteppedClock:
    """time.monotonic for linkfetch alone: `start` on the first reading, `start + step` after."""

    def __init__(self, start: float, step: float) -> None:
        self.readings = 0
        self.start, self.step = start, step

    def monotonic(self) -> float:
        self.readings += 1
        return self.start if self.readings == 1 else self.start + self.step


@pytest.mark.django_db
@pytest.mark.parametrize(("passed", "delivered"), [(0.0, True), (1.1, False)], ids=["at-start", "past"])
def test_an_attempt_has_one_deadline_of_webhook_timeout_from_its_start(
    receiver, settings, monkeypatch, passed, delivered
):
    # The guarded client's clock reads the start, then `passed` timeouts later at every step:
    # past the timeout nothing more is tried (a deadline of 3x the timeout, as there once was,
    # would still connect and deliver); with the clock still at the start it goes through.
    clock = SteppedClock(1000.0, passed * settings.WEBHOOK_TIMEOUT)
    monkeypatch.setattr(linkfetch, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    delivery = webhooks.enqueue_test(hook(receiver.url))

    webhooks.deliver_due("w")

    delivery.refresh_from_db()
    assert clock.readings >= 2
    if delivered:
        assert (delivery.state, len(receiver.received)) == (DeliveryState.DELIVERED, 1)
    else:
        assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)
        assert delivery.last_status == "No answer within 1 s"
        assert receiver.received == []


@pytest.mark.django_db
def test_a_receiver_that_keeps_failing_is_paused_with_a_sentence(user, receiver, settings):
    settings.WEBHOOK_PAUSE_AFTER = 4
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    failing = hook(receiver.url)
    receiver.replies = [500] * 20
    for _ in range(3):
        gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
        webhooks.enqueue(gen)

    deliver_all()

    failing.refresh_from_db()
    assert not failing.active
    assert failing.consecutive_failures == 4
    assert failing.paused_reason.startswith("Paused on ")
    assert (
        "after 4 failed attempts in a row (the last one: HTTP 500 Internal Server Error)"
        in failing.paused_reason
    )
    assert len(receiver.received) == 4  # nothing more is sent while paused
    # Nothing new is queued for a paused webhook either.
    assert webhooks.enqueue(gen) == 0


@pytest.mark.django_db
def test_a_private_address_is_refused_when_sending(user, settings, monkeypatch):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    Webhook.objects.create(url="http://10.1.2.3/hook", secret=SECRET)
    Webhook.objects.create(url="http://169.254.169.254/latest/meta-data/", secret=SECRET)
    Webhook.objects.create(url="http://localhost:9/hook", secret=SECRET)
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
    webhooks.enqueue(gen)
    looked_up: list[str] = []
    connected: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return []

    def connect(address: str, port: int, timeout: float | None) -> socket.socket:
        connected.append(address)
        raise ConnectionRefusedError("this test makes no connections")

    monkeypatch.setattr(linkfetch, "_resolve", resolve)
    monkeypatch.setattr(linkfetch, "_connect", connect)

    deliver_all()

    # Refused from the address alone: no look-up and no connection attempt (one to 10.1.2.3 would
    # wait out the timeout).
    assert (looked_up, connected) == ([], [])
    statuses = sorted(WebhookDelivery.objects.values_list("state", "attempts", "last_status"))
    assert [s[:2] for s in statuses] == [("failed", 1)] * 3  # no retry: the address won't change its kind
    # Webhooks' own sentence, naming the setting that lets a receiver on the team's own network in.
    assert {s[2] for s in statuses} == {
        f"This webhook's receiver is at a private or local network address ({address}), which webhooks "
        "may not reach unless the WEBHOOK_ALLOWED_HOSTS setting names its host."
        for address in ("10.1.2.3", "169.254.169.254", "localhost")
    }
    assert not any("link" in s[2] for s in statuses)  # the image-link sentence is not theirs


@pytest.mark.django_db
def test_a_name_resolving_to_loopback_is_refused_at_connect_time(user, receiver, settings, monkeypatch):
    # Only the IP literal is allowed: a name that resolves to it is still judged by its address.
    port = receiver.server_address[1]
    settings.WEBHOOK_ALLOWED_HOSTS = []
    monkeypatch.setattr("playground.lib.linkfetch._resolve", lambda host, port: ["127.0.0.1"])
    hook(f"http://hooks.example.com:{port}/hook")
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
    webhooks.enqueue(gen)
    deliver_all()
    assert receiver.received == []
    assert "(127.0.0.1)" in WebhookDelivery.objects.get().last_status


@pytest.fixture
def staff_client(client: Client, django_user_model: Any) -> Client:
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests-only-91")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_the_admin_refuses_a_private_address_with_a_sentence(staff_client, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = staff_client.post(
        "/admin/playground/webhook/add/",
        {
            "name": "x",
            "url": "http://192.168.1.20/hook",
            "events": "both",
            "active": "on",
            "new_secret": SECRET,
        },
    )
    assert response.status_code == 200
    assert (
        "This webhook&#x27;s receiver is at a private or local network address (192.168.1.20), which "
        "webhooks may not reach unless the WEBHOOK_ALLOWED_HOSTS setting names its host." in response.text
    )
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_the_secret_never_appears_in_an_admin_page_or_a_log(staff_client, user, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    response = staff_client.post(
        "/admin/playground/webhook/add/",
        {"name": "team", "url": receiver.url, "events": "both", "active": "on", "new_secret": SECRET},
        follow=True,
    )
    assert response.status_code == 200
    made = Webhook.objects.get()
    assert made.secret == SECRET
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state=State.READY)
    receiver.replies = [500]
    webhooks.enqueue(gen)
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED

    pages = [
        response.text,
        staff_client.get("/admin/playground/webhook/").text,
        staff_client.get(f"/admin/playground/webhook/{made.pk}/change/").text,
        staff_client.get("/admin/playground/webhookdelivery/").text,
        staff_client.get(f"/admin/playground/webhookdelivery/{delivery.pk}/change/").text,
        staff_client.get(f"/admin/playground/webhook/{made.pk}/history/").text,
    ]
    change_page = pages[2]
    assert "HTTP 200 OK" in change_page  # the record is visible
    assert "Recent deliveries" in change_page
    for page in pages:
        assert SECRET not in page
    assert caplog.records, "the delivery should have logged something"
    assert SECRET not in caplog.text
    assert all(SECRET not in str(r.args) for r in caplog.records)


@pytest.mark.django_db
def test_editing_without_a_secret_keeps_it_and_resuming_clears_the_pause(staff_client, receiver):
    made = hook(receiver.url, active=False, paused_reason="Paused on …", consecutive_failures=10)
    response = staff_client.post(
        f"/admin/playground/webhook/{made.pk}/change/",
        {"name": "renamed", "url": receiver.url, "events": "ready", "active": "on", "new_secret": ""},
    )
    assert response.status_code == 302
    made.refresh_from_db()
    assert (made.name, made.secret, made.active, made.paused_reason, made.consecutive_failures) == (
        "renamed",
        SECRET,
        True,
        "",
        0,
    )


@pytest.mark.django_db
def test_a_short_secret_is_refused(staff_client, receiver):
    response = staff_client.post(
        "/admin/playground/webhook/add/",
        {"name": "x", "url": receiver.url, "events": "both", "active": "on", "new_secret": "short"},
    )
    assert "This secret is 5 characters long; use at least 16." in response.text


@pytest.mark.django_db(transaction=True)
def test_the_running_worker_delivers_on_its_own_thread_without_holding_up_videos(
    upstream: Any, user: Any, receiver: Receiver, settings: Any
):
    from playground.worker.loop import Worker

    settings.WEBHOOK_TIMEOUT = 10.0
    receiver.delays = [6.0]  # a slow receiver, the first time
    hook(receiver.url)
    first = make(user, prompt="First shot")
    worker = Worker(client=upstream.client(), threads=2, name="hook-worker")
    thread = threading.Thread(target=closing(worker.run), kwargs={"idle_sleep": 0.05}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert receiver.received, "the first video's delivery never started"
        # While the receiver sits on that request, a second video is made from start to end.
        second = make(user, prompt="Second shot")
        while Generation.objects.get(pk=second.pk).state != State.READY and time.monotonic() < deadline:
            time.sleep(0.02)
        assert Generation.objects.get(pk=second.pk).state == State.READY
        assert WebhookDelivery.objects.get(generation=first).state == DeliveryState.PENDING  # still waiting
        while WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count() < 2:
            assert time.monotonic() < deadline, "deliveries did not finish"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(20)
    assert not thread.is_alive()
    assert [json.loads(body)["prompt"] for _, body in receiver.received] == ["First shot", "Second shot"]


@pytest.mark.django_db
def test_staff_can_send_a_test_event_and_send_a_delivery_again(staff_client, receiver):
    made = hook(receiver.url)
    response = staff_client.post(
        "/admin/playground/webhook/", {"action": "send_test", "_selected_action": [made.pk]}, follow=True
    )
    assert "A test event is queued for 1 webhook(s)" in response.text
    deliver_all()
    headers, body = receiver.received[0]
    assert verify(SECRET, headers, body)
    assert json.loads(body)["event"] == "webhook.test"
    assert "this webhook works" in json.loads(body)["text"]

    done = WebhookDelivery.objects.get()
    response = staff_client.post(
        "/admin/playground/webhookdelivery/",
        {"action": "send_again", "_selected_action": [done.pk]},
        follow=True,
    )
    assert "1 deliveries will be sent again" in response.text
    deliver_all()
    assert len(receiver.received) == 2
    assert receiver.received[1][1] == body  # the same body, freshly signed


@pytest.mark.django_db
def test_an_ending_the_worker_never_announced_is_caught_up_once(user, receiver):
    earlier = timezone.now() - timedelta(minutes=5)
    hook(receiver.url, created_at=earlier - timedelta(minutes=1))
    # As if the worker died between marking it ready and queueing its deliveries.
    missed = factories.generation(
        created_by=user, model="video-01", prompt="Caught up", state=State.READY, finished_at=earlier
    )
    announced = factories.generation(
        created_by=user, model="video-01", prompt="Announced", state=State.READY, finished_at=earlier
    )
    webhooks.enqueue(announced)
    # Ended before this webhook existed: not its business.
    factories.generation(
        created_by=user,
        model="video-01",
        prompt="Too old",
        state=State.FAILED,
        finished_at=earlier - timedelta(minutes=2),
    )

    assert webhooks.catch_up() == 1
    assert webhooks.catch_up() == 0  # once only
    assert webhooks.enqueue(missed) == 0  # and the worker's own path can't add a second
    deliver_all()
    assert sorted(json.loads(body)["prompt"] for _, body in receiver.received) == ["Announced", "Caught up"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("now", "zone"),
    [
        ("2027-01-01T00:00:30+13:00", "Pacific/Auckland"),  # just past midnight on New Year's Day there
        ("2026-12-31T23:59:59+00:00", "UTC"),
        ("2028-03-01T00:00:00-08:00", "America/Los_Angeles"),  # 30 days back crosses a leap February
    ],
)
def test_finished_deliveries_are_pruned_after_30_days_and_waiting_ones_never(now, zone, settings):
    settings.TIME_ZONE = zone
    with time_machine.travel(datetime.fromisoformat(now), tick=False):
        webhook = hook("https://hooks.example.com/in")
        made = timezone.now()

        def delivery(state: str, age: timedelta, n: int) -> WebhookDelivery:
            return WebhookDelivery.objects.create(
                webhook=webhook, event="video.ready", body=f'{{"n": {n}}}', state=state, created_at=made - age
            )

        month = timedelta(days=30)
        gone = [
            delivery(DeliveryState.DELIVERED, month + timedelta(minutes=1), 1),
            delivery(DeliveryState.FAILED, month * 3, 2),
        ]
        kept = [
            delivery(DeliveryState.DELIVERED, month - timedelta(minutes=1), 3),
            delivery(DeliveryState.PENDING, month * 3, 4),  # still owed: kept whatever its age
        ]
        out = StringIO()
        call_command("prunedeliveries", stdout=out)
        assert out.getvalue() == "Deleted 2 finished webhook deliveries.\n"
        left = set(WebhookDelivery.objects.values_list("pk", flat=True))
        assert left == {d.pk for d in kept}
        assert not left & {d.pk for d in gone}


@pytest.mark.django_db
def test_pruning_works_through_more_rows_than_one_batch(monkeypatch):
    monkeypatch.setattr(webhooks, "PRUNE_BATCH", 3)
    webhook = hook("https://hooks.example.com/in")
    old = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            webhook=webhook, event="video.ready", body="{}", state=DeliveryState.DELIVERED, created_at=old
        )
        for _ in range(10)
    )
    assert webhooks.prune() == 10
    assert not WebhookDelivery.objects.exists()
