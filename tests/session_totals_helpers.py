"""Helpers for the tests of the session-total readers (Goose, Droid, Hermes, Crush, Zed)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from tokscope.readers.base import Reader, ReadResult, Row, Source
from tokscope.readers.database import companions

from tokscope.ledger import Ledger
from tokscope.scan import ScanSummary, scan

T = TypeVar("T")


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
    conn.execute("PRAGMA cache_size = 1")  # the change spills into the file: the journal turns hot
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("CREATE TABLE tokscope_test_write (x)")
    conn.execute(
        "INSERT INTO tokscope_test_write WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)"
        " SELECT randomblob(4000) FROM n"
    )
    with path.with_name(path.name + "-journal").open("rb") as journal:
        assert journal.read(8) == b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", "the journal of a write in progress"
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


def finishes(work: Callable[[], T], seconds: float = 10.0) -> T:
    """``work()``'s result; fails (instead of hanging the suite) when it blocks longer than ``seconds``."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # re-raised in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if failed:
        raise failed[0]
    return done[0]


def hashes(directory: Path) -> dict[str, str]:
    """sha256 of every regular file in ``directory`` (FIFOs and the like by name only)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "not a regular file"
        for p in sorted(directory.iterdir())
    }


@contextmanager
def live_wal(path: Path) -> Iterator[sqlite3.Connection]:
    """A WAL database with a writer connected: its commits sit in ``-wal`` (and ``-shm``) until the block ends."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # keep every commit in the -wal
    try:
        yield conn
    finally:
        conn.close()


def wal_without_shm(path: Path, change: Callable[[sqlite3.Connection], None]) -> None:
    """Leave ``path`` as a WAL database whose ``change`` is only in a ``-wal`` file, with no ``-shm``
    beside it (a client killed after the copy of a live database, or a backup that skipped ``-shm``)."""
    saved = path.with_name(path.name + ".saved")
    with live_wal(path) as conn:
        change(conn)
        conn.commit()
        shutil.copyfile(path, saved)
        shutil.copyfile(path.with_name(path.name + "-wal"), saved.with_name(saved.name + "-wal"))
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    saved.rename(path)
    saved.with_name(saved.name + "-wal").rename(path.with_name(path.name + "-wal"))


def truncate_half(path: Path) -> None:
    """Cut a database file to half its pages (a copy interrupted mid-way)."""
    size = path.stat().st_size
    page = 4096
    assert size >= 4 * page, "build a database of several pages to truncate"
    with path.open("r+b") as fh:
        fh.truncate((size // page // 2) * page)


# --- checks every session-total database reader passes (issue 12) ---------------------------


def read_one(reader: Reader) -> ReadResult:
    """The read of the reader's one discovered source."""
    (source,) = reader.discover([])
    return reader.read(source, 0, {})


def check_fifo_database(home: Path, reader: Reader, path: Path) -> None:
    """A FIFO where the database should be: not discovered, a read of it is one error, a scan finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    assert finishes(lambda: reader.discover([])) == []
    result = finishes(lambda: reader.read(Source(reader.client, path, "whole", companions(path)), 0, {}))
    assert result.rows == [] and len(result.errors) == 1 and "not a regular file" in result.errors[0]
    summary, frame = finishes(lambda: ledger_scan(home, reader))
    assert frame.height == 0 and summary.errors == []


def check_fifo_companion(reader: Reader, db: Path, companion: str) -> None:
    """A FIFO in place of the database's ``-wal`` or ``-journal``: one clear error, no hang."""
    os.mkfifo(db.with_name(db.name + companion))
    result = finishes(lambda: read_one(reader))
    assert result.rows == [] and len(result.errors) == 1
    assert f"{db.name}{companion} is not a regular file" in result.errors[0]


def check_wal_without_shm(reader: Reader, db: Path, change: str) -> ReadResult:
    """``change`` committed only to a ``-wal`` with no ``-shm``: read, and nothing appears or changes beside it."""
    wal_without_shm(db, lambda conn: conn.execute(change))
    before = hashes(db.parent)
    assert set(before) == {db.name, db.name + "-wal"}
    result = read_one(reader)
    assert result.errors == [] and hashes(db.parent) == before
    return result


def check_existing_shm(reader: Reader, db: Path, change: str) -> ReadResult:
    """``change`` committed by a running client (``-wal`` and ``-shm`` present): read, both stay byte-identical."""
    with live_wal(db) as writer:
        writer.execute(change)
        writer.commit()
        before = hashes(db.parent)
        assert {db.name + "-wal", db.name + "-shm"} <= set(before)
        result = read_one(reader)
        assert result.errors == [] and hashes(db.parent) == before
    return result


def check_random_bytes(reader: Reader, path: Path) -> None:
    """Random bytes where the database should be: one clear error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(12).randbytes(64 << 10))
    result = read_one(reader)
    assert result.rows == [] and len(result.errors) == 1
    assert result.errors[0].startswith(f"{path}: cannot read database: ")


def check_truncated(reader: Reader, db: Path) -> None:
    """A database of many pages cut in half: one clear error."""
    truncate_half(db)
    result = read_one(reader)
    assert result.rows == [] and len(result.errors) == 1
    assert result.errors[0].startswith(f"{db}: cannot read database: ")


def check_symlinked_database(reader: Reader, db: Path, link: Path) -> ReadResult:
    """The client's database path is a symlink to the real file (dotfiles, a moved data dir): read, with the
    companions of the real file (where SQLite keeps them)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(db)
    (source,) = reader.discover([])
    assert source.companions == (db.with_name(db.name + "-wal"),)
    result = reader.read(source, 0, {})
    assert result.errors == [] and result.rows
    return result


def check_declared_env(reader: Reader) -> None:
    """Every environment variable the reader's module reads (besides HOME and XDG_*) is in ``reader.env``,
    and nothing else is: tests and ``tokscope demo`` clear exactly that list."""
    source = Path(sys.modules[type(reader).__module__].__file__ or "").read_text()
    names = set(re.findall(r'(?:os\.environ\.get|os\.getenv|env_paths)\(\s*"([A-Z0-9_]+)"', source))
    names |= set(re.findall(r'os\.environ\[\s*"([A-Z0-9_]+)"\s*\]', source))
    read = {n for n in names if n != "HOME" and not n.startswith("XDG_")}
    assert read and set(reader.env) == read, (reader.env, read)
