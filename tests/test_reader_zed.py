"""Zed reader: threads.db (json and zstd), zed.dev threads only, replace-on-re-read, locked database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import zstandard
from tokscope.readers import get_reader, zed
from tokscope.readers.zed import ZedReader

from tests.session_totals_helpers import (
    check_declared_env,
    check_existing_shm,
    check_fifo_companion,
    check_fifo_database,
    check_random_bytes,
    check_symlinked_database,
    check_truncated,
    check_wal_without_shm,
    exclusive_lock,
    execute,
    fast_lock_retry,
    ledger_scan,
    make_db,
    pick,
    read_one,
    reported_busy,
    totals,
    us,
)
from tokscope.limits import MAX_SESSION_TOKENS

SCHEMA = """
CREATE TABLE threads (
    id TEXT PRIMARY KEY, summary TEXT NOT NULL, updated_at TEXT NOT NULL, data_type TEXT NOT NULL,
    data BLOB NOT NULL, parent_id TEXT, folder_paths TEXT, folder_paths_order TEXT, created_at TEXT
);
"""
INSERT = (
    "INSERT INTO threads (id, summary, updated_at, data_type, data, folder_paths, folder_paths_order, created_at,"
    " parent_id) VALUES (?,?,?,?,?,?,?,?,?)"
)


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest does not clear ``ZED_THREADS_DB``: a developer's own setting must not leak in."""
    monkeypatch.delenv("ZED_THREADS_DB", raising=False)


def usage(i: int, o: int, cw: int = 0, cr: int = 0) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o, "cache_creation_input_tokens": cw, "cache_read_input_tokens": cr}


def thread(provider: str, model: str, cumulative: Any, requests: Any, imported: bool = False, compact=True) -> bytes:
    """Thread JSON as Zed writes it (serde_json: compact, DbThread field order) or, with
    ``compact=False``, spaced with the model first (the reader's full-decode fallback)."""
    body: dict[str, Any] = {
        "title": "t",
        "messages": [{"User": {"id": "u1", "content": [{"Text": 'say "cumulative_token_usage": 1 ' * 20}]}}],
        "updated_at": "2026-11-20T12:30:00Z",
        "cumulative_token_usage": cumulative,
        "request_token_usage": requests,
        "model": {"provider": provider, "model": model},
        "imported": imported,
        "version": "0.3.0",
    }
    if not compact:
        body = {"model": body.pop("model"), **body}
        return json.dumps(body).encode()
    return json.dumps(body, separators=(",", ":")).encode()


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def thread_rows() -> list[tuple]:
    return [
        # t1: zstd; cumulative (every request) wins over the per-turn map (last request of each turn only)
        ("t1", "s", "2026-11-20T12:30:00Z", "zstd",
         zstd(thread("zed.dev", "claude-sonnet-4-5", usage(400, 60, 5, 30), {"u1": usage(100, 20, 5, 10)})),
         "/work/a\n/work/b", "1,0", "2026-11-20T12:00:00Z"),
        # t2: plain json, no cumulative total: the per-request map summed (100 + 50 in, 20 + 7 out)
        ("t2", "s", "2026-11-21T08:00:00Z", "json",
         thread("zed.dev", "gpt-5", None, {"u1": usage(100, 20, 0, 10), "u2": usage(50, 7)}, compact=False),
         "/work/c", None, None, "t1"),
        # t3: Zed's own agent on the user's Anthropic key: counted (threads.db holds no external agent's threads)
        ("t3", "s", "2026-11-20T12:30:00Z", "zstd",
         zstd(thread("anthropic", "claude-sonnet-4-5", usage(9, 9), {})), None, None, None),
        # not counted: no provider, imported threads, no usage
        ("t4", "s", "2026-11-20T12:30:00Z", "json",
         thread("  ", "default", usage(9, 9), {}), None, None, None),
        ("t5", "s", "2026-11-20T12:30:00Z", "json",
         thread("zed.dev", "claude-sonnet-4-5", usage(9, 9), {}, imported=True), None, None, None),
        ("t6", "s", "2026-11-20T12:30:00Z", "json", thread("zed.dev", "gpt-5", usage(0, 0), {}), None, None, None),
        # skipped and counted: corrupt zstd, unknown encoding, malformed JSON
        ("t7", "s", "2026-11-20T12:30:00Z", "zstd", b"\x28\xb5\x2f\xfd garbage", None, None, None),
        ("t8", "s", "2026-11-20T12:30:00Z", "xz", b"whatever", None, None, None),
        ("t9", "s", "2026-11-20T12:30:00Z", "json", b'{"model": {"provider": "zed.dev", ', None, None, None),
    ]  # fmt: skip


def zed_db(home: Path) -> Path:
    rows = [r if len(r) == 9 else (*r, None) for r in thread_rows()]  # parent_id
    return make_db(home / ".local/share/zed/threads/threads.db", SCHEMA, [(INSERT, r) for r in rows])


def test_registered_and_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("zed")
    assert isinstance(reader, ZedReader) and reader.session_totals is True
    assert home / "Library/Application Support/Zed/threads/threads.db" in reader.roots()
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    assert reader.roots()[0] == home / "data/zed/threads/threads.db"
    monkeypatch.setenv("ZED_THREADS_DB", str(home / "t.db"))
    assert reader.roots() == [home / "t.db"]


def test_rows_and_traps(home: Path) -> None:
    zed_db(home)
    result = ZedReader().read(ZedReader().discover([])[0], 0, {})
    assert result.errors == [] and result.skipped == 3
    rows = {r.session_id: r for r in result.rows}
    assert set(rows) == {"t1", "t2", "t3"}
    assert pick(rows["t3"], "provider", "model", "input", "output") == ("anthropic", "claude-sonnet-4-5", 9, 9)
    t1 = rows["t1"]
    # workspace: folder_paths_order "1,0" puts /work/b first; stamped at updated_at (after created_at)
    assert (t1.client, t1.provider, t1.model, t1.workspace, t1.session_id, t1.agent, t1.event_key, t1.ts) == (
        "zed",
        "zed.dev",
        "claude-sonnet-4-5",
        "/work/b",
        "t1",
        None,
        "t1",
        us("2026-11-20T12:30:00"),
    )
    assert (
        t1.input,
        t1.output,
        t1.reasoning,
        t1.cache_read,
        t1.cache_write_5m,
        t1.cache_write_1h,
        t1.source_cost,
        t1.service_tier,
        t1.rank,
    ) == (400, 60, 0, 30, 5, 0, None, None, 0)
    assert rows["t2"].agent == "subagent"  # parent_id set
    t2 = rows["t2"]
    assert (
        t2.workspace == "/work/c"
        and t2.ts == us("2026-11-21T08:00:00")
        and (t2.input, t2.output, t2.reasoning, t2.cache_read, t2.cache_write_5m) == (150, 27, 0, 10, 0)
    )


def test_reread_replaces_thread_totals(home: Path) -> None:
    db = zed_db(home)
    reader = ZedReader()
    _, frame = ledger_scan(home, reader)
    # 400 + 150 + 9 input, 60 + 27 + 9 output
    assert totals(frame)["input"] == 559 and totals(frame)["output"] == 96
    grown = zstd(thread("zed.dev", "claude-sonnet-4-5", usage(900, 100, 5, 70), {}))
    execute(db, "UPDATE threads SET data = ?, updated_at = '2026-11-22T09:00:00Z' WHERE id = 't1'", (grown,))
    summary, frame = ledger_scan(home, reader)
    assert summary.read == 1
    # replaced: 900 + 150 + 9 input (not 400 + 900 + ...); 100 + 27 + 9 output; cache read 70 + 10
    assert totals(frame)["input"] == 1059 and totals(frame)["output"] == 136 and totals(frame)["cache_read"] == 80
    t1 = frame.filter(frame["session_id"] == "t1")
    assert frame.height == 3 and t1["ts"].dt.epoch("us").item() == us("2026-11-22T09:00:00")


def test_locked_database_is_reported(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_lock_retry(monkeypatch)
    db = zed_db(home)
    with exclusive_lock(db):
        summary, frame = ledger_scan(home, ZedReader())
    assert frame.height == 0 and reported_busy(summary.errors, db)
    summary, frame = ledger_scan(home, ZedReader())
    assert summary.errors == [] and frame.height == 3


def test_old_schema_without_created_at(home: Path) -> None:
    make_db(
        home / ".local/share/zed/threads/threads.db",
        "CREATE TABLE threads (id TEXT PRIMARY KEY, summary TEXT, updated_at TEXT, data_type TEXT, data BLOB);",
        [
            (
                "INSERT INTO threads VALUES (?,?,?,?,?)",
                ("o1", "s", "2026-10-01T00:00:00Z", "json", thread("zed.dev", "gpt-5", usage(3, 4), {})),
            )
        ],
    )
    (row,) = ZedReader().read(ZedReader().discover([])[0], 0, {}).rows
    assert row.workspace == "" and row.ts == us("2026-10-01T00:00:00") and (row.input, row.output) == (3, 4)


# --- bad input costs only itself (issue 12) ---------------------------------------------------

DB = ".local/share/zed/threads/threads.db"
GROWN = "UPDATE threads SET updated_at = '2026-11-25T00:00:00Z' WHERE id = 't1'"


def test_fifo_in_place_of_the_database_does_not_hang(home: Path) -> None:
    check_fifo_database(home, ZedReader(), home / DB)


@pytest.mark.parametrize("companion", ["-wal", "-journal"])
def test_fifo_in_place_of_a_companion_does_not_hang(home: Path, companion: str) -> None:
    check_fifo_companion(ZedReader(), zed_db(home), companion)


def test_wal_database_without_shm_gets_none(home: Path) -> None:
    result = check_wal_without_shm(ZedReader(), zed_db(home), GROWN)
    assert {r.session_id: r.ts for r in result.rows}["t1"] == us("2026-11-25T00:00:00")


def test_an_existing_shm_stays_byte_identical(home: Path) -> None:
    result = check_existing_shm(ZedReader(), zed_db(home), GROWN)
    assert {r.session_id: r.ts for r in result.rows}["t1"] == us("2026-11-25T00:00:00")


def test_random_bytes_are_one_clear_error(home: Path) -> None:
    check_random_bytes(ZedReader(), home / DB)


def test_a_truncated_database_is_one_clear_error(home: Path) -> None:
    db = zed_db(home)
    big = [(f"b{n}", "s", "2026-11-20T12:30:00Z", "json", thread("zed.dev", "gpt-5", usage(1, 1), {}), None, None, None,
            None) for n in range(100)]  # fmt: skip
    conn = sqlite3.connect(db)
    conn.executemany(INSERT, big)
    conn.commit()
    conn.close()
    check_truncated(ZedReader(), db)


def test_corrupt_zstd_costs_one_thread_each(home: Path) -> None:
    zed_db(home)
    result = read_one(ZedReader())
    # t7 (a zstd magic number, then garbage) and t8 (an unknown encoding); t9 is malformed JSON
    assert result.reasons == {
        "thread data not decodable (corrupt zstd, unknown encoding or over the size limit)": 2,
        "thread JSON malformed or nested too deeply": 1,
    }
    assert {r.session_id for r in result.rows} == {"t1", "t2", "t3"}


def test_a_thread_nested_too_deep_costs_only_itself(home: Path) -> None:
    db = zed_db(home)
    expected = {r.session_id: r for r in read_one(ZedReader()).rows}
    body = thread("zed.dev", "gpt-5", usage(5, 5), {})
    deep = body[:-1] + b',"extra":' + b"[" * 1000 + b"]" * 1000 + b"}"
    execute(db, INSERT, ("t10", "s", "2026-11-20T12:30:00Z", "zstd", zstd(deep), None, None, None, None))
    result = read_one(ZedReader())
    assert result.errors == [] and result.reasons["thread JSON malformed or nested too deeply"] == 2
    assert {r.session_id: r for r in result.rows} == expected


@pytest.mark.parametrize("absurd", [1e30, 2**63 - 1, "1e400"])
def test_an_absurd_count_costs_only_its_thread(home: Path, absurd: object) -> None:
    db = zed_db(home)
    expected = {r.session_id: r for r in read_one(ZedReader()).rows}
    body = thread("zed.dev", "gpt-5", usage(5, 5) | {"input_tokens": absurd}, {})
    execute(db, INSERT, ("t11", "s", "2026-11-20T12:30:00Z", "json", body, None, None, None, None))
    rows = {r.session_id: r for r in read_one(ZedReader()).rows}
    bad = rows.pop("t11")
    assert rows == expected and bad.input > MAX_SESSION_TOKENS and bad.output == 5


def test_per_request_usage_written_before_the_cumulative_total_is_found(home: Path) -> None:
    """Keys in another order than Zed's (request_token_usage first, as tokscale's fixtures list them):
    the fast tail decode must not lose the per-request fallback."""
    body = {
        "messages": [],
        "request_token_usage": {"user-1": usage(100, 20), "user-2": usage(50, 7)},
        "cumulative_token_usage": {},
        "model": {"provider": "zed.dev", "model": "gpt-5.2"},
        "updated_at": "2026-05-01T12:30:00Z",
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    make_db(
        home / DB, SCHEMA, [(INSERT, ("r1", "s", "2026-05-01T12:30:00Z", "zstd", zstd(data), None, None, None, None))]
    )
    (row,) = read_one(ZedReader()).rows
    assert pick(row, "input", "output") == (150, 27)


def test_a_thread_that_decompresses_beyond_the_limit_costs_only_itself(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zstd bomb (a few KB that expand without end) is cut off at the limit, never read whole into memory."""
    monkeypatch.setattr(zed, "MAX_THREAD_BYTES", 1 << 20)
    db = zed_db(home)
    expected = {r.session_id: r for r in read_one(ZedReader()).rows}
    body = thread("zed.dev", "gpt-5", usage(5, 5), {})
    bomb = body[:-1] + b',"padding":"' + b"a" * (2 << 20) + b'"}'
    assert len(zstd(bomb)) < 1 << 16
    execute(db, INSERT, ("t12", "s", "2026-11-20T12:30:00Z", "zstd", zstd(bomb), None, None, None, None))
    result = read_one(ZedReader())
    assert result.errors == [] and {r.session_id: r for r in result.rows} == expected
    assert (
        result.reasons["thread data not decodable (corrupt zstd, unknown encoding or over the size limit)"] == 3
    )  # t7, t8 and t12


def test_a_symlinked_database_is_read(home: Path) -> None:
    result = check_symlinked_database(ZedReader(), zed_db(home / "dotfiles"), home / DB)
    assert {r.session_id for r in result.rows} == {"t1", "t2", "t3"}


def test_declares_the_environment_it_reads() -> None:
    check_declared_env(ZedReader())


def test_invalid_utf8_text_costs_nothing_but_the_bad_bytes(home: Path) -> None:
    db = zed_db(home)
    execute(db, "UPDATE threads SET folder_paths = CAST(x'2f772fff' AS TEXT) WHERE id = 't1'")
    result = read_one(ZedReader())
    rows = {r.session_id: r for r in result.rows}
    assert result.errors == [] and set(rows) == {"t1", "t2", "t3"} and rows["t1"].workspace == "/w/\ufffd"


def test_invalid_utf8_inside_a_thread_costs_nothing_but_the_bad_bytes(home: Path) -> None:
    # in the messages and in a field the reader decodes (the model's name)
    body = thread("zed.dev", "gpt-5", usage(7, 2), {}).replace(b"say ", b"s\xffy ", 1)
    body = body.replace(b'"gpt-5"', b'"gpt-5\xff"')
    assert body.count(b"\xff") == 2
    row = ("u1", "s", "2026-05-01T12:30:00Z", "zstd", zstd(body), None, None, None, None)
    make_db(home / DB, SCHEMA, [(INSERT, row)])
    (row,) = read_one(ZedReader()).rows
    assert pick(row, "model", "input", "output") == ("gpt-5\ufffd", 7, 2)
