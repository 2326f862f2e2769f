"""The Costs page: the same dollars as Usage, who sees whose, periods, time zones, the CSV, and its queries."""

from __future__ import annotations

import csv
import io
import random
import re
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.gallery.models import Collection, CollectionEntry
from playground.generations.models import Generation, State
from playground.money.costs import period_from, report
from playground.money.models import Allowance, TeamBudget, month_start
from playground.money.usage import month_usage
from tests.factories import generation, member, staff

COSTS = reverse("costs")
CSV = reverse("costs_csv")


def job(user: User | None, state: str = State.READY, usd: str | None = "0.43", **kw: Any) -> Generation:
    kw.setdefault("created_at", timezone.now() - timedelta(minutes=5))
    return generation(user, state, prompt="p", usd_spent=Decimal(usd) if usd is not None else None, **kw)


def text(response: Any) -> str:
    return unescape(response.content.decode())


def table(html: str, table_id: str) -> dict[str, tuple[str, str]]:
    """{row name: (videos, dollars)} of one of the page's tables, its footer included."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>(\d+)</td><td class="usd">(.*?)</td>', body)
    return {name: (videos, usd) for name, videos, usd in rows}


def csv_table(response: Any) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.fixture
def world(db: None, settings: Any) -> dict[str, Any]:
    """Alice and bob's month: known costs, unknown ones (estimates), failures and cancels."""
    settings.VIDEO_PRICES_USD = {"video-01": Decimal("0.50"), "video-01-live2d": Decimal("0.60")}
    alice, bob = member("alice"), member("bob")
    now = timezone.now()
    start = month_start()
    # Known costs, in this month.
    job(alice, usd="0.43", created_at=start + timedelta(minutes=1))
    job(alice, usd="1.10", model="video-01-live2d", created_at=start + timedelta(minutes=2))
    job(bob, usd="0.56", model="video-01-live2d", created_at=now - timedelta(minutes=1))
    # Unknown costs: at the estimate (the average of known ones for that model).
    job(alice, State.RUNNING, usd=None, created_at=now - timedelta(minutes=3))
    job(bob, State.QUEUED, usd=None, model="video-01-live2d", created_at=now - timedelta(minutes=4))
    # Made by the service, then failed: counted. Refused or never started, or cancelled: not.
    job(bob, State.FAILED, usd="0.70", completed_at=now, created_at=now - timedelta(minutes=6))
    job(alice, State.FAILED, usd=None, failure_code="refused", created_at=now - timedelta(minutes=7))
    job(alice, State.CANCELLED, usd=None, created_at=now - timedelta(minutes=8))
    # Last month: not this month's.
    job(alice, usd="9.00", created_at=start - timedelta(seconds=1))
    # A former member's video (their account deleted).
    job(None, usd="0.25", created_at=now - timedelta(minutes=9))
    return {"alice": alice, "bob": bob}


def usage_dollars(months_back: int = 0) -> dict[str, str]:
    from playground.money.budgets import dollars

    usage = month_usage(months_back)
    return {row.who: dollars(row.usd) for row in usage.rows} | {"Team": dollars(usage.team.usd)}


# --- The same dollars as the Usage page ---------------------------------------------------------


@pytest.mark.parametrize("months_back", [0, 1])
def test_the_month_agrees_with_usage_to_the_cent(client: Client, world, months_back):
    client.force_login(staff("sam"))
    html = text(client.get(COSTS, {"period": "last" if months_back else "this"}))
    people = table(html, "cost-person")
    expected = usage_dollars(months_back)
    assert {name: usd for name, (_, usd) in people.items() if name != "Total"} == {
        k: v for k, v in expected.items() if k != "Team"
    }
    assert people["Total"][1] == expected["Team"]
    # The chart's time table and the model table add up to the same total.
    assert table(html, "spent-by-time")["Total"][1] == expected["Team"]
    assert table(html, "cost-model")["Total"][1] == expected["Team"]


def test_the_worked_numbers(client: Client, world):
    client.force_login(staff("sam"))
    people = table(text(client.get(COSTS)), "cost-person")
    # The estimates average every known cost of the model: video-01 (0.43 + 0.70 + 9.00 + 0.25) / 4
    # = 2.595, video-01-live2d (1.10 + 0.56) / 2 = 0.83.
    # alice: 0.43 + 1.10 + the running video-01 at 2.595 = 4.125
    assert people["alice"] == ("3", "$4.13")
    # bob: 0.56 + 0.70 (made, then failed) + the queued live2d at 0.83; his refusals and cancels count nothing
    assert people["bob"] == ("3", "$2.09")
    assert people["former members"] == ("1", "$0.25")
    assert people["Total"] == ("7", "$6.47")
    assert usage_dollars()["Team"] == "$6.47"


# --- Who sees whose -------------------------------------------------------------------------------


def test_a_member_sees_only_their_own_even_when_asking_for_someone_else(client: Client, world):
    client.force_login(world["alice"])
    for query in ({}, {"person": "bob"}, {"user": "bob", "scope": "team"}, {"created_by": world["bob"].pk}):
        html = text(client.get(COSTS, query))
        people = table(html, "cost-person")
        assert set(people) == {"alice", "Total"}, query
        assert people["Total"] == ("3", "$4.13")
        assert "bob" not in html.split("<main", 1)[1]
        rows = csv_table(client.get(CSV, query))
        assert {r[1] for r in rows if r[0] == "Person"} == {"alice"}
        assert rows[-1][2:] == ["3", "4.13"]


def test_an_admin_sees_everyone(client: Client, world):
    client.force_login(staff("sam"))
    people = table(text(client.get(COSTS)), "cost-person")
    assert set(people) == {"alice", "bob", "former members", "Total"}


def test_a_viewer_is_sent_away_and_the_nav_link_is_for_members(client: Client, world):
    from playground.team.models import Role
    from playground.team.roles import set_role

    viewer = member("vera")
    set_role(viewer, Role.VIEWER)
    client.force_login(viewer)
    assert client.get(COSTS).status_code == 403
    assert client.get(CSV).status_code == 403
    assert f'href="{COSTS}"' not in client.get(reverse("usage")).content.decode()
    client.force_login(world["alice"])
    assert f'href="{COSTS}"' in client.get(reverse("usage")).content.decode()


# --- Periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        (
            {"period": "range", "from": "2026-03-05", "to": "2026-03-01"},
            "The range ends on 1 March 2026, before it starts on 5 March 2026: the end date must be on or after the start date.",
        ),
        (
            {"period": "range", "from": "2024-01-01", "to": "2026-03-01"},
            "A range can cover at most 24 months; 1 January 2024 to 1 March 2026 covers 27. Pick a shorter range.",
        ),
        (
            {"period": "range", "from": "2026-01-01", "to": "2026-06-30", "by": "day"},
            "Day by day shows at most 93 days; this range has 181. Group it by month, or pick a shorter range.",
        ),
        (
            {"period": "range", "from": "yesterday", "to": "2026-03-01"},
            "The start date “yesterday” is not a date: write it as year-month-day, for example 2026-03-01.",
        ),
        (
            {"period": "range", "from": "2026-02-29", "to": "2026-03-01"},
            "The start date “2026-02-29” is not in the calendar: February 2026 has 28 days.",
        ),
        (
            {"period": "range", "from": "2026-11-01", "to": "2026-11-31"},
            "The end date “2026-11-31” is not in the calendar: November 2026 has 30 days.",
        ),
        (
            {"period": "range", "from": "2026-13-01", "to": "2026-12-31"},
            "The start date “2026-13-01” has no such month: months run from 01 to 12.",
        ),
        (
            {
                "period": "range",
                "from": "\uff12\uff10\uff12\uff16-\uff10\uff13-\uff10\uff11",
                "to": "2026-03-02",
            },
            "The start date “\uff12\uff10\uff12\uff16-\uff10\uff13-\uff10\uff11” is not a date: write it as year-month-day",
        ),
        ({"period": "range", "from": "2026-03-01"}, "A range needs an end date as well"),
        (
            {"period": "range", "from": "1900-01-01", "to": "1900-01-02"},
            "The start date must fall between the years 2000 and 2099.",
        ),
        (
            {"period": "range", "from": "9999-12-31", "to": "9999-12-31"},
            "must fall between the years 2000 and 2099",
        ),
        ({"period": "forever"}, "Choose this month, last month, or a range of dates."),
        ({"by": "week"}, "Group by day or by month."),
    ],
)
def test_a_bad_period_gets_a_sentence_naming_the_rule(signed_in: Client, query, sentence):
    response = signed_in.get(COSTS, query)
    assert response.status_code == 400
    assert sentence in text(response)
    response = signed_in.get(CSV, query)
    assert response.status_code == 400
    assert sentence in response.content.decode()


def test_a_long_range_without_a_grouping_is_shown_by_month(client: Client, world):
    client.force_login(staff("sam"))
    today = timezone.localdate()
    first = date(today.year - 1, today.month, 1)
    html = text(client.get(COSTS, {"period": "range", "from": first.isoformat(), "to": today.isoformat()}))
    months = table(html, "spent-by-time")
    assert len(months) == 14  # thirteen months touched and the total
    assert months["Total"] == ("8", "$15.47")  # last month's $9.00 included


# --- Month ends in the site's time zone -----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "moment"),
    [
        ("America/Los_Angeles", datetime(2027, 1, 31, 23, 30)),
        ("Pacific/Auckland", datetime(2027, 12, 31, 23, 30)),
    ],
)
def test_a_video_at_23_30_on_the_months_last_day_is_that_day_and_month(
    client: Client, db, settings, zone, moment
):
    settings.TIME_ZONE = zone
    sam = staff("sam")
    now = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    with time_machine.travel(now, tick=False):
        client.force_login(sam)
        job(sam, usd="1.25", created_at=timezone.now())
        job(sam, usd="2.00", created_at=timezone.now() + timedelta(hours=1))  # 00:30 on the 1st: next month
        days = table(text(client.get(COSTS)), "spent-by-time")
        last_day = f"{moment:%a} {moment.day} {moment:%b}"
        assert days[last_day] == ("1", "$1.25")
        assert days["Total"] == ("1", "$1.25")
        assert len(days) == 32  # every day of the month, and the total
        months = table(text(client.get(COSTS, {"by": "month"})), "spent-by-time")
        assert months == {f"{moment:%B %Y}": ("1", "$1.25"), "Total": ("1", "$1.25")}
        assert usage_dollars()["Team"] == "$1.25"
        following = {"period": "range", "from": "2028-01-01" if moment.month == 12 else "2027-02-01"}
        following["to"] = following["from"]
        assert table(text(client.get(COSTS, following)), "spent-by-time")["Total"] == ("1", "$2.00")


# --- Collections, the CSV -------------------------------------------------------------------------


def test_collections_count_a_video_in_each_and_the_csv_equals_the_tables(client: Client, world):
    alice = world["alice"]
    sam = staff("sam")
    client.force_login(sam)
    known = Generation.objects.filter(created_by=alice, usd_spent=Decimal("0.43")).get()
    live = Generation.objects.filter(created_by=alice, usd_spent=Decimal("1.10")).get()
    evil = Collection.objects.create(name='=HYPERLINK("http://evil.example/","click")')
    harbour = Collection.objects.create(name="Harbour")
    CollectionEntry.objects.create(collection=evil, generation=known)
    CollectionEntry.objects.create(collection=harbour, generation=known)
    CollectionEntry.objects.create(collection=harbour, generation=live)
    html = text(client.get(COSTS))
    collections = table(html, "cost-collection")
    assert collections["Harbour"] == ("2", "$1.53")
    assert collections['=HYPERLINK("http://evil.example/","click")'] == ("1", "$0.43")
    assert collections["Not in a collection"] == ("5", "$4.94")
    assert collections["All videos, each once"] == ("7", "$6.47")
    assert "counts in both" in html

    response = client.get(CSV)
    assert response["Content-Type"].startswith("text/csv")
    start = month_start()
    end = month_start(months_back=-1) - timedelta(days=1)
    expected_name = (
        f"costs_{timezone.localtime(start):%Y-%m-%d}_to_{timezone.localtime(end):%Y-%m-%d}_by-day_team.csv"
    )
    assert f'filename="{expected_name}"' in response["Content-Disposition"]
    rows = csv_table(response)
    assert rows[0] == ["Table", "Name", "Videos", "Dollars"]
    assert ["Collection", '\'=HYPERLINK("http://evil.example/","click")', "1", "0.43"] in rows
    for kind, table_id in (
        ("Person", "cost-person"),
        ("Model", "cost-model"),
        ("Collection", "cost-collection"),
    ):
        from_csv = {r[1].removeprefix("'"): (r[2], f"${r[3]}") for r in rows if r[0] == kind}
        on_page = {
            k: v for k, v in table(html, table_id).items() if k not in ("Total", "All videos, each once")
        }
        assert from_csv == on_page, kind
    days = {r[1]: (r[2], f"${r[3]}") for r in rows if r[0] == "Day"}
    assert len(days) == len(table(html, "spent-by-time")) - 1
    assert rows[-1][0] == "Total" and rows[-1][2:] == ["7", "6.47"]


# --- The chart ------------------------------------------------------------------------------------


def test_the_chart_is_inline_svg_with_bars_budget_lines_and_a_text_alternative(
    client: Client, world, settings
):
    settings.TEAM_MONTHLY_BUDGET_USD = Decimal("50.00")
    Allowance.objects.create(user=world["alice"], usd_per_month=Decimal("7.50"))
    client.force_login(staff("sam"))
    html = client.get(COSTS).content.decode()
    assert html.count("<svg") == 2  # wide and narrow
    assert 'aria-labelledby="chart-wide-title chart-wide-desc"' in html
    assert 'class="chart-bar"' in html
    assert "chart-budget chart-team" in html and "Team monthly budget: $50.00" in unescape(html)
    assert "style=" not in html.split("<main", 1)[1]  # the CSP forbids style attributes
    client.force_login(world["alice"])
    html = unescape(client.get(COSTS).content.decode())
    assert "Your monthly budget: $7.50" in html and "chart-team" not in html
    TeamBudget.objects.create(usd_per_month=Decimal("80.00"))
    client.force_login(staff("tess"))
    assert "Team monthly budget: $80.00" in unescape(client.get(COSTS).content.decode())


# --- Queries --------------------------------------------------------------------------------------


def test_the_page_and_the_csv_cost_the_same_few_queries_at_any_size(client: Client, world):
    sam = staff("sam")
    client.force_login(sam)
    client.get(COSTS)  # warm the session

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    small = count(COSTS), count(CSV)
    harbour = Collection.objects.create(name="Harbour")
    for n in range(40):
        person = member(f"p{n}") if n % 4 == 0 else sam
        gen = job(person, usd=None if n % 3 else "0.31", model="video-01-live2d" if n % 2 else "video-01")
        if n % 5 == 0:
            CollectionEntry.objects.create(collection=harbour, generation=gen)
    large = count(COSTS), count(CSV)
    assert large == small
    assert small[0] <= 15, small


def test_the_report_reads_in_bounded_queries_directly(world):
    sam = staff("sam")
    from playground.money.costs import period_from

    with CaptureQueriesContext(connection) as queries:
        report(sam, period_from(_query({})))
    # Four grouped reads, one per model's estimate at most, and the team budget.
    assert len(queries) <= 4 + 2 + 1, [q["sql"] for q in queries]


def test_the_running_total_resets_each_month_and_stops_today(db):
    sam = staff("sam")
    from playground.money.costs import period_from

    today = timezone.localdate()
    first = today.replace(day=1) - timedelta(days=3)  # three days of last month, then this one
    job(sam, usd="1.00", created_at=month_start() - timedelta(days=1))
    job(sam, usd="0.50", created_at=month_start() + timedelta(seconds=1))
    end = month_start(months_back=-1)
    last = timezone.localtime(end).date() - timedelta(days=1)
    figures = report(sam, period_from(_query({"period": "range", "from": str(first), "to": str(last)})))
    so_far = {p.day: p.so_far for p in figures.points}
    assert so_far[today.replace(day=1) - timedelta(days=1)] == Decimal("1.00")
    assert so_far[today] == Decimal("0.50")  # the 1st started again
    assert all(value is None for day, value in so_far.items() if day > today)
    assert len(figures.running) == (today - first).days + 1


def _query(values: dict[str, str]) -> Any:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(values)
    return query


# --- Usage and Costs, many videos across a month end -------------------------------------------


def usage_page_dollars(html: str) -> list[dict[str, str]]:
    """{who: dollars} of each month on the Usage page, this month first, the Team row included."""
    months = html.split('class="card usage-month"')[1:]
    found = []
    for section in months:
        rows = re.findall(
            r'<tr><th scope="row">(.*?)</th>(?:<td>\d+</td>){4}<td class="usd">(.*?)</td>', section
        )
        found.append(dict(rows))
    return found


def many_jobs(rng: random.Random, people: list[User], traveller: Any) -> None:
    """A few hundred videos of every kind, a few minutes apart, priced to fractions of a cent."""
    models = ("video-01", "video-01-live2d", "minimax/h3", "minimax/h3-max")
    for _ in range(240):
        traveller.shift(timedelta(seconds=rng.randint(30, 120)))
        model = rng.choice(models)
        seconds = rng.choice([None, 5, 7, 15]) if model.startswith("minimax/h3") else None
        # Costs with 9 decimals, and ones ending in half a cent (where a sum's rounding is fragile).
        usd = rng.choice(
            [
                Decimal(rng.randint(1, 3_000_000_000)) / 10**9,
                Decimal(rng.randint(1, 400)) / 200 + Decimal("0.005"),
            ]
        )
        who = rng.choice([*people, None])
        now = timezone.now()
        kind = rng.random()
        if kind < 0.45:
            generation(who, State.READY, model=model, duration_seconds=seconds, usd_spent=usd)
        elif kind < 0.55:  # made, but its cost not reported yet: at the estimate
            generation(who, State.READY, model=model, duration_seconds=seconds, usd_spent=Decimal(0))
        elif kind < 0.7:
            state = rng.choice([State.QUEUED, State.SUBMITTING, State.RUNNING, State.ARCHIVING])
            generation(who, state, model=model, duration_seconds=seconds)
        elif kind < 0.8:  # made by the service, then failed: counted
            generation(
                who, State.FAILED, model=model, duration_seconds=seconds, usd_spent=usd, completed_at=now
            )
        elif kind < 0.9:  # refused: not counted
            generation(who, State.FAILED, model=model, failure_code="refused", usd_spent=usd)
        else:
            generation(who, State.CANCELLED, model=model, duration_seconds=seconds)


@pytest.mark.parametrize(
    ("zone", "moment", "seed"),
    [
        ("America/Los_Angeles", datetime(2027, 1, 31, 22, 0), 1),  # 06:00 UTC, already February
        ("Pacific/Auckland", datetime(2027, 3, 31, 22, 0), 2),  # 09:00 UTC, still March there
    ],
)
def test_usage_and_costs_agree_to_the_cent_on_many_videos_across_a_month_end(
    client: Client, db, settings, zone, moment, seed
):
    settings.TIME_ZONE = zone
    settings.ESTIMATE_FROM_LAST = 7
    rng = random.Random(seed)  # noqa: S311 (the same videos on every run)
    people = [member(name) for name in ("ana", "ben", "cy")]
    sam = staff("sam")
    with time_machine.travel(moment.replace(tzinfo=zoneinfo.ZoneInfo(zone)), tick=False) as traveller:
        many_jobs(rng, people, traveller)
        people[2].delete()  # a former member: their videos stay, under "former members"
        assert Generation.objects.filter(created_at__lt=month_start()).count() > 50  # both months have videos
        assert Generation.objects.filter(created_at__gte=month_start()).count() > 50
        client.force_login(sam)
        on_usage = usage_page_dollars(text(client.get(reverse("usage"))))
        for months_back, period in ((0, "this"), (1, "last")):
            costs_html = text(client.get(COSTS, {"period": period}))
            by_person = {name: usd for name, (_, usd) in table(costs_html, "cost-person").items()}
            expected = usage_dollars(months_back)
            assert by_person.pop("Total") == expected.pop("Team") == on_usage[months_back].pop("Team")
            assert by_person == expected == on_usage[months_back]
            assert (
                table(costs_html, "spent-by-time")["Total"][1] == table(costs_html, "cost-model")["Total"][1]
            )
            # Not only to the cent: the same dollars exactly, however the rows were grouped.
            exact = report(sam, period_from(QueryDict(f"period={period}"))).total.usd
            assert exact == month_usage(months_back).team.usd
            csv_total = csv_table(client.get(CSV, {"period": period}))[-1][3]
            assert f"${Decimal(csv_total):,.2f}" == usage_dollars(months_back)["Team"]
        # A member's own Costs page says what their Usage row says.
        for person in people[:2]:
            client.force_login(person)
            for months_back, period in ((0, "this"), (1, "last")):
                own = table(text(client.get(COSTS, {"period": period})), "cost-person")
                assert own["Total"][1] == usage_dollars(months_back)[person.username]
