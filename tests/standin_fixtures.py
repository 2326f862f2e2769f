"""Fixtures that run the stand-in upstream on a loopback port, so tests use real HTTP."""

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from playground.upstream.aimlapi import Client, Progress
from playground.upstream.demo.server import RunningServer, serve
from tests.faults import FaultyStandIn

API_KEY = "sk-test-NEVER-SHOWN-0123456789"
# Quick enough that a whole create-poll-download round takes about a second.
FAST: dict[str, Any] = {
    "queue_seconds": 0.2,
    "generate_seconds": 0.5,
    "link_ttl": 60.0,
    "video_seconds": 1.0,
    "video_long_side": 160,
    # The usage log lags a little, as the real one does (seconds there).
    "log_lag": 0.2,
}


class RunningStandIn:
    def __init__(self, app: FaultyStandIn, server: RunningServer) -> None:
        self.app = app
        self.url = server.url
        self._server = server
        self._clients: list[Client] = []

    def client(self, **kwargs: Any) -> Client:
        """A client for this stand-in; a short timeout so a hang fails the test instead of stalling it."""
        kwargs.setdefault("base_url", self.url)
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("timeout", 5.0)
        client = Client(**kwargs)
        self._clients.append(client)
        return client

    def wait(
        self, client: Client, *, model: str, upstream_id: str, timeout: float = 10.0, route: str | None = None
    ) -> list[Progress]:
        """Poll until the job leaves "running"; every answer, in order."""
        seen: list[Progress] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen.append(client.poll(model=model, upstream_id=upstream_id, route=route))
            if seen[-1].state != "running":
                return seen
            time.sleep(0.05)
        raise AssertionError(f"job {upstream_id} still running after {timeout}s: {seen[-1].raw_status}")

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._server.stop()


@pytest.fixture
def standin_factory(tmp_path: Path) -> Iterator[Callable[..., RunningStandIn]]:
    """Start stand-ins with custom settings: ``standin_factory(credits=1, state_dir=...)``."""
    started: list[RunningStandIn] = []

    def start(**kwargs: Any) -> RunningStandIn:
        state_dir = kwargs.pop("state_dir", None) or tmp_path / f"upstream-{len(started)}"
        app = FaultyStandIn(state_dir, **{**FAST, **kwargs})
        running = RunningStandIn(app, serve(app))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def standin(standin_factory: Callable[..., RunningStandIn]) -> RunningStandIn:
    return standin_factory()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL on which nothing listens, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
