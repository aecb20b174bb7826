"""Hermes reader: state.db session totals and per-model rows, replace-on-re-read, locked database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.hermes import HermesReader

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
    listing,
    make_db,
    read_one,
    reported_busy,
    totals,
    us,
)
from tokscope.limits import MAX_SESSION_TOKENS

SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, model TEXT, parent_session_id TEXT,
    started_at REAL NOT NULL, ended_at REAL, message_count INTEGER DEFAULT 0,
    input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0, cache_read_tokens INTEGER DEFAULT 0,
    cache_write_tokens INTEGER DEFAULT 0, reasoning_tokens INTEGER DEFAULT 0, cwd TEXT,
    billing_provider TEXT, estimated_cost_usd REAL, actual_cost_usd REAL
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, role TEXT NOT NULL,
    content TEXT, timestamp REAL NOT NULL
);
"""

SMU = """
CREATE TABLE session_model_usage (
    session_id TEXT NOT NULL, model TEXT NOT NULL, billing_provider TEXT NOT NULL DEFAULT '',
    billing_base_url TEXT NOT NULL DEFAULT '', billing_mode TEXT NOT NULL DEFAULT '', task TEXT NOT NULL DEFAULT '',
    api_call_count INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0, estimated_cost_usd REAL NOT NULL DEFAULT 0,
    actual_cost_usd REAL NOT NULL DEFAULT 0, first_seen REAL, last_seen REAL,
    PRIMARY KEY (session_id, model, billing_provider, billing_base_url, billing_mode, task)
);
"""

S = "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
M = "INSERT INTO messages (session_id, role, content, timestamp) VALUES (?,?,?,?)"
U = (
    "INSERT INTO session_model_usage (session_id, model, billing_provider, task, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost_usd, actual_cost_usd,"
    " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
T0 = us("2026-11-20T10:00:00") / 1e6

SESSIONS = [
    # s1: open session (ended_at NULL): stamped at its last message; actual cost wins over the estimate
    ("s1", "cli", "claude-sonnet-4-6", None, T0, None, 4, 100, 30, 20, 5, 10, "/p/app", "anthropic", 0.99, 0.0123),
    # s2: ended; actual 0 -> the estimate; provider NULL -> inferred; started_at in milliseconds
    ("s2", "telegram", "gpt-5", None, T0 * 1000, T0 + 7200, 2, 50, 10, 0, 0, 4, None, None, 0.5, 0.0),
    # no model / nothing counted: no row
    ("s3", "cli", None, None, T0, None, 1, 9, 9, 0, 0, 0, None, None, None, None),
    ("s4", "cli", "gpt-5", None, T0, None, 1, 0, 0, 0, 0, 0, None, None, None, None),
]
MESSAGES = [
    ("s1", "user", "hi", T0 + 60),
    ("s1", "assistant", "hello", T0 + 5400),  # 11:30
]


def hermes_db(home: Path, with_smu: bool = False) -> Path:
    inserts = [(S, r) for r in SESSIONS] + [(M, m) for m in MESSAGES]
    return make_db(home / ".hermes/state.db", SCHEMA + (SMU if with_smu else ""), inserts)


def test_registered_and_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("hermes")
    assert isinstance(reader, HermesReader) and reader.session_totals is True
    assert reader.roots() == [home / ".hermes/state.db"]
    monkeypatch.setenv("HERMES_HOME", f"{home}/a,{home}/b")
    assert reader.roots() == [home / "a/state.db", home / "b/state.db"]


def test_session_rows_and_traps(home: Path) -> None:
    db = hermes_db(home)
    result = HermesReader().read(HermesReader().discover([])[0], 0, {})
    assert result.errors == []
    rows = {r.session_id: r for r in result.rows}
    assert set(rows) == {"s1", "s2"}
    s1 = rows["s1"]
    assert (s1.client, s1.provider, s1.model, s1.workspace, s1.session_id, s1.agent, s1.event_key, s1.ts) == (
        "hermes",
        "anthropic",
        "claude-sonnet-4-6",
        "/p/app",
        "s1",
        None,
        "s1",
        us("2026-11-20T11:30:00"),
    )
    # input uncached, output includes reasoning (10 reported, not added), cache write as 5m
    assert (
        s1.input,
        s1.output,
        s1.reasoning,
        s1.cache_read,
        s1.cache_write_5m,
        s1.cache_write_1h,
        s1.source_cost,
        s1.service_tier,
        s1.rank,
    ) == (100, 30, 10, 20, 5, 0, 0.0123, None, 0)
    s2 = rows["s2"]
    assert s2.provider == "openai" and s2.workspace == "" and s2.ts == us("2026-11-20T12:00:00")  # ended_at
    assert (s2.input, s2.output, s2.reasoning) == (50, 10, 4) and s2.source_cost == 0.5
    assert listing(db.parent) == {"state.db"}


def test_per_model_rows_replace_the_session_total(home: Path) -> None:
    db = hermes_db(home)
    reader = HermesReader()
    _, frame = ledger_scan(home, reader)
    # s1 100 + s2 50 input
    assert totals(frame)["input"] == 150
    # Hermes upgraded: per-model rows for s1 (its own model + an auxiliary model)
    conn_sql = SMU.strip()
    execute(db, conn_sql)
    execute(db, U, ("s1", "claude-sonnet-4-6", "anthropic", "", 120, 40, 25, 5, 12, 0, 0.02, T0 + 10, T0 + 6000))
    execute(db, U, ("s1", "gpt-5-mini", "openrouter", "title", 7, 3, 0, 0, 0, 0.001, 0, T0 + 20, T0 + 30))
    execute(db, U, ("s1", "gpt-5-mini", "openrouter", "compress", 3, 1, 0, 0, 0, 0.002, 0, T0 + 40, T0 + 50))
    summary, frame = ledger_scan(home, reader)
    assert summary.errors == []
    s1 = frame.filter(frame["session_id"] == "s1").sort("event_key")
    # own model keeps key "s1" (replacing the old total 100); gpt-5-mini rows of two tasks summed: 7 + 3
    assert s1["event_key"].to_list() == ["s1", "s1|gpt-5-mini|openrouter"]
    assert s1["input"].to_list() == [120, 10] and s1["output"].to_list() == [40, 4]
    assert s1["source_cost"].to_list() == [0.02, pytest.approx(0.003)]
    # 120 + 10 (s1) + 50 (s2) = 180, not 100 + 180
    assert totals(frame)["input"] == 180
    own = s1.filter(s1["event_key"] == "s1")
    assert own["ts"].dt.epoch("us").item() == us("2026-11-20T11:40:00")  # last_seen T0 + 6000 s

    # the session switches model (/model): keys stay with their rows, nothing counted twice
    execute(db, "UPDATE sessions SET model = 'gpt-5-mini' WHERE id = 's1'")
    execute(db, "UPDATE session_model_usage SET input_tokens = 20 WHERE task = 'title'")
    _, frame = ledger_scan(home, reader)
    s1 = frame.filter(frame["session_id"] == "s1").sort("event_key")
    # 120 (s1) + 20 + 3 (gpt-5-mini) = 143 for s1; + 50 (s2) = 193
    assert s1["input"].to_list() == [120, 23] and totals(frame)["input"] == 193


def test_reread_replaces_grown_totals(home: Path) -> None:
    db = hermes_db(home)
    reader = HermesReader()
    ledger_scan(home, reader)
    execute(db, "UPDATE sessions SET input_tokens = 180, output_tokens = 45 WHERE id = 's1'")
    execute(db, M, ("s1", "assistant", "more", T0 + 86400))
    _, frame = ledger_scan(home, reader)
    # 180 + 50 = 230 input (replaced, not 100 + 180 + 50); 45 + 10 output
    assert totals(frame)["input"] == 230 and totals(frame)["output"] == 55 and frame.height == 2
    s1 = frame.filter(frame["session_id"] == "s1")
    assert s1["ts"].dt.epoch("us").item() == us("2026-11-21T10:00:00")  # moved to its latest message


def test_locked_database_is_reported(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_lock_retry(monkeypatch)
    db = hermes_db(home)
    with exclusive_lock(db):
        summary, frame = ledger_scan(home, HermesReader())
    assert frame.height == 0 and reported_busy(summary.errors, db)
    summary, frame = ledger_scan(home, HermesReader())
    assert summary.errors == [] and frame.height == 2


def test_minimal_old_schema(home: Path) -> None:
    make_db(
        home / ".hermes/state.db",
        "CREATE TABLE sessions (id TEXT, model TEXT, started_at REAL, input_tokens INTEGER, output_tokens INTEGER);",
        [("INSERT INTO sessions VALUES (?,?,?,?,?)", ("x", "kimi-k2", T0, 8, 2))],
    )
    (row,) = HermesReader().read(HermesReader().discover([])[0], 0, {}).rows
    assert (
        (row.provider, row.model) == ("moonshot", "kimi-k2")
        and row.ts == us("2026-11-20T10:00:00")
        and (row.input, row.output, row.reasoning, row.cache_read) == (8, 2, 0, 0)
    )


def test_wal_content_of_a_running_client_is_read(home: Path) -> None:
    db = make_db(home / ".hermes/state.db", SCHEMA, [(S, r) for r in SESSIONS], wal=True)
    writer = sqlite3.connect(db)  # the running client: its latest totals sit in the -wal file
    try:
        writer.execute("UPDATE sessions SET input_tokens = 777 WHERE id = 's1'")
        writer.commit()
        before = listing(db.parent)
        assert {"state.db-wal", "state.db-shm"} <= before
        source = HermesReader().discover([])[0]
        assert source.companions == (db.with_name("state.db-wal"),)
        rows = {r.session_id: r for r in HermesReader().read(source, 0, {}).rows}
        assert rows["s1"].input == 777
        assert listing(db.parent) == before
    finally:
        writer.close()


# --- bad input costs only itself (issue 12) ---------------------------------------------------

DB = ".hermes/state.db"
GROWN = "UPDATE sessions SET input_tokens = 4000 WHERE id = 's1'"


def test_fifo_in_place_of_the_database_does_not_hang(home: Path) -> None:
    check_fifo_database(home, HermesReader(), home / DB)


@pytest.mark.parametrize("companion", ["-wal", "-journal"])
def test_fifo_in_place_of_a_companion_does_not_hang(home: Path, companion: str) -> None:
    check_fifo_companion(HermesReader(), hermes_db(home), companion)


def test_wal_database_without_shm_gets_none(home: Path) -> None:
    result = check_wal_without_shm(HermesReader(), hermes_db(home), GROWN)
    assert {r.session_id: r.input for r in result.rows} == {"s1": 4000, "s2": 50}


def test_an_existing_shm_stays_byte_identical(home: Path) -> None:
    result = check_existing_shm(HermesReader(), hermes_db(home), GROWN)
    assert {r.session_id: r.input for r in result.rows} == {"s1": 4000, "s2": 50}


def test_random_bytes_are_one_clear_error(home: Path) -> None:
    check_random_bytes(HermesReader(), home / DB)


def test_a_truncated_database_is_one_clear_error(home: Path) -> None:
    bulk = [
        (f"b{n}", "cli", "gpt-5", None, T0, None, 1, 1, 1, 0, 0, 0, "/w" * 200, None, None, None) for n in range(300)
    ]
    check_truncated(HermesReader(), make_db(home / DB, SCHEMA, [(S, r) for r in SESSIONS + bulk]))


@pytest.mark.parametrize("absurd", [1e30, "1e400", 2**63 - 1])
def test_an_absurd_session_count_costs_only_its_session(home: Path, absurd: object) -> None:
    db = hermes_db(home)
    execute(db, S, ("s5", "cli", "gpt-5", None, T0, None, 1, absurd, 3, 0, 0, 0, None, None, None, None))
    result = read_one(HermesReader())
    rows = {r.session_id: r for r in result.rows}
    assert result.errors == [] and set(rows) == {"s1", "s2", "s5"}
    assert (rows["s1"].input, rows["s2"].input) == (100, 50)
    assert rows["s5"].input > MAX_SESSION_TOKENS and rows["s5"].output == 3  # refused by the scan's limits


def test_absurd_per_model_counts_do_not_overflow_the_query(home: Path) -> None:
    db = hermes_db(home, with_smu=True)
    execute(db, U, ("s1", "claude-sonnet-4-6", "anthropic", "", 120, 40, 25, 5, 12, 0, 0.02, T0 + 10, T0 + 6000))
    for task in ("title", "compress"):  # two int64-max rows: SUM() would stop the whole database with an overflow
        execute(db, U, ("s2", "gpt-5", "openai", task, 2**63 - 1, 1, 0, 0, 0, 0, 0, T0, T0))
    result = read_one(HermesReader())
    rows = {r.session_id: r for r in result.rows}
    assert result.errors == [] and rows["s1"].input == 120 and rows["s1"].output == 40
    assert rows["s2"].input > MAX_SESSION_TOKENS and rows["s2"].output == 2


def test_a_symlinked_database_is_read(home: Path) -> None:
    result = check_symlinked_database(HermesReader(), hermes_db(home / "dotfiles"), home / DB)
    assert {r.session_id for r in result.rows} == {"s1", "s2"}


def test_declares_the_environment_it_reads() -> None:
    check_declared_env(HermesReader())


def test_invalid_utf8_text_costs_nothing_but_the_bad_bytes(home: Path) -> None:
    db = hermes_db(home)
    execute(db, "UPDATE sessions SET cwd = CAST(x'2f702fff' AS TEXT) WHERE id = 's1'")
    result = read_one(HermesReader())
    rows = {r.session_id: r for r in result.rows}
    assert result.errors == [] and set(rows) == {"s1", "s2"} and rows["s1"].workspace == "/p/\ufffd"
