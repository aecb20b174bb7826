"""Goose reader: sessions.db running totals, traps, replace-on-re-read, locked database."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.base import Row
from tokscope.readers.goose import GooseReader

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
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    session_type TEXT NOT NULL DEFAULT 'user',
    working_dir TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    total_tokens INTEGER, input_tokens INTEGER, output_tokens INTEGER,
    accumulated_total_tokens INTEGER, accumulated_input_tokens INTEGER, accumulated_output_tokens INTEGER,
    accumulated_cost REAL,
    provider_name TEXT,
    model_config_json TEXT
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, role TEXT NOT NULL,
    content_json TEXT NOT NULL, created_timestamp INTEGER NOT NULL
);
"""

INSERT = (
    "INSERT INTO sessions (id, session_type, working_dir, created_at, updated_at, total_tokens, input_tokens,"
    " output_tokens, accumulated_total_tokens, accumulated_input_tokens, accumulated_output_tokens,"
    " accumulated_cost, provider_name, model_config_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def cfg(model: str) -> str:
    return json.dumps({"model_name": model, "context_limit": None, "toolshim": False})


ROWS = [
    # A: accumulated totals win over the last-context columns; cost kept; stamped at updated_at
    ("20261120_1", "user", "/home/al/app", "2026-11-20 09:00:00", "2026-11-21 18:30:00",
     350, 300, 50, 1200, 1000, 200, 0.42, "anthropic", cfg("claude-sonnet-4-5")),
    # B: no accumulated columns (older Goose): plain columns; total - in - out = 10 extra output (reasoning)
    ("20261120_2", "user", "/home/al/lib", "2026-11-20T10:00:00Z", None,
     60, 40, 10, None, None, None, None, None, cfg("gpt-5")),
    # C: sub-agent session, provider inferred from the model, updated_at before created_at (clock skew)
    ("20261120_3", "sub_agent", "/home/al/app", "2026-11-20 12:00:00", "2026-11-20 11:00:00",
     None, None, None, 7, 5, 2, 0, "", cfg("claude-haiku-4-5")),
    # traps that give no row: no model config, blank model, malformed config, zero tokens
    ("20261120_4", "user", "/x", "2026-11-20 12:00:00", None, 9, 9, 0, 9, 9, 0, None, "openai", None),
    ("20261120_5", "user", "/x", "2026-11-20 12:00:00", None, 9, 9, 0, 9, 9, 0, None, "openai", cfg("  ")),
    ("20261120_6", "user", "/x", "2026-11-20 12:00:00", None, 9, 9, 0, 9, 9, 0, None, "openai", "{not json"),
    ("20261120_7", "user", "/x", "2026-11-20 12:00:00", None, 0, 0, 0, 0, 0, 0, None, "openai", cfg("gpt-5")),
]  # fmt: skip


def goose_db(home: Path, wal: bool = False) -> Path:
    path = home / ".local/share/goose/sessions/sessions.db"
    return make_db(path, SCHEMA, [(INSERT, r) for r in ROWS], wal=wal)


def test_registered_and_session_totals() -> None:
    reader = get_reader("goose")
    assert isinstance(reader, GooseReader)
    assert reader.session_totals is True


def test_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = GooseReader()
    assert home / ".local/share/goose/sessions/sessions.db" in reader.roots()
    assert home / "Library/Application Support/goose/sessions/sessions.db" in reader.roots()
    monkeypatch.setenv("GOOSE_PATH_ROOT", str(home / "custom"))
    assert reader.roots() == [home / "custom/data/sessions/sessions.db"]


def test_rows_and_traps(home: Path) -> None:
    db = goose_db(home)
    reader = GooseReader()
    sources = reader.discover([])
    assert [s.path for s in sources] == [db]
    assert sources[0].mode == "whole" and sources[0].companions == (db.with_name("sessions.db-wal"),)
    result = reader.read(sources[0], 0, {})
    assert result.errors == [] and result.skipped == 0
    rows = {r.session_id: r for r in result.rows}
    assert set(rows) == {"20261120_1", "20261120_2", "20261120_3"}

    a = rows["20261120_1"]
    assert (a.client, a.provider, a.model, a.workspace, a.session_id, a.agent, a.event_key, a.ts) == (
        "goose", "anthropic", "claude-sonnet-4-5", "/home/al/app", "20261120_1", None, "20261120_1",
        us("2026-11-21T18:30:00"),
    )  # fmt: skip
    assert (
        a.input,
        a.output,
        a.reasoning,
        a.cache_read,
        a.cache_write_5m,
        a.cache_write_1h,
        a.source_cost,
        a.service_tier,
        a.rank,
    ) == (1000, 200, 0, 0, 0, 0, 0.42, None, 0)

    b = rows["20261120_2"]
    # no accumulated columns: input 40, output 10 + (60 - 40 - 10) = 20 of which 10 reasoning
    assert (b.provider, b.model) == ("openai", "gpt-5")  # provider NULL: inferred from the model
    assert (
        b.ts == us("2026-11-20T10:00:00")
        and (b.input, b.output, b.reasoning, b.cache_read) == (40, 20, 10, 0)
        and b.source_cost is None
    )

    c = rows["20261120_3"]
    # provider "" -> inferred; agent = session_type; updated_at before created_at -> created_at
    assert c.provider == "anthropic" and c.agent == "sub_agent" and c.ts == us("2026-11-20T12:00:00")
    assert (c.input, c.output) == (5, 2) and c.source_cost is None  # cost 0 is "no cost logged"


def test_reread_replaces_session_totals(home: Path) -> None:
    db = goose_db(home)
    reader = GooseReader()
    _, frame = ledger_scan(home, reader)
    # 1000 + 40 + 5 input; 200 + 20 + 2 output
    assert totals(frame)["input"] == 1045 and totals(frame)["output"] == 222
    execute(
        db,
        "UPDATE sessions SET accumulated_input_tokens = 1500, accumulated_output_tokens = 260,"
        " accumulated_total_tokens = 1760, updated_at = '2026-11-22 08:00:00' WHERE id = '20261120_1'",
    )
    summary, frame = ledger_scan(home, reader)
    assert summary.read == 1
    # replaced, not added: 1500 + 40 + 5 = 1545 input (not 2545), 260 + 20 + 2 = 282 output
    assert totals(frame)["input"] == 1545 and totals(frame)["output"] == 282
    assert frame.height == 3
    row = frame.filter(frame["session_id"] == "20261120_1")
    assert row["ts"].dt.epoch("us").item() == us("2026-11-22T08:00:00")


def test_locked_database_is_reported_not_fatal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_lock_retry(monkeypatch)
    db = goose_db(home)
    reader = GooseReader()
    with exclusive_lock(db):
        summary, frame = ledger_scan(home, reader)
    assert frame.height == 0
    assert reported_busy(summary.errors, db)
    # the next scan (lock released) reads it: the failed read did not mark the file as done
    summary, frame = ledger_scan(home, reader)
    assert summary.errors == [] and frame.height == 3


def test_read_only_creates_nothing_beside_a_wal_database(home: Path) -> None:
    db = goose_db(home, wal=True)
    before = listing(db.parent)
    assert before == {"sessions.db"}
    result = GooseReader().read(GooseReader().discover([])[0], 0, {})
    assert len(result.rows) == 3
    assert listing(db.parent) == before


def test_old_schema_without_optional_columns(home: Path) -> None:
    make_db(
        home / ".local/share/goose/sessions/sessions.db",
        "CREATE TABLE sessions (id TEXT, model_config_json TEXT, created_at TEXT,"
        " input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER);",
        [("INSERT INTO sessions VALUES (?,?,?,?,?,?)", ("s", cfg("gpt-5"), "2026-11-01 00:00:00", 3, 4, 7))],
    )
    (row,) = GooseReader().read(GooseReader().discover([])[0], 0, {}).rows
    assert row.workspace == "" and (row.input, row.output) == (3, 4) and row.ts == us("2026-11-01T00:00:00")


def test_not_a_database_is_an_error(home: Path) -> None:
    path = home / ".local/share/goose/sessions/sessions.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    result = GooseReader().read(GooseReader().discover([])[0], 0, {})
    assert result.rows == [] and result.errors


def test_lock_released_during_the_retries_is_read(home: Path) -> None:
    db = goose_db(home)
    with exclusive_lock(db) as writer:
        assert db.with_name("sessions.db-journal").stat().st_size > 0  # mid-write: the read must wait
        release = threading.Timer(0.12, lambda: writer.execute("ROLLBACK"))  # within the default retry budget
        release.start()
        try:
            result = GooseReader().read(GooseReader().discover([])[0], 0, {})
        finally:
            release.join()
    assert result.errors == [] and len(result.rows) == 3


# --- bad input costs only itself (issue 12) ---------------------------------------------------

DB = ".local/share/goose/sessions/sessions.db"
GROWN = "UPDATE sessions SET accumulated_input_tokens = 4000 WHERE id = '20261120_1'"


def read_rows(reader: GooseReader) -> dict[str, Row]:
    result = read_one(reader)
    assert result.errors == []
    return {r.session_id: r for r in result.rows}


def test_fifo_in_place_of_the_database_does_not_hang(home: Path) -> None:
    check_fifo_database(home, GooseReader(), home / DB)


@pytest.mark.parametrize("companion", ["-wal", "-journal"])
def test_fifo_in_place_of_a_companion_does_not_hang(home: Path, companion: str) -> None:
    check_fifo_companion(GooseReader(), goose_db(home), companion)


def test_wal_database_without_shm_gets_none(home: Path) -> None:
    result = check_wal_without_shm(GooseReader(), goose_db(home), GROWN)
    assert {r.session_id: r.input for r in result.rows}["20261120_1"] == 4000  # the commit only in the -wal


def test_an_existing_shm_stays_byte_identical(home: Path) -> None:
    result = check_existing_shm(GooseReader(), goose_db(home), GROWN)
    assert {r.session_id: r.input for r in result.rows}["20261120_1"] == 4000


def test_random_bytes_are_one_clear_error(home: Path) -> None:
    check_random_bytes(GooseReader(), home / DB)


def test_a_truncated_database_is_one_clear_error(home: Path) -> None:
    bulk = [(f"bulk_{n}", "user", "/w" * 200, "2026-11-20 12:00:00", None, 1, 1, 0, 1, 1, 0, None, "openai",
             cfg("gpt-5")) for n in range(300)]  # fmt: skip
    check_truncated(GooseReader(), make_db(home / DB, SCHEMA, [(INSERT, r) for r in ROWS + bulk]))


def test_a_config_nested_too_deep_costs_only_its_session(home: Path) -> None:
    db = goose_db(home)
    expected = read_rows(GooseReader())
    deep = '{"model_name": "gpt-5", "extra": ' + "[" * 1000 + "]" * 1000 + "}"
    execute(
        db, INSERT, ("20261120_8", "user", "/x", "2026-11-20 12:00:00", None, 9, 9, 0, 9, 9, 0, None, "openai", deep)
    )
    result = read_one(GooseReader())
    assert result.errors == [] and result.reasons == {"model config nested too deeply": 1}
    assert {r.session_id: r for r in result.rows} == expected


@pytest.mark.parametrize("absurd", [1e30, "1e400", 2**63 - 1])
def test_an_absurd_count_costs_only_its_session(home: Path, absurd: object) -> None:
    db = goose_db(home)
    expected = read_rows(GooseReader())
    execute(db, INSERT, ("20261120_9", "user", "/x", "2026-11-20 12:00:00", None, None, None, None,
                         absurd, absurd, 5, None, "openai", cfg("gpt-5")))  # fmt: skip
    rows = read_rows(GooseReader())
    bad = rows.pop("20261120_9")
    assert rows == expected
    # never wrapped or clamped into range: the scan's limits refuse the row with a counted reason
    assert bad.input > MAX_SESSION_TOKENS and bad.output + bad.reasoning >= 5


def test_a_symlinked_database_is_read(home: Path) -> None:
    result = check_symlinked_database(GooseReader(), goose_db(home / "dotfiles"), home / DB)
    assert {r.session_id for r in result.rows} == {"20261120_1", "20261120_2", "20261120_3"}


def test_declares_the_environment_it_reads() -> None:
    check_declared_env(GooseReader())


def test_invalid_utf8_text_costs_nothing_but_the_bad_bytes(home: Path) -> None:
    db = goose_db(home)
    expected = read_rows(GooseReader())
    execute(db, "UPDATE sessions SET working_dir = CAST(x'2f6170702fff' AS TEXT) WHERE id = '20261120_1'")
    rows = read_rows(GooseReader())
    assert rows.pop("20261120_1").workspace == "/app/\ufffd"
    expected.pop("20261120_1")
    assert rows == expected
