"""Crush reader: root-session cost only, project index discovery, replace-on-re-read, locked database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.crush import SESSION_MODEL, CrushReader

from tests.session_totals_helpers import (
    check_declared_env,
    check_existing_shm,
    check_fifo_companion,
    check_fifo_database,
    check_random_bytes,
    check_truncated,
    check_wal_without_shm,
    exclusive_lock,
    execute,
    fast_lock_retry,
    finishes,
    ledger_scan,
    make_db,
    read_one,
    reported_busy,
    us,
)
from tokscope.limits import MAX_COST
from tokscope.pricing import apply_pricing

SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, parent_session_id TEXT, title TEXT NOT NULL DEFAULT '',
    message_count INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, summary_message_id TEXT, cost REAL NOT NULL DEFAULT 0.0,
    updated_at INTEGER NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE messages (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL, parts TEXT NOT NULL DEFAULT '[]',
    model TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER, provider TEXT
);
"""
S = (
    "INSERT INTO sessions (id, parent_session_id, message_count, prompt_tokens, completion_tokens, cost,"
    " updated_at, created_at) VALUES (?,?,?,?,?,?,?,?)"
)
M = "INSERT INTO messages (id, session_id, role, model, provider, created_at, updated_at) VALUES (?,?,?,?,?,0,0)"
T0 = us("2026-11-20T10:00:00") // 1_000_000


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest does not clear ``CRUSH_PROJECTS``: a developer's own setting must not leak in."""
    monkeypatch.delenv("CRUSH_PROJECTS", raising=False)


def crush_tree(home: Path) -> tuple[Path, Path]:
    app, lib = home / "src/app", home / "src/lib"
    db1 = make_db(
        app / ".crush/crush.db",
        SCHEMA,
        [
            # r1: one model; tokens (last step's context) ignored; stamped at updated_at
            (S, ("r1", None, 6, 90_000, 2_000, 1.5, T0 + 3600, T0)),
            # c1: a task sub-session of r1: its 0.5 is already inside r1's 1.5
            (S, ("c1", "r1", 3, 10_000, 500, 0.5, T0 + 1800, T0 + 600)),
            # r2: no cost yet: no row
            (S, ("r2", None, 1, 100, 0, 0.0, T0, T0)),
            # r3: two models -> session-total; parent '' counts as a root
            (S, ("r3", "", 4, 5_000, 100, 2.25, T0 + 100, T0 + 50)),
            (M, ("m1", "r1", "assistant", "claude-sonnet-4-5", "anthropic")),
            (M, ("m2", "r1", "assistant", "claude-sonnet-4-5", "anthropic")),
            (M, ("m3", "r1", "user", "", "")),
            (M, ("m4", "c1", "assistant", "claude-haiku-4-5", "anthropic")),
            (M, ("m5", "r3", "assistant", "gpt-5", "openai")),
            (M, ("m6", "r3", "assistant", "claude-sonnet-4-5", "anthropic")),
        ],
    )
    # lib: relative data_dir; timestamps in milliseconds
    db2 = make_db(lib / ".crush/crush.db", SCHEMA, [(S, ("q1", None, 2, 0, 0, 0.75, (T0 + 60) * 1000, T0 * 1000))])
    index = home / ".local/share/crush/projects.json"
    index.parent.mkdir(parents=True)
    projects = [
        {"path": str(app), "data_dir": str(app / ".crush"), "last_accessed": "2026-11-20T10:00:00Z"},
        {"path": str(lib), "data_dir": ".crush", "last_accessed": "2026-11-19T10:00:00Z"},
        {"path": str(home / "gone"), "data_dir": str(home / "gone/.crush"), "last_accessed": "2026-11-18T10:00:00Z"},
    ]
    index.write_text(json.dumps({"projects": projects}, indent=2))
    return db1, db2


def read_all(reader: CrushReader) -> dict[str, tuple]:
    rows = {}
    for source in reader.discover([]):
        result = reader.read(source, 0, {})
        assert result.errors == []
        rows.update({r.session_id: r for r in result.rows})
    return rows


def test_registered(home: Path) -> None:
    reader = get_reader("crush")
    assert isinstance(reader, CrushReader) and reader.session_totals is True
    assert reader.roots() == [home / ".local/share/crush/projects.json"]


def test_root_session_costs_only(home: Path) -> None:
    db1, db2 = crush_tree(home)
    reader = CrushReader()
    assert [s.path for s in reader.discover([])] == [db1, db2]
    rows = read_all(reader)
    assert set(rows) == {"r1", "r3", "q1"}
    r1 = rows["r1"]
    assert (r1.client, r1.provider, r1.model, r1.workspace, r1.session_id, r1.agent, r1.event_key, r1.ts) == (
        "crush",
        "crush",
        SESSION_MODEL,
        str(home / "src/app"),
        "r1",
        None,
        "r1",
        us("2026-11-20T11:00:00"),
    )
    # zero tokens (Crush's token columns are not cumulative), the session's cost (child 0.5 inside it)
    assert (
        r1.input,
        r1.output,
        r1.reasoning,
        r1.cache_read,
        r1.cache_write_5m,
        r1.cache_write_1h,
        r1.source_cost,
        r1.service_tier,
        r1.rank,
    ) == (0, 0, 0, 0, 0, 0, 1.5, None, 0)
    r3 = rows["r3"]
    assert (
        (r3.provider, r3.model) == ("crush", SESSION_MODEL)
        and r3.source_cost == 2.25
        and r3.ts == us("2026-11-20T10:01:40")
    )
    q1 = rows["q1"]
    assert q1.workspace == str(home / "src/lib") and q1.ts == us("2026-11-20T10:01:00") and q1.source_cost == 0.75


def test_reread_replaces_cost(home: Path) -> None:
    db1, _ = crush_tree(home)
    reader = CrushReader()
    _, frame = ledger_scan(home, reader)
    assert frame["source_cost"].sum() == pytest.approx(1.5 + 2.25 + 0.75)
    execute(db1, "UPDATE sessions SET cost = 2.0, updated_at = ? WHERE id = 'r1'", (T0 + 86400,))
    summary, frame = ledger_scan(home, reader)
    assert summary.read == 1
    # replaced: 2.0 + 2.25 + 0.75 = 5.0 (not 1.5 + 2.0 + ...)
    assert frame.height == 3 and frame["source_cost"].sum() == pytest.approx(5.0)


def test_locked_database_is_reported(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_lock_retry(monkeypatch)
    db1, _ = crush_tree(home)
    with exclusive_lock(db1):
        summary, frame = ledger_scan(home, CrushReader())
    assert reported_busy(summary.errors, db1)
    assert sorted(frame["session_id"].to_list()) == ["q1"]  # the other project still read
    summary, frame = ledger_scan(home, CrushReader())
    assert summary.errors == [] and frame.height == 3


def test_bad_index_and_extra_databases(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = home / ".local/share/crush/projects.json"
    index.parent.mkdir(parents=True)
    index.write_text("{broken")
    errors: list[str] = []
    assert CrushReader().discover(errors) == [] and "not a Crush project index" in errors[0]
    extra = make_db(home / "x/.crush/crush.db", SCHEMA, [(S, ("e1", None, 1, 0, 0, 0.1, T0, T0))])
    monkeypatch.setenv("CRUSH_PROJECTS", str(extra.parent))
    rows = read_all(CrushReader())
    assert rows["e1"].workspace == str(home / "x") and rows["e1"].source_cost == 0.1


def test_pricing_takes_the_session_cost(home: Path) -> None:
    crush_tree(home)
    _, frame = ledger_scan(home, CrushReader())
    priced, _notes = apply_pricing(frame.lazy())
    priced = priced.collect()
    # zero tokens and an unknown model: cost is the logged session cost, never a computed $0
    assert priced["price_state"].cast(str).to_list() == ["source"] * 3
    assert priced["cost"].sum() == pytest.approx(1.5 + 2.25 + 0.75)


# --- bad input costs only itself (issue 12) ---------------------------------------------------

GROWN = "UPDATE sessions SET cost = 4.0 WHERE id = 'r1'"


def one_db(home: Path, monkeypatch: pytest.MonkeyPatch, rows: list[tuple] | None = None) -> Path:
    """A single project database, named by ``CRUSH_PROJECTS`` (no index)."""
    rows = (
        rows
        if rows is not None
        else [("r1", None, 6, 90_000, 2_000, 1.5, T0 + 3600, T0), ("r3", "", 4, 5, 1, 2.25, T0 + 100, T0 + 50)]
    )
    db = make_db(home / "src/app/.crush/crush.db", SCHEMA, [(S, r) for r in rows])
    monkeypatch.setenv("CRUSH_PROJECTS", str(db))
    return db


def test_fifo_in_place_of_the_index_does_not_hang(home: Path) -> None:
    index = home / ".local/share/crush/projects.json"
    index.parent.mkdir(parents=True)
    os.mkfifo(index)
    errors: list[str] = []
    assert finishes(lambda: CrushReader().discover(errors)) == []
    assert len(errors) == 1 and errors[0].startswith(f"{index}: ") and "not a regular file" in errors[0]


def test_an_index_nested_too_deep_is_one_clear_error(home: Path) -> None:
    index = home / ".local/share/crush/projects.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"projects": [{"path": ' + "[" * 1000 + "]" * 1000 + "}]}")
    errors: list[str] = []
    assert CrushReader().discover(errors) == [] and len(errors) == 1 and "not a Crush project index" in errors[0]


def test_fifo_in_place_of_the_database_does_not_hang(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / "src/app/.crush/crush.db"
    monkeypatch.setenv("CRUSH_PROJECTS", str(path))
    check_fifo_database(home, CrushReader(), path)


@pytest.mark.parametrize("companion", ["-wal", "-journal"])
def test_fifo_in_place_of_a_companion_does_not_hang(
    home: Path, monkeypatch: pytest.MonkeyPatch, companion: str
) -> None:
    check_fifo_companion(CrushReader(), one_db(home, monkeypatch), companion)


def test_wal_database_without_shm_gets_none(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check_wal_without_shm(CrushReader(), one_db(home, monkeypatch), GROWN)
    assert {r.session_id: r.source_cost for r in result.rows} == {"r1": 4.0, "r3": 2.25}


def test_an_existing_shm_stays_byte_identical(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = check_existing_shm(CrushReader(), one_db(home, monkeypatch), GROWN)
    assert {r.session_id: r.source_cost for r in result.rows} == {"r1": 4.0, "r3": 2.25}


def test_random_bytes_are_one_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = home / "src/app/.crush/crush.db"
    monkeypatch.setenv("CRUSH_PROJECTS", str(path))
    check_random_bytes(CrushReader(), path)


def test_a_truncated_database_is_one_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk = [(f"b{n}" + "x" * 400, None, 1, 1, 1, 0.01, T0, T0) for n in range(300)]
    check_truncated(CrushReader(), one_db(home, monkeypatch, bulk))


@pytest.mark.parametrize("absurd", [1e300, "1e400"])
def test_an_absurd_cost_costs_only_its_session(home: Path, monkeypatch: pytest.MonkeyPatch, absurd: object) -> None:
    db = one_db(home, monkeypatch)
    execute(db, S, ("r9", None, 1, 0, 0, absurd, T0, T0))
    result = read_one(CrushReader())
    costs = {r.session_id: r.source_cost for r in result.rows}
    assert result.errors == [] and (costs["r1"], costs["r3"]) == (1.5, 2.25)
    # either left out here (not a finite number) or refused by the scan's limits: never summed
    assert costs.get("r9") is None or costs["r9"] > MAX_COST


def test_a_symlinked_database_is_read(home: Path) -> None:
    db1, _db2 = crush_tree(home)
    real = home / "elsewhere/crush.db"
    real.parent.mkdir()
    db1.rename(real)
    db1.symlink_to(real)
    rows = read_all(CrushReader())
    assert set(rows) == {"r1", "r3", "q1"} and rows["r1"].workspace == str(home / "src/app")


def test_declares_the_environment_it_reads() -> None:
    check_declared_env(CrushReader())


def test_invalid_utf8_text_costs_nothing_but_the_bad_bytes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = one_db(home, monkeypatch)
    execute(db, "UPDATE sessions SET id = CAST(x'7231ff' AS TEXT) WHERE id = 'r1'")
    result = read_one(CrushReader())
    assert result.errors == [] and {r.session_id: r.source_cost for r in result.rows} == {"r1\ufffd": 1.5, "r3": 2.25}
