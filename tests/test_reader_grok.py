"""Grok Build reader: the unified log with per-process models, session updates as the fallback (clients.md §3.6)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

WORKSPACE = "/home/alice/rocket"
S1, S2, S3 = "0199a1b2-0000-7000-8000-000000000001", "0199a1b2-0000-7000-8000-000000000002", "legacy-s3"
CHILD = "sub-7f3e"


def dumps(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))  # the CLI writes compact JSON


def log_row(msg: str, ts: str = "2026-11-20T10:00:00.000Z", pid: int | None = 100, sid: str | None = S1, **ctx) -> str:
    row: dict = {"ts": ts, "src": "shell", "lvl": "info", "msg": msg, "ctx": ctx}
    if pid is not None:
        row["pid"] = pid
    if sid is not None:
        row["sid"] = sid
    return dumps(row)


def call(ts: str, prompt: int, cached: int, completion: int, reasoning: int = 0, loop: int = 1, **kw) -> str:
    return log_row(
        "shell.turn.inference_done",
        ts,
        prompt_tokens=prompt,
        cached_prompt_tokens=cached,
        completion_tokens=completion,
        reasoning_tokens=reasoning,
        loop_index=loop,
        model_elapsed_ms=900,
        **kw,
    )


def write_log(home: Path, *lines: str, tail: str = "") -> Path:
    path = home / ".grok/logs/unified.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines) + tail)
    return path


def session(home: Path, sid: str, workspace: str = WORKSPACE, summary: dict | None = None, updates: list | None = None):
    directory = home / ".grok/sessions" / quote(workspace, safe="") / sid
    directory.mkdir(parents=True, exist_ok=True)
    if summary is not None:
        (directory / "summary.json").write_text(json.dumps(summary))
    if updates is not None:
        (directory / "updates.jsonl").write_text("".join(dumps(u) + "\n" for u in updates))
    return directory


def turn(usage: dict, ts: int = 1795650000, event: str | None = None, kind: str = "turn_completed") -> dict:
    params: dict = {"sessionId": "x", "update": {"sessionUpdate": kind, "usage": usage}}
    if event:
        params["_meta"] = {"eventId": event}
    return {"jsonrpc": "2.0", "method": "_x.ai/session/update", "timestamp": ts, "params": params}


def unified_fixture(home: Path) -> None:
    write_log(
        home,
        log_row("AuthManager::new", pid=100, sid=None),
        log_row("AuthManager::new", pid=200, sid=None),
        log_row("session created", sid=S1, cwd=WORKSPACE),
        log_row("model catalog: notifying clients", pid=100, sid=None, current_model_id="grok-build"),
        log_row("model changed", pid=200, sid=S2, model="grok-composer-2.5-fast"),
        call("2026-11-20T10:00:05.000Z", 12000, 9000, 300, 120),
        call("2026-11-20T10:00:09.000Z", 12500, 12000, 200, 0, loop=2),
        log_row(
            "shell.turn.inference_done",
            "2026-11-20T10:01:00.000Z",
            pid=200,
            sid=S2,
            prompt_tokens=4000,
            cached_prompt_tokens=1000,
            completion_tokens=50,
            reasoning_tokens=0,
            loop_index=1,
        ),
        '{"ts":"2026-11-20T10:02:00.000Z","pid":100,"sid":"' + S1 + '","msg":"shell.turn.inference_done","ctx":{',
        log_row("tool.exec", command="ls"),  # no usage, not even decoded
    )
    session(home, S2, "/home/alice/other", summary={"current_model_id": "grok-4.6"})


def sample(home: Path) -> None:
    """The contract sample: a unified log, and a legacy session only its updates file covers."""
    unified_fixture(home)
    session(
        home,
        S3,
        "/home/alice/old",
        summary={"current_model_id": "grok-4.5"},
        updates=[
            {
                "jsonrpc": "2.0",
                "method": "_x.ai/session/update",
                "params": {"update": {"sessionUpdate": "agent_message_chunk"}},
            },
            turn({"inputTokens": 1200, "outputTokens": 88, "cachedReadTokens": 400, "reasoningTokens": 20}, event="e1"),
            turn({"inputTokens": 900, "outputTokens": 30, "modelUsage": {"grok-4.6": {}}}, ts=1795650100),
        ],
    )


def read_all() -> pl.DataFrame:
    return frame_of([get_reader("grok")]).sort("ts", "event_key")


def test_unified_log_models_per_process_and_reasoning_added(home: Path) -> None:
    unified_fixture(home)
    frame = read_all()
    assert frame.select("model", "session_id", "input", "output", "reasoning", "cache_read").rows() == [
        ("grok-build", S1, 3000, 420, 120, 9000),  # prompt includes cached; reasoning beside completion
        ("grok-build", S1, 500, 200, 0, 12000),
        ("grok-composer-2.5-fast", S2, 3000, 50, 0, 1000),  # pid 200's model for S2, not its summary's
    ]
    assert frame["provider"].cast(pl.String).unique().to_list() == ["xai"]
    assert frame["workspace"].to_list() == [WORKSPACE, WORKSPACE, "/home/alice/other"]
    result = get_reader("grok").read(get_reader("grok").discover([])[0], 0, {})
    assert result.skipped == 1  # the truncated call line


def test_a_reused_pid_inherits_no_model(home: Path) -> None:
    write_log(
        home,
        log_row("model catalog: notifying clients", pid=100, sid=None, current_model_id="grok-build"),
        call("2026-11-20T10:00:05.000Z", 100, 0, 10),
        log_row("AuthManager::new", pid=100, sid=None),  # a new process got the same pid
        call("2026-11-20T11:00:05.000Z", 200, 0, 20),
    )
    assert read_all()["model"].to_list() == ["grok-build", "unknown"]
    session(home, S1, summary={"current_model_id": "grok-4.6"})
    assert read_all()["model"].to_list() == ["grok-build", "grok-4.6"]  # the session's summary, then


def test_a_session_model_without_pid_applies_to_every_process(home: Path) -> None:
    write_log(
        home,
        log_row("model catalog: notifying clients", pid=300, sid=None, current_model_id="grok-build"),
        log_row("model changed", pid=None, sid=S1, model="grok-4.6"),
        log_row("shell.turn.inference_done", pid=300, prompt_tokens=10, completion_tokens=1),
    )
    assert read_all()["model"].to_list() == ["grok-4.6"]


def test_subagent_calls_go_to_the_parent_session_with_their_own_model(home: Path) -> None:
    write_log(
        home,
        log_row("model catalog: notifying clients", pid=100, sid=None, current_model_id="grok-build"),
        log_row(
            "subagent spawn credentials",
            subagent_id=CHILD,
            effective_model="grok-code-fast-1",
            parent_model="grok-build",
        ),
        log_row("subagent spawn credentials", subagent_id="sub-2", parent_model="grok-build"),
        call("2026-11-20T10:00:05.000Z", 1000, 0, 10),
        log_row(
            "shell.turn.inference_done", "2026-11-20T10:00:06.000Z", sid=CHILD, prompt_tokens=500, completion_tokens=5
        ),
        log_row(
            "shell.turn.inference_done", "2026-11-20T10:00:07.000Z", sid="sub-2", prompt_tokens=600, completion_tokens=6
        ),
    )
    frame = read_all()
    assert frame.select("session_id", "agent", "model", "input").rows() == [
        (S1, None, "grok-build", 1000),
        (S1, "subagent", "grok-code-fast-1", 500),
        (S1, "subagent", "unknown", 600),  # not the parent process's model
    ]


def test_updates_count_only_for_sessions_the_unified_log_lacks(home: Path) -> None:
    sample(home)
    # S1 also has an updates file: the unified log covers it, so it adds nothing
    session(
        home, S1, updates=[turn({"inputTokens": 24500, "outputTokens": 620, "cachedReadTokens": 21000}, event="dup")]
    )
    frame = read_all()
    legacy = frame.filter(pl.col("session_id") == S3)
    assert legacy.select("model", "input", "output", "reasoning", "cache_read", "event_key").rows() == [
        ("grok-4.5", 800, 108, 20, 400, f"{S3}:turn:e1"),  # the summary's model; cached out of input
        ("grok-4.6", 900, 30, 0, 0, legacy["event_key"][1]),  # modelUsage names the model
    ]
    assert legacy["event_key"][1].startswith(f"{S3}:turn@")
    assert legacy["workspace"].unique().to_list() == ["/home/alice/old"]
    assert frame.filter(pl.col("session_id") == S1).height == 2
    assert int(frame["output"].sum()) == 420 + 200 + 50 + 108 + 30


def test_updates_stop_once_the_unified_log_has_the_session(home: Path) -> None:
    updates = session(home, S3, updates=[turn({"inputTokens": 100, "outputTokens": 10}, event="e1")]) / "updates.jsonl"
    reader = get_reader("grok")
    source = next(s for s in reader.discover([]) if s.path == updates)
    first = reader.read(source, 0, {})
    assert [r.input for r in first.rows] == [100]
    write_log(home, log_row("shell.turn.inference_done", sid=S3, prompt_tokens=200, completion_tokens=20))
    with updates.open("a") as fh:
        fh.write(dumps(turn({"inputTokens": 200, "outputTokens": 20}, event="e2")) + "\n")
    second = reader.read(source, first.offset, json.loads(json.dumps(first.state)))
    assert second.rows == [] and second.state == {"covered": True}
    (home / ".grok/logs/unified.jsonl").write_text("")  # the CLI truncated its log
    with updates.open("a") as fh:
        fh.write(dumps(turn({"inputTokens": 300, "outputTokens": 30}, event="e3")) + "\n")
    third = reader.read(source, second.offset, second.state)
    assert third.rows == [] and third.offset == updates.stat().st_size


def test_a_total_equal_to_input_plus_output_keeps_reasoning_inside(home: Path) -> None:
    session(
        home,
        S3,
        updates=[
            turn({"inputTokens": 1000, "outputTokens": 100, "reasoningTokens": 60, "totalTokens": 1100}, event="a")
        ],
    )
    assert read_all().select("output", "reasoning").rows() == [(100, 60)]


def test_a_truncated_log_read_again_counts_nothing_twice(home: Path) -> None:
    unified_fixture(home)
    scan()
    path = home / ".grok/logs/unified.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:3] + lines[5:7]))  # rotated: starts later, keeps the S2 call
    scan()
    frame = Ledger().frame().sort("ts")
    assert frame.height == 3
    assert int(frame["input"].sum()) == 3000 + 500 + 3000
    assert frame["model"].cast(pl.String).to_list() == ["grok-build", "grok-build", "grok-composer-2.5-fast"]


def test_incremental_reads_keep_the_models(home: Path) -> None:
    path = write_log(home, log_row("model changed", sid=S1, model="grok-4.6"))
    reader = get_reader("grok")
    source = reader.discover([])[0]
    first = reader.read(source, 0, {})
    with path.open("a") as fh:
        fh.write(call("2026-11-20T10:00:05.000Z", 100, 40, 10) + "\n")
    second = reader.read(source, first.offset, json.loads(json.dumps(first.state)))
    assert [(r.model, r.input, r.cache_read) for r in second.rows] == [("grok-4.6", 60, 40)]


def test_grok_home_moves_the_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROK_HOME", str(home / "elsewhere"))
    assert get_reader("grok").roots() == [home / "elsewhere/logs/unified.jsonl", home / "elsewhere/sessions"]
