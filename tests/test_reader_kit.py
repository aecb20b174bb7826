"""The reader kit: ``readers/coerce.py``, ``readers/providers.py``, ``readers/database.py`` and the
regular-file helpers of ``readers/base.py``."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tokscope.readers import database
from tokscope.readers.base import (
    FileTooLarge,
    NotRegularFile,
    decode_line,
    lenient_decoder,
    open_regular,
    read_new_chunk,
    read_regular,
)
from tokscope.readers.coerce import OVERFLOW, cost, count, epoch_us, iso_us, text, time_us
from tokscope.readers.providers import infer_provider, provider_name

# 2026-11-20T10:00:00Z
T_S = 1_795_168_800
T_US = T_S * 1_000_000


# --- coerce ----------------------------------------------------------------------------------------------


def test_text() -> None:
    assert text("  claude  ") == "claude"
    assert text("") is None and text("   ") is None
    assert text(5) is None and text(None) is None and text(["a"]) is None


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (12, 12),
        (0, 0),
        (-5, 0),
        (12.9, 12),
        ("12", 12),
        (" 7 ", 7),
        ("1e3", 1000),
        ("-3", 0),
        ("twelve", 0),
        (float("nan"), 0),
        (True, 0),
        (None, 0),
        ([1], 0),
        ({"n": 1}, 0),
        (2**70, 2**70),  # stays huge: the scan's limits reject it, it never wraps
        (float("inf"), OVERFLOW),
        ("inf", OVERFLOW),
        (float("-inf"), 0),
    ],
)
def test_count(value: object, want: int) -> None:
    got = count(value)
    assert type(got) is int and got == want


def test_count_of_a_float_beyond_int64_stays_beyond_every_limit() -> None:
    assert count(1e30) > 2**63


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0, 0.0),
        (0.25, 0.25),
        (3, 3.0),
        ("0.5", 0.5),
        (-1, None),
        (float("nan"), None),
        (float("inf"), None),
        ("1e400", None),
        (10**400, None),
        (True, None),
        (None, None),
        ("free", None),
        ({"total": 1}, None),
    ],
)
def test_cost(value: object, want: float | None) -> None:
    got = cost(value)
    assert got == want and (got is None or type(got) is float)


@pytest.mark.parametrize(
    "value",
    [T_S, float(T_S), T_S * 1_000, T_S * 1_000_000, T_S * 1_000_000_000, T_S + 0.0],
    ids=["s", "s-float", "ms", "us", "ns", "s-float0"],
)
def test_epoch_units_are_told_apart_by_size(value: float) -> None:
    assert epoch_us(value) == T_US


@pytest.mark.parametrize("value", [0, -T_S, float("nan"), float("inf"), True, None, "1795168800", [T_S]])
def test_epoch_rejects(value: object) -> None:
    assert epoch_us(value) is None


def test_epoch_keeps_sub_second_precision() -> None:
    assert epoch_us(T_S + 0.25) == T_US + 250_000
    assert epoch_us(T_S * 1_000 + 7) == T_US + 7_000


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.000Z",
        "2026-11-20T12:00:00+02:00",
        "2026-11-20T10:00:00",  # naive: UTC
        "2026-11-20 10:00:00",  # SQLite CURRENT_TIMESTAMP
    ],
)
def test_iso(value: str) -> None:
    assert iso_us(value) == T_US


def test_iso_keeps_microseconds_and_drops_nanoseconds() -> None:
    assert iso_us("2026-11-20T10:00:00.123456789Z") == T_US + 123_456


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-45T10:00:00Z", T_S, None, "99999-01-01T00:00:00Z"])
def test_iso_rejects(value: object) -> None:
    assert iso_us(value) is None


@pytest.mark.parametrize(
    "value",
    [T_S, T_S * 1_000, str(T_S), f" {T_S * 1_000} ", f"{T_S}.0", "1.7951688e9", "2026-11-20T10:00:00Z"],
)
def test_time_any_form(value: object) -> None:
    assert time_us(value) == T_US


@pytest.mark.parametrize("value", ["", "  ", "-1795168800", "soon", None, float("nan"), "inf"])
def test_time_rejects(value: object) -> None:
    assert time_us(value) is None


# --- providers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "want"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("anthropic/claude-4-6-sonnet", "anthropic"),
        ("openrouter/anthropic/claude-opus-4.1", "anthropic"),
        ("gpt-5.3-codex", "openai"),
        ("o4-mini", "openai"),
        ("gemini-2.5-pro", "google"),
        ("x-ai/grok-4", "xai"),
        ("grok-code-fast-1", "xai"),
        ("deepseek-chat", "deepseek"),
        ("kimi-k2-turbo-preview", "moonshot"),
        ("moonshotai/kimi-k2", "moonshot"),
        ("k3", "moonshot"),
        ("qwen3-coder-plus", "alibaba"),
        ("qwen/qwen3-coder", "alibaba"),
        ("z-ai/glm-4.6", "zai"),
        ("devstral-medium", "mistral"),
        ("mystery-model", "unknown"),
        ("", "unknown"),
    ],
)
def test_infer_provider_from_the_model(model: str, want: str) -> None:
    assert infer_provider(model) == want


def test_a_logged_provider_wins_folded_to_one_spelling() -> None:
    assert infer_provider("gpt-5", "MoonshotAI") == "moonshot"
    assert infer_provider("qwen3-coder", " Qwen ") == "alibaba"
    assert infer_provider("gpt-5", "openrouter") == "openrouter"
    assert infer_provider("gpt-5", "  ") == "openai"  # blank: inferred
    assert infer_provider("gpt-5", 7) == "openai"  # not text: inferred
    assert provider_name("DashScope") == "alibaba"


# --- regular files only -----------------------------------------------------------------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _quick(fn, *args):
    """Run ``fn`` and fail if it takes over a second (a blocking open of a FIFO would hang forever)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(("ok", fn(*args)))
        except BaseException as exc:
            outcome.append(("raised", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(1.0)
    assert outcome, f"{fn.__name__}{args} blocked"
    return outcome[0]


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    kind, exc = _quick(open_regular, _fifo(tmp_path / "log.jsonl"))
    assert kind == "raised" and isinstance(exc, NotRegularFile)
    kind, exc = _quick(read_new_chunk, tmp_path / "log.jsonl", 0)
    assert kind == "raised" and isinstance(exc, NotRegularFile)


def test_open_regular_refuses_a_directory_and_a_symlink_to_a_fifo(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile):
        open_regular(tmp_path)
    (tmp_path / "link").symlink_to(_fifo(tmp_path / "pipe"))
    kind, exc = _quick(read_regular, tmp_path / "link")
    assert kind == "raised" and isinstance(exc, NotRegularFile)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing")


def test_open_regular_follows_a_symlink_to_a_file(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_bytes(b"{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert read_regular(tmp_path / "link.json") == b"{}"


def test_read_regular_refuses_a_file_over_the_limit_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, max_bytes=100) == b"x" * 100
    with pytest.raises(FileTooLarge):
        read_regular(path, max_bytes=99)
    dev_zero = Path("/dev/zero")
    if dev_zero.exists():  # endless: refused as not regular, never read
        with pytest.raises(NotRegularFile):
            read_regular(dev_zero, max_bytes=10)


def test_decode_line_costs_one_line() -> None:
    decode = lenient_decoder(dict)
    assert decode_line(decode, b'{"a": 1}') == {"a": 1}
    assert decode_line(decode, b'{"a": "\xff"}') == {"a": "\ufffd"}
    assert decode_line(decode, b'{"a": ') is None
    assert decode_line(decode, b"[" * 100_000 + b"]" * 100_000) is None


# --- database -----------------------------------------------------------------------------------------------


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _rows(conn: sqlite3.Connection) -> list[int]:
    return [x for (x,) in conn.execute("SELECT x FROM t ORDER BY x")]


def _make(path: Path, values: range, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    conn.commit()
    conn.close()
    return path


@contextmanager
def _live_wal(path: Path, extra: range) -> Iterator[sqlite3.Connection]:
    """A client that holds the WAL open with uncheckpointed rows ``extra`` (``-wal`` and ``-shm`` exist)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in extra])
    conn.commit()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "RETRY_BACKOFF", (0.0, 0.01, 0.01))


def test_rollback_mode_database_is_read_immutable_creating_nothing(tmp_path: Path) -> None:
    db = _make(tmp_path / "a.db", range(3))
    before = _listing(tmp_path)
    assert database.query(db, _rows) == [0, 1, 2]
    assert _listing(tmp_path) == before


def test_wal_mode_database_without_a_wal_file_reads_creating_nothing(tmp_path: Path) -> None:
    db = _make(tmp_path / "a.db", range(3), wal=True)  # closed cleanly: the -wal is checkpointed away
    before = _listing(tmp_path)
    assert "a.db-wal" not in before
    assert database.query(db, _rows) == [0, 1, 2]
    assert _listing(tmp_path) == before


def test_live_wal_without_shm_is_read_with_its_rows_and_nothing_is_created(tmp_path: Path) -> None:
    db = _make(tmp_path / "a.db", range(2), wal=True)
    with _live_wal(db, range(10, 13)):  # what a client that crashed leaves: the db and its -wal, no -shm
        saved = {name: (tmp_path / name).read_bytes() for name in ("a.db", "a.db-wal")}
    for name, data in saved.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "a.db-shm").unlink(missing_ok=True)
    before = _listing(tmp_path)
    assert database.query(db, _rows) == [0, 1, 10, 11, 12]
    assert _listing(tmp_path) == before  # no -shm created, the db and its -wal untouched


def test_live_wal_and_shm_stay_byte_identical(tmp_path: Path) -> None:
    db = _make(tmp_path / "a.db", range(2), wal=True)
    with _live_wal(db, range(10, 13)):
        before = _listing(tmp_path)
        shm_mtime = (tmp_path / "a.db-shm").stat().st_mtime_ns
        assert {"a.db-wal", "a.db-shm"} <= before.keys()
        assert database.query(db, _rows) == [0, 1, 10, 11, 12]
        assert _listing(tmp_path) == before
        assert (tmp_path / "a.db-shm").stat().st_mtime_ns == shm_mtime


def test_no_copy_is_left_in_the_cache(tmp_path: Path, home: Path) -> None:
    db = _make(tmp_path / "a.db", range(2), wal=True)
    with _live_wal(db, range(5, 6)):
        assert database.query(db, _rows) == [0, 1, 5]
    copies = Path(database._cache_dir())
    assert list(copies.iterdir()) == []


@pytest.mark.parametrize("companion", ["", "-wal", "-journal"])
def test_a_fifo_as_database_or_companion_is_an_error_at_once(tmp_path: Path, companion: str) -> None:
    db = tmp_path / "a.db"
    if companion:
        _make(db, range(1))
    _fifo(tmp_path / f"a.db{companion}")
    start = time.monotonic()
    kind, result = _quick(database.read_db, db, _rows)
    assert kind == "ok" and result.rows == [] and result.errors
    assert time.monotonic() - start < 1.0


def test_a_symlinked_database_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = _make(tmp_path / "real" / "a.db", range(2))
    (tmp_path / "link.db").symlink_to(real)
    assert database.read_db(tmp_path / "link.db", _rows).rows == [0, 1]
    assert database.companions(tmp_path / "link.db") == (real.with_name("a.db-wal"),)  # where SQLite keeps it


def test_a_database_changed_during_the_read_is_read_again(tmp_path: Path, fast_retries: None) -> None:
    db = _make(tmp_path / "a.db", range(2))
    calls = []

    def work(conn: sqlite3.Connection) -> list[int]:
        calls.append(1)
        if len(calls) == 1:  # a client commits while we read
            writer = sqlite3.connect(db)
            writer.execute("INSERT INTO t VALUES (99)")
            writer.commit()
            writer.close()
        return _rows(conn)

    assert database.query(db, work) == [0, 1, 99]
    assert len(calls) == 2


def test_a_hot_journal_is_locked_after_the_retries(tmp_path: Path, fast_retries: None) -> None:
    db = _make(tmp_path / "a.db", range(2))
    journal = tmp_path / "a.db-journal"
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)  # a live rollback journal header
    before = _listing(tmp_path)
    with pytest.raises(database.Locked):
        database.query(db, _rows)
    result = database.read_db(db, _rows)
    assert result.rows == [] and "busy" in result.errors[0]
    assert _listing(tmp_path) == before
    journal.write_bytes(b"\0" * 512)  # spent (PERSIST mode leftover): not a write in progress
    assert database.query(db, _rows) == [0, 1]


def test_a_missing_or_damaged_database_is_an_error_not_an_exception(tmp_path: Path) -> None:
    assert database.read_db(tmp_path / "gone.db", _rows).errors
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    assert database.read_db(tmp_path / "junk.db", _rows).errors


def test_columns_and_col(tmp_path: Path) -> None:
    db = _make(tmp_path / "a.db", range(1))
    present = database.query(db, lambda conn: database.columns(conn, "t"))
    assert present == {"x"}
    assert database.query(db, lambda conn: database.columns(conn, "nope")) == set()
    assert database.col(present, "x") == "x" and database.col(present, "y") == "NULL"
    assert database.companions(db) == (tmp_path / "a.db-wal",)
