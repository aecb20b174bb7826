"""GitHub Copilot CLI OTEL reader: fixtures written into the test HOME, totals worked out by hand."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tokscope.readers.base import Source
from tokscope.readers.copilot import CopilotReader, otel_us

from tokscope.events import frame_from_rows
from tokscope.ledger import dedupe
from tokscope.scan import frame_of


@pytest.fixture(autouse=True)
def _no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own overrides, if set in the developer's shell, must not leak into the tests."""
    for name in ("COPILOT_HOME", "COPILOT_OTEL_FILE_EXPORTER_PATH"):
        monkeypatch.delenv(name, raising=False)


# Trace T1, session "sess-A" known only from a session.start log: two model calls.
SESSION_START = {
    "hrTime": [1775934250, 0],
    "spanContext": {"traceId": "T1", "spanId": "L0"},
    "attributes": {"event.name": "copilot.session.start", "session.id": "sess-A"},
    "body": "session start",
}
# Call 1 as an inference log record, written BEFORE its chat span (trap: counted once).
LOG_1 = {
    "hrTime": [1775934261, 0],
    "spanContext": {"traceId": "T1", "spanId": "S1"},
    "attributes": {
        "event.name": "gen_ai.client.inference.operation.details",
        "gen_ai.response.id": "resp-1",
        "gen_ai.request.model": "claude-sonnet-4.5",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.output_tokens": 50,
    },
    "body": "GenAI inference: claude-sonnet-4.5",
}
# Call 1 as its chat span: endTime as [seconds, nanos].
CHAT_1 = {
    "type": "span",
    "traceId": "T1",
    "spanId": "S1",
    "name": "chat claude-sonnet-4.5",
    "startTime": [1775934260, 0],
    "endTime": [1775934261, 250000000],
    "attributes": {
        "gen_ai.operation.name": "chat",
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.model": "claude-sonnet-4.5",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.reasoning.output_tokens": 20,
    },
}
# Call 2: no "type" (span recognised by name + ids), endTime in nanoseconds, tokens as a string,
# a cache write inside input_tokens (subtracted), no response id.
CHAT_2 = {
    "traceId": "T1",
    "spanId": "S2",
    "name": "chat claude-sonnet-4.5",
    "kind": 2,
    "endTime": 1775934270123456789,
    "attributes": {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4.5",
        "gen_ai.usage.input_tokens": "300",
        "gen_ai.usage.cache_creation.input_tokens": 100,
        "gen_ai.usage.output_tokens": 40,
    },
}
# The invoke_agent span wrapping calls 1 and 2: their sum, must not count again.
AGENT_1 = {
    "type": "span",
    "traceId": "T1",
    "spanId": "A1",
    "name": "invoke_agent copilot",
    "endTime": [1775934271, 0],
    "attributes": {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.conversation.id": "sess-A",
        "gen_ai.response.model": "claude-sonnet-4.5",
        "gen_ai.usage.input_tokens": 1300,
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.output_tokens": 90,
    },
}
# Trace T2: only an aggregate span (no chat span exported): the fallback counts it.
AGENT_2 = {
    "type": "span",
    "traceId": "T2",
    "spanId": "A2",
    "name": "invoke_agent copilot",
    "endTime": [1775934300, 0],
    "attributes": {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.conversation.id": "conv-2",
        "gen_ai.request.model": "gpt-5-mini",
        "gen_ai.usage.input_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
    },
}
# Trace T3: an inference log only, timestamped by observedTimestamp in microseconds.
LOG_3 = {
    "observedTimestamp": 1775934400000000,
    "traceId": "T3",
    "spanId": "S3",
    "attributes": {
        "event.name": "gen_ai.client.inference.operation.details",
        "gen_ai.request.model": "gpt-5-mini",
        "gen_ai.conversation.id": "conv-3",
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 5,
    },
}
METRIC = {"type": "metric", "name": "gen_ai.client.token.usage"}
TOOL = {
    "type": "span",
    "traceId": "T1",
    "spanId": "X1",
    "name": "execute_tool rg",
    "attributes": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "rg"},
}


def _lines(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _otel_file(home: Path, name: str = "copilot.jsonl") -> Path:
    path = home / ".copilot" / "otel" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sorted(frame: Any) -> list[dict[str, Any]]:
    return sorted(frame.to_dicts(), key=lambda r: r["ts"])


def test_all_record_kinds_counted_once(home: Path) -> None:
    path = _otel_file(home)
    text = _lines(METRIC, SESSION_START, LOG_1, CHAT_1, CHAT_2, TOOL, AGENT_1, AGENT_2, LOG_3)
    # A damaged complete line (skipped and counted), then a torn last line (waits for its newline).
    path.write_text(text + '{"type":"span","attributes":{"gen_ai.usage.input_tokens":5,\n{"type":"sp')
    reader = CopilotReader()
    result = reader.read(reader.discover([])[0], 0, {})
    assert result.skipped == 1
    frame = frame_of([reader])
    rows = _sorted(frame)
    # Call 1 (chat span): input 1000 - 800 cache read = 200; reasoning 20 inside output 50.
    # Call 2 (chat span): input 300 - 100 cache write = 200, output 40.
    # T2 aggregate (no chat span in T2): input 500 - 100 = 400, cache read 100, output 10.
    # T3 inference log: input 200, output 5.
    assert [(r["input"], r["cache_read"], r["cache_write_5m"], r["output"], r["reasoning"]) for r in rows] == [
        (200, 800, 0, 50, 20),
        (200, 0, 100, 40, 0),
        (400, 100, 0, 10, 0),
        (200, 0, 0, 5, 0),
    ]
    # input 200+200+400+200 = 1000; output 50+40+10+5 = 105; cache read 800+100 = 900.
    assert frame["input"].sum() == 1000
    assert frame["output"].sum() == 105
    assert frame["cache_read"].sum() == 900
    assert frame["cache_write_5m"].sum() == 100
    assert [r["session_id"] for r in rows] == ["sess-A", "sess-A", "conv-2", "conv-3"]
    assert [r["model"] for r in rows] == ["claude-sonnet-4.5", "claude-sonnet-4.5", "gpt-5-mini", "gpt-5-mini"]
    assert {r["provider"] for r in rows} == {"github-copilot"}
    # Timestamps: [1775934261, 250000000] -> ...261.25 s; 1775934270123456789 ns -> ...270.123456 s.
    us = [int(r["ts"].timestamp() * 1_000_000) for r in rows]
    assert us == [1775934261250000, 1775934270123456, 1775934300000000, 1775934400000000]
    assert rows[0]["event_key"] == "resp:resp-1"
    assert rows[1]["event_key"] == "span:T1:S2"


def test_timestamp_encodings() -> None:
    # seconds, milliseconds, microseconds, nanoseconds, pair, ISO: all 2026-04-11T19:04:20Z.
    expected = 1775934260_000000
    for value in (1775934260, 1775934260000, 1775934260000000, 1775934260000000000, [1775934260, 0]):
        assert otel_us(value) == expected
    assert otel_us("2026-04-11T19:04:20Z") == expected
    assert otel_us("1775934260000") == expected
    assert otel_us([1775934260, 500]) == expected  # 500 ns rounds down to the µs
    assert otel_us(None) is None and otel_us("junk") is None


class _Scanner:
    """What the scan does for one append-mode file: keep offset and state, pile rows, de-duplicate."""

    def __init__(self, reader: CopilotReader, path: Path) -> None:
        self.reader, self.path = reader, path
        self.offset, self.state, self.rows = 0, {}, []

    def scan(self) -> pl.DataFrame:
        result = self.reader.read(Source("copilot", self.path), self.offset, self.state)
        self.offset, self.state = result.offset, result.state
        self.rows.extend(result.rows)
        return dedupe(frame_from_rows(self.rows).lazy()).collect()


def test_append_log_then_span_then_aggregate(home: Path) -> None:
    path = _otel_file(home)
    scanner = _Scanner(CopilotReader(), path)
    # Scan 1: only the inference log of call 1 is there: it counts (fallback).
    path.write_text(_lines(SESSION_START, LOG_1))
    frame = scanner.scan()
    assert frame.height == 1
    assert (frame["input"][0], frame["reasoning"][0], frame["rank"][0]) == (200, 0, 2)
    # Scan 2: its chat span arrives (same response id, rank 3 replaces the log's row) and
    # the wrapping invoke_agent span (trace already covered: not counted). Half a line waits.
    with path.open("a") as fh:
        fh.write(_lines(CHAT_1, AGENT_1))
        fh.write(json.dumps(CHAT_2)[:40])
    frame = scanner.scan()
    assert frame.height == 1
    assert (frame["input"][0], frame["reasoning"][0], frame["rank"][0]) == (200, 20, 3)
    # Scan 3: the rest of the torn line completes call 2.
    with path.open("a") as fh:
        fh.write(json.dumps(CHAT_2)[40:] + "\n")
    frame = scanner.scan()
    # 200 + 200 = 400 input; 50 + 40 = 90 output; the aggregate (1300 in / 90 out) never counted.
    assert frame.height == 2
    assert frame["input"].sum() == 400
    assert frame["output"].sum() == 90


def test_exporter_path_env_and_copilot_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = home / "elsewhere" / "otel.log"
    custom.parent.mkdir()
    custom.write_text(_lines(CHAT_2))
    monkeypatch.setenv("COPILOT_OTEL_FILE_EXPORTER_PATH", str(custom))
    monkeypatch.setenv("COPILOT_HOME", str(home / "cop"))
    inside = home / "cop" / "otel" / "a.jsonl"
    inside.parent.mkdir(parents=True)
    inside.write_text(_lines(LOG_3))
    (home / ".copilot" / "otel").mkdir(parents=True)
    (home / ".copilot" / "otel" / "ignored.jsonl").write_text(_lines(AGENT_2))
    reader = CopilotReader()
    assert sorted(s.path.name for s in reader.discover([])) == ["a.jsonl", "otel.log"]
    # Pointing the env file inside otel/ must not read it twice.
    monkeypatch.setenv("COPILOT_OTEL_FILE_EXPORTER_PATH", str(inside))
    assert [s.path.name for s in reader.discover([])] == ["a.jsonl"]
    # Call 2 was in otel.log, no longer discovered: only LOG_3 remains, 200 input.
    assert frame_of([reader])["input"].sum() == 200


def test_no_otel_no_sources(home: Path) -> None:
    reader = CopilotReader()
    assert reader.discover([]) == []
    assert reader.roots() == [home / ".copilot" / "otel", home / ".copilot" / "session-store.db"]


# --- the session-store.db fallback -------------------------------------------------------------


def _store(home: Path) -> Path:
    """Copilot CLI's session store (schema as tokscale reads it) with four usage rows."""
    path = home / ".copilot" / "session-store.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE sessions (id TEXT PRIMARY KEY, cwd TEXT, created_at TEXT, updated_at TEXT);
        CREATE TABLE assistant_usage_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, turn_index INTEGER, model TEXT,
            copilot_usage_model TEXT, input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,
            cache_write_tokens INTEGER, reasoning_tokens INTEGER, total_nano_aiu INTEGER, duration_ms INTEGER,
            created_at TEXT);
        INSERT INTO sessions VALUES ('sess-1', '/home/u/repo', '2026-07-01 12:00:00', NULL);
        """
    )
    rows = [
        # e1 12:34:56: 21343 in = 20974 cache write + 369 fresh.
        ("sess-1", "gpt-5.4-mini", None, 21343, 100, 0, 20974, 0, "2026-07-01 12:34:56"),
        # e2 12:40: 1000 in = 800 cache read + 200 fresh; the usage model wins over the requested one.
        ("sess-1", "gpt-4o", "claude-sonnet-4-5", 1000, 50, 800, 0, 10, "2026-07-01T12:40:00.000Z"),
        ("sess-1", "gpt-4o", None, 0, 0, 0, 0, 0, "2026-07-01 12:41:00"),  # e3: empty
        ("sess-1", "gpt-4o", None, 10, 5, 0, 0, 0, "junk"),  # e4: dated by its session, 12:00
    ]
    conn.executemany(
        "INSERT INTO assistant_usage_events (session_id, model, copilot_usage_model, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()
    conn.close()
    return path


def test_session_store_without_otel(home: Path) -> None:
    path = _store(home)
    frame = frame_of([CopilotReader()])
    rows = sorted(frame.to_dicts(), key=lambda r: r["ts"])
    # e4 (12:00): 10/5; e1 (12:34:56): 369 fresh, 20974 written, 100 out; e2 (12:40): 200 fresh, 800 read, 50 out.
    assert [(r["input"], r["cache_read"], r["cache_write_5m"], r["output"]) for r in rows] == [
        (10, 0, 0, 5),
        (369, 0, 20974, 100),
        (200, 800, 0, 50),
    ]
    assert [r["model"] for r in rows] == ["gpt-4o", "gpt-5.4-mini", "claude-sonnet-4-5"]
    assert [int(r["ts"].timestamp()) for r in rows] == [1782907200, 1782909296, 1782909600]
    assert {r["workspace"] for r in rows} == {"/home/u/repo"}
    assert rows[2]["reasoning"] == 10
    assert rows[1]["event_key"] == "store:sess-1:1"
    # input 10 + 369 + 200 = 579; output 5 + 100 + 50 = 155.
    assert (frame["input"].sum(), frame["output"].sum()) == (579, 155)
    # Read-only: nothing created beside the database.
    assert sorted(p.name for p in path.parent.iterdir()) == ["session-store.db"]


def test_session_store_suppressed_while_otel_covers(home: Path) -> None:
    _store(home)
    otel = _otel_file(home)
    span = {**CHAT_2, "endTime": [1782909330, 0]}  # the first OTel record: 12:35:30
    otel.write_text(_lines(span))
    os.utime(otel, (1782910800, 1782910800))  # the last OTel write: 13:00
    frame = frame_of([CopilotReader()])
    keys = sorted(frame["event_key"].to_list())
    # e2 (12:40) falls inside the OTel window: left to OTel. e1 (12:34:56) and e4 (12:00) came before it.
    assert keys == ["span:T1:S2", "store:sess-1:1", "store:sess-1:4"]
    # 369 + 10 from the store, 300 - 100 = 200 from the span: 579.
    assert frame["input"].sum() == 579
    # A second OTel file 14:00-15:00: a store call at 13:30 lies in the gap (OTel off then) and counts.
    conn = sqlite3.connect(home / ".copilot" / "session-store.db")
    conn.execute(
        "INSERT INTO assistant_usage_events (session_id, model, input_tokens, output_tokens, created_at)"
        " VALUES ('sess-1', 'gpt-4o', 1000, 3, '2026-07-01 13:30:00')"
    )
    conn.commit()
    conn.close()
    later = _otel_file(home, "copilot-2.jsonl")
    later.write_text(_lines({**LOG_3, "observedTimestamp": 1782914400000000}))  # 14:00
    os.utime(later, (1782918000, 1782918000))  # 15:00
    frame = frame_of([CopilotReader()])
    assert "store:sess-1:5" in frame["event_key"].to_list()
    # 579 + 1000 (e5) + 200 (LOG_3) = 1779
    assert frame["input"].sum() == 1779


def test_session_store_row_after_last_otel_write_waits(home: Path) -> None:
    path = _store(home)
    now = int(time.time())
    conn = sqlite3.connect(path)
    for minutes_ago in (1, 30):  # e5: 1 minute ago, e6: 30 minutes ago
        stamp = datetime.fromtimestamp(now - 60 * minutes_ago, UTC).strftime("%Y-%m-%d %H:%M:%S")
        conn.execute(
            "INSERT INTO assistant_usage_events (session_id, model, input_tokens, output_tokens, created_at)"
            " VALUES ('sess-1', 'gpt-4o', 7, 1, ?)",
            (stamp,),
        )
    conn.commit()
    conn.close()
    otel = _otel_file(home)
    otel.write_text(_lines({**CHAT_2, "endTime": [1782909330, 0]}))
    os.utime(otel, (now - 3600, now - 3600))  # OTel last wrote an hour ago
    keys = set(frame_of([CopilotReader()])["event_key"].to_list())
    # e6 is 30 min newer than the last OTel write (more than the 10 min grace): OTel was off, it counts.
    # e5 is 1 min old: its spans may still be on their way, so it waits for a later read.
    assert "store:sess-1:6" in keys and "store:sess-1:5" not in keys
    # Then its span arrives (OTel writes now): e5 is covered by OTel and never counts from the store.
    os.utime(otel, (now, now))
    keys = set(frame_of([CopilotReader()])["event_key"].to_list())
    assert "store:sess-1:5" not in keys and "store:sess-1:6" not in keys


def test_session_store_with_an_open_write_reads_the_committed_rows(home: Path) -> None:
    path = _store(home)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE assistant_usage_events SET output_tokens = output_tokens + 1")  # not committed
    try:
        reader = CopilotReader()
        source = next(s for s in reader.discover([]) if s.path == path)
        before = sorted(p.name for p in path.parent.iterdir())
        result = reader.read(source, 0, {})
        after = sorted(p.name for p in path.parent.iterdir())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not result.errors
    assert sorted(r.output for r in result.rows) == [5, 50, 100]  # the committed values, not the +1
    assert after == before


def test_agent_turn_log_uses_trace_context(home: Path) -> None:
    # VS Code Copilot Chat: a session.start log names the session and model; the turn log has only usage.
    start = {
        "hrTime": [1775934260, 0],
        "spanContext": {"traceId": "TT", "spanId": "s0"},
        "attributes": {"event.name": "copilot_chat.session.start", "session.id": "vs-1", "gen_ai.request.model": "m1"},
        "_body": "copilot_chat.session.start",
    }
    turn = {
        "hrTime": [1775934264, 967317833],
        "spanContext": {"traceId": "TT", "spanId": "s1"},
        "attributes": {"turn.index": 3, "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 9},
        "_body": "copilot_chat.agent.turn: 3",
    }
    _otel_file(home).write_text(_lines(start, turn))
    rows = frame_of([CopilotReader()]).to_dicts()
    assert [(r["session_id"], r["model"], r["input"], r["output"], r["event_key"]) for r in rows] == [
        ("vs-1", "m1", 120, 9, "turn:TT:3")
    ]
    assert int(rows[0]["ts"].timestamp() * 1000) == 1775934264967


def test_span_with_only_total_tokens_counts_as_output(home: Path) -> None:
    # Some exporters write only gen_ai.usage.total_tokens on a chat span: the total is counted as output,
    # as the Pi and Amp readers do with a bare total.
    span = {
        "type": "span",
        "traceId": "T9",
        "spanId": "S9",
        "name": "chat gpt-5-mini",
        "endTime": [1775934500, 0],
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.conversation.id": "conv-9",
            "gen_ai.response.model": "gpt-5-mini",
            "gen_ai.usage.total_tokens": 640,
        },
    }
    alias = json.loads(json.dumps(span))
    alias["spanId"] = "S10"
    alias["attributes"]["gen_ai.usage.total.token_count"] = alias["attributes"].pop("gen_ai.usage.total_tokens")
    _otel_file(home).write_text(_lines(span, alias))
    rows = _sorted(frame_of([CopilotReader()]))
    assert [(r["input"], r["output"], r["session_id"], r["model"]) for r in rows] == [
        (0, 640, "conv-9", "gpt-5-mini")
    ] * 2


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_copilot_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    big = json.loads(json.dumps(CHAT_1))
    big["attributes"]["gen_ai.usage.output_tokens"] = huge
    path = _otel_file(home)
    path.write_text(_lines(big, CHAT_2))
    rows = {r.event_key: r for r in CopilotReader().read(Source("copilot", path), 0, {}).rows}
    assert rows["resp:resp-1"].output >= 2**63 - 1
    assert (rows["span:T1:S2"].input, rows["span:T1:S2"].output) == (200, 40)
