"""Harnessbridge reader: primary rows only, attributed to the inner harness (clients.md §3.11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokscope.readers import get_reader

from tokscope.scan import frame_of


def ledger(home: Path, name: str, *rows: dict | str) -> Path:
    path = home / ".harnessbridge/sessions" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


HEADER = {
    "type": "session",
    "schema": "harnessbridge.session.v1",
    "id": "hb-session-1",
    "harness": "codex",
    "accounting": "primary",
    "started_ms": 1778682000000,
    "cwd": "/home/ann/svc",
}
PI = {
    "type": "usage",
    "id": "evt-pi",
    "harness": "pi",
    "provider_id": "anthropic",
    "model_id": "claude-sonnet-4",
    "source_message_id": "turn-1",
    "created_ms": 1778682001000,
    "tokens": {"input": 10, "output": 5, "cacheRead": 2},
    "source_cost_usd": "0.10",
}
CODEX = {
    "type": "usage",
    "id": "evt-codex",
    "harness": "codex",
    "provider_id": "openai",
    "model_id": "openai/gpt-5.1",
    "agent": "Headless",
    "created_at": "2026-05-13T14:20:05Z",
    "tokens": {"input": 20, "output": 3, "reasoning": 1},
    "cost": {"total": "0.20"},
}
COPILOT = {
    "type": "usage",
    "id": "evt-copilot",
    "harness": "copilot",
    "provider_id": "github-copilot",
    "model_id": "gpt-5",
    "created_ms": 1778682003000,
    "tokens": {"input": 30, "output": 4, "cache_write": 6},
}
OPENCODE = {
    "type": "usage",
    "id": "evt-opencode",
    "harness": "opencode",
    "model_id": "qwen-3",
    "created_ms": 1778682004000,
    "tokens": {"input": 40, "output": 6, "cacheOutput": 7},
    "raw": {"native_usage": {"cost": {"total": "0.40"}}},
}
MIRROR = {
    "type": "usage",
    "id": "evt-mirror",
    "harness": "codex",
    "accounting": "mirror",
    "provider_id": "openai",
    "model_id": "gpt-5",
    "created_ms": 1778682005000,
    "tokens": {"input": 1000, "output": 100},
}


def sample(home: Path) -> None:
    """The contract sample: a primary session with four harnesses and one mirror row."""
    ledger(
        home, "hb-session-1.jsonl", HEADER, PI, CODEX, COPILOT, OPENCODE, MIRROR, '{"type":"usage","id":"e9","tokens":{'
    )


def read_all():
    return frame_of([get_reader("harnessbridge")]).sort("ts")


def test_primary_rows_by_inner_harness_and_mirror_rows_skipped(home: Path) -> None:
    sample(home)
    frame = read_all()
    assert frame.select(
        "agent", "provider", "model", "input", "output", "reasoning", "cache_read", "cache_write_5m"
    ).rows() == [
        ("pi", "anthropic", "claude-sonnet-4", 10, 5, 0, 2, 0),
        ("copilot", "github-copilot", "gpt-5", 30, 4, 0, 0, 6),
        ("opencode", "alibaba", "qwen-3", 40, 13, 0, 0, 0),  # cached output billed as output
        ("codex/headless", "openai", "gpt-5.1", 20, 4, 1, 0, 0),  # reasoning beside output; prefix dropped
    ]
    assert frame["source_cost"].to_list() == [pytest.approx(0.10), None, pytest.approx(0.40), pytest.approx(0.20)]
    assert set(frame["session_id"]) == {"hb-session-1"} and set(frame["workspace"]) == {"/home/ann/svc"}
    assert frame["event_key"].to_list() == [
        "hb-session-1:turn-1",
        "hb-session-1:evt-copilot",
        "hb-session-1:evt-opencode",
        "hb-session-1:evt-codex",
    ]
    result = get_reader("harnessbridge").read(get_reader("harnessbridge").discover([])[0], 0, {})
    assert result.skipped == 1  # the truncated line; the mirror row is left out, not damaged


def test_a_mirror_session_header_covers_rows_without_their_own_accounting(home: Path) -> None:
    ledger(
        home,
        "mirror.jsonl",
        dict(HEADER, id="hb-2", accounting="mirror"),
        dict(COPILOT, id="a"),
        dict(COPILOT, id="b", accounting="primary"),
    )
    assert read_all().select("event_key", "session_id").rows() == [("mirror:b", "hb-2")]


def test_header_values_stand_in_and_appends_continue(home: Path) -> None:
    path = ledger(
        home,
        "h.jsonl",
        {"type": "session", "id": "hb-3", "harness": "pi", "provider_id": "anthropic", "model_id": "claude-opus-4-5"},
        {"type": "usage", "created_ms": 1778682001, "tokens": {"input": 3, "output": 4}},  # seconds
    )
    reader = get_reader("harnessbridge")
    source = reader.discover([])[0]
    first = reader.read(source, 0, {})
    assert [(r.agent, r.model, r.provider, r.ts) for r in first.rows] == [
        ("pi", "claude-opus-4-5", "anthropic", 1778682001000000)
    ]
    assert first.rows[0].event_key == f"h:@{len(path.read_text().splitlines()[0]) + 1}"
    with path.open("a") as fh:
        fh.write(json.dumps({"type": "usage", "id": "x", "created_ms": 1778682009000, "tokens": {"input": 1}}) + "\n")
    second = reader.read(source, first.offset, json.loads(json.dumps(first.state)))
    assert [(r.event_key, r.model, r.session_id) for r in second.rows] == [("h:x", "claude-opus-4-5", "hb-3")]


def test_rows_without_a_harness_or_tokens_are_not_counted(home: Path) -> None:
    ledger(
        home,
        "z.jsonl",
        {"type": "note", "message": "skip me"},
        dict(PI, harness=None),
        dict(PI, id="zero", tokens={"input": 0, "output": 0}),
        dict(PI, id="ok", source_message_id=None, tokens={"input": 5, "output": 2}),
    )
    assert read_all()["event_key"].to_list() == ["z:ok"]


def test_the_variable_moves_the_root(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKTRAIL_HARNESSBRIDGE_SESSIONS", str(home / "hb"))
    assert get_reader("harnessbridge").roots() == [home / "hb"]
