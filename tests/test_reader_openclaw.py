"""OpenClaw reader: traps of formats.md §9 (rotated files, legacy dirs, renames), totals worked out by hand."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.events import total_tokens_expr
from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def turn(eid: str, ts: str, usage: dict, ms: int | None = None, **message) -> dict:
    msg = {"role": "assistant", "content": [{"type": "text", "text": "done"}], "usage": usage, **message}
    if ms is not None:
        msg["timestamp"] = ms
    return {"type": "message", "id": eid, "parentId": None, "timestamp": ts, "message": msg}


E1 = turn(
    "e1000001",
    "2026-03-04T10:00:00.500Z",
    {"input": 10, "output": 200, "cacheRead": 5000, "cacheWrite": 300, "totalTokens": 5510, "cost": {"total": 0.02}},
    ms=1772618400000,
)


def fixture(home: Path) -> Path:
    sessions = home / ".openclaw/agents/main/sessions"
    live = write_jsonl(
        sessions / "sess1.jsonl",
        [
            {
                "type": "session",
                "version": 3,
                "id": "sess1",
                "timestamp": "2026-03-04T09:59:00Z",
                "cwd": "/home/al/claw",
            },
            {"type": "model_change", "id": "m0000001", "provider": "anthropic", "modelId": "claude-sonnet-4-5"},
            {"type": "message", "id": "u0000001", "message": {"role": "user", "content": "hi"}},
            E1,  # no model on the message: from model_change
            turn(
                "e2000002",
                "2026-03-04T10:01:00Z",
                {"input": 50, "output": 120, "reasoningTokens": 80, "cacheRead": 1000},
                ms=1772618460000,
                model="gpt-5.3-codex",
                provider="openai",
            ),
            # bookkeeping row OpenClaw writes itself: not a model call
            turn("e9000009", "2026-03-04T10:01:30Z", {"input": 5, "output": 5}, api="openclaw-transcript"),
            {
                "type": "custom",
                "customType": "model-snapshot",
                "data": {"provider": "google", "modelId": "gemini-2.5-pro"},
            },
            turn("e3000003", "2026-03-04T10:02:00Z", {"input": 30, "output": 40}),  # no message.timestamp
            '{"type":"message","id":"broken","message":{"role":"assistant","usage":{"input":1',
        ],
    )
    write_jsonl(
        sessions / "sess0.jsonl.deleted.2026-03-01T00-00-00.000Z",
        [turn("e1000010", "2026-03-01T00:00:00Z", {"input": 1, "output": 1}, model="claude-sonnet-4-5")],
    )
    write_jsonl(
        sessions / "sess2.jsonl.reset.2026-03-02T00-00-00.000Z",
        [turn("e2000020", "2026-03-02T00:00:00Z", {"input": 3, "output": 4}, model="claude-sonnet-4-5")],
    )
    # /fork: a new session file copying e1 with its id, timestamps and usage
    write_jsonl(sessions / "sess1fork.jsonl", [E1])
    (sessions / "sessions.json").write_text(json.dumps({"agent:main:main": {"sessionId": "sess1"}}))
    # legacy Clawdbot state dir, another agent
    write_jsonl(
        home / ".clawdbot/agents/work/sessions/old.jsonl",
        [
            turn(
                "e3000030",
                "2026-02-01T00:00:00Z",
                {"input": 100, "output": 100},
                model="claude-opus-4-1",
                provider="anthropic",
            )
        ],
    )
    return live


def test_openclaw_totals(home: Path) -> None:
    fixture(home)
    reader = get_reader("openclaw")
    sources = reader.discover([])
    assert sorted(s.path.name for s in sources) == [
        "old.jsonl",
        "sess0.jsonl.deleted.2026-03-01T00-00-00.000Z",
        "sess1.jsonl",
        "sess1fork.jsonl",
        "sess2.jsonl.reset.2026-03-02T00-00-00.000Z",
    ]
    assert sum(reader.read(s, 0, {}).skipped for s in sources) == 1
    frame = frame_of([reader])
    # e1 10+200+5000+300 = 5510 (once, though also in the fork), e2 50+120+1000 = 1170,
    # e3 30+40 = 70, deleted 1+1 = 2, reset 3+4 = 7, legacy 100+100 = 200; artifact skipped
    # = 5510 + 1170 + 70 + 2 + 7 + 200 = 6959 over 6 events
    assert frame.height == 6
    assert frame.select(total_tokens_expr().sum()).item() == 6959
    assert frame["output"].sum() == 200 + 120 + 40 + 1 + 4 + 100
    assert frame["reasoning"].sum() == 80  # inside output, not added
    assert frame["cache_write_5m"].sum() == 300
    assert frame["source_cost"].sum() == pytest.approx(0.02)
    e1 = frame.filter(pl.col("cache_write_5m") == 300).row(0, named=True)
    assert (e1["model"], e1["provider"]) == ("claude-sonnet-4-5", "anthropic")
    assert e1["ts"].timestamp() == pytest.approx(1772618400.0)  # message.timestamp (ms), not the line's
    e3 = frame.filter(pl.col("input") == 30).row(0, named=True)
    assert (e3["model"], e3["provider"], e3["session_id"]) == ("gemini-2.5-pro", "google", "sess1")
    assert e3["workspace"] == "/home/al/claw"
    sessions = set(frame["session_id"])
    assert {"sess0", "sess2", "old"} <= sessions  # rotated files keep the session id
    legacy = frame.filter(pl.col("session_id") == "old").row(0, named=True)
    assert legacy["agent"] == "work" and e3["agent"] is None


def test_openclaw_rename_does_not_double_count(home: Path) -> None:
    live = fixture(home)
    ledger = Ledger()
    reader = get_reader("openclaw")
    scan(ledger, [reader], workers=1)
    assert ledger.frame().select(total_tokens_expr().sum()).item() == 6959
    # /reset: OpenClaw renames the live transcript and starts a new one
    live.rename(live.with_name("sess1.jsonl.reset.2026-03-05T00-00-00.000Z"))
    write_jsonl(live, [turn("e4000004", "2026-03-05T00:00:01Z", {"input": 9, "output": 1}, model="claude-sonnet-4-5")])
    summary = scan(ledger, [reader], workers=1)
    assert summary.read == 2  # the renamed file (new path) and the new live file
    assert summary.new_events == 1
    # 6959 + 9 + 1 = 6969: the renamed file's events are the same keys
    frame = ledger.frame()
    assert frame.height == 7
    assert frame.select(total_tokens_expr().sum()).item() == 6969


def test_openclaw_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCLAW_STATE_DIR", raising=False)
    (home / ".openclaw-dev").mkdir()
    reader = get_reader("openclaw")
    assert reader.roots() == [
        home / ".openclaw/agents",
        home / ".openclaw-dev/agents",
        home / ".clawdbot/agents",
        home / ".moltbot/agents",
        home / ".moldbot/agents",
    ]
    # ccusage's OPENCLAW_DIR (comma list of state dirs) is honoured too; OpenClaw's own variable wins
    monkeypatch.setenv("OPENCLAW_DIR", f"{home}/a, {home}/b")
    assert reader.roots() == [home / "a/agents", home / "b/agents"]
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(home / "state"))
    assert reader.roots() == [home / "state/agents"]
    assert set(reader.env) == {"OPENCLAW_STATE_DIR", "OPENCLAW_DIR"}


SCHEMA = """
CREATE TABLE session_windows (
  session_id TEXT NOT NULL PRIMARY KEY, session_key TEXT NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, model_provider TEXT, model TEXT, agent_harness_id TEXT
) STRICT;
CREATE TABLE transcript_events (
  session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)
) STRICT;
"""


def store_fixture(home: Path) -> Path:
    """The 2026.x per-agent store: sess1 migrated from JSONL (e1 again) plus a live session."""
    path = home / ".openclaw/agents/main/agent/openclaw-agent.sqlite"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO session_windows VALUES ('live', 'agent:main:x', 1, 2, 'openai', 'gpt-5.5', NULL)")
    events = [
        ("sess1", 1, E1, 1772618400),  # the same event as in sess1.jsonl: one event
        ("live", 1, {"type": "message", "id": "u1", "message": {"role": "user", "content": "go"}}, 1772700000),
        # no timestamp of its own and no model: the row's created_at, the session window's model
        (
            "live",
            2,
            {
                "type": "message",
                "id": "e5000005",
                "message": {"role": "assistant", "usage": {"input": 40, "output": 2}},
            },
            1772700010,
        ),
        ("live", 3, '{"type":"message","message":{"usage":', 1772700020),  # damaged row
    ]
    conn.executemany(
        "INSERT INTO transcript_events VALUES (?, ?, ?, ?)",
        [(s, q, e if isinstance(e, str) else json.dumps(e), c) for s, q, e, c in events],
    )
    conn.commit()
    conn.close()
    return path


def test_openclaw_sqlite_store_and_jsonl_count_once(home: Path) -> None:
    fixture(home)
    store = store_fixture(home)
    reader = get_reader("openclaw")
    source = next(s for s in reader.discover([]) if s.path == store)
    assert source.mode == "whole" and source.companions == (store.with_name(store.name + "-wal"),)
    result = reader.read(source, 0, {})
    assert result.skipped == 1 and not result.errors
    frame = frame_of([reader])
    # JSONL 6959 + e5 40+2 = 42 (e1 in the store is the JSONL's e1) = 7001 over 7 events
    assert frame.height == 7
    assert frame.select(total_tokens_expr().sum()).item() == 7001
    e5 = frame.filter(pl.col("input") == 40).row(0, named=True)
    assert (e5["session_id"], e5["model"], e5["provider"]) == ("live", "gpt-5.5", "openai")
    assert e5["ts"].timestamp() == pytest.approx(1772700010)
    before = sorted(p.name for p in store.parent.iterdir())
    reader.read(source, 0, {})
    assert sorted(p.name for p in store.parent.iterdir()) == before  # nothing created beside the store


def test_openclaw_store_held_open_by_the_gateway_is_still_read(home: Path) -> None:
    # The gateway keeps the WAL store open with an exclusive lock; the kit reads a private copy.
    store = store_fixture(home)
    holder = sqlite3.connect(store)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        before = sorted(p.name for p in store.parent.iterdir())
        reader = get_reader("openclaw")
        result = reader.read(next(iter(reader.discover([]))), 0, {})
        after = sorted(p.name for p in store.parent.iterdir())
    finally:
        holder.rollback()
        holder.close()
    assert not result.errors
    assert sorted(r.input for r in result.rows) == [10, 40]  # E1 and e5
    assert result.reasons == {"malformed event": 1}
    assert after == before


def test_openclaw_token_spellings_and_epoch_second_timestamp(home: Path) -> None:
    # Some OpenClaw builds spell the Pi counters inputTokens/outputTokens/cacheReadTokens/cacheWriteTokens
    # and write the line timestamp as epoch seconds.
    usage = {"inputTokens": 12, "outputTokens": 34, "cacheReadTokens": 560, "cacheWriteTokens": 78}
    entry = turn("s0000001", "", usage, model="claude-sonnet-4-5", provider="anthropic")
    entry["timestamp"] = 1772618400
    write_jsonl(home / ".openclaw/agents/main/sessions/sp.jsonl", [entry])
    row = frame_of([get_reader("openclaw")]).row(0, named=True)
    assert (row["input"], row["output"], row["cache_read"], row["cache_write_5m"]) == (12, 34, 560, 78)
    assert row["ts"].timestamp() == 1772618400


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_openclaw_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    path = write_jsonl(
        home / ".openclaw/agents/main/sessions/big.jsonl",
        [
            turn("b0000001", "2026-03-04T10:00:00Z", {"input": huge, "output": 1}, model="gpt-5"),
            turn("b0000002", "2026-03-04T10:00:01Z", {"input": 2, "output": 3}, model="gpt-5"),
        ],
    )
    reader = get_reader("openclaw")
    rows = reader.read(reader.discover([])[0], 0, {}).rows
    assert path.exists() and len(rows) == 2
    assert rows[0].input >= 2**63 - 1 and (rows[1].input, rows[1].output) == (2, 3)


def test_openclaw_model_change_with_model_instead_of_model_id(home: Path) -> None:
    # ccusage adapter/openclaw/parser.rs reads model_change (and model-snapshot data) modelId or model.
    write_jsonl(
        home / ".openclaw/agents/main/sessions/mc.jsonl",
        [
            {"type": "model_change", "id": "m1", "model": "openai/gpt-5.2"},
            turn("a0000001", "2026-03-04T10:00:00Z", {"input": 1, "output": 2}),
            {"type": "custom", "customType": "model-snapshot", "data": {"model": "claude-sonnet-4-5"}},
            turn("a0000002", "2026-03-04T10:01:00Z", {"input": 3, "output": 4}),
        ],
    )
    rows = sorted(frame_of([get_reader("openclaw")]).to_dicts(), key=lambda r: r["ts"])
    assert [(r["provider"], r["model"]) for r in rows] == [("openai", "gpt-5.2"), ("anthropic", "claude-sonnet-4-5")]
