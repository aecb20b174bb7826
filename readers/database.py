"""The one way readers open a client's SQLite database: read-only, consistent, and creating nothing beside it.

* A database with no write-ahead log in use (no ``-wal``, or an empty one, and no hot
  ``-journal``) is opened ``immutable=1``: SQLite then takes no lock and opens no companion
  file, so nothing appears beside the source. Immutable is only safe while nobody writes, so
  the file's stat is compared before and after the read; a change means the read is thrown
  away and tried again.
* A database with a live ``-wal`` is copied with its log into a private directory under
  tokscope's cache (``-shm`` is the client's memory index, never needed) and the copy is read:
  opening the source itself would create or modify its ``-shm``.
* Only regular files are opened (a FIFO or a device in place of a database or its log is
  an error, never a hang). A database still busy after the retries is reported as locked
  and read again on the next scan.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from tokscope import paths

from .base import ReadResult, Row, open_regular

#: Pauses between attempts at a database that is locked or changed while read (seconds).
RETRY_BACKOFF: tuple[float, ...] = (0.05, 0.15, 0.3)

T = TypeVar("T")


class Locked(Exception):
    """The database stayed busy (locked, mid-transaction or changing) through every retry."""


def companions(path: Path) -> tuple[Path, ...]:
    """The files whose change also means the database changed (its ``-wal``, beside a symlink's target)."""
    real = path.resolve()
    return (real.with_name(real.name + "-wal"),)


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()  # a symlink to a regular file is fine; to a FIFO or a device it is not
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise sqlite3.DatabaseError(f"{path.name} is not a regular file")
    return st


def _fingerprint(path: Path) -> tuple:
    sig = []
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")):
        st = _stat(name)
        sig.append(None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns))
    if sig[0] is None:
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return tuple(sig)


#: The first bytes of a rollback journal that still holds a transaction (a zeroed header is spent).
_JOURNAL_MAGIC = b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"


def _hot_journal(journal: Path) -> bool:
    """True when a ``-journal`` holds a live transaction (not a spent PERSIST/TRUNCATE leftover)."""
    try:
        with open_regular(journal) as fh:
            return fh.read(8) == _JOURNAL_MAGIC
    except FileNotFoundError:
        return False


def _cache_dir() -> Path:
    folder = paths.cache_dir() / "db-copies"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _copy(source: Path, target: Path) -> None:
    with open_regular(source) as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _attempt(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    before = _fingerprint(path)
    _db, wal, journal = before
    if journal is not None and journal[1] > 0 and _hot_journal(path.with_name(path.name + "-journal")):
        raise sqlite3.OperationalError("database is locked (a write transaction is in progress)")
    if wal is None or wal[1] == 0:
        uri = "file:" + quote(str(path)) + "?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            result = work(conn)
        finally:
            conn.close()
    else:
        with tempfile.TemporaryDirectory(dir=_cache_dir()) as tmp:
            copy = Path(tmp) / "copy.db"
            _copy(path, copy)
            _copy(path.with_name(path.name + "-wal"), Path(tmp) / "copy.db-wal")
            if _fingerprint(path) != before:
                raise sqlite3.OperationalError("database is busy (changed while copied)")
            conn = sqlite3.connect(str(copy), check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only = 1")
                result = work(conn)
            finally:
                conn.close()
        return result
    if _fingerprint(path) != before:
        raise sqlite3.OperationalError("database is busy (changed while read)")
    return result


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def query(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on a consistent read-only view of the database at ``path``.

    Raises ``Locked`` when it stays busy through the retries; ``FileNotFoundError`` when it is gone;
    other SQLite errors (not a database, malformed) propagate as ``sqlite3.DatabaseError``.
    """
    real = path.resolve()  # SQLite keeps -wal and -journal beside the symlink's target, so do we
    for attempt in range(len(RETRY_BACKOFF) + 1):
        try:
            return _attempt(real, work)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            if attempt == len(RETRY_BACKOFF):
                raise Locked(str(exc)) from exc
            time.sleep(RETRY_BACKOFF[attempt])
    raise AssertionError("unreachable")


def read_db(path: Path, work: Callable[[sqlite3.Connection], list[Row]]) -> ReadResult:
    """``work``'s rows as a ``ReadResult``; a busy, unreadable or damaged database is an error, never an exception."""
    try:
        rows = query(path, work)
    except Locked:
        return ReadResult(errors=[f"{path}: database is busy (the client is writing); will retry on the next scan"])
    except sqlite3.DatabaseError as exc:
        return ReadResult(errors=[f"{path}: cannot read database: {exc}"])
    except RecursionError:
        return ReadResult(errors=[f"{path}: cannot read database: a value is nested too deeply"])
    except OSError as exc:  # gone since discovery, unreadable, its copy failed
        return ReadResult(errors=[f"{path}: cannot read database: {exc.strerror or exc}"])
    return ReadResult(rows=rows)


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when the table does not exist)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def col(present: set[str], name: str, fallback: str = "NULL") -> str:
    """``name`` if the table has that column, else ``fallback`` (for SELECT lists across schema versions)."""
    return name if name in present else fallback
