"""Junie reader: LlmResponseMetadataEvent rows, state-snapshot copies skipped, vendor cost, replays once."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tokscope.readers import get_reader

from tokscope.scan import frame_of

SESSION = "session-250622-101010"
T0 = 1750000000000  # epoch ms


def usage_event(ts: int | None, *usages: dict[str, Any], agent: dict[str, Any] | None = None, kind: str | None = None):
    event: dict[str, Any] = {"kind": "LlmResponseMetadataEvent", "modelUsage": list(usages)}
    if agent is not None:
        event["agent"] = agent
    line: dict[str, Any] = {"event": {"agentEvent": event}}
    if ts is not None:
        line["timestampMs"] = ts
    if kind is not None:
        line["kind"] = kind
    return line


GPT = {"model": "gpt-5", "provider": "OpenAI", "inputTokens": 100, "outputTokens": 50, "cost": 0.0012, "time": 2000}
CLAUDE = {
    "model": "claude-sonnet-4-5",
    "provider": "Anthropic",
    "input": 12,
    "output": 300,
    "cacheReadInputTokens": 20000,
    "cacheCreationInputTokens": 1500,
    "reasoningTokens": 120,
    "cost": 0.0,
}
LINES: list[Any] = [
    {"kind": "UserPromptEvent", "prompt": "please review the AgentStateUpdatedEvent handling"},
    usage_event(T0, GPT, agent={"name": "junie-main", "id": "a1"}),
    # a state snapshot embedding the same usage: skipped
    usage_event(T0, GPT, kind="AgentStateUpdatedEvent"),
    # a replay of the very same event: one row
    usage_event(T0, GPT, agent={"name": "junie-main", "id": "a1"}),
    # same counts, a later call: its own row
    usage_event(T0 + 1000, GPT),
    usage_event(T0 + 2000, CLAUDE, {"model": "gpt-5-mini", "cacheInputTokens": 7, "inputTokens": 3, "outputTokens": 1}),
    # no timestampMs: the session directory's time
    usage_event(None, {"model": "gpt-5", "inputTokens": 1, "outputTokens": 1}),
    # reasoning above output: outside it
    usage_event(T0 + 3000, {"model": "o4-mini", "inputTokens": 5, "outputTokens": 10, "reasoningTokens": 40}),
    usage_event(T0 + 4000, {"inputTokens": 5}),  # no model: nothing
    '{"event": {"agentEvent": {"kind": "LlmResponseMetadataEvent", ',
]


def write_events(home: Path, lines: list[Any] = LINES, session: str = SESSION) -> Path:
    path = home / ".junie" / "sessions" / session / "events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_rows(home: Path) -> None:
    write_events(home)
    reader = get_reader("junie")
    (source,) = reader.discover([])
    result = reader.read(source, 0, {})
    assert result.reasons == {"malformed line": 1}
    frame = frame_of([reader])
    assert frame.height == 6
    rows = sorted(frame.iter_rows(named=True), key=lambda r: (r["ts"], r["model"]))
    first = rows[0]  # at T0 (the fallback row is stamped a week later)
    assert int(first["ts"].timestamp() * 1000) == T0
    assert (first["model"], first["provider"], first["input"], first["output"]) == ("gpt-5", "openai", 100, 50)
    assert first["source_cost"] == 0.0012 and first["agent"] == "junie-main" and first["session_id"] == SESSION
    claude = next(r for r in rows if r["model"] == "claude-sonnet-4-5")
    assert (claude["input"], claude["output"], claude["reasoning"]) == (12, 300, 120)
    assert (claude["cache_read"], claude["cache_write_5m"], claude["source_cost"]) == (20000, 1500, 0.0)
    mini = next(r for r in rows if r["model"] == "gpt-5-mini")
    assert (mini["input"], mini["cache_read"]) == (3, 7)
    o4 = next(r for r in rows if r["model"] == "o4-mini")
    assert (o4["output"], o4["reasoning"]) == (50, 40)


def test_snapshot_copies_and_replays_count_once(home: Path) -> None:
    write_events(home)
    frame = frame_of([get_reader("junie")])
    gpt = frame.filter(frame["model"] == "gpt-5")
    assert gpt.height == 3 and int(gpt["input"].sum()) == 100 + 100 + 1  # T0 once, T0+1s, the fallback row


def test_fallback_time_from_the_session_name(home: Path) -> None:
    write_events(home)
    frame = frame_of([get_reader("junie")])
    row = frame.filter(frame["input"] == 1).row(0, named=True)
    assert int(row["ts"].timestamp()) == int(datetime(2025, 6, 22, 10, 10, 10).astimezone().timestamp())


def test_no_time_at_all_is_skipped(home: Path) -> None:
    write_events(home, [usage_event(None, GPT)], session="abc")
    reader = get_reader("junie")
    result = reader.read(reader.discover([])[0], 0, {})
    assert result.rows == [] and result.reasons == {"no timestamp": 1}


def sample(home: Path) -> None:
    write_events(home)
