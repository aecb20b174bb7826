"""Pi / OMP reader: fixtures with the traps of formats.md §5, totals worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.events import total_tokens_expr
from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan


def write_jsonl(path: Path, records: list, tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n" + tail)
    return path


def header(sid: str, cwd: str, **extra) -> dict:
    return {"type": "session", "version": 3, "id": sid, "timestamp": "2026-03-02T12:00:00.000Z", "cwd": cwd, **extra}


def assistant(eid: str, ts: str, usage: dict, model: str | None = None, provider: str | None = None, **msg) -> dict:
    message = {"role": "assistant", "content": [{"type": "text", "text": "ok"}], "usage": usage, **msg}
    if model:
        message["model"] = model
    if provider:
        message["provider"] = provider
    return {"type": "message", "id": eid, "parentId": None, "timestamp": ts, "message": message}


A1 = assistant(
    "a1000001",
    "2026-03-02T12:00:09.000Z",
    {"input": 7, "output": 350, "cacheRead": 22100, "cacheWrite": 900, "cost": {"total": 0.01528}},
    "claude-sonnet-4-5",
    "anthropic",
)


def pi_fixture(home: Path) -> Path:
    project = home / ".pi/agent/sessions/--home-alice-app--"
    s1 = write_jsonl(
        project / "2026-03-02T12-00-00-000Z_S1.jsonl",
        [
            header("S1", "/home/alice/app"),
            {"type": "model_change", "id": "mc000001", "provider": "anthropic", "modelId": "claude-sonnet-4-5"},
            {"type": "message", "id": "u0000001", "message": {"role": "user", "content": "hi, what is the usage?"}},
            A1,
            '{"type":"message","id":"bad","message":{"role":"assistant","usage":{"input":',  # truncated write
            # no model/provider on the message: taken from model_change; reasoning is inside output
            assistant(
                "a2000002", "2026-03-02T12:01:00.000Z", {"input": 10, "output": 100, "cacheRead": 1000, "reasoning": 40}
            ),
            # only a total: counted as output
            assistant("a3000003", "2026-03-02T12:02:00.000Z", {"input": 0, "output": 0, "totalTokens": 500}, "gpt-5"),
            # zero usage: skipped
            assistant("a4000000", "2026-03-02T12:03:00.000Z", {"input": 0, "output": 0}, "gpt-5", "openai"),
        ],
    )
    # a /fork: new session file copying a1 with its id, timestamp and usage
    write_jsonl(
        project / "2026-03-02T13-00-00-000Z_S2.jsonl",
        [
            header("S2", "/home/alice/app", parentSession=str(s1)),
            A1,
            assistant(
                "a4000004",
                "2026-03-02T13:00:05.000Z",
                {"input": 5, "output": 50, "cost": {"total": 0.001}},
                "claude-sonnet-4-5",
                "anthropic",
            ),
            # same 8-hex id as a2 in S1, but another entry: counted
            assistant("a2000002", "2026-03-02T13:00:09.000Z", {"input": 1, "output": 2}, "claude-sonnet-4-5"),
        ],
    )
    return s1


def test_pi_totals_fork_copies_and_id_collisions(home: Path) -> None:
    pi_fixture(home)
    reader = get_reader("pi")
    errors: list[str] = []
    sources = reader.discover(errors)
    assert len(sources) == 2 and not errors
    skipped = sum(reader.read(s, 0, {}).skipped for s in sources)
    assert skipped == 1  # the truncated line
    frame = frame_of([reader])
    # a1 7+350+22100+900 = 23357 (once, though in two files); a2 10+100+1000 = 1110;
    # a3 500 (total as output); a4 5+50 = 55; S2's a2000002 1+2 = 3
    # sum = 23357 + 1110 + 500 + 55 + 3 = 25025 over 5 events
    assert frame.height == 5
    assert frame.select(total_tokens_expr().sum()).item() == 25025
    assert frame["input"].sum() == 7 + 10 + 0 + 5 + 1
    assert frame["output"].sum() == 350 + 100 + 500 + 50 + 2
    assert frame["cache_read"].sum() == 22100 + 1000
    assert frame["cache_write_5m"].sum() == 900
    assert frame["cache_write_1h"].sum() == 0
    assert frame["reasoning"].sum() == 40
    assert frame["source_cost"].sum() == pytest.approx(0.01528 + 0.001)
    # the original copy of a1 wins over the fork's: S1 = 23357 + 1110 + 500, S2 = 55 + 3
    by_session = dict(frame.group_by("session_id").agg(total_tokens_expr().sum()).iter_rows())
    assert by_session == {"S1": 24967, "S2": 58}
    a2 = frame.filter(pl.col("output") == 100).row(0, named=True)
    assert (a2["model"], a2["provider"]) == ("claude-sonnet-4-5", "anthropic")
    assert set(frame["workspace"]) == {"/home/alice/app"}
    a3 = frame.filter(pl.col("output") == 500).row(0, named=True)
    assert a3["provider"] == "openai"  # inferred from gpt-5


def test_omp_subagent_gets_parent_session_and_task_agent(home: Path) -> None:
    project = home / ".omp/agent/sessions/--home-bob-x--"
    task_call = {
        "type": "toolCall",
        "id": "call_1",
        "name": "task",
        "arguments": {"agent": "reviewer", "tasks": [{"id": "ReviewFindings", "description": "Review"}]},
    }
    write_jsonl(
        project / "P1.jsonl",
        [
            {"type": "title", "title": "refactor"},  # OMP writes this before the header
            header("P1", "/home/bob/x"),
            {
                "type": "message",
                "id": "p0000001",
                "timestamp": "2026-03-03T09:00:00.000Z",
                "message": {
                    "role": "assistant",
                    "content": [task_call],
                    "model": "gpt-5.5",
                    "provider": "openai",
                    "usage": {"input": 10, "output": 10},
                },
            },
        ],
    )
    write_jsonl(
        project / "P1" / "0-ReviewFindings.jsonl",
        [
            header("C1", "/home/bob/x"),
            assistant("c0000001", "2026-03-03T09:00:30.000Z", {"input": 20, "output": 10, "cacheRead": 5}, "gpt-5.5"),
        ],
    )
    frame = frame_of([get_reader("omp")])
    # parent 10+10 = 20, child 20+10+5 = 35 -> 55, all in session P1
    assert frame.select(total_tokens_expr().sum()).item() == 55
    assert set(frame["session_id"]) == {"P1"}
    assert set(frame["client"]) == {"omp"}
    child = frame.filter(pl.col("cache_read") == 5).row(0, named=True)
    assert child["agent"] == "reviewer"
    assert child["provider"] == "openai"
    assert child["workspace"] == "/home/bob/x"
    parent = frame.filter(pl.col("cache_read") == 0).row(0, named=True)
    assert parent["agent"] is None


def test_pi_incremental_append_and_partial_line(home: Path) -> None:
    s1 = pi_fixture(home)
    ledger = Ledger()
    reader = get_reader("pi")
    scan(ledger, [reader], workers=1)
    assert ledger.frame().select(total_tokens_expr().sum()).item() == 25025
    # a turn being written: no newline yet -> not counted
    new = json.dumps(assistant("a5000005", "2026-03-02T12:05:00.000Z", {"input": 100, "output": 20}, "gpt-5", "openai"))
    with s1.open("a") as fh:
        fh.write(new[:40])
    summary = scan(ledger, [reader], workers=1)
    assert summary.new_events == 0
    with s1.open("a") as fh:
        fh.write(new[40:] + "\n")
    summary = scan(ledger, [reader], workers=1)
    assert summary.new_events == 1
    # 25025 + 100 + 20 = 25145; nothing else counted twice
    frame = ledger.frame()
    assert frame.height == 6
    assert frame.select(total_tokens_expr().sum()).item() == 25145
    # no change: nothing read
    assert scan(ledger, [reader], workers=1).read == 0


def test_pi_env_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("pi")
    monkeypatch.delenv("PI_CODING_AGENT_SESSION_DIR", raising=False)
    monkeypatch.delenv("PI_CODING_AGENT_DIR", raising=False)
    assert reader.roots() == [home / ".pi/agent/sessions"]
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(home / "agent"))
    assert reader.roots() == [home / "agent/sessions"]
    monkeypatch.setenv("PI_CODING_AGENT_SESSION_DIR", str(home / "only-sessions"))
    assert reader.roots() == [home / "only-sessions"]
    monkeypatch.delenv("OMP_CODING_AGENT_DIR", raising=False)
    assert get_reader("omp").roots() == [home / ".omp/agent/sessions"]
    monkeypatch.setenv("OMP_CODING_AGENT_DIR", str(home / "omp"))
    assert get_reader("omp").roots() == [home / "omp/sessions"]


def test_pi_subagent_session_name_and_message_timestamp(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PI_CODING_AGENT_SESSION_DIR", str(home / "custom-sessions"))
    no_entry_ts = assistant("b0000002", "", {"input": 3, "output": 4}, "claude-haiku-4-5", "anthropic")
    del no_entry_ts["timestamp"]
    no_entry_ts["message"]["timestamp"] = 1772450000000  # epoch ms on the message only
    write_jsonl(
        home / "custom-sessions/--srv-w--/2026-03-02T10-00-00-000Z_S9.jsonl",
        [
            header("S9", "/srv/w"),
            {"type": "session_info", "id": "i0000001", "name": "subagent-explorer-1a2b3c4d"},
            assistant(
                "b0000001", "2026-03-02T10:00:05.000Z", {"input": 1, "output": 2}, "claude-haiku-4-5", "anthropic"
            ),
            no_entry_ts,
        ],
    )
    frame = frame_of([get_reader("pi")])
    # 1+2 = 3 and 3+4 = 7 -> 10
    assert frame.select(total_tokens_expr().sum()).item() == 10
    assert set(frame["agent"]) == {"explorer"}
    late = frame.filter(pl.col("input") == 3).row(0, named=True)
    assert late["ts"].timestamp() == pytest.approx(1772450000.0)


def test_omp_model_change_names_provider_slash_model(home: Path) -> None:
    # OMP writes the model of a model_change as one "provider/model" string, not modelId + provider.
    write_jsonl(
        home / ".omp/agent/sessions/--home-bob-x--/2026-03-04T08-00-00-000Z_M1.jsonl",
        [
            header("M1", "/home/bob/x"),
            {"type": "model_change", "id": "mc000009", "model": "anthropic/claude-sonnet-4-5"},
            assistant("m0000001", "2026-03-04T08:00:05.000Z", {"input": 4, "output": 6}),
        ],
    )
    row = frame_of([get_reader("omp")]).row(0, named=True)
    assert (row["provider"], row["model"]) == ("anthropic", "claude-sonnet-4-5")


def test_a_model_change_without_provider_does_not_keep_the_previous_one(home: Path) -> None:
    write_jsonl(
        home / ".pi/agent/sessions/--srv--/2026-03-04T08-00-00-000Z_N1.jsonl",
        [
            header("N1", "/srv"),
            {"type": "model_change", "id": "mc000001", "provider": "anthropic", "modelId": "claude-sonnet-4-5"},
            assistant("n0000001", "2026-03-04T08:00:05.000Z", {"input": 1, "output": 1}),
            {"type": "model_change", "id": "mc000002", "modelId": "gpt-5"},
            assistant("n0000002", "2026-03-04T08:01:05.000Z", {"input": 2, "output": 2}),
        ],
    )
    rows = sorted(frame_of([get_reader("pi")]).to_dicts(), key=lambda r: r["ts"])
    assert [(r["provider"], r["model"]) for r in rows] == [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5")]


def test_omp_profiles_are_read(home: Path) -> None:
    # `omp --profile work` keeps its sessions under ~/.omp/profiles/<name>/agent/sessions.
    for profile, eid in (("work", "w0000001"), ("play", "p0000009")):
        write_jsonl(
            home / f".omp/profiles/{profile}/agent/sessions/--srv--/2026-03-04T08-00-00-000Z_{profile}.jsonl",
            [header(profile, "/srv"), assistant(eid, "2026-03-04T08:00:05.000Z", {"input": 1, "output": 1}, "gpt-5")],
        )
    frame = frame_of([get_reader("omp")])
    assert sorted(frame["session_id"].to_list()) == ["play", "work"]


def test_a_fifo_in_place_of_an_omp_parent_file_does_not_hang(home: Path) -> None:
    import os
    import threading

    project = home / ".omp/agent/sessions/--home-bob-x--"
    write_jsonl(
        project / "P2" / "0-T.jsonl", [assistant("c0000002", "2026-03-03T09:00:30.000Z", {"output": 3}, "gpt-5")]
    )
    os.mkfifo(project / "P2.jsonl")
    found: list[pl.DataFrame] = []
    worker = threading.Thread(target=lambda: found.append(frame_of([get_reader("omp")])), daemon=True)
    worker.start()
    worker.join(10)
    assert found, "reading a task transcript beside a FIFO parent hung"
    assert found[0]["output"].to_list() == [3]


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_pi_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    path = write_jsonl(
        home / ".pi/agent/sessions/--srv--/2026-03-02T10-00-00-000Z_S8.jsonl",
        [
            header("S8", "/srv"),
            assistant("h0000001", "2026-03-02T10:00:05.000Z", {"input": huge, "output": 1}, "gpt-5"),
            assistant("h0000002", "2026-03-02T10:00:06.000Z", {"input": 2, "output": 3}, "gpt-5"),
        ],
    )
    reader = get_reader("pi")
    rows = reader.read(reader.discover([])[0], 0, {}).rows
    assert path.exists() and len(rows) == 2
    assert rows[0].input >= 2**63 - 1 and (rows[1].input, rows[1].output) == (2, 3)
