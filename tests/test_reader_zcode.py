"""ZCode v2 reader: model_usage rows, inclusive input/output, retries, running/cancelled rows, subagents."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tokscope.readers import get_reader

from tests.session_totals_helpers import ledger_scan, totals
from tokscope.scan import frame_of

# The model_usage schema Tokdash observed (ZCode 3.7.7), plus agent/mode (tokscale's fixture).
SCHEMA = """
CREATE TABLE model_usage (
    id text primary key,
    logical_request_id text not null,
    attempt_index integer not null default 0,
    session_id text not null,
    turn_id text,
    provider_id text not null,
    model_id text not null,
    status text not null check(status in ('running', 'completed', 'error', 'cancelled')),
    started_at integer not null,
    completed_at integer,
    duration_ms integer,
    input_tokens integer not null default 0,
    output_tokens integer not null default 0,
    reasoning_tokens integer not null default 0,
    cache_creation_input_tokens integer not null default 0,
    cache_read_input_tokens integer not null default 0,
    provider_total_tokens integer,
    computed_total_tokens integer not null default 0,
    retry_count integer not null default 0,
    agent text,
    mode text
);
CREATE TABLE session (
    id text primary key, parent_id text, directory text not null, title text not null,
    time_created integer not null, time_updated integer not null
);
"""
T0 = 1787161506933  # epoch ms (2026-08-19)
APP = "/Users/alice/work/demo"
COLS = (
    "id, logical_request_id, attempt_index, session_id, provider_id, model_id, status, started_at,"
    " input_tokens, output_tokens, reasoning_tokens, cache_creation_input_tokens, cache_read_input_tokens,"
    " computed_total_tokens, agent"
)
PLAN = "builtin:zai-start-plan"

ROWS = [
    # the live row Tokdash recorded: 16026 input (incl. 11776 cache read) + 24 output = 16050 total
    ("mu-1", "lr-1", 0, "sess-1", PLAN, "GLM-5-Turbo", "completed", T0, 16026, 24, 0, 0, 11776, 16050, None),
    # tokscale's row: input 100 incl. 7 read + 3 write, output 20 incl. 5 reasoning, total 120
    ("mu-2", "lr-2", 0, "sess-1", PLAN, "GLM-5.2", "completed", T0 + 1000, 100, 20, 5, 3, 7, 120, "zcode-agent"),
    # a retried request: attempt 0 errored after burning prompt tokens, attempt 1 completed
    ("mu-3a", "lr-3", 0, "sess-1", PLAN, "GLM-5.2", "error", T0 + 2000, 900, 0, 0, 0, 0, 900, None),
    ("mu-3b", "lr-3", 1, "sess-1", PLAN, "GLM-5.2", "completed", T0 + 3000, 1000, 50, 0, 0, 400, 1050, None),
    # still running and cancelled: dropped
    ("mu-4", "lr-4", 0, "sess-1", PLAN, "GLM-5.2", "running", T0 + 4000, 5000, 10, 0, 0, 0, 5010, None),
    ("mu-5", "lr-5", 0, "sess-1", PLAN, "GLM-5.2", "cancelled", T0 + 5000, 7000, 0, 0, 0, 0, 7000, None),
    # an errored request with no retry still counts
    ("mu-6", "lr-6", 0, "sess-sub", PLAN, "GLM-5.2", "error", T0 + 6000, 300, 0, 0, 0, 0, 300, None),
    # nothing counted: no row
    ("mu-7", "lr-7", 0, "sess-1", PLAN, "GLM-5.2", "completed", T0 + 7000, 0, 0, 0, 0, 0, 0, None),
]
SESSIONS = [("sess-1", None, APP), ("sess-sub", "sess-1", APP)]


def db_path(home: Path) -> Path:
    return home / ".zcode/cli/db/db.sqlite"


def make_db(path: Path, rows=ROWS, wal: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    conn.executemany(f"INSERT INTO model_usage ({COLS}) VALUES ({', '.join('?' * 15)})", rows)
    conn.executemany("INSERT INTO session VALUES (?, ?, ?, 't', 0, 0)", SESSIONS)
    conn.commit()
    conn.close()
    return path


def sample(home: Path) -> None:
    make_db(db_path(home))


def read(home: Path):
    reader = get_reader("zcode")
    (source,) = reader.discover([])
    return reader.read(source, 0, {})


def test_rows_and_splits(home: Path) -> None:
    make_db(db_path(home))
    result = read(home)
    assert result.errors == [] and result.skipped == 0
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["lr-1", "lr-2", "lr-3", "lr-6"]
    one = rows["lr-1"]
    assert (one.input, one.output, one.reasoning, one.cache_read, one.cache_write_5m) == (4250, 24, 0, 11776, 0)
    assert one.model == "GLM-5-Turbo" and one.provider == "zai" and one.ts == T0 * 1000
    two = rows["lr-2"]
    # input 100 - 7 read - 3 write; output 20 already holds the 5 reasoning
    assert (two.input, two.output, two.reasoning, two.cache_read, two.cache_write_5m) == (90, 20, 5, 7, 3)
    assert two.agent == "zcode-agent" and two.workspace == APP and two.session_id == "sess-1"


def test_retries_count_once_from_the_completed_attempt(home: Path) -> None:
    make_db(db_path(home))
    retried = {r.event_key: r for r in read(home).rows}["lr-3"]
    assert (retried.input, retried.output, retried.cache_read, retried.ts) == (600, 50, 400, (T0 + 3000) * 1000)


def test_running_and_cancelled_rows_are_dropped(home: Path) -> None:
    make_db(db_path(home))
    keys = {r.event_key for r in read(home).rows}
    assert not keys & {"lr-4", "lr-5"}
    # a running request counts once it completes (the row is updated in place)
    conn = sqlite3.connect(db_path(home))
    conn.execute("UPDATE model_usage SET status = 'completed', output_tokens = 80 WHERE id = 'mu-4'")
    conn.commit()
    conn.close()
    done = {r.event_key: r for r in read(home).rows}["lr-4"]
    assert (done.input, done.output) == (5000, 80)


def test_subagent_and_error_rows(home: Path) -> None:
    make_db(db_path(home))
    sub = {r.event_key: r for r in read(home).rows}["lr-6"]
    assert (sub.input, sub.session_id, sub.workspace) == (300, "sess-1", APP)


def test_a_retry_that_succeeds_later_replaces_the_first_attempt(home: Path) -> None:
    make_db(db_path(home), rows=[ROWS[2]])
    reader = get_reader("zcode")
    _, frame = ledger_scan(home, reader)
    assert totals(frame)["input"] == 900
    conn = sqlite3.connect(db_path(home))
    conn.execute(f"INSERT INTO model_usage ({COLS}) VALUES ({', '.join('?' * 15)})", ROWS[3])
    conn.commit()
    conn.close()
    _, frame = ledger_scan(home, reader)
    assert frame.height == 1 and totals(frame)["input"] == 600 and totals(frame)["output"] == 50


def test_additive_total_means_nothing_is_subtracted(home: Path) -> None:
    row = ("mu-x", "lr-x", 0, "s", PLAN, "glm-4.6", "completed", T0, 50, 10, 0, 5, 20, 85, None)
    make_db(db_path(home), rows=[row])
    (got,) = read(home).rows
    assert (got.input, got.cache_read, got.cache_write_5m) == (50, 20, 5)


def test_reasoning_above_output_is_added(home: Path) -> None:
    row = ("mu-r", "lr-r", 0, "s", PLAN, "glm-4.6", "completed", T0, 10, 30, 40, 0, 0, 0, None)
    make_db(db_path(home), rows=[row])
    (got,) = read(home).rows
    assert (got.output, got.reasoning) == (70, 40)


def test_zcode_home(home: Path, monkeypatch) -> None:
    other = home / "zc"
    make_db(other / "cli/db/db.sqlite")
    monkeypatch.setenv("ZCODE_HOME", str(other))
    assert frame_of([get_reader("zcode")]).height == 4


def test_older_schema_without_retry_columns(home: Path) -> None:
    path = db_path(home)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE model_usage (id text primary key, session_id text, model_id text, started_at integer,"
        " input_tokens integer, output_tokens integer)"
    )
    conn.execute("INSERT INTO model_usage VALUES ('a', 's', 'GLM-5', ?, 10, 2)", (T0,))
    conn.commit()
    conn.close()
    (got,) = read(home).rows
    assert (got.event_key, got.input, got.output, got.session_id, got.workspace) == ("a", 10, 2, "s", "")
