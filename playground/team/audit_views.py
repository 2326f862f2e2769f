"""The audit page (/team/audit/) and its CSV export, for admins (the role table in roles.py says so).

Newest first, filtered by person (as actor or subject) and by kind, 50 lines a page. Pages are
keyset pages: "Older" carries the id of the last line shown, and the next page is every line
before it in (at, id) order, which the record's indexes answer directly at any depth. A person
filter reads two indexes (the person as actor, and as subject) and merges them, rather than one
OR that the database would have to sort. A name with no account (a deleted person, a username
someone typed at a failed sign-in) is matched on the copied names, which no index covers: that
one filter walks the record from the newest line until it has a page.

The CSV export streams the same filtered record in chunks of 1,000 lines, so its memory does not
grow with the record, and every cell goes through lib/csvexport (no live spreadsheet formulas).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from playground.lib.csvexport import csv_stream
from playground.lib.ids import query_id
from playground.team.models import AuditEvent, AuditKind

PAGE_SIZE = 50
CSV_CHUNK = 1000


class AuditFilters(forms.Form):
    person = forms.CharField(label="Person", required=False, max_length=254)
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Every kind"), *AuditKind.choices])


@dataclass(frozen=True)
class Selection:
    """What the filters pick: a kind (or any), and a person as an account or as a copied name."""

    kind: str
    person_text: str
    person: User | None

    @property
    def names_only(self) -> bool:
        return bool(self.person_text) and self.person is None

    def query(self, **extra: str | int) -> str:
        params: dict[str, str | int] = {}
        if self.person_text:
            params["person"] = self.person_text
        if self.kind:
            params["kind"] = self.kind
        params.update(extra)
        return urlencode(params)

    def streams(self) -> list[QuerySet[AuditEvent]]:
        """One or two querysets, each answered by one index in (at, id) order, whose union is the pick."""
        rows = AuditEvent.objects.all()
        if self.kind:
            rows = rows.filter(kind=self.kind)
        if self.person is not None:
            return [rows.filter(actor=self.person), rows.filter(subject=self.person)]
        if self.person_text:
            return [rows.filter(Q(actor_name=self.person_text) | Q(subject_name=self.person_text))]
        return [rows]


def selection(request: HttpRequest) -> tuple[AuditFilters, Selection]:
    form = AuditFilters(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    text = (data.get("person") or "").strip()
    person = None
    if text:
        person = User.objects.filter(username=text).first()
        if person is None:
            person = User.objects.filter(username__iexact=text).order_by("pk").first()
    return form, Selection(kind=data.get("kind") or "", person_text=text, person=person)


class Line(NamedTuple):
    """The columns a line is shown and exported with (read as tuples: no model objects to build)."""

    pk: int
    at: datetime
    kind: str
    actor_name: str
    subject_name: str
    summary: str
    ip: str | None


def _walk(rows: QuerySet[AuditEvent], after: tuple[datetime, int] | None, size: int) -> Iterator[Line]:
    """Every row of `rows` older than `after`, newest first, read `size` at a time."""
    while True:
        page = rows
        if after is not None:
            at, pk = after
            # at <= X lets the index range do the work; the exclude drops the ties at X not older.
            page = page.filter(at__lte=at).exclude(at=at, pk__gte=pk)
        chunk = [Line(*row) for row in page.order_by("-at", "-id").values_list(*Line._fields)[:size]]
        yield from chunk
        if len(chunk) < size:
            return
        after = (chunk[-1].at, chunk[-1].pk)


def newest_first(pick: Selection, after: tuple[datetime, int] | None, size: int) -> Iterator[Line]:
    """The picked lines older than `after`, newest first, each once (a person can be actor and subject)."""
    walks = [_walk(rows, after, size) for rows in pick.streams()]
    merged: Iterable[Line] = (
        walks[0] if len(walks) == 1 else heapq.merge(*walks, key=lambda e: (e.at, e.pk), reverse=True)
    )
    last = None
    for event in merged:
        if event.pk != last:
            last = event.pk
            yield event


ROW = (
    '<tr data-line="{}"><td class="nowrap" data-label="When"><time datetime="{}">{}</time></td>'
    '<td class="nowrap" data-label="Who">{}</td><td data-label="What">{}{}</td>'
    '<td class="kind" data-label="Kind">{}</td><td class="nowrap" data-label="From">{}</td></tr>'
)
NOBODY = mark_safe('<span class="hint">—</span>')


def table_rows(lines: list[Line]) -> SafeString:
    """The table's rows, made here with format_html (every value escaped) rather than by the
    template engine: at a dozen template nodes a line, 50 lines cost more than the page's queries."""
    kinds = dict(AuditKind.choices)
    zone = timezone.get_current_timezone()

    def cells(line: Line) -> tuple[object, ...]:
        local = line.at.astimezone(zone)
        who = format_html('<a href="?{}">{}</a>', urlencode({"person": line.actor_name}), line.actor_name)
        about = line.subject_name if line.subject_name != line.actor_name else ""
        return (
            line.pk,
            local.isoformat(timespec="seconds"),
            local.strftime("%Y-%m-%d %H:%M:%S"),
            who if line.actor_name else NOBODY,
            line.summary,
            format_html(' <a class="hint" href="?{}">(about {})</a>', urlencode({"person": about}), about)
            if about
            else "",
            kinds.get(line.kind, line.kind),
            line.ip or "—",
        )

    return format_html_join("\n", ROW, (cells(line) for line in lines))


@require_safe
def audit(request: HttpRequest) -> HttpResponse:
    form, pick = selection(request)
    before = query_id(request, "before")
    after = None
    gone = False
    if before is not None:
        at = AuditEvent.objects.filter(pk=before).values_list("at", flat=True).first()
        if at is None:
            gone = True  # pruned since the link was made: start again from the newest
        else:
            after = (at, before)
    lines: list[Line] = []
    for event in newest_first(pick, after, PAGE_SIZE + 1):
        lines.append(event)
        if len(lines) > PAGE_SIZE:
            break
    more = len(lines) > PAGE_SIZE
    lines = lines[:PAGE_SIZE]
    context = {
        "form": form,
        "pick": pick,
        "lines": lines,
        "rows": table_rows(lines),
        "older_query": pick.query(before=lines[-1].pk) if more else "",
        "newest_query": pick.query(),
        "is_first": after is None,
        "gone": gone,
        "people": User.objects.order_by("username").values_list("username", flat=True),
        "time_zone": timezone.get_current_timezone_name(),
        "page_size": PAGE_SIZE,
    }
    return render(request, "team/audit.html", context)


CSV_HEADER = ["When", "Kind", "Who", "About", "What", "Address", "Line"]


def _csv_rows(pick: Selection) -> Iterator[Sequence[object]]:
    yield CSV_HEADER
    kinds = dict(AuditKind.choices)
    zone = timezone.get_current_timezone()
    for event in newest_first(pick, None, CSV_CHUNK):
        yield [
            event.at.astimezone(zone).isoformat(timespec="seconds"),
            kinds.get(event.kind, event.kind),
            event.actor_name,
            event.subject_name,
            event.summary,
            event.ip or "",
            event.pk,
        ]


@require_safe
def audit_csv(request: HttpRequest) -> StreamingHttpResponse:
    _form, pick = selection(request)
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response = StreamingHttpResponse(csv_stream(_csv_rows(pick)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
