"""Fair turns: the order in which waiting jobs are taken, the one statement of the rule.

Round-robin between people: everyone's oldest waiting job comes before anyone's second. Within a
round the person served longest ago goes first, never served before anyone, then the older job,
then the lower id. "Served" is the person's latest create sent, or a lease held right now on one of
their waiting jobs (a worker is sending it), whichever is later. Jobs whose maker's account is gone
take their turns together, as one person who has never been served.

The worker takes jobs in this order (worker/keylimits.py) and the Queue page shows it
(generations/queue.py), so "place in line" is what the worker will do. Both read it through
TurnLine, which says the rule in SQL: a page or a worker's candidates cost one query returning
their own rows, whatever the length of the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import overload

from django.db import connection
from django.db.models import Case, F, IntegerField, Max, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from playground.generations.models import Generation, GenerationQuerySet


class TurnLine:
    """Waiting jobs' ids in fair turns, read a slice at a time (a Paginator can page through it).

    Each job's turn is its place among its person's jobs (oldest first); the line is sorted by
    turn, then by when the person was last served, then by the job's age and id.

    `free_only` leaves out the jobs leased right now (what a worker may still take). Those jobs
    still hold their person's place: they are counted in the turns and make their person "served",
    so that person's next job waits for the next round; only the answer leaves them out, and a
    slice counts places among the jobs left.
    """

    def __init__(self, waiting: GenerationQuerySet, *, free_only: bool = False) -> None:
        self.waiting = waiting.order_by()
        self.free_only = free_only

    def count(self) -> int:
        if self.free_only:
            return self.waiting.exclude(lease_until__gt=timezone.now()).count()
        return self.waiting.count()

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids(0, self.count()))

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, int):
            if index < 0:
                raise IndexError("A turn line counts places from its start.")
            found = self.ids(index, index + 1)
            if not found:
                raise IndexError("The turn line is shorter than that.")
            return found[0]
        if index.step not in (None, 1):
            raise ValueError("A turn line is read in plain slices.")
        start, stop = index.start or 0, index.stop
        if start < 0 or stop is None or stop < start:
            raise ValueError("A turn line is read in slices from a place to a later place.")
        return self.ids(start, stop)

    def ids(self, start: int, stop: int) -> list[int]:
        """The ids at places start..stop-1 (counting from 0) of the line."""
        now = timezone.now()  # one moment for "leased right now", in the turns and in the answer
        line = self.waiting.annotate(
            t_id=F("id"),
            # Jobs whose maker's account is gone take turns together, as one person.
            t_who=Coalesce("created_by", 0),
            t_at=F("created_at"),
            # Every waiting job is numbered, a leased one too: it holds its place in its person's
            # round, and only the outer query below leaves it out of the answer.
            t_turn=Window(
                RowNumber(), partition_by=[F("created_by")], order_by=[F("created_at").asc(), F("id").asc()]
            ),
            # Whether it is leased right now: asked only of a line that leaves such jobs out.
            t_leased=Case(
                When(lease_until__gt=now, then=Value(1)), default=Value(0), output_field=IntegerField()
            )
            if self.free_only
            else Value(0),
        ).values("t_id", "t_who", "t_at", "t_turn", "t_leased")
        # A row a waiting person: the latest lease still held on one of their waiting jobs (being
        # sent right now), then (below) their latest create sent.
        people = (
            self.waiting.values("created_by")
            .annotate(
                s_who=Coalesce("created_by", 0),
                s_leased=Max(Case(When(lease_until__gt=now, then=F("lease_until")))),
            )
            .values("s_who", "s_leased")
        )
        line_sql, line_params = line.query.sql_with_params()
        people_sql, people_params = people.query.sql_with_params()
        quote = connection.ops.quote_name
        table = quote(Generation._meta.db_table)
        maker = quote(Generation._meta.get_field("created_by").column)
        sent = quote(Generation._meta.get_field("create_sent_at").column)
        # A WHERE on the line's own query would run before the window and renumber the turns, so
        # the leased jobs are left out here, after the numbering and before LIMIT and OFFSET.
        free = "WHERE line.t_leased = 0" if self.free_only else ""
        # MATERIALIZED: worked out once, a row a person, before the join (SQLite would otherwise
        # fold it into the outer query and work it out again for every waiting job). The latest
        # create sent is one probe of gen_served_idx a person, however long the team's history.
        sql = f"""
            WITH served AS MATERIALIZED (
                SELECT s_who, CASE WHEN s_sent IS NULL THEN s_leased
                                   WHEN s_leased IS NULL OR s_leased < s_sent THEN s_sent
                                   ELSE s_leased END AS s_last
                FROM (
                    SELECT people.s_who, people.s_leased,
                           (SELECT sent.{sent} FROM {table} sent
                            WHERE sent.{maker} = people.s_who AND sent.{sent} IS NOT NULL
                            ORDER BY sent.{sent} DESC LIMIT 1) AS s_sent
                    FROM ({people_sql}) people
                ) last
            )
            SELECT line.t_id FROM ({line_sql}) line JOIN served ON served.s_who = line.t_who
            {free}
            ORDER BY line.t_turn, CASE WHEN served.s_last IS NULL THEN 0 ELSE 1 END,
                     COALESCE(served.s_last, line.t_at), line.t_at, line.t_id
            LIMIT %s OFFSET %s
        """  # noqa: S608 (the parts are the ORM's own SQL; every value is a parameter)
        with connection.cursor() as cursor:
            cursor.execute(sql, (*people_params, *line_params, stop - start, start))
            return [row[0] for row in cursor.fetchall()]
