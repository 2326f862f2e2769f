"""Misbehaving on request: the stand-in upstream with one-shot faults that tests queue per endpoint.

The shipped stand-in (playground/upstream/demo/upstream.py) only answers as the service does; tests need
it to fail on cue (errors, slow or lost answers, cut-off bodies), so that lives here, on the one
seam it offers: StandIn.answer.
"""

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from wsgiref.types import WSGIEnvironment

from playground.upstream.demo.server import DropConnection
from playground.upstream.demo.upstream import (
    FILES_PREFIX,
    Endpoint,
    Response,
    StandIn,
    json_error,
    model_named,
    status_line,
)

ENDPOINTS: tuple[Endpoint, ...] = ("create", "poll", "video", "logs")


@dataclass
class Fault:
    """One misbehaviour, used once by the next request to its endpoint.

    ``status``/``body``/``headers`` replace (or, headers only, amend) the real answer.
    ``delay`` waits before answering; without ``process`` the real handler runs after the
    wait (a slow service), with ``process`` it runs first (the job is made, then the answer
    is late, replaced or lost). ``close`` drops the connection without an answer;
    ``truncate`` sends that fraction of the body after promising all of it in Content-Length.
    ``fail`` (create only) makes the service fail the request (a failed, zero-cost row in the
    usage log, no job) instead of running it; with ``close`` the answer is then lost.
    ``hold`` keeps the request waiting until the test sets that event (at most 60 s), with
    ``arrived`` set once the request is held: a slow answer whose end the test decides, not a clock.
    """

    status: int | None = None
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0
    process: bool = False
    close: bool = False
    truncate: float | None = None
    fail: bool = False
    hold: threading.Event | None = None
    arrived: threading.Event | None = None


class FaultyStandIn(StandIn):
    def __init__(self, state_dir: Path, **options: Any) -> None:
        super().__init__(state_dir, **options)
        self._faults_lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {endpoint: deque() for endpoint in ENDPOINTS}

    def inject(self, endpoint: Endpoint, *faults: Fault) -> None:
        if endpoint not in self._faults:
            raise ValueError(f"Unknown endpoint {endpoint!r}; use create, poll, video or logs.")
        with self._faults_lock:
            self._faults[endpoint].extend(faults)

    def reset_faults(self) -> None:
        with self._faults_lock:
            for queue in self._faults.values():
                queue.clear()

    def resign(self, url: str, *, expires: int) -> str:
        """The same video link, correctly signed for another expiry time (to test expired links)."""
        parts = urlsplit(url)
        token = parts.path.removeprefix(FILES_PREFIX).removesuffix(".mp4")
        query = urlencode({"Expires": expires, "Signature": self.signature(token, expires)})
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def answer(
        self,
        endpoint: Endpoint | None,
        environ: WSGIEnvironment,
        body: bytes | None,
        handle: Callable[[], Response],
    ) -> Response:
        fault = self._take_fault(endpoint) if endpoint else None
        if fault is None:
            return handle()
        path = str(environ.get("PATH_INFO", "")) or "/"
        response: Response | None = None
        if fault.fail and endpoint == "create":
            self.log_request(environ, model_named(path, body), "failed", None)
            response = json_error(500, "Internal server error", path)
        elif fault.process:
            response = handle()
        if fault.arrived is not None:
            fault.arrived.set()
        if fault.hold is not None:
            fault.hold.wait(60)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.close:
            raise DropConnection
        if fault.status is not None or fault.body is not None:
            response = _fault_response(fault, path)
        elif response is None:
            response = handle()
        if fault.headers:
            response.headers = _merge_headers(response.headers, fault.headers)
        if fault.truncate is not None:
            response = _truncated(response, fault.truncate)
        return response

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._faults_lock:
            queue = self._faults[endpoint]
            return queue.popleft() if queue else None


def _fault_response(fault: Fault, path: str) -> Response:
    status = fault.status if fault.status is not None else 200
    body = fault.body
    if body is None:
        if status >= 400:
            return json_error(status, status_line(status).partition(" ")[2], path)
        data, kind = b"", "text/plain; charset=utf-8"
    elif isinstance(body, bytes):
        data, kind = body, "application/octet-stream"
    elif isinstance(body, str):
        data = body.encode()
        kind = "text/html; charset=utf-8" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
    else:
        data, kind = json.dumps(body).encode(), "application/json; charset=utf-8"
    return Response(status, [("Content-Type", kind), ("Content-Length", str(len(data)))], [data])


def _merge_headers(headers: list[tuple[str, str]], extra: dict[str, str]) -> list[tuple[str, str]]:
    replaced = {name.lower() for name in extra}
    return [(name, value) for name, value in headers if name.lower() not in replaced] + list(extra.items())


def _truncated(response: Response, fraction: float) -> Response:
    data = b"".join(response.chunks)
    cut = max(0, min(len(data), int(len(data) * fraction)))
    headers = _merge_headers(response.headers, {"Content-Length": str(len(data))})

    def chunks() -> Iterator[bytes]:
        if cut:
            yield data[:cut]
        raise DropConnection

    return Response(response.status, headers, chunks())
