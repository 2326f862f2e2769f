"""Status polls that cost one small read: a signed poll token in the poll's URL, checked without the session.

A video's page polls its status fragment every 2 s while the job runs. Through the whole middleware
chain each poll read the session row and the user row (with the role) before the video's own row,
and those reads were most of its cost. Instead, the page (the `generation` view, which has passed
every check: sign-in, role, second factor) puts a token in the poll's URL, `?poll=…`, signed with
the site's SECRET_KEY (django.core.signing) and holding:

- the video's id: the token opens that video's status and no other;
- the person's id and what they may do there, as the page found it: admin (is_staff) and
  "may make" (member or admin), so the fragment shows Cancel, Remix and Continue only to whom the
  page showed them (the server refuses them anyway when they are used);
- a keyed hash of the session cookie's value: the token works only sent together with the session
  cookie it was issued to, so a token copied out of a URL (a log, a screenshot) is useless alone;
- the time it was made: after POLL_TOKEN_SECONDS it no longer counts.

PollTokenMiddleware, placed right after HealthCheckMiddleware (before the session, CSRF and
sign-in middleware), answers an htmx GET of /videos/<id>/?poll=<token> whose token holds: one
query reads the row's status columns (and, in the same SELECT, whether a worker was seen), and the
status partial is rendered from them. Anything else — no token, a tampered, expired or other
video's token, another session's cookie, a deleted video, a full-page load — is passed on
untouched to the ordinary chain, where the session decides exactly as before: a token never lets
in anyone the session would not. An expired token thus costs one ordinary poll, whose answer
carries a fresh token; a signed-out person gets the ordinary sign-in answer, never the status.

The trade-off (docs/architecture.md, "Status polls"): for up to POLL_TOKEN_SECONDS after a page
load, the poll trusts what the page found. The browser that signs out loses its polls at once
(its cookie changes), as does one whose session key is cycled (a password change); but "sign out
everywhere", an admin's sign-out or deactivation, and a role change reach a poll still holding a
token (with the old cookie) only when the token expires, at most 5 minutes later. What it can read
in that window is the status of the one video whose page it had open.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.models import DEFERRED, Exists
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.functional import SimpleLazyObject

from playground.generations.models import Generation, State
from playground.lib import ids, outage
from playground.lib.models import WorkerHeartbeat
from playground.team.models import Role
from playground.team.roles import may

logger = logging.getLogger(__name__)

POLL_TOKEN_SECONDS = 300
PARAMETER = "poll"
SALT = "playground.generations.poll"
STATUS_TEMPLATE = "playground/generation.html#status"
WORKER_SEEN_WITHIN = 30.0  # as WorkerHeartbeat.someone_alive's default, which the page uses

# What the status partial reads from the row (a field left out here costs a second query; the
# tests hold every state to one).
STATUS_COLUMNS = (
    "id",
    "created_by_id",
    "created_at",
    "prompt",
    "state",
    "upstream_status",
    "upstream_id",
    "trouble",
    "notice",
    "finished_at",
    "failure_reason",
    "duration",
    "usd_spent",
    "credits_used",
    "credits_spent",
    "tokens_used",
    "video",
    "poster",
    "has_sound",
    "first_frame_width",
    "first_frame_height",
)


@dataclass(frozen=True)
class Poller:
    """The person a token was issued to, as the page found them: enough for the fragment's controls.

    It stands in for `user` in the status partial, whose Cancel asks `can_be_deleted_by`
    (is_staff, or the maker's own id).
    """

    pk: int
    is_staff: bool
    may_make: bool
    is_authenticated: bool = True


def _session_mark(session_key: str) -> str:
    return salted_hmac(SALT, session_key).hexdigest()[:32]


def issue(request: HttpRequest, gen: Generation) -> str:
    """The URL the page polls: the video's own, with a token when the person has a session."""
    url = gen.get_absolute_url()
    user: User | AnonymousUser = request.user
    session_key = request.session.session_key
    if not user.is_authenticated or not session_key:
        return url
    payload = {
        "g": gen.pk,
        "u": user.pk,
        "a": int(user.is_staff),
        "m": int(may(user, Role.MEMBER)),
        "s": _session_mark(session_key),
    }
    token = signing.dumps(payload, salt=SALT, compress=False)
    return f"{url}?{PARAMETER}={quote(token, safe='')}"


def check(token: str, pk: int, session_key: str | None) -> Poller | None:
    """The person the token was issued to, if it is fresh, for this video and sent with its session.

    `session_key` is the session cookie's value as the request carries it (the session itself is
    not read). A token is checked before its video id reaches the database.
    """
    if not session_key:
        return None
    verified = _verified(token, pk, session_key)
    if verified is None:
        return None
    poller, issued_at = verified
    if time.time() - issued_at > POLL_TOKEN_SECONDS:
        return None  # expired, as signing.loads(max_age=…) would say
    return poller


# A page's polls send the same token with the same cookie every 2 s for up to POLL_TOKEN_SECONDS:
# the signature and the session mark are worked out once per (token, cookie) pair, and only the
# token's age is looked at again on each poll. Bounded; emptied when the site's keys change.
@functools.lru_cache(maxsize=2048)
def _verified(token: str, pk: int, session_key: str) -> tuple[Poller, int] | None:
    try:
        payload = signing.loads(token, salt=SALT)  # its age is checked by the caller
    except signing.BadSignature:  # tampered
        return None
    if not isinstance(payload, dict) or payload.get("g") != pk:
        return None
    if not constant_time_compare(str(payload.get("s", "")), _session_mark(session_key)):
        return None
    user_id = payload.get("u")
    if not isinstance(user_id, int):
        return None
    # The signature held, so the token is "<value>:<timestamp>:<signature>" (TimestampSigner).
    issued_at = signing.b62_decode(token.rsplit(":", 2)[-2])
    return Poller(pk=user_id, is_staff=bool(payload.get("a")), may_make=bool(payload.get("m"))), issued_at


@functools.lru_cache(maxsize=2048)
def _quoted(token: str) -> str:
    """A token that held, as its poll URL carries it (a page polls with the same one every 2 s)."""
    return quote(token, safe="")


@receiver(setting_changed)
def _keys_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _verified.cache_clear()


class StatusQuery:
    """The one SELECT of a poll, compiled once per database and run with each poll's values.

    Building and compiling a queryset costs more than running it (an indexed primary-key read), so
    the SQL, its converters and where its two values go are worked out once, from a queryset with
    stand-in values, and each poll only executes it. The queryset is the ordinary ORM one; the
    tests hold the fragment in every state to this one query (a column STATUS_COLUMNS missed
    would cost a second).
    """

    PK_STAND_IN = 2_000_000_017
    SEEN_STAND_IN = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.seen_field = WorkerHeartbeat._meta.get_field("seen_at")
        worker_seen = Exists(WorkerHeartbeat.objects.filter(seen_at__gte=self.SEEN_STAND_IN).values("pk"))
        rows = (
            Generation.objects.using(alias)
            .filter(pk=self.PK_STAND_IN)
            .only(*STATUS_COLUMNS)
            .annotate(worker_seen=worker_seen)
            .order_by()
        )
        self.compiler = rows.query.get_compiler(using=alias)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        seen = self.adapt_seen(self.SEEN_STAND_IN)
        self.pk_at = [i for i, value in enumerate(self.params) if value == self.PK_STAND_IN]
        self.seen_at = [i for i, value in enumerate(self.params) if value == seen]
        if len(self.pk_at) != 1 or len(self.seen_at) != 1:
            raise ImproperlyConfigured(f"The poll's query has unexpected parameters: {self.params!r}")
        klass_info = self.compiler.klass_info
        assert klass_info is not None
        fields = klass_info["select_fields"]
        self.model_slice = slice(fields[0], fields[-1] + 1)
        init_list = [column[0].target.attname for column in self.compiler.select[self.model_slice]]
        self.attnames = [field.attname for field in Generation._meta.concrete_fields]
        self.model_at = [self.attnames.index(name) for name in init_list]
        self.deferred = [DEFERRED] * len(self.attnames)
        self.worker_seen_at = self.compiler.annotation_col_map["worker_seen"]
        self.converters = self.compiler.get_converters([column[0] for column in self.compiler.select])

    def adapt_seen(self, value: datetime) -> Any:
        """A time as this database takes it as a parameter (SQLite: text in UTC)."""
        return self.seen_field.get_db_prep_value(value, connections[self.alias], prepared=False)

    def __call__(self, pk: int, worker_seen_since: datetime) -> Generation | None:
        params = list(self.params)
        params[self.pk_at[0]] = pk
        params[self.seen_at[0]] = self.adapt_seen(worker_seen_since)
        connection: Any = connections[self.alias]  # (the stubs lack the health check's attributes)
        if (
            connection.connection is None
            or not connection.health_check_enabled
            or connection.health_check_done
            or connection.in_atomic_block
        ):
            found = self.execute(params)
        else:
            # CONN_HEALTH_CHECKS would first send its own query (PostgreSQL: `SELECT 1`) to see
            # that the kept connection still works: a second round trip on every poll. The poll's
            # SELECT tells the same, and it is only a read, so it goes first: if the connection
            # turns out broken it is closed and the SELECT sent once more on a fresh one, as
            # the health check would have done before it.
            connection.health_check_done = True
            try:
                found = self.execute(params)
            except (OperationalError, InterfaceError):
                connection.close()
                found = self.execute(params)
        if found is None:
            return None
        row = (
            next(iter(self.compiler.apply_converters([found], self.converters))) if self.converters else found
        )
        # Every concrete field in order, those not read left deferred: from_db then skips its
        # search of the read names for each of the model's fields.
        values = list(self.deferred)
        for at, value in zip(self.model_at, row[self.model_slice], strict=True):
            values[at] = value
        gen = Generation.from_db(self.alias, self.attnames, values)
        gen.worker_seen = bool(row[self.worker_seen_at])  # type: ignore[attr-defined]
        return gen

    def execute(self, params: list[Any]) -> Any:
        connection: Any = connections[self.alias]
        if connection.vendor == "postgresql" and prepared.wanted:
            try:
                return prepared.fetchone(connection, self.sql, params)
            except StatementGone:
                pass  # sent as text below, as from now on in this process
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.fetchone()


class PreparedPoll:
    """The poll's SELECT as a prepared statement on PostgreSQL: parsed and planned once per connection.

    Django sends every query as text with its values written in (client-side binding), so the
    server parses and plans the poll's SELECT on each of its thousands of polls, and the client
    quotes its values each time: in process, 460-490 µs a poll against 230 µs prepared
    (2026-12-06, 2 cores). Django leaves prepared statements off because a pooler in transaction
    mode (PgBouncer before 1.21) may hand the next statement to another server connection, where
    the prepared one does not exist. So only this one statement is prepared, on the connection
    Django already holds; if the server says the statement or its plan is gone, the poll is sent
    as text and preparing stops in this process (a warning says why). `DATABASE_PREPARED_POLLS=0`
    turns it off from the start.
    """

    # psycopg prepares only on connections that allow it; this allows it without ever preparing
    # a statement by itself (Django's other queries go through cursors that never prepare).
    ONLY_WHEN_ASKED = 2**31 - 1

    def __init__(self) -> None:
        self.turned_off = False

    @property
    def wanted(self) -> bool:
        return bool(settings.DATABASE_PREPARED_POLLS) and not self.turned_off

    def fetchone(self, connection: Any, sql: str, params: list[Any]) -> Any:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        raw = connection.connection
        allowed = raw.prepare_threshold
        if allowed is None:
            raw.prepare_threshold = self.ONLY_WHEN_ASKED
        try:
            with connection.wrap_database_errors:
                connection.validate_thread_sharing()
                cursor = _preparing_cursor_class()(raw)
                if connection.queries_logged:
                    cursor.shown = True
                    wrapped = connection.make_debug_cursor(cursor)
                else:
                    wrapped = connection.make_cursor(cursor)
            with wrapped:
                wrapped.execute(sql, params)
                return wrapped.fetchone()
        except DatabaseError as exc:
            from psycopg import errors  # (only here: SQLite sites need not load psycopg)

            gone = (errors.InvalidSqlStatementName, errors.FeatureNotSupported)
            if not isinstance(exc.__cause__, gone) or connection.in_atomic_block:
                raise
            self.turned_off = True
            logger.warning(
                "Status polls are no longer sent as a prepared statement in this process: the "
                "database said %s. Behind a pooler in transaction mode, set DATABASE_PREPARED_POLLS=0.",
                type(exc.__cause__).__name__,
            )
            raise StatementGone from exc
        finally:
            if allowed is None:
                raw.prepare_threshold = None


class StatementGone(Exception):
    """The database no longer has the poll's prepared statement: the poll is sent as text."""


@functools.cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]

    class PreparingCursor(ServerBindingCursor):  # type: ignore[misc]
        """Binds its values on the server and asks for the statement to be prepared."""

        shown = False  # whether Django logs the statement (DEBUG, or a test counting queries)

        def execute(
            self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any
        ) -> Any:
            done = super().execute(query, params, prepare=True, **kwargs)
            if self.shown and getattr(self, "_query", None) is None:
                # psycopg keeps no text of a prepared statement it ran; Django's query log reads it.
                self._query = self._convert_query(query, params)
            return done

    return PreparingCursor


prepared = PreparedPoll()


# One per thread, like the database connection whose converters it holds.
_compiled = threading.local()


def status_row(pk: int) -> Generation | None:
    """The status columns of one video and whether a worker was seen lately: one SELECT."""
    query: StatusQuery | None = getattr(_compiled, "query", None)
    if query is None:
        query = _compiled.query = StatusQuery(DEFAULT_DB_ALIAS)
    return query(pk, timezone.now() - timedelta(seconds=WORKER_SEEN_WITHIN))


class PollTokenMiddleware:
    """Answers a tokenised status poll before the session is read; passes anything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        marker = 918273645
        pattern = re.escape(reverse("generation", args=[marker])).replace(
            str(marker), f"({ids.IdConverter.regex})"
        )
        self.path = re.compile(f"^{pattern}$")
        self.csrf = CsrfViewMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # The query string is looked at before it is parsed: most requests carry no poll token.
        polling = f"{PARAMETER}=" in request.META.get("QUERY_STRING", "") and PARAMETER in request.GET
        answer = self.answer(request) if polling else None
        return answer if answer is not None else self.get_response(request)

    def answer(self, request: HttpRequest) -> HttpResponse | None:
        meta = request.META  # (request.headers would first copy every header out of it)
        if (
            request.method != "GET"
            or meta.get("HTTP_HX_REQUEST") != "true"
            or meta.get("HTTP_HX_HISTORY_RESTORE_REQUEST") == "true"
        ):
            return None
        match = self.path.match(request.path_info)
        if match is None:
            return None
        request.get_host()  # ALLOWED_HOSTS still holds, as when CommonMiddleware checked it
        pk = ids.parse_id(match[1])  # the one id reader, as the route's own converter
        if pk is None:
            return None
        token = request.GET[PARAMETER]
        poller = check(token, pk, request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        if poller is None or settings.CSRF_COOKIE_NAME not in request.COOKIES:
            return None  # the ordinary chain decides, with the session
        try:
            gen = status_row(pk)
        except (OperationalError, InterfaceError) as exc:
            if outage.database_down(exc):
                return outage.unavailable(request, exc)
            raise
        if gen is None:
            return None  # deleted meanwhile: the ordinary page says so
        context = {
            "generation": gen,
            "fragment": True,
            "poll_url": f"{request.path}?{PARAMETER}={_quoted(token)}",
            "page_url": request.path,  # the video's own address, which the pattern above matched
            "user": poller,
            "can_make": poller.may_make,
            "worker_missing": gen.state == State.QUEUED and not getattr(gen, "worker_seen", True),
            # Cancel is a plain form: its CSRF token comes from the CSRF cookie the page set.
            "csrf_token": SimpleLazyObject(lambda: self.csrf_token(request)),
            "compact": False,  # Cancel's long sentence, as on the page (said here, it is not looked for)
        }
        html = loader.get_template(STATUS_TEMPLATE).render(context)
        response = HttpResponse(html)
        # CommonMiddleware, which the answer skips, would set this: without it gunicorn sends the
        # answer chunked (three writes instead of two, and a chunked body for the client to read).
        response["Content-Length"] = str(len(response.content))
        response["Vary"] = "Cookie, HX-Request"
        response["Cache-Control"] = "private, no-store"
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
        return response

    def csrf_token(self, request: HttpRequest) -> str:
        self.csrf.process_request(request)  # reads the CSRF cookie into request.META, as the chain would
        return get_token(request)
