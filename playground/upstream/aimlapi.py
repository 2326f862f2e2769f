"""The AI/ML API wire contract for the MiniMax video models in ``catalogue.py``.

(Over 500 lines because it is the one module that speaks to the upstream: requests, the mapping
of every network failure and status to what the caller may do, and the reading of each answer
belong together, so no other module imports httpx for the service.)

This is the only module that speaks to the upstream: it builds requests from the catalogue's
description of each model (route, field names, options) and knows the statuses and error
shapes. Everything it raises is an :class:`UpstreamError` that says what the caller
may do next:

- :class:`Transient`: try again later. From ``create`` it also promises the job was
  certainly not created, so resending cannot pay twice: only a refusal to connect, a 408 or
  429, or a 500 or 503 carrying the service's own error body says that.
  :class:`HourlyLimit` is the 429 of a key's free tier (its sentence names the limit and,
  when the answer says, when it resets); :class:`GenerationTimeout` is a poll answered with
  the service's own 504 ("Generation timeout"), which the caller counts.
- :class:`Ambiguous`: ``create`` only. The request may have reached the service (timeout
  after sending, connection lost mid-answer, a success answer we cannot read, a gateway's
  502 or 504 or any other error without the service's own error body: a gateway in front of
  the service answers those, possibly after the service took and charged the job). Resending
  blindly could pay for two videos, so the caller must not.
- :class:`Refused`: permanent (bad request, bad key, no credits, unknown job); don't retry.
- :class:`LinkExpired`: the signed video link no longer works; poll again for a fresh one.

Each error carries ``user_message`` (a plain sentence for the person who asked for the
video) and ``detail`` (technical, for logs and the admin). Neither ever contains the key.
"""

import email.utils
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils import timezone

from playground.upstream import catalogue
from playground.upstream.catalogue import ModelSpec, Wire

MODELS: tuple[str, ...] = catalogue.IDS

# Demo mode mounts the stand-in in-process; the .invalid name can never resolve to a real host.
DEMO_BASE_URL = "http://demo-upstream.invalid"
DEMO_API_KEY = "demo"
# Longest wait we accept from a Retry-After header; anything longer is the caller's deadline problem.
MAX_RETRY_AFTER = 300.0
_USER_AGENT = "video-playground/0.1"


UNREACHABLE = "The video service could not be reached."
BUSY = "The video service is busy right now."
FREE_LIMIT = "The AI/ML API key this site uses has reached its free-tier limit for the hour."
# The docs' own sentence for a 504 "Generation timeout" (errors-with-status-code-5xx.md).
GENERATION_TIMED_OUT = "The generation did not finish within the allowed time limit."
SERVER_TROUBLE = "The video service had a temporary problem."
UNREADABLE = "The video service sent an answer we could not read."
UNCONFIRMED = "The request was sent, but the video service did not confirm whether it accepted it."
KEY_REFUSED = "The API key was refused by the AI/ML API."
NO_CREDITS = "The AI/ML API account has no credits left."
JOB_GONE = "The video service no longer knows this job."
NO_SUCH_ENDPOINT = "The video service did not recognise the address for this model."
UNEXPECTED = "The video service answered in a way we did not expect."
UNEXPECTED_LOCAL = (
    "The connection to the video service is not set up correctly (check the address and API key)."
)
NO_REASON = "the service gave no reason."
LINK_EXPIRED = "The link to the finished video has expired."
DOWNLOAD_CUT = "The download of the finished video was interrupted."
BAD_LINK = "The link to the finished video is not a web address we can download."
NOT_HANDED_OVER = "The video service would not hand over the finished video."
_CREDIT_WORDS = re.compile(r"credit|balance|fund|quota|pay|billing|top.?up|insufficient|limit", re.IGNORECASE)
# Framework defaults for a 403 say nothing beyond "no"; for this service that means no credits.
_BARE_403 = {"forbidden", "forbidden resource", "access denied", "forbidden."}
# The free tier's 429: "Free-tier limit: You've reached your free limit for the hour. …" (general-info.md).
_FREE_LIMIT_WORDS = re.compile(r"free.?tier|free limit", re.IGNORECASE)


USAGE_LOG_PATH = "/v2/logs"
USAGE_LOG_PAGE = 100  # the most rows the log hands out per request
# The service's alphabet for X-Client-Request-Id; anything else is dropped without an error.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class Trace:
    """The request-tracing and cost headers of one answer, as received (None when absent or unreadable)."""

    inference_id: str | None
    client_request_id: str | None
    usd: Decimal | None
    credits: int | None


@dataclass(frozen=True)
class Accepted:
    upstream_id: str
    raw_status: str
    usage: dict[str, Any] | None
    raw: dict[str, Any]
    route: str = ""  # the catalogue's name of the route it was sent on; poll the same one
    trace: Trace | None = None


@dataclass(frozen=True)
class LogRow:
    """One row of the usage log (GET /v2/logs)."""

    created: str
    status: str
    model: str
    usd: Decimal | None
    credits: int | None
    inference_id: str | None
    client_request_id: str | None


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    has_more: bool
    total: int | None


@dataclass(frozen=True)
class Progress:
    state: Literal["running", "completed", "error"]
    raw_status: str
    video_url: str | None
    duration: float | None
    usage: dict[str, Any] | None
    error_message: str | None
    raw: dict[str, Any]
    trace: Trace | None = None


class UpstreamError(Exception):
    def __init__(self, user_message: str, detail: str = "", *, status_code: int | None = None) -> None:
        super().__init__(user_message, detail)
        self.user_message = user_message
        self.detail = detail or user_message
        self.status_code = status_code

    def __str__(self) -> str:
        # Logs print str(exc); the technical detail is what helps there.
        return self.detail

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(user_message={self.user_message!r}, "
            f"detail={self.detail!r}, status_code={self.status_code!r})"
        )


class Transient(UpstreamError):
    def __init__(
        self,
        user_message: str,
        detail: str = "",
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(user_message, detail, status_code=status_code)
        self.retry_after = retry_after


class HourlyLimit(Transient):
    """A 429 saying the key's free tier is used up for the hour; `resets_at` when the answer says."""

    def __init__(
        self,
        user_message: str,
        detail: str = "",
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        resets_at: datetime | None = None,
    ) -> None:
        super().__init__(user_message, detail, status_code=status_code, retry_after=retry_after)
        self.resets_at = resets_at


class GenerationTimeout(Transient):
    """A poll answered with the service's own 504: the job ran out of the service's time limit.

    Transient because one such answer might be a hiccup; the caller fails the job after a few.
    """


class Refused(UpstreamError):
    pass


class Ambiguous(UpstreamError):
    pass


class LinkExpired(UpstreamError):
    pass


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        routes: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        # Model id -> route name, for models the catalogue documents on more than one route.
        self.routes = dict(routes or {})
        # Authorization goes on API calls only: this client also fetches videos from the CDN.
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
            headers={"User-Agent": _USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- Create ----------------------------------------------------------------------------
    def create(
        self,
        *,
        model: str,
        prompt: str,
        enhance: bool,
        first_frame: str | None,
        client_request_id: str,
        last_frame: str | None = None,
        resolution: str | None = None,
        duration: int | None = None,
        ratio: str | None = None,
        references: Mapping[str, Sequence[str]] | None = None,
    ) -> Accepted:
        """Submit one generation; each frame is a data URI (or a link), or None.

        ``resolution`` and ``duration`` (seconds) go only to models that take them; a request
        the catalogue says the model cannot take is refused without calling the service.
        ``client_request_id`` goes out as X-Client-Request-Id, so a create whose answer is lost can
        be found again in the usage log. An id the service would silently drop is refused here.
        """
        if not _CLIENT_REQUEST_ID.fullmatch(client_request_id):
            raise ValueError(f"not a valid X-Client-Request-Id: {client_request_id!r}")
        described = self._model(model)
        route = self.route_name(model)
        wire = described.wire_for(route)
        ask = catalogue.Ask(
            model,
            first_frame=first_frame is not None,
            last_frame=last_frame is not None,
            resolution=resolution,
            duration=duration,
            ratio=ratio,
            prompt_chars=len(prompt),
            references={kind: len(items) for kind, items in (references or {}).items()},
        )
        if found := catalogue.problems(ask):
            raise Refused(" ".join(found), f"create not sent: {'; '.join(found)}")
        payload = create_body(
            model=model,
            prompt=prompt,
            enhance=enhance,
            first_frame=first_frame,
            last_frame=last_frame,
            resolution=resolution,
            duration=duration,
            ratio=ratio,
            references=references,
            route=route,
        )
        response, body = self._call(
            "POST",
            wire.path,
            creates=True,
            not_found=_not_found_on(described, wire),
            json=payload,
            headers={"X-Client-Request-Id": client_request_id},
        )
        upstream_id = _first_id(body, wire.id_fields) if body is not None else None
        if body is None or upstream_id is None:
            status = response.status_code
            detail = f"POST {wire.path} -> HTTP {status} without a generation id: {_snippet(response)}"
            raise self._ambiguous(UNCONFIRMED, detail, status)
        raw_status = body.get("status")
        return Accepted(
            upstream_id=upstream_id,
            raw_status=raw_status if isinstance(raw_status, str) else "",
            usage=_usage(body),
            raw=body,
            route=wire.name,
            trace=_trace(response),
        )

    # --- Poll ------------------------------------------------------------------------------
    def poll(self, *, model: str, upstream_id: str, route: str | None = None) -> Progress:
        """Ask how a job stands, on the route it was created on (None: this client's route)."""
        wire = self._model(model).wire_for(route or self.route_name(model))
        # As a query parameter the id is always encoded, whatever characters it holds.
        response, body = self._call(
            "GET", wire.path, params={"generation_id": upstream_id}, not_found=JOB_GONE, polls=True
        )
        raw_status = body.get("status") if body is not None else None
        if body is None or not isinstance(raw_status, str) or not raw_status.strip():
            raise self._unreadable(wire.path, response, "a status")

        usage = _usage(body)
        trace = _trace(response)
        state = raw_status.strip().lower()
        if state == "error":
            message = _text_of(body.get("error")) or NO_REASON
            return Progress("error", raw_status, None, None, usage, self._scrub(message), body, trace)
        if state == "completed":
            video_url = _video_url(body)
            if video_url:
                return Progress("completed", raw_status, video_url, _duration(body), usage, None, body, trace)
        # queued, generating, waiting, active, anything new, or completed without a link yet.
        return Progress("running", raw_status, None, None, usage, None, body, trace)

    # --- Usage log -------------------------------------------------------------------------
    def usage_log(
        self, *, start: datetime, end: datetime, model: str, offset: int = 0, limit: int = USAGE_LOG_PAGE
    ) -> LogPage:
        """One page of the usage log for `model` between `start` and `end`.

        The log has no filter by client request id: callers page through and compare. Every call
        counts against the log's rate limit (200 per 60 s per key), which callers must pace.
        Raises Transient (429, 5xx, no connection) or Refused (400 bad window, 401 bad key).
        """
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("start", _iso_utc(start)),
            ("end", _iso_utc(end)),
            ("model", catalogue.usage_log_name(model)),
            ("limit", str(limit)),
            ("offset", str(offset)),
        ]
        response, body = self._call("GET", USAGE_LOG_PATH, params=params, not_found=NO_SUCH_ENDPOINT)
        data = body.get("data") if body is not None else None
        if body is None or not isinstance(data, list):
            raise self._unreadable(USAGE_LOG_PATH, response, "data")
        paging = body.get("pagination")
        paging = paging if isinstance(paging, dict) else {}
        rows = [row for row in (_log_row(item) for item in data) if row is not None]
        total = paging.get("total")
        return LogPage(
            rows=rows,
            has_more=paging.get("has_more") is True,
            total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    # --- Download --------------------------------------------------------------------------
    def download(
        self,
        url: str,
        dest: IO[bytes],
        *,
        max_bytes: int,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Stream the finished video into ``dest`` and return the number of bytes written.

        ``on_chunk`` is called with the size of each chunk after it is written. After an
        error ``dest`` may hold part of the file; start again with an empty one.
        """
        # The link's query string is a signature: keep it out of logs.
        parts = urlsplit(url)
        where = f"GET {parts.scheme}://{parts.netloc}{parts.path}"
        written = 0
        declared: int | None = None
        encoded = False
        try:
            with self._http.stream("GET", url, follow_redirects=True) as response:
                status = response.status_code
                if status in {401, 403, 404, 410}:
                    response.read()
                    raise LinkExpired(LINK_EXPIRED, _status_detail(where, response), status_code=status)
                if status in {408, 429} or status >= 500:
                    response.read()
                    raise self._retry_later(where, response)
                if not 200 <= status < 300:
                    response.read()
                    raise self._refused(NOT_HANDED_OVER, _status_detail(where, response), status)
                declared = _content_length(response)
                if declared is not None and declared > max_bytes:
                    raise self._too_large(where, max_bytes, f"Content-Length {declared}")
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > max_bytes:
                        raise self._too_large(where, max_bytes, f"more than {max_bytes} bytes sent")
                    dest.write(chunk)
                    if on_chunk is not None:
                        on_chunk(len(chunk))
                encoded = response.headers.get("Content-Encoding", "identity").lower() not in {"", "identity"}
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._refused(BAD_LINK, f"{where}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise self._transient(DOWNLOAD_CUT, _network_detail(where, exc)) from exc
        # h11 already rejects a short body on a real socket; this also covers other transports.
        if declared is not None and not encoded and written < declared:
            raise self._transient(DOWNLOAD_CUT, f"{where}: got {written} of {declared} bytes")
        return written

    # --- Helpers ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        not_found: str,
        creates: bool = False,
        polls: bool = False,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | list[tuple[str, str | int | float | bool | None]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        """One API request: a success answer and its JSON object (None when it is not one).

        Every other outcome raises. A GET (a poll, the usage log) changes nothing, so whatever
        keeps an answer from us is Transient. A create (`creates`) is Transient only when it
        certainly never arrived or the service itself says it failed; once it may have arrived,
        a lost or odd answer is Ambiguous. On a poll (`polls`) the service's own 504 is a
        GenerationTimeout. `not_found` is the sentence for a 404.
        """
        where = f"{method} {path}"
        try:
            response = self._http.request(
                method, path, json=json, params=params, headers={**self._api_headers(), **(headers or {})}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError) as exc:
            # Nothing left this machine that the service could act on.
            raise self._transient(UNREACHABLE, _network_detail(where, exc)) from exc
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            # Our own request was unsendable (bad URL scheme, a key with characters no header allows).
            raise self._refused(UNEXPECTED_LOCAL, _network_detail(where, exc)) from exc
        except httpx.HTTPError as exc:
            if not creates:
                raise self._transient(UNREACHABLE, _network_detail(where, exc)) from exc
            # Timeouts after connecting, drops and protocol errors: the request may have been read.
            raise self._ambiguous(UNCONFIRMED, _network_detail(where, exc)) from exc

        status = response.status_code
        if 200 <= status < 300:
            return response, _json_object(response)
        if polls and status == 504 and _services_own_error(response):
            raise self._generation_timeout(where, response)
        if status in {408, 429} or (not creates and not 400 <= status < 500):
            raise self._retry_later(where, response)
        if 400 <= status < 500:
            raise self._refusal(where, response, not_found=not_found)
        if status in {500, 503} and _services_own_error(response):
            # The service's own words that it failed the request: it took nothing.
            raise self._retry_later(where, response)
        if status >= 500:
            # A 502 or 504 (the docs' "Generation timeout"), any other 5xx, or a 500/503 without the
            # service's error body comes from a gateway in front of a service that may already
            # have taken (and charged) the job. Only its usage log can say.
            raise self._ambiguous(UNCONFIRMED, _status_detail(where, response), status)
        raise self._refused(UNEXPECTED, _status_detail(where, response), status)

    def _unreadable(self, path: str, response: httpx.Response, lacking: str) -> Transient:
        detail = f"GET {path} -> HTTP {response.status_code} without {lacking}: {_snippet(response)}"
        return self._transient(UNREADABLE, detail)

    def _model(self, model: str) -> ModelSpec:
        described = catalogue.get(model)
        if described is None:
            raise Refused(f"The model {model!r} is not available here.", f"unknown model {model!r}")
        return described

    def route_name(self, model: str) -> str:
        """The route this client sends `model` on: its configured one, or the catalogue's default."""
        described = self._model(model)
        chosen = self.routes.get(model, described.default_route)
        return chosen if chosen in described.routes else described.default_route

    def _api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}

    def _scrub(self, text: str) -> str:
        # Belt and braces: an upstream echoing the request must not put the key in our logs.
        if len(self._api_key) >= 4:
            return text.replace(self._api_key, "[key]")
        return text

    def _transient(
        self, user: str, detail: str, status: int | None = None, retry_after: float | None = None
    ) -> Transient:
        return Transient(self._scrub(user), self._scrub(detail), status_code=status, retry_after=retry_after)

    def _ambiguous(self, user: str, detail: str, status: int | None = None) -> Ambiguous:
        return Ambiguous(self._scrub(user), self._scrub(detail), status_code=status)

    def _refused(self, user: str, detail: str, status: int | None = None) -> Refused:
        return Refused(self._scrub(user), self._scrub(detail), status_code=status)

    def _retry_later(self, where: str, response: httpx.Response) -> Transient:
        status = response.status_code
        detail = _status_detail(where, response)
        if status == 429 and _FREE_LIMIT_WORDS.search(_text_of(_json_object(response)) or response.text):
            resets_at = _reset_at(response)
            user = FREE_LIMIT
            if resets_at is not None:
                local = timezone.localtime(resets_at)
                user += f" It resets at {local:%H:%M} {local.tzname()}."
            return HourlyLimit(
                self._scrub(user),
                self._scrub(detail),
                status_code=status,
                retry_after=_retry_after(response),
                resets_at=resets_at,
            )
        user = BUSY if status == 429 else SERVER_TROUBLE if status >= 500 else UNREACHABLE
        return self._transient(user, detail, status, _retry_after(response))

    def _generation_timeout(self, where: str, response: httpx.Response) -> GenerationTimeout:
        return GenerationTimeout(
            GENERATION_TIMED_OUT, self._scrub(_status_detail(where, response)), status_code=504
        )

    def _refusal(self, where: str, response: httpx.Response, *, not_found: str) -> Refused:
        status = response.status_code
        body = _json_object(response)
        message = _text_of(body) if body is not None else None
        if status == 401:
            user = KEY_REFUSED
        elif status == 402 or (status == 403 and _means_no_credits(message)):
            user = NO_CREDITS
        elif status == 403:
            user = f"The AI/ML API refused this request: {_sentence(message or '')}"
        elif status == 404:
            user = not_found
        elif message:
            user = f"The video service refused this request: {_sentence(message)}"
        else:
            user = "The video service refused this request."
        return self._refused(user, _status_detail(where, response), status)

    def _too_large(self, where: str, max_bytes: int, what: str) -> Refused:
        limit = f"{max_bytes / 1024 / 1024:.0f} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes} bytes"
        return self._refused(
            f"The finished video is larger than the {limit} this site keeps.", f"{where}: {what}"
        )


def create_body(
    *,
    model: str,
    prompt: str,
    enhance: bool,
    first_frame: str | None,
    last_frame: str | None = None,
    resolution: str | None = None,
    duration: int | None = None,
    ratio: str | None = None,
    references: Mapping[str, Sequence[str]] | None = None,
    route: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a create request for `model`, in the field names of its route.

    Options the model does not take are left out (the client refuses them before this).
    ``references`` maps a kind ("images", "videos", "audios") to its data URIs or links.
    """
    described = catalogue.BY_ID[model]
    wire = described.wire_for(route)
    body: dict[str, Any] = {"model": model, wire.prompt: prompt}
    if wire.enhance:
        body[wire.enhance] = enhance
    if first_frame is not None:
        body[wire.first_frame] = first_frame
    if last_frame is not None and wire.last_frame:
        body[wire.last_frame] = last_frame
    if resolution is not None and wire.resolution and described.takes_resolution:
        body[wire.resolution] = resolution
    if duration is not None and wire.duration and described.takes_duration:
        body[wire.duration] = duration
    if ratio is not None and wire.ratio and described.takes_ratio:
        body[wire.ratio] = ratio
    for kind, items in (references or {}).items():
        taken = described.reference(kind)
        if taken is not None and items:
            body[taken.field] = list(items)
    return body


def endpoint(model: str, route: str | None = None) -> str:
    """The path that both creates and polls generations of `model` on `route`."""
    return catalogue.BY_ID[model].wire_for(route).path


def id_field(model: str, route: str | None = None) -> str:
    """Where a create answer for `model` on `route` puts the generation id."""
    return catalogue.BY_ID[model].wire_for(route).id_fields[0]


def configured_routes() -> dict[str, str]:
    """Model id -> route name from the settings the catalogue names (e.g. LIVE2D_ROUTE)."""
    return {
        model.id: str(getattr(settings, model.route_setting))
        for model in catalogue.MODELS
        if model.route_setting and hasattr(settings, model.route_setting)
    }


def _not_found_on(model: ModelSpec, wire: Wire) -> str:
    """A 404 on create: the address is wrong for this model; say which setting picks another."""
    others = [other for name, other in model.routes.items() if name != wire.name]
    if not model.route_setting or not others:
        return NO_SUCH_ENDPOINT
    other = others[0]
    return (
        f"The video service answered “not found” for {model.id} on its {wire.name} address "
        f"({wire.path}), so it no longer takes {model.id} there. Set {model.route_setting}={other.name} "
        f"to send it to the {other.name} address ({other.path}) instead."
    )


def client_from_settings() -> Client:
    """The client the app uses: the real service, or the in-process stand-in in demo mode."""
    if settings.DEMO_MODE:
        # Imported here so a production process never loads the demo renderer.
        from playground.upstream.demo.upstream import shared_standin

        app = shared_standin(Path(settings.DEMO_UPSTREAM_DIR))
        return Client(
            DEMO_BASE_URL,
            DEMO_API_KEY,
            transport=httpx.WSGITransport(app=app),
            timeout=settings.AIMLAPI_TIMEOUT,
            routes=configured_routes(),
        )
    return Client(
        settings.AIMLAPI_BASE_URL,
        settings.AIMLAPI_KEY,
        timeout=settings.AIMLAPI_TIMEOUT,
        routes=configured_routes(),
    )


def valid_client_request_id(value: str) -> bool:
    return bool(_CLIENT_REQUEST_ID.fullmatch(value))


# --- Parsing -------------------------------------------------------------------------------
def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        # Through str, so 0.43 from JSON stays 0.43 rather than its binary neighbour.
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _trace(response: httpx.Response) -> Trace | None:
    headers = response.headers
    inference_id = headers.get("x-inference-id", "").strip() or None
    echoed = headers.get("x-client-request-id", "").strip() or None
    usd = _decimal(headers.get("x-aimlapi-usd-spent"))
    credits = _whole(headers.get("x-aimlapi-credits-used"))
    if inference_id is None and echoed is None and usd is None and credits is None:
        return None
    return Trace(inference_id=inference_id, client_request_id=echoed, usd=usd, credits=credits)


def _log_row(item: object) -> LogRow | None:
    if not isinstance(item, dict):
        return None
    cost = item.get("cost")
    cost = cost if isinstance(cost, dict) else {}

    def text(name: str) -> str | None:
        value = item.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    return LogRow(
        created=text("created") or "",
        status=(text("status") or "").lower(),
        model=text("model") or "",
        usd=_decimal(cost.get("usd")),
        credits=_whole(cost.get("credits")),
        inference_id=text("inference_id"),
        client_request_id=text("client_request_id"),
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:  # also covers UnicodeDecodeError
        return None
    return body if isinstance(body, dict) else None


def _first_id(body: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    for name in fields:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _usage(body: dict[str, Any]) -> dict[str, Any] | None:
    meta = body.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    if not isinstance(usage, dict):
        return None
    kept = dict(usage)
    for name in ("credits_used", "tokens_used"):
        number = _number(kept.get(name))
        if number is not None:
            kept[name] = number
    return kept


def _video_url(body: dict[str, Any]) -> str | None:
    video = body.get("video")
    url = video.get("url") if isinstance(video, dict) else None
    if isinstance(url, str) and url.strip():
        return url.strip()
    return None


def _duration(body: dict[str, Any]) -> float | None:
    video = body.get("video")
    from_video = _number(video.get("duration")) if isinstance(video, dict) else None
    return from_video if from_video is not None else _number(body.get("duration"))


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text_of(value: object) -> str | None:
    """The human-readable part of an upstream message: a string, a list of them, or an error object."""
    if isinstance(value, str):
        text = " ".join(value.split())
        return text[:500] or None
    if isinstance(value, list):
        parts = [part for part in (_text_of(item) for item in value) if part]
        return "; ".join(parts)[:500] or None
    if isinstance(value, dict):
        for name in ("message", "error", "detail", "name"):
            found = _text_of(value.get(name))
            if found:
                return found
    return None


def _sentence(message: str) -> str:
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else f"{message}."


def _means_no_credits(message: str | None) -> bool:
    if not message or message.strip().lower() in _BARE_403:
        return True
    return bool(_CREDIT_WORDS.search(message))


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds from now (a number or an HTTP date), uncapped; None when absent."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _retry_after(response: httpx.Response) -> float | None:
    seconds = _retry_after_seconds(response)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def _reset_at(response: httpx.Response) -> datetime | None:
    """When a limit resets, from Retry-After (the one place the service's answers could say it)."""
    seconds = _retry_after_seconds(response)
    # An hourly limit resets within the hour; anything further off is not a reset time.
    if seconds is None or seconds > 3600:
        return None
    return datetime.now(UTC) + timedelta(seconds=math.ceil(seconds))


def _services_own_error(response: httpx.Response) -> bool:
    """Whether an error answer is the service's own (its documented body: a message and the
    statusCode, as a number or a string), rather than a gateway's page in front of it."""
    body = _json_object(response)
    if body is None or _text_of(body.get("message")) is None:
        return False
    return str(body.get("statusCode", "")).strip() == str(response.status_code)


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return "(body not readable)"
    text = " ".join(text.split())
    return (text[:300] + "…") if len(text) > 300 else (text or "(empty body)")


def _status_detail(where: str, response: httpx.Response) -> str:
    return f"{where} -> HTTP {response.status_code}: {_snippet(response)}"


def _network_detail(where: str, exc: Exception) -> str:
    return f"{where}: {type(exc).__name__}: {exc or 'no details'}"
