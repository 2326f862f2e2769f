"""A stand-in of the AI/ML API video endpoints for every model in ``catalogue.py``.

(Over 500 lines because it plays one whole service: the create and poll routes of every model,
jobs kept on disk across processes, signed video links, the usage log with its window, paging
and rate limit, and the per-key counters. Each answer depends on the others' state, and one
class keeps that state in one place, as the real service would.)

It is a plain WSGI app that speaks the same wire contract as the real service (paths, field
names, JSON shapes, error bodies, signed and expiring video links), so the app reaches it the
same way it reaches the real thing: over HTTP on a base URL, or mounted in-process through an
httpx transport in demo mode. Nothing in it imports Django.

Jobs live on disk under ``state_dir`` and every write is atomic (temporary file, then
``os.replace``), so several processes mounting their own StandIn on one directory, or a
restarted one, all see the same jobs, signing key and videos.

The universal route (``/v2/video/generations``) takes every model, named in the body; the
legacy vendor route takes the models the catalogue documents there (``legacy_routes=False``
makes it answer 404, as a retired route would). Videos come out at each request's length and
resolution (its aspect; pixel sizes scaled down by ``video_long_side``, the long side of a
720P video), ending on the last frame when one was given.

Prompt markers drive demos and tests: ``[demo:error]`` ends the job with status "error",
``[demo:never]`` keeps it "generating" for ever. Tests bend single answers (errors, delays,
dropped connections) with a subclass in ``tests/faults.py`` that overrides :meth:`StandIn.answer`.

Like the real service it answers with the request-tracing and cost headers (``x-inference-id``,
``x-client-request-id``, ``x-aimlapi-usd-spent``, ``x-aimlapi-credits-used``) and keeps a usage
log (``GET /v2/logs``) whose rows appear ``log_lag`` seconds after the request, as the real
analytics pipeline's do, with its window, filters, paging, 400s and rate limit.
"""

import base64
import binascii
import hashlib
import hmac
import io
import json
import math
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit
from wsgiref.types import StartResponse, WSGIEnvironment

from PIL import Image

from playground.upstream import catalogue
from playground.upstream.catalogue import ModelSpec, Wire
from playground.upstream.demo.render import render_video, tone_for
from playground.upstream.demo.server import DropConnection

VIDEO01_PATH = catalogue.UNIVERSAL_PATH
LIVE2D_PATH = catalogue.LEGACY_MINIMAX_PATH
FILES_PREFIX = "/_files/"
# Path -> model id -> how that model is spoken on that path.
WIRES_BY_PATH: dict[str, dict[str, Wire]] = {}
for _model in catalogue.MODELS:
    for _wire in _model.routes.values():
        WIRES_BY_PATH.setdefault(_wire.path, {})[_model.id] = _wire
# The one model a path serves when the body names none we know (the legacy route's).
MODEL_BY_PATH = {path: next(iter(wires)) for path, wires in WIRES_BY_PATH.items() if len(wires) == 1}

# A reference video or voice sample sent as a data URI (links are accepted, never fetched).
_MEDIA_PREFIXES = {"videos": "video/", "audios": "audio/"}
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# A 20 MB image grows by a third in base64; a request holds at most two frames and the site's
# 30 MB of references (H3), so anything much bigger cannot be a request the app makes.
MAX_BODY_BYTES = 96 * 1024 * 1024
# Each create costs one credit, and the create answer says so.
CREDITS_PER_VIDEO = 1
LOGS_PATH = "/v2/logs"
# What one video costs here, in dollars, and the service's credits per dollar (0.25 USD = 500,000).
PRICES_USD = {model.id: model.price_usd for model in catalogue.MODELS}
CREDITS_PER_USD = 2_000_000
LOGS_RATE_LIMIT = 200  # requests per LOGS_RATE_WINDOW seconds, per key
LOGS_RATE_WINDOW = 60.0
LOGS_MAX_DAYS = 92
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_PERIOD = re.compile(r"([1-9][0-9]*)([hd])")
# An id this service could have issued: "<uuid>:video-01" or a long run of digits.
_ISSUED_ID = re.compile(r"[0-9a-f-]{36}:[\w.-]+|[0-9]{12,24}")

Endpoint = Literal["create", "poll", "video", "logs"]
_TOKEN = re.compile(r"[0-9a-f]{32}")
_STRIPES = 16


@dataclass(frozen=True)
class Call:
    """What the stand-in saw of one request (long strings, such as images, are shortened)."""

    endpoint: str
    method: str
    path: str
    model: str | None
    prompt: str | None
    when: float  # when the answer was ready
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    authorized: bool = False
    status: int | None = None
    started: float = 0.0  # when the request arrived


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    chunks: Iterable[bytes]
    inference_id: str | None = None

    def with_trace(self, environ: WSGIEnvironment, charged_model: str | None) -> "Response":
        """Add the tracing and cost headers; `charged_model` is set on a create that succeeded."""
        if self.inference_id:
            self.headers.append(("x-inference-id", self.inference_id))
        sent_id = str(environ.get("HTTP_X_CLIENT_REQUEST_ID", ""))
        if _CLIENT_REQUEST_ID.fullmatch(sent_id):
            self.headers.append(("x-client-request-id", sent_id))
        usd = PRICES_USD[charged_model] if charged_model and self.status < 400 else Decimal(0)
        self.headers.append(("x-aimlapi-usd-spent", f"{usd:.9f}"))
        self.headers.append(("x-aimlapi-credits-used", str(int(usd * CREDITS_PER_USD))))
        return self


@dataclass
class _Seen:
    """Facts about a request gathered while handling it, for the Call record."""

    model: str | None = None
    prompt: str | None = None
    body: Any = None


class StandIn:
    def __init__(
        self,
        state_dir: Path,
        *,
        queue_seconds: float = 2.0,
        generate_seconds: float = 6.0,
        link_ttl: float = 600.0,
        video_seconds: float | None = None,
        video_long_side: int = 640,
        video_fps: int = 24,
        accepted_keys: set[str] | None = None,
        credits: int | None = None,
        legacy_routes: bool = True,
        log_lag: float = 3.0,
        logs_rate_limit: int = LOGS_RATE_LIMIT,
        logs_rate_window: float = LOGS_RATE_WINDOW,
        models: Mapping[str, ModelSpec] = catalogue.BY_ID,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.queue_seconds = queue_seconds
        self.generate_seconds = generate_seconds
        self.link_ttl = link_ttl
        self.video_seconds = video_seconds
        self.video_long_side = video_long_side
        self.video_fps = video_fps
        self.legacy_routes = legacy_routes
        self._accepted_keys = accepted_keys
        self._credits = credits
        self.log_lag = log_lag
        self.logs_rate_limit = logs_rate_limit
        self.logs_rate_window = logs_rate_window
        # The descriptions the renderer reads (a model's ``sound``): tests may hand in their own.
        self.models = models
        self._log_path = self.state_dir / "usage-log.jsonl"
        self._logs_seen: deque[float] = deque()
        self._jobs_dir = self.state_dir / "jobs"
        self._videos_dir = self.state_dir / "videos"
        self._frames_dir = self.state_dir / "frames"
        for folder in (self._jobs_dir, self._videos_dir, self._frames_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._signing_key = self._load_signing_key()
        self._lock = threading.Lock()
        # Striped locks keep two threads from rendering one video at once without a lock per job.
        self._render_locks = [threading.Lock() for _ in range(_STRIPES)]
        # Bounded so a long-running demo process does not grow without end.
        self._calls: deque[Call] = deque(maxlen=5000)
        self.counters = KeyCounters()

    # --- What tests and benchmarks read ---------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def credits_left(self) -> int | None:
        with self._lock:
            return self._credits

    def job(self, upstream_id: str) -> dict[str, Any] | None:
        return self._read_job(_token_for(upstream_id))

    def jobs(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self._jobs_dir.glob("*.json")):
            job = self._read_job(path.stem)
            if job is not None:
                found.append(job)
        return found

    def usage_log(self, *, visible_only: bool = False) -> list[dict[str, Any]]:
        """Every row of the usage log, oldest first (or only those the log shows already)."""
        try:
            lines = self._log_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        rows = [json.loads(line) for line in lines if line.strip()]
        if visible_only:
            now = time.time()
            rows = [row for row in rows if row["visible_at"] <= now]
        return rows

    # --- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.time()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "")) or "/"
        query = {key: values[0] for key, values in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        # Reading the whole request first means a dropped connection is seen by the client as a
        # drop, not as a reset caused by unread bytes.
        body = _read_body(environ)
        endpoint = _endpoint_of(method, path)
        seen = _Seen()

        def handle() -> Response:
            if body is None:
                return json_error(413, "Request body is too large.", path)
            return self._route(method, path, query, body, environ, seen)

        try:
            response = self.answer(endpoint, environ, body, handle)
        except DropConnection:
            self._record(endpoint, method, path, query, environ, seen, None, started)
            raise
        self._record(endpoint, method, path, query, environ, seen, response.status, started)
        start_response(status_line(response.status), response.headers)
        return [] if method == "HEAD" else response.chunks

    def answer(
        self,
        endpoint: Endpoint | None,
        environ: WSGIEnvironment,
        body: bytes | None,
        handle: Callable[[], Response],
    ) -> Response:
        """The answer to one request: `handle()` runs it. Raising DropConnection closes the
        connection without one. This is the seam tests/faults.py bends."""
        return handle()

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        environ: WSGIEnvironment,
        seen: _Seen,
    ) -> Response:
        retired = not self.legacy_routes and path != catalogue.UNIVERSAL_PATH
        if path in WIRES_BY_PATH and method in {"GET", "POST"} and not retired:
            if not self._authorized(environ):
                return json_error(401, "Unauthorized", path)
            if method == "POST":
                answer = self._create(path, body, seen)
                model = model_named(path, body)
                # Failed requests are in the log too, at no cost.
                if answer.status >= 400:
                    self.log_request(environ, model, "failed", None)
                else:
                    self.log_request(environ, model, "succeeded", answer.inference_id)
                return answer.with_trace(environ, model if model in PRICES_USD else None)
            answer = self._poll(path, query, environ, seen)
            inference_id = answer.inference_id
            if answer.status < 400:
                self.log_request(environ, seen.model or "", "succeeded", inference_id, free=True)
            return answer.with_trace(environ, None)
        if path.startswith(FILES_PREFIX) and method in {"GET", "HEAD"}:
            return self._file(path, query, seen)
        if path == LOGS_PATH and method == "GET":
            if not self._authorized(environ):
                return json_error(401, "Unauthorized", path)
            return self._logs(environ, path)
        return json_error(404, f"Cannot {method} {path}", path)

    def _authorized(self, environ: WSGIEnvironment) -> bool:
        scheme, _, key = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        if self._accepted_keys is None:
            return True
        # compare_digest only takes ASCII str; a header may carry anything, so compare bytes.
        return any(hmac.compare_digest(key.encode(), accepted.encode()) for accepted in self._accepted_keys)

    # --- Create ----------------------------------------------------------------------------
    def _create(self, path: str, raw: bytes, seen: _Seen) -> Response:
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return json_error(400, "The request body is not valid JSON.", path)
        if not isinstance(payload, dict):
            return json_error(400, "The request body must be a JSON object.", path)
        seen.body = _shorten(payload)
        seen.model = payload.get("model") if isinstance(payload.get("model"), str) else None
        seen.prompt = payload.get("prompt") if isinstance(payload.get("prompt"), str) else None

        wires = WIRES_BY_PATH[path]
        named = payload.get("model")
        if not isinstance(named, str) or named not in wires:
            return json_error(400, [f"model must be one of the following values: {', '.join(wires)}"], path)
        model = named
        described = catalogue.BY_ID[model]
        wire = wires[model]
        image_field, switch_field = wire.first_frame, wire.enhance
        allowed = described.body_fields(wire)
        problems = [f"property {name} should not exist" for name in payload if name not in allowed]
        prompt = payload.get("prompt")
        if not isinstance(prompt, str):
            problems.append("prompt must be a string")
        elif not prompt.strip():
            problems.append("prompt should not be empty")
        elif len(prompt) > described.prompt_max:
            problems.append(f"prompt must be shorter than or equal to {described.prompt_max} characters")
        switch = payload.get(switch_field, True) if switch_field else False
        if not isinstance(switch, bool):
            problems.append(f"{switch_field} must be a boolean value")
        frame: bytes | None = None
        image = payload.get(image_field)
        if image is None and described.first_frame == "required":
            problems.append(f"{image_field} should not be empty")
        elif image is not None:
            problem, frame = _check_image(image_field, image)
            if problem:
                problems.append(problem)
        last: bytes | None = None
        if wire.last_frame and payload.get(wire.last_frame) is not None:
            problem, last = _check_image(wire.last_frame, payload[wire.last_frame])
            if problem:
                problems.append(problem)
        resolution, duration = _options(described, wire, payload, problems)
        references = _references(described, payload, problems)
        ratio = _ratio(
            described,
            wire,
            payload,
            problems,
            # What "adaptive" follows: a frame or a picture or video reference.
            pictures=bool(
                image is not None
                or (wire.last_frame and payload.get(wire.last_frame) is not None)
                or references.get("images")
                or references.get("videos")
            ),
        )
        if problems:
            return json_error(400, problems, path)

        with self._lock:
            if self._credits is not None:
                if self._credits < CREDITS_PER_VIDEO:
                    # The real service sends statusCode as a string here; clients must cope.
                    return json_error(
                        403,
                        "You have run out of credits. Top up your balance to continue.",
                        path,
                        code_as_text=True,
                    )
                self._credits -= CREDITS_PER_VIDEO

        assert isinstance(prompt, str)
        # Opaque ids in the two shapes seen upstream: "<uuid>:<model>" on the universal route,
        # long digit runs on the legacy one.
        universal = path == catalogue.UNIVERSAL_PATH
        if universal:
            upstream_id = f"{uuid.uuid4()}:{model.rpartition('/')[2]}"
        else:
            upstream_id = str(10**17 + secrets.randbelow(9 * 10**17))
        token = _token_for(upstream_id)
        if frame is not None:
            _write_atomic(self._frames_dir / f"{token}.img", frame)
        if last is not None:
            _write_atomic(self._frames_dir / f"{token}.last.img", last)
        created = time.time()
        outcome = "error" if "[demo:error]" in prompt else "never" if "[demo:never]" in prompt else "video"
        done_at = created + self.queue_seconds + self.generate_seconds
        job: dict[str, Any] = {
            "id": upstream_id,
            "token": token,
            "model": model,
            "prompt": prompt,
            "switch": switch,
            "has_frame": frame is not None,
            "has_last_frame": last is not None,
            "resolution": resolution,
            "seconds": duration,
            "ratio": ratio,
            "references": references,
            "route": wire.name,
            "created_at": created,
            # Timings are fixed per job so every process agrees on its status, whatever its own settings.
            "queued_until": created + self.queue_seconds,
            "done_at": done_at,
            "outcome": outcome,
            "duration": None,
        }
        self._write_job(job)
        self.counters.created(created, math.inf if outcome == "never" else done_at)
        if universal:
            answer: dict[str, Any] = {
                "id": upstream_id,
                "status": "queued",
                "video": None,
                "error": None,
                "meta": {"usage": {"credits_used": CREDITS_PER_VIDEO}},
            }
            return _json(200, answer, inference_id=upstream_id)
        # The legacy vendor route answers 201, as a framework does for a POST by default.
        return _json(201, {"generation_id": upstream_id, "status": "queued"}, inference_id=upstream_id)

    # --- Poll ------------------------------------------------------------------------------
    def _poll(self, path: str, query: dict[str, str], environ: WSGIEnvironment, seen: _Seen) -> Response:
        seen.model = MODEL_BY_PATH.get(path)
        upstream_id = query.get("generation_id", "")
        if not upstream_id:
            return json_error(400, ["generation_id should not be empty"], path)
        job = self.job(upstream_id)
        if job is None:
            missing = json_error(404, f"Generation {upstream_id} was not found.", path)
            if _ISSUED_ID.fullmatch(upstream_id):
                missing.inference_id = upstream_id
            return missing
        seen.model, seen.prompt = job["model"], job["prompt"]
        status = _status_of(job, time.time())
        video: dict[str, Any] | None = None
        duration: float | None = None
        if status == "completed":
            duration = self._ensure_rendered(job)
            video = {"url": self._signed_url(environ, job["token"])}
        error = (
            {"name": "GenerationError", "message": "The model could not make a video from this prompt."}
            if status == "error"
            else None
        )
        if path == LIVE2D_PATH:
            answer: dict[str, Any] = {"id": job["id"], "status": status, "video": video}
            if error:
                answer["error"] = error
            return _json(200, answer, inference_id=job["id"])
        if video is not None:
            video["duration"] = duration
        answer = {
            "id": job["id"],
            "status": status,
            "video": video,
            "duration": duration,
            "error": error,
            "meta": {"usage": {"tokens_used": CREDITS_PER_VIDEO}} if status == "completed" else None,
        }
        return _json(200, answer, inference_id=job["id"])

    # --- Video files -----------------------------------------------------------------------
    def _file(self, path: str, query: dict[str, str], seen: _Seen) -> Response:
        name = path.removeprefix(FILES_PREFIX)
        token = name.removesuffix(".mp4")
        if not name.endswith(".mp4") or not _TOKEN.fullmatch(token):
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        expires_text, signature = query.get("Expires", ""), query.get("Signature", "")
        if not expires_text or not signature:
            return _xml_error(403, "AccessDenied", "Anonymous access is forbidden for this operation.")
        if not (expires_text.isascii() and expires_text.isdigit()) or not hmac.compare_digest(
            signature.encode(), self.signature(token, int(expires_text)).encode()
        ):
            return _xml_error(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match."
            )
        if time.time() >= int(expires_text):
            return _xml_error(403, "AccessDenied", "Request has expired.")
        job = self._read_job(token)
        if job is None or _status_of(job, time.time()) != "completed":
            return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
        seen.model, seen.prompt = job["model"], job["prompt"]
        self._ensure_rendered(job)
        video = self._videos_dir / f"{token}.mp4"
        size = video.stat().st_size
        headers = [("Content-Type", "video/mp4"), ("Content-Length", str(size)), ("Cache-Control", "private")]
        return Response(200, headers, _file_chunks(video))

    def _ensure_rendered(self, job: dict[str, Any]) -> float:
        video = self._videos_dir / f"{job['token']}.mp4"
        if job.get("duration") is not None and video.exists():
            return float(job["duration"])
        with self._render_locks[int(job["token"], 16) % _STRIPES]:
            # Another thread may have finished the render while this one waited for the lock.
            job = self._read_job(job["token"]) or job
            if job.get("duration") is not None and video.exists():
                return float(job["duration"])
            frames = self._frames_dir
            frame = (frames / f"{job['token']}.img").read_bytes() if job["has_frame"] else None
            last = (frames / f"{job['token']}.last.img").read_bytes() if job.get("has_last_frame") else None
            described = self.models[job["model"]]
            width, height = described.size(job.get("resolution"))
            base_width = catalogue.RESOLUTION_SIZES["720P"][0]
            # A fixed ratio shapes a video made without a picture (one with a picture keeps its shape).
            shape = _ratio_shape(job.get("ratio")) or (width, height)
            duration = render_video(
                video,
                prompt=job["prompt"],
                first_frame=frame,
                last_frame=last,
                seconds=self.video_seconds or job.get("seconds") or described.default_duration,
                fps=self.video_fps,
                long_side=max(16, round(self.video_long_side * width / base_width)),
                aspect=shape,
                tone_hz=tone_for(job["token"]) if described.sound else None,
            )
            self._write_job({**job, "duration": duration})
        return duration

    def _signed_url(self, environ: WSGIEnvironment, token: str) -> str:
        # Rounding up keeps every link valid for at least link_ttl seconds.
        expires = math.ceil(time.time() + self.link_ttl)
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        scheme = environ.get("wsgi.url_scheme", "http")
        signature = quote(self.signature(token, expires), safe="")
        return f"{scheme}://{host}{FILES_PREFIX}{token}.mp4?Expires={expires}&Signature={signature}"

    def signature(self, token: str, expires: int) -> str:
        digest = hmac.new(self._signing_key, f"{token}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    # --- Usage log ---------------------------------------------------------------------------
    def log_request(
        self,
        environ: WSGIEnvironment,
        model: str,
        status: str,
        inference_id: str | None,
        *,
        free: bool = False,
    ) -> None:
        now = time.time()
        sent_id = str(environ.get("HTTP_X_CLIENT_REQUEST_ID", ""))
        charged = status == "succeeded" and not free
        usd = PRICES_USD[model] if charged else Decimal(0)
        row = {
            "created": _iso(now),
            "at": now,
            "visible_at": now + self.log_lag,
            "status": status,
            "origin": "api",
            "model": catalogue.usage_log_name(model),
            "cost": {"usd": float(usd), "credits": int(usd * CREDITS_PER_USD)},
            "tokens": {"input": 0, "output": 0, "total": 0},
            "request_id": f"req-{uuid.uuid4().hex[:16]}",
            "inference_id": inference_id,
            "client_request_id": sent_id if _CLIENT_REQUEST_ID.fullmatch(sent_id) else None,
        }
        line = (json.dumps(row) + "\n").encode()
        # One write on an O_APPEND descriptor: several processes can add rows without mixing lines.
        fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def _logs(self, environ: WSGIEnvironment, path: str) -> Response:
        now = time.time()
        with self._lock:
            while self._logs_seen and self._logs_seen[0] <= now - self.logs_rate_window:
                self._logs_seen.popleft()
            if len(self._logs_seen) >= self.logs_rate_limit:
                wait = self._logs_seen[0] + self.logs_rate_window - now
                too_many = json_error(429, "Too many requests", path)
                too_many.headers.append(("Retry-After", str(max(1, math.ceil(wait)))))
                return too_many
            self._logs_seen.append(now)
        params = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        problem, window = _log_window(params, now)
        if problem or window is None:
            return json_error(400, problem or "A window is required.", path)
        statuses = params.get("status", [])
        for value in statuses:
            if value not in {"succeeded", "failed"}:
                return json_error(400, "status must be one of the following values: succeeded, failed", path)
        models = params.get("model", [])
        if len(models) > 50:
            return json_error(400, "model may be given at most 50 times", path)
        limit, offset = _whole_param(params, "limit", 50), _whole_param(params, "offset", 0)
        if limit is None or not 1 <= limit <= 100:
            return json_error(400, "limit must be a whole number from 1 to 100", path)
        if offset is None:
            return json_error(400, "offset must be a whole number of at least 0", path)
        start, end = window
        rows = [
            row
            for row in self.usage_log(visible_only=True)
            if start <= row["at"] <= end
            and (not statuses or row["status"] in statuses)
            and (not models or any(m in {row["model"], row["model"].partition("/")[2]} for m in models))
        ]
        rows.sort(key=lambda row: row["at"], reverse=True)
        page = [
            {key: value for key, value in row.items() if key not in {"at", "visible_at"}}
            for row in rows[offset : offset + limit]
        ]
        return _json(
            200,
            {
                "data": page,
                "pagination": {
                    "limit": limit,
                    "offset": offset,
                    "total": len(rows),
                    "has_more": offset + limit < len(rows),
                },
            },
        )

    # --- Storage ---------------------------------------------------------------------------
    def _load_signing_key(self) -> bytes:
        path = self.state_dir / "signing.key"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".signing.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secrets.token_bytes(32))
                # link() refuses to overwrite, so when two processes start at once exactly one key wins.
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return path.read_bytes()

    def _read_job(self, token: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self._jobs_dir / f"{token}.json").read_bytes())
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def _write_job(self, job: dict[str, Any]) -> None:
        _write_atomic(self._jobs_dir / f"{job['token']}.json", json.dumps(job).encode())

    def _record(
        self,
        endpoint: str | None,
        method: str,
        path: str,
        query: dict[str, str],
        environ: WSGIEnvironment,
        seen: _Seen,
        status: int | None,
        started: float,
    ) -> None:
        call = Call(
            endpoint=endpoint or "other",
            method=method,
            path=path,
            model=seen.model,
            prompt=seen.prompt,
            when=time.time(),
            query=query,
            body=seen.body,
            authorized=bool(environ.get("HTTP_AUTHORIZATION")),
            status=status,
            started=started,
        )
        with self._lock:
            self._calls.append(call)


_shared: dict[Path, StandIn] = {}
_shared_lock = threading.Lock()


def shared_standin(state_dir: Path) -> StandIn:
    """The one StandIn of this process for ``state_dir`` (demo mode mounts it in-process)."""
    key = Path(state_dir).resolve()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = StandIn(key)
        return _shared[key]


# --- Helpers -------------------------------------------------------------------------------
def _token_for(upstream_id: str) -> str:
    # Ids may hold ':' and the like; a hash makes a safe file name and an unguessable link name.
    return hashlib.sha256(upstream_id.encode()).hexdigest()[:32]


def _status_of(job: dict[str, Any], now: float) -> str:
    if now < job["queued_until"]:
        return "queued"
    if job["outcome"] == "never" or now < job["done_at"]:
        return "generating"
    return "error" if job["outcome"] == "error" else "completed"


def model_named(path: str, body: bytes | None) -> str:
    """The model a create names (the path's own on the legacy route), for the usage log and the price."""
    try:
        named = json.loads(body or b"{}").get("model")
    except (ValueError, AttributeError):
        named = None
    if isinstance(named, str) and named in WIRES_BY_PATH.get(path, {}):
        return named
    return MODEL_BY_PATH.get(path, "")


def _endpoint_of(method: str, path: str) -> Endpoint | None:
    if path in WIRES_BY_PATH:
        return "create" if method == "POST" else "poll" if method == "GET" else None
    if path == LOGS_PATH:
        return "logs"
    if path.startswith(FILES_PREFIX):
        return "video"
    return None


def _read_body(environ: WSGIEnvironment) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _options(model: ModelSpec, wire: Wire, payload: dict[str, Any], problems: list[str]) -> tuple[str, int]:
    """The resolution and length a create asks for (the model's defaults when left out)."""
    resolution, duration = model.default_resolution, model.default_duration
    if wire.resolution and wire.resolution in payload:
        given = payload[wire.resolution]
        if given not in model.resolutions:
            problems.append(
                f"{wire.resolution} must be one of the following values: {', '.join(model.resolutions)}"
            )
        else:
            resolution = given
    span = model.length_range
    if wire.duration and wire.duration in payload and span:
        # A range in the docs' words: "type": "integer", "minimum", "maximum".
        given = payload[wire.duration]
        low, high, _ = span
        if isinstance(given, bool) or not isinstance(given, int):
            problems.append(f"{wire.duration} must be an integer number")
        elif given < low:
            problems.append(f"{wire.duration} must not be less than {low}")
        elif given > high:
            problems.append(f"{wire.duration} must not be greater than {high}")
        else:
            duration = given
    elif wire.duration and wire.duration in payload:
        given = payload[wire.duration]
        if isinstance(given, bool) or given not in model.durations:
            choices = ", ".join(str(d) for d in model.durations)
            problems.append(f"{wire.duration} must be one of the following values: {choices}")
        else:
            duration = int(given)
    if duration not in model.durations_at(resolution):
        problems.append(f"{wire.duration} {duration} is not supported at {wire.resolution} {resolution}")
    return resolution, duration


def _ratio(
    model: ModelSpec, wire: Wire, payload: dict[str, Any], problems: list[str], *, pictures: bool
) -> str | None:
    """The ratio a create asks for; "text-only generation cannot be adaptive and defaults to 16:9
    instead" (MiniMax/h3.json), so a prompt alone never comes out adaptive."""
    if not wire.ratio:
        return None
    given = payload.get(wire.ratio, model.default_ratio)
    if given not in model.ratios:
        problems.append(f"{wire.ratio} must be one of the following values: {', '.join(model.ratios)}")
        return None
    if given in model.ratios_need_pictures and not pictures:
        return model.ratio_without_pictures
    return str(given)


def _ratio_shape(ratio: object) -> tuple[int, int] | None:
    if not isinstance(ratio, str) or ":" not in ratio:
        return None
    wide, _, high = ratio.partition(":")
    return (int(wide), int(high)) if wide.isdigit() and high.isdigit() else None


def _references(model: ModelSpec, payload: dict[str, Any], problems: list[str]) -> dict[str, int]:
    """Each reference list's count, checked as its schema says: an array of URIs, at most maxItems."""
    counts: dict[str, int] = {}
    for taken in model.references:
        if taken.field not in payload:
            continue
        items = payload[taken.field]
        if not isinstance(items, list):
            problems.append(f"{taken.field} must be an array")
            continue
        if len(items) > taken.most:
            problems.append(f"{taken.field} must contain no more than {taken.most} elements")
        for item in items:
            problem = (
                _check_image(f"each value in {taken.field}", item)[0]
                if taken.kind == "images"
                else _check_media(taken.field, item, _MEDIA_PREFIXES[taken.kind])
            )
            if problem:
                problems.append(problem)
        counts[taken.kind] = len(items)
    for taken in model.references:
        if (
            counts.get(taken.kind)
            and taken.needs_one_of
            and not any(counts.get(k) for k in taken.needs_one_of)
        ):
            fields = " or ".join(r.field for r in model.references if r.kind in taken.needs_one_of)
            problems.append(f"{taken.field} cannot be the only reference: pass {fields} alongside")
    return counts


def _check_media(name: str, value: object, mime_prefix: str) -> str | None:
    """A reference video or voice sample: a link (never fetched) or a base64 data URI of its kind."""
    unreadable = f"each value in {name} must be a URL address or a base64-encoded file"
    if not isinstance(value, str) or not value.strip():
        return unreadable
    if value.startswith(("http://", "https://")):
        return None if urlsplit(value).netloc else unreadable
    header, _, payload = value.partition(",")
    if not value.startswith("data:") or ";base64" not in header.lower():
        return unreadable
    if not header.removeprefix("data:").lower().startswith(mime_prefix):
        return f"each value in {name} must be a {mime_prefix.rstrip('/')} file"
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return unreadable
    return None


def _check_image(name: str, value: object) -> tuple[str | None, bytes | None]:
    """Apply the documented first-frame rules; links are accepted but never fetched."""
    unreadable = f"{name} must be a URL address or a base64-encoded image"
    if not isinstance(value, str) or not value.strip():
        return unreadable, None
    if value.startswith(("http://", "https://")):
        return (None, None) if urlsplit(value).netloc else (unreadable, None)
    payload = value
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        mime = header.removeprefix("data:").split(";")[0].lower()
        if ";base64" not in header.lower():
            return unreadable, None
        if mime not in {"image/jpeg", "image/jpg", "image/png"}:
            return f"{name}: format must be JPG, JPEG, or PNG", None
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return unreadable, None
    if len(data) > MAX_IMAGE_BYTES:
        return f"{name}: file size must not exceed 20MB", None
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except (OSError, Image.DecompressionBombError, ValueError):
        return f"{name}: the image could not be read", None
    if kind not in {"JPEG", "PNG"}:
        return f"{name}: format must be JPG, JPEG, or PNG", None
    if min(width, height) <= 300:
        return f"{name}: the shorter side must exceed 300 pixels", None
    if not 2 / 5 < width / height < 5 / 2:
        return f"{name}: aspect ratio should be greater than 2:5 and less than 5:2", None
    return None, data


def _shorten(value: Any) -> Any:
    """Keep request bodies readable in Call records: an image becomes its first characters."""
    if isinstance(value, str) and len(value) > 256:
        return f"{value[:64]}…[{len(value)} chars]"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _json(status: int, payload: Any, *, inference_id: str | None = None) -> Response:
    data = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(data)))]
    return Response(status, headers, [data], inference_id)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    # No offset means UTC, as the service documents.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _log_window(params: dict[str, list[str]], now: float) -> tuple[str | None, tuple[float, float] | None]:
    """The usage log's window from `period`, or `start` and `end`: (problem, (start, end))."""
    period, start, end = params.get("period"), params.get("start"), params.get("end")
    if period and (start or end):
        return "Give either period or start and end, not both.", None
    if period:
        match = _PERIOD.fullmatch(period[0])
        if not match:
            return "period must be a positive whole number followed by h or d, such as 24h or 7d.", None
        hours = int(match[1]) * (24 if match[2] == "d" else 1)
        if hours > LOGS_MAX_DAYS * 24:
            return f"The window may be at most {LOGS_MAX_DAYS} days.", None
        return None, (now - hours * 3600, now)
    if not start or not end:
        return "A window is required: period, or start and end together.", None
    first, last = _parse_iso(start[0]), _parse_iso(end[0])
    if first is None or last is None:
        return "start and end must be ISO-8601 dates.", None
    if last < first:
        return "end must not be before start.", None
    if last - first > timedelta(days=LOGS_MAX_DAYS):
        return f"The window may be at most {LOGS_MAX_DAYS} days.", None
    return None, (first.timestamp(), last.timestamp())


def _whole_param(params: dict[str, list[str]], name: str, default: int) -> int | None:
    values = params.get(name)
    if not values:
        return default
    return int(values[0]) if values[0].isascii() and values[0].isdigit() else None


def json_error(status: int, message: str | list[str], path: str, *, code_as_text: bool = False) -> Response:
    return _json(
        status,
        {
            "message": message,
            "path": path,
            "requestId": str(uuid.uuid4()),
            "statusCode": str(status) if code_as_text else status,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    )


def _xml_error(status: int, code: str, message: str) -> Response:
    # Object stores answer their signed links in XML, not in the API's JSON.
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{uuid.uuid4().hex.upper()}</RequestId></Error>"
    ).encode()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))]
    return Response(status, headers, [data])


# --- The key's limits, as the service would count them ---------------------------------------
class KeyCounters:
    """Jobs in flight (created, not yet finished) and creates in the last 60 s, with their peaks.

    Counted in this process, at each create: what a real key's limits would see. Tests and the
    benchmark compare the peaks with the app's UPSTREAM_* settings.
    """

    WINDOW = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[tuple[float, float]] = []  # (created, finished)
        self.peak_in_flight = 0
        self.peak_creates_per_minute = 0

    def created(self, at: float, finished: float) -> None:
        with self._lock:
            self._jobs.append((at, finished))
            in_flight = sum(1 for start, end in self._jobs if start <= at < end)
            recent = sum(1 for start, _ in self._jobs if at - self.WINDOW < start <= at)
            self.peak_in_flight = max(self.peak_in_flight, in_flight)
            self.peak_creates_per_minute = max(self.peak_creates_per_minute, recent)

    def in_flight(self, at: float | None = None) -> int:
        now = time.time() if at is None else at
        with self._lock:
            return sum(1 for start, end in self._jobs if start <= now < end)

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self.peak_in_flight = self.peak_creates_per_minute = 0
