"""Augment (Auggie CLI) reader: completed turns only, the last usage node, end-anchored times."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tokscope.readers import get_reader

from tokscope.scan import frame_of

SID = "11111111-2222-3333-4444-555555555555"


def usage(inp: int, out: int, read: int = 0, write: int = 0) -> dict[str, int]:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }


def turn(
    rid: str | None,
    finished: str,
    nodes: list[Any],
    *,
    completed: bool = True,
    model: str | None = None,
    seq: Any = None,
) -> dict[str, Any]:
    exchange: dict[str, Any] = {"response_nodes": nodes}
    if rid is not None:
        exchange["request_id"] = rid
    if model is not None:
        exchange["model_id"] = model
    out: dict[str, Any] = {"completed": completed, "finishedAt": finished, "exchange": exchange}
    if seq is not None:
        out["sequenceId"] = seq
    return out


SESSION: dict[str, Any] = {
    "sessionId": SID,
    "created": "2026-01-15T12:00:00.000Z",
    "modified": "2026-01-15T12:10:00.000Z",
    "agentState": {"modelId": "claude-sonnet-4-5"},
    "chatHistory": [
        turn(
            "req-1",
            "2026-01-15T12:01:00.000Z",
            [{"type": 1}, {"type": 10, "token_usage": usage(1000, 50, 200)}],
            model="grok-4-5",
            seq=1,
        ),
        # two usage nodes: the last non-empty one is the turn's (an empty one after it does not count)
        turn(
            "req-2",
            "2026-01-15T12:05:00.000Z",
            [
                {"token_usage": usage(100, 10, 50)},
                {"token_usage": usage(400, 100, 800, 25)},
                {"token_usage": usage(0, 0)},
            ],
            model="claude-opus-4-8",
            seq=2,
        ),
        # still running: not counted even though a partial usage is there
        turn("req-3", "2026-01-15T12:09:00.000Z", [{"token_usage": usage(9000, 1)}], completed=False),
        # no model on the exchange: the session's; no request id: the sequence id
        turn(None, "2026-01-15T12:09:30.000Z", [{"token_usage": usage(10, 5)}], seq="seq-a"),
        # ACP mode: no usage at all
        turn("req-5", "2026-01-15T12:09:40.000Z", [{"type": 1}]),
        # no finishedAt: the session's modified time
        {"completed": True, "exchange": {"request_id": "req-6", "response_nodes": [{"token_usage": usage(3, 3)}]}},
        "bad-turn",
    ],
    "credits": 12.5,
    "subAgentCostUsd": 0.4,
}


def write_session(home: Path, data: dict[str, Any] = SESSION, name: str = SID) -> Path:
    path = home / ".augment" / "sessions" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def test_turns(home: Path) -> None:
    write_session(home)
    reader = get_reader("augment")
    (source,) = reader.discover([])
    assert source.mode == "whole"
    result = reader.read(source, 0, {})
    assert result.reasons == {"malformed turn": 1}
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == sorted(["req-1", "req-2", "req-6", f"{SID}:seq:seq-a"])
    one = rows["req-1"]
    assert (one.input, one.output, one.cache_read, one.cache_write_5m) == (1000, 50, 200, 0)
    assert one.model == "grok-4-5" and one.provider == "xai" and one.session_id == SID
    assert one.ts == 1768478460 * 1_000_000  # finishedAt 2026-01-15T12:01:00Z
    two = rows["req-2"]
    assert (two.input, two.output, two.cache_read, two.cache_write_5m) == (400, 100, 800, 25)
    seq = rows[f"{SID}:seq:seq-a"]
    assert (seq.model, seq.provider, seq.input) == ("claude-sonnet-4-5", "anthropic", 10)
    assert rows["req-6"].ts == 1768479000 * 1_000_000  # modified 12:10
    assert all(r.source_cost is None for r in result.rows)  # credits are not read


def test_completed_turns_only_and_no_double_count(home: Path) -> None:
    write_session(home)
    frame = frame_of([get_reader("augment")])
    assert int(frame["input"].sum()) == 1000 + 400 + 10 + 3  # not 9000 (running), not 100 (an earlier node)


def test_growing_snapshot_replaces(home: Path) -> None:
    path = write_session(home, {**SESSION, "chatHistory": SESSION["chatHistory"][:1]})
    reader = get_reader("augment")
    (source,) = reader.discover([])
    assert [r.event_key for r in reader.read(source, 0, {}).rows] == ["req-1"]
    write_session(home)
    assert path.exists() and len(reader.read(source, 0, {}).rows) == 4


def test_session_id_from_the_file_name_and_mtime(home: Path) -> None:
    data = {"chatHistory": [{"completed": True, "exchange": {"response_nodes": [{"token_usage": usage(1, 2)}]}}]}
    path = write_session(home, data, name="from-name")
    os.utime(path, (1768478400, 1768478400))
    reader = get_reader("augment")
    (row,) = reader.read(reader.discover([])[0], 0, {}).rows
    assert (row.session_id, row.event_key, row.model, row.ts) == (
        "from-name",
        "from-name:turn:0",
        "unknown",
        1768478400 * 1_000_000,
    )


def test_malformed_file(home: Path) -> None:
    path = home / ".augment" / "sessions" / "x.json"
    path.parent.mkdir(parents=True)
    path.write_text("not json")
    reader = get_reader("augment")
    result = reader.read(reader.discover([])[0], 0, {})
    assert result.rows == [] and result.skipped == 1


def sample(home: Path) -> None:
    write_session(home)
