"""The audit record: each kind of line after its action, the page's filters and pages, the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from playground.films.sequences import SequenceExport
from playground.gallery.models import Collection
from playground.generations.models import Generation
from playground.money.models import Allowance, TeamBudget
from playground.notify.webhooks import Webhook
from playground.team import audit_views
from playground.team.models import AuditEvent, AuditKind, Role
from playground.team.roles import set_role
from tests import factories
from tests.factories import PASSWORD

ADDRESS = "203.0.113.7"
SECRET = "whsec-0123456789-never-in-the-record"
HOOK_URL = "https://hooks.example.com/services/T000/B000/tokenINtheURLpath"


@pytest.fixture
def ann(db: None) -> User:
    ann = factories.staff("ann", is_superuser=True)
    set_role(ann, Role.ADMIN)
    return ann


@pytest.fixture
def bob(db: None) -> User:
    return factories.member("bob")


@pytest.fixture
def admin_client(client: Client, ann: User) -> Client:
    client.force_login(ann)
    AuditEvent.objects.all().delete()  # the forced sign-in's own line
    return client


def lines(kind: AuditKind) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind=kind).order_by("at", "pk"))


def only_line(kind: AuditKind) -> AuditEvent:
    found = lines(kind)
    assert len(found) == 1, [e.summary for e in found]
    return found[0]


# --- Sign-ins ---------------------------------------------------------------------------------


def test_a_sign_in_is_recorded_with_the_person_and_address(client, bob):
    response = client.post("/sign-in/", {"login": "bob", "password": PASSWORD}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    line = only_line(AuditKind.SIGN_IN)
    assert (line.actor, line.subject, line.actor_name, line.ip) == (bob, bob, "bob", ADDRESS)
    assert line.summary == "bob signed in"


def test_a_forwarded_address_is_believed_only_from_our_own_proxy(client, bob, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    client.post(
        "/sign-in/",
        {"login": "bob", "password": "wrong"},
        REMOTE_ADDR="198.51.100.9",
        HTTP_X_FORWARDED_FOR="192.0.2.66",
    )
    client.post(
        "/sign-in/",
        {"login": "bob", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=ADDRESS,
    )
    assert only_line(AuditKind.SIGN_IN_FAILED).ip == "198.51.100.9"
    assert only_line(AuditKind.SIGN_IN).ip == ADDRESS


def test_a_failed_sign_in_keeps_the_typed_name_and_never_the_password(client, bob):
    typed_password = "hunter2-not-bobs-password"
    client.post("/sign-in/", {"login": "BOB@example.com", "password": typed_password}, REMOTE_ADDR=ADDRESS)
    client.post("/sign-in/", {"login": "=cmd|' /C calc'!A0", "password": typed_password}, REMOTE_ADDR=ADDRESS)
    first, second = lines(AuditKind.SIGN_IN_FAILED)
    assert (first.subject, first.subject_name, first.actor, first.ip) == (
        bob,
        "BOB@example.com",
        None,
        ADDRESS,
    )
    assert first.summary == "Failed sign-in as “BOB@example.com” (the account bob)"
    assert (second.subject, second.subject_name) == (None, "=cmd|' /C calc'!A0")
    assert second.summary.endswith("(no such account)")
    for line in (first, second):
        assert typed_password not in " ".join(
            str(getattr(line, f.attname)) for f in AuditEvent._meta.concrete_fields
        )


def test_a_locked_out_sign_in_says_so(client, bob, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(3):
        client.post("/sign-in/", {"login": "bob", "password": "wrong"}, REMOTE_ADDR=ADDRESS)
    found = lines(AuditKind.SIGN_IN_FAILED)
    assert len(found) == 3
    assert found[-1].summary.endswith("refused, too many failed attempts")
    assert "refused" not in found[0].summary


# --- Account changes --------------------------------------------------------------------------


def test_a_password_change_is_recorded(client, bob):
    elsewhere = Client()
    elsewhere.force_login(bob)
    client.force_login(bob)
    assert "Change your password" in client.get("/accounts/password/change/").content.decode()
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a new long passphrase 42",
            "password2": "a new long passphrase 42",
        },
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 302
    line = only_line(AuditKind.ACCOUNT)
    assert (line.actor, line.subject, line.ip, line.summary) == (
        bob,
        bob,
        ADDRESS,
        "bob changed their password",
    )
    assert client.get("/gallery/").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/gallery/").status_code == 302  # the other is signed out, as the page says


# --- Budgets (django-auditlog) ----------------------------------------------------------------


def test_the_team_budget_change_is_recorded_in_plain_words(admin_client, ann):
    admin_client.post("/admin/playground/teambudget/add/", {"usd_per_month": "100"}, REMOTE_ADDR=ADDRESS)
    budget = TeamBudget.objects.get()
    admin_client.post(
        f"/admin/playground/teambudget/{budget.pk}/change/",
        {"usd_per_month": "150.5"},
        REMOTE_ADDR=ADDRESS,
        HTTP_X_FORWARDED_FOR="192.0.2.66",  # from a client, not our proxy: not believed
    )
    made, changed = lines(AuditKind.BUDGET)
    assert made.summary == "ann set the team's monthly budget to $100.00"
    assert changed.summary == "ann changed the team's monthly budget from $100.00 to $150.50"
    assert (changed.actor, changed.ip, changed.subject) == (ann, ADDRESS, None)
    assert changed.log_entry is not None and changed.log_entry.changes_dict == {
        "usd_per_month": ["100.00", "150.5"]
    }


def user_admin_form(user: User, **allowance: str) -> dict[str, Any]:
    """The admin's change form for `user` as a browser would post it, with the allowance inline."""
    joined = timezone.localtime(user.date_joined)
    return {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        "allowance-TOTAL_FORMS": "1",
        "allowance-INITIAL_FORMS": "1" if Allowance.objects.filter(user=user).exists() else "0",
        "allowance-MIN_NUM_FORMS": "0",
        "allowance-MAX_NUM_FORMS": "1",
        "allowance-0-user": str(user.pk),
        "allowance-0-id": str(Allowance.objects.filter(user=user).values_list("pk", flat=True).first() or ""),
        "allowance-0-generations_per_month": allowance.get("videos", ""),
        "allowance-0-usd_per_month": allowance.get("usd", ""),
    }


def test_a_persons_budget_change_names_them(admin_client, ann, bob):
    url = f"/admin/auth/user/{bob.pk}/change/"
    response = admin_client.post(url, user_admin_form(bob, usd="25"), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302, response.content.decode()[:3000]
    response = admin_client.post(url, user_admin_form(bob, usd="40", videos="30"), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    assert Allowance.objects.get(user=bob).usd_per_month == Decimal("40")
    made, changed = lines(AuditKind.BUDGET)
    assert made.summary == "ann set bob's monthly budget to $25.00"
    assert changed.summary == (
        "ann changed bob's monthly budget from $25.00 to $40.00 and set bob's monthly video allowance to 30 videos"
    )
    assert (changed.actor, changed.subject, changed.subject_name, changed.ip) == (ann, bob, "bob", ADDRESS)


def test_deleting_a_person_with_an_allowance_records_it_without_pointing_at_them(ann, bob):
    Allowance.objects.create(user=bob, usd_per_month=Decimal("12"))
    bob.delete()  # the new line must not hold a reference to the row deleted after it
    line = lines(AuditKind.BUDGET)[-1]
    assert line.subject is None
    assert (
        "set person #" in line.summary and "monthly budget back to the default (was $12.00)" in line.summary
    )


# --- Webhooks ---------------------------------------------------------------------------------


def test_webhook_changes_are_recorded_and_the_secret_never_is(admin_client, ann, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com"]
    form = {"name": "", "url": HOOK_URL, "events": "both", "active": "on", "new_secret": SECRET}
    assert admin_client.post("/admin/playground/webhook/add/", form, REMOTE_ADDR=ADDRESS).status_code == 302
    hook = Webhook.objects.get()
    form = {**form, "name": "Slack", "events": "ready", "active": "", "new_secret": SECRET[::-1]}
    admin_client.post(f"/admin/playground/webhook/{hook.pk}/change/", form, REMOTE_ADDR=ADDRESS)
    admin_client.post(f"/admin/playground/webhook/{hook.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=ADDRESS)
    assert not Webhook.objects.exists()

    made, changed, deleted = lines(AuditKind.WEBHOOK)
    assert made.summary == (
        "ann added the webhook to https://hooks.example.com/… "
        "(https://hooks.example.com/…, when a video is ready or has failed)"
    )
    assert changed.summary == (
        "ann changed the webhook “Slack”: renamed it from “” to “Slack”; changed when it is called from "
        "“when a video is ready or has failed” to “when a video is ready”; paused it; replaced its secret"
    )
    assert deleted.summary == "ann deleted the webhook “Slack”"
    assert (changed.actor, changed.ip) == (ann, ADDRESS)

    stored = " ".join(
        str(getattr(row, f.attname))
        for model in (AuditEvent, LogEntry)
        for row in model.objects.all()
        for f in model._meta.concrete_fields
    )
    assert LogEntry.objects.count() == 3
    for secret in (SECRET, SECRET[::-1], "tokenINtheURLpath"):
        assert secret not in stored


def test_the_workers_webhook_bookkeeping_writes_no_line(ann, settings):
    from playground.notify import webhooks

    hook = Webhook.objects.create(name="x", url=HOOK_URL, secret=SECRET)
    AuditEvent.objects.all().delete()
    webhooks.Webhook.objects.filter(pk=hook.pk).update(consecutive_failures=3, last_status="HTTP 500")
    hook.refresh_from_db()
    hook.last_status = "HTTP 502"
    hook.save()  # even a save of bookkeeping fields alone is no change an admin made
    assert not AuditEvent.objects.exists()


# --- Deletions --------------------------------------------------------------------------------


def test_deleting_a_video_is_recorded_with_its_maker(client, ann, bob):
    video = factories.ready(
        bob, prompt="A red fox crossing a snowy field at dawn, seen from very far above it"
    )
    client.force_login(ann)
    response = client.post(f"/videos/{video.pk}/delete/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    line = only_line(AuditKind.DELETION)
    assert (
        line.summary
        == f"ann deleted bob's video #{video.pk} “A red fox crossing a snowy field at dawn, seen from very…”"
    )
    assert (line.actor, line.subject, line.ip) == (ann, bob, ADDRESS)


def test_a_bulk_delete_writes_one_line_per_video(client, bob):
    videos = [factories.ready(bob, prompt=f"clip {i}") for i in range(3)]
    client.force_login(bob)
    response = client.post(
        "/bulk/delete/",
        {"ids": [v.pk for v in videos], "confirm": "yes", "next": "/gallery/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 302
    assert not Generation.objects.exists()
    found = lines(AuditKind.DELETION)
    assert sorted(e.summary for e in found) == sorted(
        f"bob deleted their video #{v.pk} “{v.prompt}”" for v in videos
    )
    assert {(e.actor, e.subject, e.ip) for e in found} == {(bob, bob, ADDRESS)}


def test_deleting_a_collection_and_a_film_is_recorded(client, ann, bob):
    collection = Collection.objects.create(name="Harbour", created_by=bob)
    film = SequenceExport.objects.create(created_by=bob, clip_ids=[1, 2, 3], clips_key="1,2,3")
    client.force_login(ann)
    client.post(f"/collections/{collection.pk}/delete/", REMOTE_ADDR=ADDRESS)
    client.post(f"/admin/playground/sequenceexport/{film.pk}/delete/", {"post": "yes"}, REMOTE_ADDR=ADDRESS)
    assert [e.summary for e in lines(AuditKind.DELETION)] == [
        "ann deleted bob's collection “Harbour”",
        f"ann deleted bob's film #{film.pk} (3 clips)",
    ]


def test_saving_a_video_records_nothing_and_costs_no_extra_query(bob):
    video = factories.generation(bob)
    with CaptureQueriesContext(connection) as queries:
        video.state = "running"
        video.save()
    # The record adds nothing to a save: no auditlog query (the running totals' own statements,
    # money/totals.py, are what else a save now runs).
    assert not any("auditlog" in q["sql"] for q in queries.captured_queries)
    assert not LogEntry.objects.exists()
    assert not AuditEvent.objects.filter(kind=AuditKind.DELETION).exists()


def test_the_housekeeping_chores_write_no_line(bob, settings):
    factories.ready(bob)
    factories.failed(bob)
    Collection.objects.create(name="kept", created_by=bob)
    for chore in (["sweepstaging"], ["sweepfilms"], ["orphans", "--delete"], ["prunedeliveries"]):
        call_command(*chore, stdout=io.StringIO())
    assert not AuditEvent.objects.exists()
    assert not LogEntry.objects.exists()


# --- The page ---------------------------------------------------------------------------------


def event(kind: AuditKind = AuditKind.SIGN_IN, **fields: Any) -> AuditEvent:
    actor = fields.get("actor")
    subject = fields.get("subject")
    fields.setdefault("actor_name", actor.username if actor else "")
    fields.setdefault("subject_name", subject.username if subject else "")
    fields.setdefault("summary", f"{kind.label} line")
    return AuditEvent.objects.create(kind=kind, **fields)


def shown_ids(response: Any) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-line="(\d+)"', response.content.decode())]


def test_members_and_viewers_get_403(client, bob):
    viewer = factories.member("vera")
    set_role(viewer, Role.VIEWER)
    for person in (bob, viewer):
        client.force_login(person)
        assert client.get("/team/audit/").status_code == 403
        assert client.get("/team/audit/export.csv").status_code == 403


def test_the_page_lists_newest_first_with_when_who_what_and_address(admin_client, ann, bob, settings):
    settings.TIME_ZONE = "Europe/Paris"
    old = event(actor=bob, subject=bob, summary="bob signed in", ip="198.51.100.1")
    old.at = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)
    old.save()
    new = event(
        AuditKind.DELETION, actor=ann, subject=bob, summary="ann deleted bob's video #3 “x”", ip=ADDRESS
    )
    page = admin_client.get("/team/audit/")
    text = page.content.decode()
    assert page.status_code == 200
    assert text.index("ann deleted bob") < text.index("bob signed in")
    assert "2026-07-01 12:30:00" in text  # 10:30 UTC, shown in the site's zone
    assert "times are in Europe/Paris" in text
    assert ADDRESS in text and "198.51.100.1" in text
    assert shown_ids(page) == [new.pk, old.pk]


def test_every_value_on_the_page_is_escaped(admin_client):
    event(
        AuditKind.SIGN_IN_FAILED,
        subject_name='<b id="x">"&',
        summary="Failed sign-in as “<script>alert(1)</script>”",
    )
    text = admin_client.get("/team/audit/").content.decode()
    assert "<script>alert(1)" not in text and '<b id="x">' not in text
    assert "“&lt;script&gt;alert(1)&lt;/script&gt;”" in text
    assert "?person=%3Cb+id%3D%22x%22%3E%22%26" in text  # the name's own filter link


def test_filters_by_person_and_kind(admin_client, ann, bob):
    carol = factories.member("carol")
    a = event(actor=bob, subject=bob)
    b = event(AuditKind.DELETION, actor=ann, subject=bob)
    c = event(AuditKind.DELETION, actor=carol, subject=carol)
    d = event(AuditKind.BUDGET, actor=ann, subject=carol)
    e = event(AuditKind.SIGN_IN_FAILED, subject_name="gone-away")
    assert shown_ids(admin_client.get("/team/audit/", {"person": "bob"})) == [b.pk, a.pk]
    assert shown_ids(admin_client.get("/team/audit/", {"person": "ann"})) == [d.pk, b.pk]
    assert shown_ids(admin_client.get("/team/audit/", {"kind": "deletion"})) == [c.pk, b.pk]
    assert shown_ids(admin_client.get("/team/audit/", {"kind": "deletion", "person": "carol"})) == [c.pk]
    assert shown_ids(admin_client.get("/team/audit/", {"person": "gone-away"})) == [e.pk]
    assert shown_ids(admin_client.get("/team/audit/", {"person": "nobody"})) == []
    assert shown_ids(admin_client.get("/team/audit/", {"kind": "no-such-kind"})) == [
        e.pk,
        d.pk,
        c.pk,
        b.pk,
        a.pk,
    ]


def test_pages_keep_the_order_across_the_cursor(admin_client, ann, bob, settings):
    monkey_size = 7
    settings_size = audit_views.PAGE_SIZE
    audit_views.PAGE_SIZE = monkey_size
    try:
        tie = timezone.now() - timedelta(hours=1)
        made = []
        for i in range(30):
            # Runs of equal times (a bulk delete writes several lines in one instant).
            at = tie - timedelta(seconds=i // 4)
            made.append(event(actor=ann if i % 3 else bob, subject=bob, at=at).pk)
        expected = list(AuditEvent.objects.order_by("-at", "-pk").values_list("pk", flat=True))
        for query in ({}, {"person": "bob"}):
            seen: list[int] = []
            url = "/team/audit/?" + "&".join(f"{k}={v}" for k, v in query.items())
            while url:
                page = admin_client.get(url)
                ids = shown_ids(page)
                assert 0 < len(ids) <= monkey_size
                seen += ids
                older = re.search(
                    r'href="(/team/audit/\?[^"]*before=\d+[^"]*)" rel="next"', page.content.decode()
                )
                url = older.group(1).replace("&amp;", "&") if older else ""
            assert seen == expected
    finally:
        audit_views.PAGE_SIZE = settings_size


def test_a_cursor_that_is_not_an_id_is_not_found_and_a_pruned_one_starts_over(admin_client, bob):
    line = event(actor=bob, subject=bob)
    assert admin_client.get("/team/audit/", {"before": "12abc"}).status_code == 404
    page = admin_client.get("/team/audit/", {"before": str(line.pk + 1000)})
    assert page.status_code == 200
    assert "older lines were pruned" in page.content.decode()
    assert shown_ids(page) == [line.pk]


def read_csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_is_formula_safe_and_holds_the_filtered_lines_only(admin_client, ann, bob):
    event(AuditKind.SIGN_IN_FAILED, subject_name="=cmd", summary="Failed sign-in as “=cmd” (no such account)")
    event(AuditKind.SIGN_IN_FAILED, subject_name="@SUM(A1)", summary="-2+3", ip="192.0.2.1")
    event(AuditKind.DELETION, actor=ann, subject=bob, summary="ann deleted bob's video #1 “x”")
    response = admin_client.get("/team/audit/export.csv", {"kind": "sign_in_failed"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["When", "Kind", "Who", "About", "What", "Address", "Line"]
    assert [row[1:6] for row in rows[1:]] == [
        ["Failed sign-in", "", "'@SUM(A1)", "'-2+3", "192.0.2.1"],
        ["Failed sign-in", "", "'=cmd", "Failed sign-in as “=cmd” (no such account)", ""],
    ]
    rows = read_csv(admin_client.get("/team/audit/export.csv", {"person": "bob"}))
    assert [row[4] for row in rows[1:]] == ["ann deleted bob's video #1 “x”"]


def test_the_csv_is_streamed_in_chunks(admin_client, ann, bob):
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(kind=AuditKind.SIGN_IN, actor=bob, actor_name="bob", summary=f"line {i}")
            for i in range(2500)
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/team/audit/export.csv")
        pieces = list(response.streaming_content)
    assert len(pieces) >= 3  # 1,000 lines a piece
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode()[1:])))
    assert len(rows) == 2501
    reads = [q["sql"] for q in queries.captured_queries if "playground_auditevent" in q["sql"]]
    assert len(reads) == 3 and all("LIMIT 1000" in sql for sql in reads)


def test_the_page_at_100000_events_answers_with_bounded_queries(
    admin_client, ann, bob, django_assert_max_num_queries
):
    start = timezone.now() - timedelta(days=200)
    kinds = [AuditKind.SIGN_IN, AuditKind.SIGN_IN_FAILED, AuditKind.DELETION, AuditKind.BUDGET]
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                at=start + timedelta(minutes=i),
                kind=kinds[i % 4],
                actor=(bob if i % 2 else ann),
                actor_name=("bob" if i % 2 else "ann"),
                subject=bob,
                subject_name="bob",
                summary=f"line {i}",
            )
            for i in range(100_000)
        ),
        batch_size=5000,
    )
    deep = AuditEvent.objects.order_by("at", "pk").values_list("pk", flat=True)[100]
    for query in (
        {},
        {"kind": "deletion"},
        {"person": "bob"},
        {"person": "bob", "kind": "sign_in"},
        {"before": str(deep)},
        {"before": str(deep), "person": "ann"},
    ):
        # The session, the person and their role; the filter's person; the cursor; the page (one
        # read, or two for a person); the names for the person box.
        with django_assert_max_num_queries(8) as queries:
            page = admin_client.get("/team/audit/", query)
        assert page.status_code == 200
        assert len(shown_ids(page)) == 50, query
        reads = [q["sql"] for q in queries.captured_queries if 'FROM "playground_auditevent"' in q["sql"]]
        assert reads and all("LIMIT" in sql for sql in reads), reads


# --- Retention --------------------------------------------------------------------------------


def test_pruning_deletes_old_lines_and_their_entries_and_says_so(admin_client, ann, settings):
    admin_client.post("/admin/playground/teambudget/add/", {"usd_per_month": "100"})
    old_line = AuditEvent.objects.get(kind=AuditKind.BUDGET)
    old_entry = old_line.log_entry
    assert old_entry is not None
    long_ago = timezone.now() - timedelta(days=400)
    AuditEvent.objects.filter(pk=old_line.pk).update(at=long_ago)
    LogEntry.objects.filter(pk=old_entry.pk).update(timestamp=long_ago)
    recent = event(actor=ann, subject=ann)

    out = io.StringIO()
    call_command("pruneaudit", "--older-than", "365", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 audit line and 1 change entry older than 365 days."
    assert not LogEntry.objects.exists()
    left = list(AuditEvent.objects.order_by("pk"))
    assert left[0] == recent
    assert left[1].summary.startswith(
        "A command on the server pruned the audit record: 1 line older than 365 days"
    )
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("pruneaudit", "--older-than", "0")
