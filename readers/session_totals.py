"""What the readers of clients that keep one running total per session share.

Goose, Factory Droid, Hermes, Crush and Zed do not log turns: they keep a
running total per session (or thread) and rewrite it in place. Their readers
emit ONE row per session whose ``event_key`` is stable (the session id), with
``rank`` 0: a re-read re-emits the row with the grown totals and the ledger's
upsert (same key, tied rank, row written last wins) replaces the old numbers;
nothing is ever added twice.

Timestamp rule shared by these readers: a running total is stamped at its last
write (the session's ``updated_at`` / last-seen time, the file's mtime), never
earlier than the session's start. That is when the counted tokens were last
accrued, so a session that is still spending shows up today rather than on the
day it began (all of a session's tokens land on one day either way).

Their databases are opened through ``readers.database``; values are coerced by
``readers.coerce``; providers come from ``readers.providers``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

from .base import ReadResult, Row, Source, first_sight
from .database import companions, read_db


def usage_time(start: int | None, last: int | None) -> int | None:
    """The timestamp of a running total: its last write, never before the session's start."""
    if last is None:
        return start
    if start is not None and last < start:
        return start
    return last


def database_source(client: str, path: Path) -> Source:
    """The source of a database at ``path``: its real file (a symlink resolved, as SQLite does), with the
    companions that sit beside that file. The kit opens regular files only, and a ``-wal`` is kept beside
    the real database, not beside a link to it."""
    real = path.resolve()
    return Source(client, real, "whole", companions(real))


def database_sources(client: str, paths: Iterable[Path]) -> list[Source]:
    """``database_source`` of each of ``paths`` that is a file, each real file once (two roots that
    are links to one database give one source)."""
    seen: set[Path] = set()
    return [database_source(client, p) for p in paths if p.is_file() and first_sight(p, seen)]


def read_totals(path: Path, rows: Callable[[sqlite3.Connection, ReadResult], None]) -> ReadResult:
    """Read a session-total database with ``database.read_db``: ``rows`` adds its rows and counted
    skips to the ``ReadResult`` it is given (a fresh one per attempt, so a retried read counts once).

    Text with invalid UTF-8 makes a query fail outright; it is then run again with the bad bytes
    replaced, so they cost only themselves (the fast strict decoding stays the rule).
    """
    latest = ReadResult()

    def work(conn: sqlite3.Connection) -> list[Row]:
        nonlocal latest
        for lenient in (False, True):
            latest = ReadResult()
            try:
                rows(conn, latest)
                return latest.rows
            except sqlite3.OperationalError as exc:
                if lenient or "could not decode" not in str(exc).lower():
                    raise
                if conn.in_transaction:
                    conn.rollback()
                conn.text_factory = _replace_invalid
        raise AssertionError("unreachable")

    result = read_db(path, work)
    return result if result.errors else latest


def _replace_invalid(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
