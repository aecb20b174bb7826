"""Mux (Xum) reader: per-workspace, per-model running totals in session-usage.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.mux import MuxReader, split_model

from tests.session_totals_helpers import check_declared_env, ledger_scan, pick, totals, us

MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def bucket(tokens: int, cost: float | None = None) -> dict:
    return {"tokens": tokens} if cost is None else {"tokens": tokens, "cost_usd": cost}


def usage(inp: int, cached: int, create: int, out: int, reasoning: int, costs: tuple = (None,) * 5) -> dict:
    """A ChatUsageDisplay as Mux persists it."""
    names = ("input", "cached", "cacheCreate", "output", "reasoning")
    return {n: bucket(t, c) for n, t, c in zip(names, (inp, cached, create, out, reasoning), costs, strict=True)}


def write(path: Path, data: object, mtime: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    if mtime:
        t = us(mtime) / 1e6
        os.utime(path, (t, t))
    return path


def session_file(by_model: dict, last_ms: int | None = MS, **extra: object) -> dict:
    body: dict = {"version": 1, "byModel": by_model, **extra}
    if last_ms is not None:
        first = next(iter(by_model), "x:y")
        body["lastRequest"] = {"model": first, "usage": by_model.get(first, {}), "timestamp": last_ms}
    return body


def mux_tree(home: Path) -> Path:
    sessions = home / ".mux" / "sessions"
    write(
        sessions / "ws-alpha" / "session-usage.json",
        session_file(
            {
                "anthropic:claude-opus-4-6": usage(100, 5000, 200, 300, 0, (0.01, 0.05, 0.02, 0.03, 0.0)),
                "openai:gpt-5.2": usage(50, 0, 0, 150, 40, (0.005, 0.0, 0.0, 0.015, 0.004)),
            }
        ),
        mtime="2026-11-20T12:00:00",
    )
    # the same model in another workspace: its own key
    write(
        sessions / "ws-beta" / "session-usage.json",
        session_file({"anthropic:claude-opus-4-6": usage(7, 0, 0, 9, 0)}, last_ms=MS + 3_600_000),
    )
    # traps without rows: malformed, all zero, no byModel, a file elsewhere
    write(sessions / "ws-bad" / "session-usage.json", '{"version": 1, "byModel": {')
    write(sessions / "ws-zero" / "session-usage.json", session_file({"anthropic:claude": usage(0, 0, 0, 0, 0)}))
    write(sessions / "ws-empty" / "session-usage.json", {"version": 1})
    write(sessions / "ws-alpha" / "nested" / "session-usage.json", session_file({"a:b": usage(1, 0, 0, 1, 0)}))
    return sessions


def rows_by_key(reader: MuxReader | None = None) -> dict:
    reader = reader or MuxReader()
    return {r.event_key: r for s in reader.discover([]) for r in reader.read(s, 0, {}).rows}


def test_registered() -> None:
    assert isinstance(get_reader("mux"), MuxReader)
    check_declared_env(MuxReader())


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("anthropic:claude-opus-4-6", ("anthropic", "claude-opus-4-6")),
        ("mux-gateway:openai/gpt-5.2", ("openai", "gpt-5.2")),
        ("openrouter:meta-llama/llama-3.1-405b", ("openrouter", "meta-llama/llama-3.1-405b")),
        ("provider:sub:model-name", ("provider", "sub:model-name")),
        ("claude-opus-4-6", ("unknown", "claude-opus-4-6")),
    ],
)
def test_split_model(key: str, expected: tuple[str, str]) -> None:
    assert split_model(key) == expected


def test_one_row_per_workspace_and_model(home: Path) -> None:
    mux_tree(home)
    rows = rows_by_key()
    assert sorted(rows) == [
        "ws-alpha/anthropic:claude-opus-4-6",
        "ws-alpha/openai:gpt-5.2",
        "ws-beta/anthropic:claude-opus-4-6",  # workspace-scoped: no collision with ws-alpha's
    ]
    claude = rows["ws-alpha/anthropic:claude-opus-4-6"]
    assert pick(claude, "provider", "model", "session_id", "agent", "workspace") == (
        "anthropic",
        "claude-opus-4-6",
        "ws-alpha",
        None,
        "",
    )
    assert pick(claude, "input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h") == (
        100,
        300,
        0,
        5000,
        200,
        0,
    )
    assert claude.source_cost == pytest.approx(0.11)
    # lastRequest.timestamp (ms), not the later mtime
    assert claude.ts == MS * 1000
    assert rows["ws-beta/anthropic:claude-opus-4-6"].ts == (MS + 3_600_000) * 1000


def test_reasoning_is_outside_output(home: Path) -> None:
    mux_tree(home)
    gpt = rows_by_key()["ws-alpha/openai:gpt-5.2"]
    assert pick(gpt, "input", "output", "reasoning") == (50, 190, 40)
    assert gpt.source_cost == pytest.approx(0.024)


def test_bad_files_cost_only_themselves(home: Path) -> None:
    mux_tree(home)
    reader = MuxReader()
    by_ws = {s.path.parent.name: reader.read(s, 0, {}) for s in reader.discover([])}
    assert set(by_ws) == {"ws-alpha", "ws-beta", "ws-bad", "ws-zero", "ws-empty"}
    assert by_ws["ws-bad"].rows == [] and by_ws["ws-bad"].reasons == {"malformed file": 1}
    assert by_ws["ws-zero"].rows == [] and by_ws["ws-zero"].skipped == 0
    assert by_ws["ws-empty"].rows == []


def test_no_last_request_dates_at_mtime(home: Path) -> None:
    write(
        home / ".mux/sessions/ws/session-usage.json",
        session_file({"anthropic:claude": usage(1, 0, 0, 2, 0)}, last_ms=None),
        mtime="2026-11-20T12:00:00",
    )
    (row,) = rows_by_key().values()
    assert row.ts == us("2026-11-20T12:00:00")
    assert row.source_cost is None  # no cost_usd: priced by tokscope


def test_xum_home_and_symlinked_mux_home_read_once(home: Path) -> None:
    write(home / ".xum/sessions/ws/session-usage.json", session_file({"anthropic:claude": usage(1, 0, 0, 2, 0)}))
    (home / ".mux").symlink_to(home / ".xum")
    write(home / ".cmux/sessions/old/session-usage.json", session_file({"openai:gpt-4o": usage(3, 0, 0, 4, 0)}))
    assert sorted(rows_by_key()) == ["old/openai:gpt-4o", "ws/anthropic:claude"]


def test_root_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mux_tree(home)
    other = home / "elsewhere"
    write(other / "sessions/ws-x/session-usage.json", session_file({"anthropic:claude": usage(1, 0, 0, 2, 0)}))
    monkeypatch.setenv("MUX_ROOT", str(other))
    assert sorted(rows_by_key()) == ["ws-x/anthropic:claude"]
    monkeypatch.setenv("XUM_ROOT", str(home / "none"))  # the canonical name wins
    assert rows_by_key() == {}


def test_rolled_up_child_keeps_its_key_and_leaves_the_parent(home: Path) -> None:
    sessions = home / ".mux" / "sessions"
    child = write(
        sessions / "child-1" / "session-usage.json",
        session_file({"anthropic:claude-sonnet-4-5": usage(10, 100, 0, 20, 5)}, last_ms=MS),
    )
    parent = write(
        sessions / "parent" / "session-usage.json",
        session_file({"anthropic:claude-sonnet-4-5": usage(1000, 9000, 50, 400, 30)}, last_ms=MS + 60_000),
    )
    _, frame = ledger_scan(home, MuxReader())
    assert totals(frame) == {
        "input": 1010,
        "output": 455,
        "reasoning": 35,
        "cache_read": 9100,
        "cache_write_5m": 50,
        "cache_write_1h": 0,
    }
    # Mux deletes the child and merges its totals (grown since the scan) into the parent
    child.unlink()
    child.parent.rmdir()
    entry = {
        "totalTokens": 160,
        "inputTokens": 12,
        "outputTokens": 24,
        "reasoningTokens": 6,
        "cachedTokens": 118,
        "cacheCreateTokens": 0,
        "totalCostUsd": 0.5,
        "agentType": "explore",
        "model": "mux-gateway:anthropic/claude-sonnet-4-5",
        "rolledUpAtMs": MS + 120_000,
    }
    write(
        parent,
        session_file(
            {"anthropic:claude-sonnet-4-5": usage(1012, 9118, 50, 424, 36)},
            last_ms=MS + 60_000,
            rolledUpFrom={"child-1": entry, "legacy-child": True},
        ),
    )
    os.utime(parent, ns=(parent.stat().st_mtime_ns + 10**9,) * 2)
    rows = rows_by_key()
    kid = rows["child-1/anthropic:claude-sonnet-4-5"]
    assert pick(kid, "session_id", "agent", "input", "output", "reasoning", "cache_read", "ts") == (
        "parent",
        "explore",
        12,
        30,
        6,
        118,
        (MS + 120_000) * 1000,
    )
    assert kid.source_cost == 0.5
    assert pick(rows["parent/anthropic:claude-sonnet-4-5"], "input", "output", "cache_read") == (1000, 430, 9000)
    _, frame = ledger_scan(home, MuxReader())
    assert frame.height == 2  # the child's key replaced, nothing added
    assert totals(frame) == {
        "input": 1012,
        "output": 460,
        "reasoning": 36,
        "cache_read": 9118,
        "cache_write_5m": 50,
        "cache_write_1h": 0,
    }


def test_grown_totals_replace(home: Path) -> None:
    path = write(home / ".mux/sessions/ws/session-usage.json", session_file({"anthropic:claude": usage(1, 0, 0, 2, 0)}))
    ledger_scan(home, MuxReader())
    write(path, session_file({"anthropic:claude": usage(5, 0, 0, 9, 0)}, last_ms=MS + 1000))
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    _, frame = ledger_scan(home, MuxReader())
    assert frame.height == 1 and totals(frame)["input"] == 5 and totals(frame)["output"] == 9
