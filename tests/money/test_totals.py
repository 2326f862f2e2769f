"""Running money totals: always the sum of the rows they summarise, whatever happens in whatever order."""

from __future__ import annotations

import random
import subprocess
import threading
import time
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from playground.generations.models import ACTIVE_STATES, MAX_RESENDS, Generation, State
from playground.money import budgets, starts, totals
from playground.money.models import SpendTotal, allowance_for, month_start
from playground.upstream.aimlapi import Accepted, Progress, Trace
from tests.factories import generation, member
from tests.faults import Fault

OWNER = "walker"
PER_JOB = ("video-01", "video-01-live2d")
MODELS = (*PER_JOB, "minimax/h3")  # the last priced by the second
CLOSE = Decimal("0.000001")  # committed() adds on SQLite in floating point


def month_bounds(month: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    first = timezone.make_aware(datetime(month.year, month.month, 1), zone)
    return first, month_start(first, months_back=-1)


def from_totals(person: User | None, month: date) -> tuple[Decimal, int]:
    """A month's dollars (at today's estimates) and videos, read from the totals alone."""
    dollars, videos = Decimal(0), 0
    for row in SpendTotal.objects.filter(person=person.pk if person else None, month=month):
        in_flight = budgets.guess(row.model).of(row.at_estimate, row.at_estimate_seconds)
        dollars += totals.dollars_of(row.spent_nano) + in_flight
        videos += row.videos
    return dollars, videos


def from_rows(person: User | None, month: date) -> tuple[Decimal, int]:
    """The same, summed from the rows by the queries that were the only truth before the totals."""
    since, until = month_bounds(month)
    rows = Generation.objects.filter(created_at__gte=since, created_at__lt=until)
    if person is not None:
        rows = rows.filter(created_by=person.pk)
    return budgets.committed(user=person, since=since, until=until), rows.counting_toward_allowance().count()


def assert_totals_match_the_rows(people: list[User]) -> None:
    result = totals.recount(fix=False)
    assert result.stale_rows == 0
    assert result.differences == []
    months = {totals.month_of(at) for at in Generation.objects.values_list("created_at", flat=True)}
    for month in months:
        for person in [None, *people]:
            (usd, videos), (want_usd, want_videos) = from_totals(person, month), from_rows(person, month)
            assert abs(usd - want_usd) < CLOSE, (person, month, usd, want_usd)
            assert videos == want_videos, (person, month)
    # And what the start check reads, for this month.
    for person in [None, *people]:
        assert (
            abs(budgets.committed_this_month(person) - budgets.committed(user=person, since=month_start()))
            < CLOSE
        )
    for person in people:
        assert allowance_for(person).used == (
            Generation.objects.filter(created_by=person.pk, created_at__gte=month_start())
            .counting_toward_allowance()
            .count()
        )


# --- A random walk through everything that changes what a row costs ---------------------------


def cost(rng: random.Random) -> Decimal | None:
    return rng.choice([None, Decimal(0), Decimal(rng.randint(1, 99_999)) / 100_000])


def trace(rng: random.Random) -> Trace:
    return Trace(inference_id=None, client_request_id=None, usd=cost(rng), credits=None)


def progress(rng: random.Random, state: Any) -> Progress:
    return Progress(state, "completed", "https://x/v.mp4", 5.0, None, None, {}, trace(rng))


def advance(gen: Generation, rng: random.Random) -> None:
    """One move of the worker's, chosen at random among those the row's state allows."""
    Generation.objects.filter(pk=gen.pk).update(lease_owner=OWNER)
    gen.refresh_from_db()
    later = timezone.now() + timedelta(seconds=5)
    moves: dict[str, list[Callable[[], Any]]] = {
        State.QUEUED: [
            lambda: gen.mark_create_sent(OWNER),
            lambda: Generation.objects.cancel([gen.pk]),
            lambda: gen.mark_failed(OWNER, "never_started", "never sent"),
        ],
        State.SUBMITTING: [
            lambda: gen.mark_accepted(
                OWNER, Accepted(f"up-{gen.pk}", "queued", None, {}, trace=trace(rng)), next_poll_at=later
            ),
            lambda: gen.mark_not_sent(OWNER, retry_at=later, trouble="busy"),
            lambda: gen.mark_recovering(OWNER, window=timedelta(minutes=5), first_look=later),
            lambda: gen.mark_failed(OWNER, "refused", "refused"),
        ],
        State.RECOVERING: [
            lambda: gen.mark_adopted(
                OWNER, inference_id=f"up-{gen.pk}", usd=cost(rng), credits=None, next_poll_at=later
            ),
            lambda: gen.mark_resend(OWNER, notice="again") if gen.resends < MAX_RESENDS else None,
            lambda: gen.mark_failed(OWNER, "ambiguous", "lost"),
        ],
        State.RUNNING: [
            lambda: gen.record_progress(OWNER, progress(rng, "running"), next_poll_at=later),
            lambda: gen.mark_completed(OWNER, progress(rng, "completed")),
            lambda: gen.mark_failed(OWNER, "upstream_error", "failed upstream"),
        ],
        State.ARCHIVING: [
            lambda: gen.mark_ready(OWNER, video="v.mp4", poster="p.jpg", duration=5.0, size=10),
            lambda: gen.mark_failed(OWNER, "not_saved", "could not save"),
        ],
    }
    rng.choice(moves[gen.state])()


def submit(person: User, rng: random.Random, models: tuple[str, ...] = MODELS, *, bulk: bool = False) -> None:
    model = rng.choice(models)
    count = rng.choice([1, 1, 2, 3]) if not bulk else rng.choice([1, 2, 5, 12])
    # H3's lengths, or none (its default); the other models take none.
    seconds = rng.choice([None, 4, 6, 11, 15]) if model == "minimax/h3" else None

    def make() -> None:
        takes = [
            Generation(created_by=person, model=model, prompt=f"take {i}", duration_seconds=seconds)
            for i in range(count)
        ]
        if bulk:  # a batch's takes in one statement, as a batch or the seeding makes them
            Generation.objects.bulk_create(takes)
        else:
            for take in takes:
                take.save()

    starts.start(person, model, count, make, seconds)


def settle_many(rng: random.Random, active: list[int]) -> None:
    """Several rows' costs at once: one UPDATE (their records differ) and one bulk_update."""
    chosen = rng.sample(active, min(len(active), rng.randint(2, 6)))
    running = Generation.objects.filter(pk__in=chosen, state=State.RUNNING)
    if rng.random() < 0.5:
        running.update(usd_spent=cost(rng), completed_at=timezone.now(), state=State.ARCHIVING)
    else:
        rows = list(running)
        for row in rows:  # each its own cost: records no two rows share
            row.usd_spent = cost(rng)
        Generation.objects.bulk_update(rows, ["usd_spent"])


def walk(rng: random.Random, people: list[User], steps: int, traveller: Any, *, bulk: bool = False) -> None:
    for step in range(steps):
        traveller.shift(timedelta(seconds=rng.randint(1, 12)))
        roll = rng.random()
        active = list(Generation.objects.filter(state__in=ACTIVE_STATES).values_list("pk", flat=True))
        if roll < 0.25 or not active:
            submit(rng.choice(people), rng, bulk=bulk)
        elif bulk and roll < 0.40:
            settle_many(rng, active)
        elif roll < 0.85:
            advance(Generation.objects.get(pk=rng.choice(active)), rng)
        elif roll < 0.90:
            Generation.objects.filter(created_by=rng.choice(people)).cancel()
        elif roll < 0.95:
            any_row = list(Generation.objects.values_list("pk", flat=True))
            Generation.objects.get(pk=rng.choice(any_row)).delete()
        else:  # several at once, as the gallery's bulk delete does it
            any_row = list(Generation.objects.values_list("pk", flat=True))
            Generation.objects.filter(pk__in=rng.sample(any_row, min(3, len(any_row)))).delete()
        if step % 25 == 0:
            assert_totals_match_the_rows(people)


@pytest.mark.parametrize(
    ("zone", "moment", "seed"),
    [
        ("Pacific/Auckland", datetime(2027, 12, 31, 23, 40), 25),  # the year ends
        ("America/Los_Angeles", datetime(2028, 2, 29, 23, 40), 2028),  # a leap February ends
    ],
)
@pytest.mark.parametrize("bulk", [False, True], ids=["row-by-row", "bulk"])
def test_totals_equal_the_rows_after_a_random_walk_across_a_month_end(db, settings, zone, moment, seed, bulk):
    settings.TIME_ZONE = zone
    settings.MONTHLY_GENERATION_CAP = None
    settings.MONTHLY_BUDGET_USD = None
    settings.SUBMISSIONS_PER_MINUTE = 10**6
    settings.ESTIMATE_FROM_LAST = 3  # the estimate moves as costs arrive
    rng = random.Random(seed)  # noqa: S311 (the same walk on every run)
    people = [member(name) for name in ("ana", "ben", "cy")]
    start = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    with time_machine.travel(start, tick=False) as traveller:
        walk(rng, people, 200, traveller, bulk=bulk)
        # A person leaves: their rows stay in the team's totals, their own totals go.
        leaver = people.pop()
        gone = leaver.pk
        assert SpendTotal.objects.filter(person=gone).exists()
        leaver.delete()
        assert not SpendTotal.objects.filter(person=gone).exists()
        walk(rng, people, 200, traveller, bulk=bulk)
        assert_totals_match_the_rows(people)
        months = set(SpendTotal.objects.values_list("month", flat=True))
    first = start.date().replace(day=1)
    assert months == {first, (first + timedelta(days=32)).replace(day=1)}  # both sides of midnight


# --- What a check sees -------------------------------------------------------------------------


def test_a_check_reads_in_flight_jobs_at_todays_estimate_not_the_one_they_started_with(user, settings):
    settings.ESTIMATE_FROM_LAST = 1
    settings.VIDEO_PRICES_USD = {"video-01": Decimal("0.50"), "video-01-live2d": Decimal("0.60")}
    generation(user, State.RUNNING)
    assert budgets.person_budget(user).committed == Decimal("0.50")
    generation(user, State.READY, usd_spent=Decimal("0.40"))  # the estimate is now 0.40
    assert budgets.person_budget(user).committed == Decimal("0.80") == budgets.committed(user=user)


def test_deleting_a_video_gives_its_money_back_as_it_always_did(user, settings):
    gen = generation(user, State.READY, usd_spent=Decimal("0.43"))
    generation(user, State.READY, usd_spent=Decimal("0.50"))
    assert budgets.person_budget(user).committed == Decimal("0.93")
    gen.delete()
    assert budgets.person_budget(user).committed == Decimal("0.50")
    assert allowance_for(user).used == 1


def test_last_months_videos_do_not_count_this_month(user):
    generation(user, State.READY, usd_spent=Decimal("2.00"), created_at=month_start() - timedelta(seconds=1))
    generation(user, State.READY, usd_spent=Decimal("0.43"), created_at=month_start())
    assert budgets.person_budget(user).committed == Decimal("0.43")
    assert budgets.team_budget().committed == Decimal("0.43")


def test_a_save_that_changes_no_money_touches_no_total_and_runs_few_statements(user):
    from django.test.utils import CaptureQueriesContext

    generation(user, State.READY, usd_spent=Decimal("0.43"))
    gen = Generation.objects.get(pk=generation(user, State.RUNNING).pk)  # as the worker reads it
    gen.upstream_status = "generating"
    with CaptureQueriesContext(connection) as saved:
        gen.save()
    statements = [
        q["sql"] for q in saved.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert not [sql for sql in statements if "spendtotal" in sql.lower()], statements
    # The save itself and the after-save read of what the row holds; nothing lets go and takes up again.
    assert len(statements) == 2, statements
    assert_totals_match_the_rows([user])


def test_a_save_that_moves_a_row_to_another_month_or_person_moves_its_money(user, other_user):
    gen = Generation.objects.get(pk=generation(user, State.READY, usd_spent=Decimal("0.43")).pk)
    gen.created_at = month_start() - timedelta(days=3)
    gen.save()
    assert budgets.person_budget(user).committed == Decimal(0)
    gen.created_by = other_user
    gen.save()
    assert_totals_match_the_rows([user, other_user])
    moved = Generation.objects.only("pk", "usd_spent", "state").get(pk=gen.pk)  # key fields deferred
    moved.created_at = timezone.now()
    moved.save()
    assert budgets.person_budget(other_user).committed == Decimal("0.43")
    assert_totals_match_the_rows([user, other_user])


# --- The command that rebuilds them ------------------------------------------------------------


def test_the_command_finds_a_planted_difference_says_how_big_and_puts_it_right(user, capsys):
    generation(user, State.READY, usd_spent=Decimal("0.43"))
    skipped = generation(user, State.QUEUED)
    call_command("recompute_money_totals", "--check")
    assert "match" in capsys.readouterr().out
    # A write that went round the totals (raw SQL), and a total changed by hand.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE playground_generation SET state = %s WHERE id = %s", [State.CANCELLED, skipped.pk]
        )
    SpendTotal.objects.filter(person=user).update(spent_nano=F("spent_nano") + 1_230_000_000)
    with pytest.raises(CommandError) as refused:
        call_command("recompute_money_totals", "--check")
    assert refused.value.returncode == 1
    out = capsys.readouterr().out
    assert "1 generation had an out-of-date record" in out
    assert (
        f"alice, {timezone.localtime():%B %Y}, video-01: known costs $1.660000000 instead of $0.430000000"
        in out
    )
    assert "(off by $1.230000000)" in out
    assert (
        f"The team, {timezone.localtime():%B %Y}, video-01: 1 jobs at the estimate instead of 0; "
        "6 seconds asked for at the estimate instead of 0; 2 videos instead of 1." in out
    )
    assert totals.recount(fix=False).differences != []  # --check changed nothing
    call_command("recompute_money_totals")
    assert "Put right" in capsys.readouterr().out
    call_command("recompute_money_totals", "--check")
    assert budgets.person_budget(user).committed == Decimal("0.43")
    assert allowance_for(user).used == 1


# --- Two real workers --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_totals_equal_the_rows_with_two_workers_stepping_jobs(
    upstream: Any, settings: Any, start_worker: Callable[..., subprocess.Popen[bytes]]
):
    settings.MONTHLY_GENERATION_CAP = None
    settings.MONTHLY_BUDGET_USD = None
    settings.SUBMISSIONS_PER_MINUTE = 10**6
    rng = random.Random(2)  # noqa: S311 (the same choices on every run)
    people = [member(name) for name in ("ana", "ben")]
    # Some creates are refused, some not accepted (sent again), some answers lost (looked up).
    upstream.app.inject(
        "create",
        Fault(status=400, body={"message": "The prompt was refused."}),
        Fault(status=503),
        Fault(process=True, close=True),
        Fault(status=400, body={"message": "The prompt was refused."}),
    )
    for _ in range(12):
        submit(rng.choice(people), rng, PER_JOB)
    procs = [start_worker(f"totals-{i}", threads=3) for i in range(2)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a worker died"
        roll = rng.random()
        if roll < 0.3:
            submit(rng.choice(people), rng, PER_JOB)
        elif roll < 0.4:
            Generation.objects.filter(created_by=rng.choice(people)).cancel()
        elif roll < 0.5:
            done = list(Generation.objects.filter(state=State.READY).values_list("pk", flat=True)[:2])
            Generation.objects.filter(pk__in=done).delete()
        if Generation.objects.count() > 40 and not Generation.objects.active().exists():
            break
        time.sleep(0.05)
    assert not Generation.objects.active().exists()
    assert Generation.objects.filter(state=State.READY).exists()
    assert Generation.objects.filter(state=State.CANCELLED).exists()
    assert Generation.objects.filter(state=State.FAILED).exists()
    assert_totals_match_the_rows(people)
    assert budgets.team_budget().committed > 0


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_fills_the_totals_from_the_rows_already_there(user, other_user):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("playground", "0012_team_existing_accounts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("playground", "Generation")
    old.objects.create(
        created_by_id=user.pk, model="video-01", prompt="a", state="ready", usd_spent=Decimal("0.43")
    )
    old.objects.create(created_by_id=user.pk, model="video-01", prompt="b", state="running")
    old.objects.create(created_by_id=other_user.pk, model="video-01", prompt="c", state="cancelled")
    old.objects.create(
        model="video-01",
        prompt="d",
        state="ready",
        usd_spent=Decimal("1.00"),
        created_at=month_start() - timedelta(days=1),
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert totals.recount(fix=False).differences == []
    this_month = Decimal("0.43") + budgets.estimate("video-01")  # one made, one in flight
    assert budgets.estimate("video-01") == Decimal("0.715")  # last month's $1.00 is a known cost too
    assert budgets.person_budget(user).committed == this_month == budgets.team_budget().committed
    assert allowance_for(user).used == 2 and allowance_for(other_user).used == 0
    assert_totals_match_the_rows([user, other_user])


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_counts_the_seconds_in_flight_jobs_asked_for(user, other_user):
    from django.db.migrations.executor import MigrationExecutor

    before = [("playground", "0019_generation_references")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("playground", "Generation")
    total = executor.loader.project_state(before).apps.get_model("playground", "SpendTotal")
    for seconds, who in ((15, user), (15, user), (None, user), (10, other_user)):
        old.objects.create(
            created_by_id=who.pk,
            model="minimax/h3",
            prompt="p",
            state="running",
            duration_seconds=seconds,
            held_at_estimate=True,
            held_video=True,
        )
    old.objects.create(
        created_by_id=user.pk,
        model="minimax/h3",
        prompt="q",
        state="ready",
        usd_spent=Decimal("1.20"),
        duration_seconds=15,
        held_nano=1_200_000_000,
        held_video=True,
    )
    assert old.objects.count() == 5
    # The totals as 0013 kept them: a count of jobs at the estimate, no seconds.
    for who in (None, user.pk):
        total.objects.create(
            person_id=who, month=totals.month_of(timezone.now()), model="minimax/h3", spent_nano=1_200_000_000
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert totals.recount(fix=False).differences == []
    assert sorted(Generation.objects.values_list("held_at_estimate_seconds", flat=True)) == [0, 6, 10, 15, 15]
    team = SpendTotal.objects.get(person=None, model="minimax/h3")
    assert (team.at_estimate, team.at_estimate_seconds) == (4, 46)
    # $1.20 for 15 s: $0.08 a second, for the 36 s this person's jobs in flight asked for.
    assert (
        budgets.person_budget(user).committed
        == Decimal("1.20") + Decimal("2.88")
        == budgets.committed(user=user)
    )
    assert_totals_match_the_rows([user, other_user])


# --- The command while workers settle jobs (PostgreSQL's row and table locks) -----------------


def settle_jobs_round_the_totals_and_back(
    pks: list[int], stop: threading.Event, errors: list[str], *, round_the_totals: bool = True
) -> int:
    """A writer as the worker is one: lock a job's row, wait a moment, save its cost (sync: the
    row, then the totals). Before each, a write that goes round the totals (raw SQL, as a bug or a
    hand-made fix might), so the command has rows to put right while the writer holds them."""
    rng = random.Random(5)  # noqa: S311 (the same writes on every run)
    steps = 0
    try:
        while not stop.is_set():
            pk = rng.choice(pks)
            if round_the_totals:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE playground_generation SET usd_spent = %s WHERE id = %s",
                        [Decimal(rng.randint(1, 10**6)) / 10**6, pk],
                    )
            with transaction.atomic():
                gen = Generation.objects.select_for_update().get(pk=pk)
                time.sleep(0.005)
                gen.usd_spent = rng.choice([None, Decimal(rng.randint(1, 10**9)) / 10**9])
                gen.save()
            steps += 1
    except Exception as error:
        errors.append(f"writer: {error!r}")
    finally:
        connection.close()
    return steps


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_command_and_a_writer_settling_jobs_at_once_never_deadlock(user, other_user):
    pks = [
        generation(who, state, model=model, duration_seconds=seconds).pk
        for who in (user, other_user)
        for state in (State.RUNNING, State.READY)
        for model, seconds in (("video-01", None), ("minimax/h3", 15))
    ]
    stop = threading.Event()
    errors: list[str] = []
    steps: list[int] = []
    writer = threading.Thread(
        target=lambda: steps.append(settle_jobs_round_the_totals_and_back(pks, stop, errors))
    )
    writer.start()
    recounts = put_right = 0
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not errors:
            try:
                result = totals.recount(fix=True)
            except Exception as error:
                errors.append(f"command: {error!r}")
                break
            recounts += 1
            put_right += result.stale_rows
    finally:
        stop.set()
        writer.join(timeout=30)
    assert errors == []
    assert recounts > 20 and steps and steps[0] > 20, (recounts, steps)
    assert put_right > 0  # the command did find rows to put right while the writer held some
    assert_totals_match_the_rows([user, other_user])  # with no recount after the writer stopped


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_check_while_a_writer_settles_jobs_reads_one_moment_and_finds_nothing_wrong(user, other_user):
    pks = [
        generation(who, State.RUNNING, model="minimax/h3", duration_seconds=9).pk
        for who in (user, other_user)
    ]
    stop = threading.Event()
    errors: list[str] = []
    steps: list[int] = []
    writer = threading.Thread(
        target=lambda: steps.append(
            settle_jobs_round_the_totals_and_back(pks, stop, errors, round_the_totals=False)
        )
    )
    writer.start()
    checks, found = 0, []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not errors:
            result = totals.recount(fix=False)
            checks += 1
            if result.stale_rows or result.differences:
                found.append(result)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert errors == []
    assert checks > 20 and steps and steps[0] > 20, (checks, steps)
    assert found == []  # the writer kept the totals right; a check must not say otherwise


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_command_and_people_leaving_at_once_never_deadlock(user):
    leavers = [member(f"leaver{i}") for i in range(40)]
    for person in leavers:
        for state in (State.RUNNING, State.READY):
            generation(person, state, usd_spent=Decimal("0.43") if state == State.READY else None)
    generation(user, State.READY, usd_spent=Decimal("0.43"))
    errors: list[str] = []

    def leave() -> None:
        try:
            for person in leavers:
                person.delete()
        except Exception as error:
            errors.append(f"deleting a person: {error!r}")
        finally:
            connection.close()

    deleting = threading.Thread(target=leave)
    deleting.start()
    recounts = 0
    while deleting.is_alive() and not errors:
        try:
            totals.recount(fix=True)
        except Exception as error:
            errors.append(f"command: {error!r}")
        recounts += 1
    deleting.join(timeout=30)
    assert errors == []
    assert recounts > 1
    assert not SpendTotal.objects.filter(person__isnull=False).exclude(person=user.pk).exists()
    assert_totals_match_the_rows([user])


# --- Many rows at once ---------------------------------------------------------------------------


def test_a_thousand_takes_made_at_once_bring_the_totals_along_in_a_few_statements(user, other_user):
    """A batch of 1,000 takes (three people's and models' groups, one with its own length): the
    totals follow in one read, one write of the rows' records per distinct record and one per
    total, not a statement per row (these 1,000 took 1,013 before)."""
    from django.test.utils import CaptureQueriesContext

    takes = [
        *(Generation(created_by=user, model="video-01", prompt=f"a {i}") for i in range(600)),
        *(Generation(created_by=user, model="video-01-live2d", prompt=f"b {i}") for i in range(100)),
        *(
            Generation(created_by=other_user, model="minimax/h3", prompt=f"c {i}", duration_seconds=11)
            for i in range(300)
        ),
    ]
    with CaptureQueriesContext(connection) as made:
        Generation.objects.bulk_create(takes)
    statements = [
        q["sql"]
        for q in made.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", 'INSERT INTO "playground_generation"'))
    ]
    # One read of the rows, a write of their records per model (each asks for its own default
    # length or 11 s), and an UPDATE that finds nothing and an INSERT for each of the six new
    # totals (the team's and the person's, per model): 16 in all.
    assert len(statements) <= 16, (len(statements), statements[:20])
    assert SpendTotal.objects.get(person=other_user, model="minimax/h3").at_estimate_seconds == 300 * 11
    assert SpendTotal.objects.get(person=None, model="video-01").at_estimate == 600
    assert_totals_match_the_rows([user, other_user])
    # Settling 700 at once is as short: the locking read and the UPDATE, the read of what they
    # hold, one write of their (shared) record, and the four totals they count in.
    with CaptureQueriesContext(connection) as settled:
        Generation.objects.filter(created_by=user).update(
            state=State.READY, usd_spent=Decimal("0.25"), completed_at=timezone.now()
        )
    statements = [
        q["sql"]
        for q in settled.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN"))
    ]
    assert len(statements) <= 8, "\n".join(s[:150] for s in statements)
    assert_totals_match_the_rows([user, other_user])
