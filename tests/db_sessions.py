"""Connections to the test database that are still open, to show a test's threads let go of theirs.

A thread that ends without closing its connection leaves it to the garbage collector, which may
not run before the test run ends: PostgreSQL then refuses to drop the test database while those
sessions stay connected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection, connections


def closing(target: Callable[..., object]) -> Callable[..., None]:
    """`target` for a test's own thread, closing the thread's connections when it ends, not later."""

    def run(*args: Any, **kwargs: Any) -> None:
        try:
            target(*args, **kwargs)
        finally:
            connections.close_all()

    return run


def left_open(before: dict[str, str]) -> list[str]:
    """Connections open now that were not open at `before` (an earlier open_elsewhere()).

    A test compares with what was open when it began, so a connection an earlier test left behind
    (a session-wide server's, say) does not count against it.
    """
    return [line for key, line in open_elsewhere().items() if key not in before]


def open_elsewhere() -> dict[str, str]:
    """The test database's connections other than this thread's own, by session or file handle.

    PostgreSQL lists every session on the database, whoever holds it (a thread of this process or
    another process). SQLite keeps no such list, so there the handles this process holds on the
    database file are listed instead (Linux's /proc; elsewhere none are found). SQLite keeps a
    closed connection's handle open while another connection of the process still holds a lock on
    the file (closing it would drop the process's locks), so this thread's own connection is
    closed first: call this only outside a transaction (transactional_db).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_start, state, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"  # not autovacuum's, which comes and goes
            )
            return {
                f"{pid} {start}": f"session {pid} from {start:%H:%M:%S.%f}, {state}: {query[:60]}"
                for pid, start, state, query in cursor
            }
    connection.close()
    database = Path(connection.settings_dict["NAME"]).resolve()
    handles = Path("/proc/self/fd")
    if not handles.is_dir():
        return {}
    held = {}
    for fd in os.listdir(handles):
        try:
            if Path(os.readlink(handles / fd)) == database:
                held[fd] = f"file handle {fd} on {database.name}"
        except OSError:  # closed since it was listed (the listing's own handle among them)
            continue
    return held
