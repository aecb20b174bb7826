"""Continue reader: per-request (estimated) token counts from dev_data/devdata.sqlite."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.continue_dev import ContinueReader

from tests.session_totals_helpers import (
    check_declared_env,
    check_existing_shm,
    check_fifo_database,
    check_random_bytes,
    check_symlinked_database,
    check_wal_without_shm,
    ledger_scan,
    make_db,
    pick,
    read_one,
    totals,
    us,
)

DB = ".continue/dev_data/devdata.sqlite"

#: Continue's table as created by current versions (``tokens_prompt`` added by ALTER on older ones).
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens_generated (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    tokens_generated INTEGER NOT NULL,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);
ALTER TABLE tokens_generated ADD COLUMN tokens_prompt INTEGER NOT NULL DEFAULT 0;
"""
OLD_SCHEMA = """
CREATE TABLE tokens_generated (
    id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, provider TEXT NOT NULL,
    tokens_generated INTEGER NOT NULL, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);
"""
INSERT = "INSERT INTO tokens_generated (model, provider, tokens_prompt, tokens_generated, timestamp) VALUES (?,?,?,?,?)"
ROWS = [
    ("claude-sonnet-4-5", "anthropic", 1500, 220, "2026-11-20 10:00:00"),
    ("gpt-4o-mini", "openai", 800, 40, "2026-11-20 10:05:00"),
    ("qwen2.5-coder:7b", "ollama", 300, 12, "2026-11-21 23:59:59"),  # autocomplete on a local model
    ("gpt-4o", "openai", 0, 0, "2026-11-21 10:00:00"),  # nothing counted: skipped
]


def continue_db(home: Path) -> Path:
    return make_db(home / DB, SCHEMA, [(INSERT, r) for r in ROWS], wal=True)


def test_registered_and_estimated() -> None:
    reader = get_reader("continue")
    assert isinstance(reader, ContinueReader)
    assert reader.fidelity == "estimated" and reader.session_totals is False
    check_declared_env(ContinueReader())


def test_rows(home: Path) -> None:
    continue_db(home)
    result = read_one(ContinueReader())
    assert result.errors == [] and result.skipped == 0
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["1@2026-11-20 10:00:00", "2@2026-11-20 10:05:00", "3@2026-11-21 23:59:59"]
    first = rows["1@2026-11-20 10:00:00"]
    assert pick(first, "provider", "model", "input", "output", "cache_read", "reasoning", "source_cost") == (
        "anthropic",
        "claude-sonnet-4-5",
        1500,
        220,
        0,
        0,
        None,
    )
    assert first.ts == us("2026-11-20T10:00:00")  # CURRENT_TIMESTAMP is UTC text
    assert pick(first, "session_id", "workspace", "agent") == ("2026-11-20", "", None)
    assert rows["3@2026-11-21 23:59:59"].provider == "ollama"


def test_old_table_without_prompt_column(home: Path) -> None:
    make_db(
        home / DB,
        OLD_SCHEMA,
        [("INSERT INTO tokens_generated (model, provider, tokens_generated) VALUES (?,?,?)", ("gpt-4", "openai", 99))],
    )
    (row,) = read_one(ContinueReader()).rows
    assert pick(row, "input", "output", "model") == (0, 99, "gpt-4")


def test_recreated_database_keeps_old_requests(home: Path) -> None:
    db = continue_db(home)
    _, frame = ledger_scan(home, ContinueReader())
    assert frame.height == 3
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    make_db(db, SCHEMA, [(INSERT, ("gpt-4o", "openai", 10, 5, "2026-11-25 09:00:00"))])  # ids start again at 1
    _, frame = ledger_scan(home, ContinueReader())
    assert frame.height == 4
    assert totals(frame)["input"] == 1500 + 800 + 300 + 10


def test_bad_timestamp_costs_its_row(home: Path) -> None:
    make_db(home / DB, SCHEMA, [(INSERT, ("gpt-4o", "openai", 10, 5, "not a time")), (INSERT, ROWS[0])])
    result = read_one(ContinueReader())
    assert len(result.rows) == 1 and result.reasons == {"row without a model or a time": 1}


def test_global_dir_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = home / "cfg"
    make_db(other / "dev_data" / "devdata.sqlite", SCHEMA, [(INSERT, ROWS[0])])
    continue_db(home)
    monkeypatch.setenv("CONTINUE_GLOBAL_DIR", str(other))
    assert [s.path for s in ContinueReader().discover([])] == [other / "dev_data" / "devdata.sqlite"]
    monkeypatch.setenv("CONTINUE_GLOBAL_DIR", "relative/dir")  # Continue ignores a relative one
    assert [s.path for s in ContinueReader().discover([])] == [(home / DB).resolve()]


def test_jsonl_copy_is_not_read(home: Path) -> None:
    continue_db(home)
    log = home / ".continue/dev_data/0.2.0/tokensGenerated.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(
        '{"eventName":"tokensGenerated","timestamp":"2026-11-20T10:00:00.000Z","model":"x","provider":"y","promptTokens":5,"generatedTokens":6}\n'
    )
    assert [s.path.name for s in ContinueReader().discover([])] == ["devdata.sqlite"]


def test_database_safety(home: Path) -> None:
    db = continue_db(home)
    result = check_wal_without_shm(
        ContinueReader(), db, "UPDATE tokens_generated SET tokens_generated = 999 WHERE id = 1"
    )
    assert {r.event_key: r.output for r in result.rows}["1@2026-11-20 10:00:00"] == 999


def test_existing_shm_untouched(home: Path) -> None:
    result = check_existing_shm(
        ContinueReader(),
        continue_db(home),
        "INSERT INTO tokens_generated (model, provider, tokens_prompt, tokens_generated, timestamp)"
        " VALUES ('m', 'p', 1, 2, '2026-11-22 00:00:00')",
    )
    assert len(result.rows) == 4


def test_fifo_and_random_bytes(home: Path) -> None:
    check_fifo_database(home, ContinueReader(), home / DB)


def test_random_bytes(home: Path) -> None:
    check_random_bytes(ContinueReader(), home / DB)


def test_symlinked_database(home: Path) -> None:
    result = check_symlinked_database(ContinueReader(), continue_db(home / "dotfiles"), home / DB)
    assert len(result.rows) == 3
