"""Shared by the readers of clients that keep one running total per session.

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

SQLite databases are opened read-only:

* ``file:<path>?mode=ro``: never writes the database or its journal;
* a WAL database whose ``-wal`` file is absent (the client is not running and
  checkpointed on exit) is opened with ``immutable=1`` as well: a plain
  read-only open would create ``-wal``/``-shm`` files beside it and could not
  remove them afterwards;
* a database locked by a running client (``database is locked`` / ``busy``) is
  retried a few times, then reported in ``ReadResult.errors`` without rows, so
  the scan keeps the old state and tries again next time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from .base import ReadResult, Row, iso_to_us

#: Pauses between attempts at a locked database (seconds); len + 1 attempts in all.
LOCK_BACKOFF: tuple[float, ...] = (0.05, 0.15, 0.3)
#: SQLite's own busy wait per attempt (seconds).
BUSY_TIMEOUT = 0.1

T = TypeVar("T")


class Locked(Exception):
    """The database stayed locked through every retry."""


def wal_companions(path: Path) -> tuple[Path, ...]:
    """The files whose change also means the database changed (its ``-wal``)."""
    return (path.with_name(path.name + "-wal"),)


def _is_wal(path: Path) -> bool:
    """True when the database header says WAL mode (read/write version bytes = 2)."""
    try:
        with path.open("rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[:16] == b"SQLite format 3\x00" and header[18] == 2


def open_ro(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only, creating nothing beside it (see the module docstring)."""
    uri = "file:" + quote(str(path)) + "?mode=ro"
    if _is_wal(path) and not path.with_name(path.name + "-wal").exists():
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = 1")
    except BaseException:
        conn.close()
        raise
    return conn


def _is_lock_error(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def query_ro(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on a read-only connection, retrying while the database is locked.

    Raises ``Locked`` after the last retry; other SQLite errors propagate.
    """
    for attempt in range(len(LOCK_BACKOFF) + 1):
        conn = None
        try:
            conn = open_ro(path)
            return work(conn)
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc):
                raise
            if attempt == len(LOCK_BACKOFF):
                raise Locked(str(exc)) from exc
            time.sleep(LOCK_BACKOFF[attempt])
        finally:
            if conn is not None:
                conn.close()
    raise AssertionError("unreachable")


def read_db(path: Path, work: Callable[[sqlite3.Connection], list[Row]]) -> ReadResult:
    """``work``'s rows as a ``ReadResult``; a locked or unreadable database becomes an error, never an exception."""
    try:
        rows = query_ro(path, work)
    except Locked:
        return ReadResult(errors=[f"{path}: database is locked (the client is writing); will retry on the next scan"])
    except sqlite3.DatabaseError as exc:
        return ReadResult(errors=[f"{path}: cannot read database: {exc}"])
    return ReadResult(rows=rows)


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when the table does not exist)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def col(present: set[str], name: str, fallback: str = "NULL") -> str:
    """``name`` if the table has that column, else ``fallback`` (for SELECT lists across schema versions)."""
    return name if name in present else fallback


def epoch_to_us(value: Any) -> int | None:
    """A number of epoch seconds, milliseconds or microseconds (told apart by size) as µs."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value <= 0:
        return None
    if value > 1e14:  # microseconds
        return int(value)
    if value > 1e11:  # milliseconds
        return int(value * 1000)
    return int(value * 1_000_000)


def any_to_us(value: Any) -> int | None:
    """A timestamp as epoch µs: epoch numbers, numeric strings, ISO-8601 or SQLite ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return epoch_to_us(float(text))
        except ValueError:
            pass
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return iso_to_us(text)
    return epoch_to_us(value)


def usage_time(start: int | None, last: int | None) -> int | None:
    """The timestamp of a running total: its last write, never before the session's start."""
    if last is None:
        return start
    if start is not None and last < start:
        return start
    return last


def infer_provider(model: str) -> str:
    """The provider a model name belongs to, for clients that do not log one."""
    name = model.lower().rsplit("/", 1)[-1]
    if "/" in model:
        prefix = model.lower().split("/", 1)[0]
        if prefix in ("anthropic", "openai", "google", "xai", "deepseek", "mistral", "moonshotai", "qwen"):
            return prefix
    if any(tag in name for tag in ("claude", "opus", "sonnet", "haiku")):
        return "anthropic"
    if name.startswith(("gpt", "o1", "o3", "o4", "codex", "chatgpt")):
        return "openai"
    if "gemini" in name or "gemma" in name:
        return "google"
    if "grok" in name:
        return "xai"
    if "deepseek" in name:
        return "deepseek"
    if "kimi" in name:
        return "moonshot"
    if "glm" in name:
        return "zai"
    if "qwen" in name:
        return "qwen"
    if "mistral" in name or "codestral" in name or "devstral" in name:
        return "mistral"
    return "unknown"


def number(value: Any) -> float | None:
    """A positive float cost, else None (zero, negative, NaN, junk)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value <= 0:
        return None
    return float(value)
