"""Helpers for the tests of the session-total readers (Goose, Droid, Hermes, Crush, Zed)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers.base import Reader, Row

from tokscope.ledger import Ledger
from tokscope.scan import ScanSummary, scan


def us(text: str) -> int:
    """ISO-8601 UTC text as epoch microseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1_000_000)


def make_db(path: Path, schema: str, inserts: Sequence[tuple[str, Sequence[Any]]] = (), wal: bool = False) -> Path:
    """Create a SQLite database with ``schema`` and run ``inserts`` (sql, params)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(schema)
    for sql, params in inserts:
        conn.execute(sql, params)
    conn.commit()
    conn.close()
    return path


def execute(path: Path, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one write statement on ``path`` (as the client would) and bump the mtime."""
    before = path.stat().st_mtime_ns
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()
    if path.stat().st_mtime_ns == before:  # coarse clocks: make the change visible
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@contextmanager
def exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """The client mid-write on a rollback-journal database: an exclusive lock and an uncommitted
    change (a hot ``-journal`` beside the database) until the block ends; yields the connection."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("CREATE TABLE tokscope_test_write (x)")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def fast_lock_retry(monkeypatch: Any) -> None:
    """Shrink the busy-database retry budget so lock tests take milliseconds."""
    from tokscope.readers import database

    monkeypatch.setattr(database, "RETRY_BACKOFF", (0.01, 0.01))


def reported_busy(errors: list[str], db: Path) -> bool:
    """True when ``errors`` is exactly one report that ``db`` was busy (never another cause, and
    not a word that happens to be in the test's tmp path)."""
    return len(errors) == 1 and errors[0].startswith(f"{db}: database is busy")


def pick(row: Row, *names: str) -> tuple[Any, ...]:
    """The named fields of a row, in the order given."""
    return tuple(getattr(row, name) for name in names)


def ledger_scan(home: Path, reader: Reader) -> tuple[ScanSummary, pl.DataFrame]:
    """Scan ``reader`` into a ledger under ``home``; the summary and the de-duplicated events."""
    ledger = Ledger(home / ".tokscope-ledger")
    summary = scan(ledger=ledger, readers=[reader], workers=1)
    return summary, ledger.frame()


def totals(frame: pl.DataFrame) -> dict[str, int]:
    """The token columns summed."""
    cols = ["input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h"]
    return {c: int(frame[c].sum()) for c in cols}


def listing(directory: Path) -> set[str]:
    """File names in ``directory`` (to check a reader created nothing)."""
    return {p.name for p in directory.iterdir()}
