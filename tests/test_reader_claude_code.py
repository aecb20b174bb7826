"""Claude Code reader: every trap of formats.md §1 on small hand-made transcripts."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import polars as pl
import pytest
from tokscope.readers import get_reader
from tokscope.readers.base import Source
from tokscope.readers.claude_code import MAIN_RANK, NATIVE_RANK

from tokscope.scan import frame_of

SONNET = "claude-sonnet-4-5-20250929"


def assistant(
    msg_id: str | None,
    req: str | None,
    *,
    inp: int = 0,
    out: int = 0,
    read: int = 0,
    write: int = 0,
    w5m: int | None = None,
    w1h: int | None = None,
    model: str = SONNET,
    ts: str = "2026-11-20T10:00:00.000Z",
    session: str = "s-main",
    cwd: str = "/home/alice/my.app",
    **extra: object,
) -> str:
    usage: dict = {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": read}
    if write:
        usage["cache_creation_input_tokens"] = write
    if w5m is not None or w1h is not None:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": w5m or 0, "ephemeral_1h_input_tokens": w1h or 0}
    message: dict = {"role": "assistant", "model": model, "content": [{"type": "text", "text": "ok"}], "usage": usage}
    if msg_id is not None:
        message["id"] = msg_id
    line: dict = {"type": "assistant", "timestamp": ts, "sessionId": session, "cwd": cwd, "message": message}
    if req is not None:
        line["requestId"] = req
    line.update(extra)
    return json.dumps(line)


def user(text: str = "please fix the tests", session: str = "s-main") -> str:
    return json.dumps(
        {"type": "user", "timestamp": "2026-11-20T09:59:59Z", "sessionId": session, "message": {"content": text}}
    )


PROJECT = "-home-alice-my-app"  # Claude Code's encoding of /home/alice/my.app


def write(home: Path, rel: str, *lines: str | bytes, root: str = ".claude/projects") -> Path:
    path = home / root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    path.write_bytes(data)
    return path


def read_all() -> pl.DataFrame:
    return frame_of([get_reader("claude-code")]).sort("ts", "event_key")


def sums(frame: pl.DataFrame) -> dict[str, int]:
    cols = ["input", "output", "cache_read", "cache_write_5m", "cache_write_1h"]
    return {c: int(frame[c].sum()) for c in cols} | {"turns": frame.height}


def test_streaming_copies_keep_the_most_complete(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        user(),
        assistant("msg_1", "req_1", inp=12, out=1, read=35120, write=2048),  # partial: output 1
        assistant("msg_1", "req_1", inp=12, out=480, read=35120, write=2048),  # complete
        assistant("msg_1", "req_1", inp=12, out=200, read=35120, write=2048),  # an out-of-order partial
    )
    frame = read_all()
    # one turn: 12 input, 480 output (the complete copy), 35120 read, 2048 written (no split: 5m)
    assert sums(frame) == {
        "input": 12,
        "output": 480,
        "cache_read": 35120,
        "cache_write_5m": 2048,
        "cache_write_1h": 0,
        "turns": 1,
    }


def test_resume_copies_in_another_file_count_once(home: Path) -> None:
    first = assistant("msg_a", "req_a", inp=10, out=100, read=1000)
    second = assistant("msg_b", "req_b", inp=20, out=200, read=2000, ts="2026-11-20T11:00:00Z")
    write(home, f"{PROJECT}/s-main.jsonl", user(), first)
    # the resumed session copies msg_a, then adds msg_b
    write(home, f"{PROJECT}/s-resumed.jsonl", first.replace("s-main", "s-resumed"), second)
    frame = read_all()
    # msg_a once (10+100+1000) and msg_b once (20+200+2000)
    assert sums(frame)["turns"] == 2
    assert sums(frame)["input"] == 30
    assert sums(frame)["output"] == 300
    assert sums(frame)["cache_read"] == 3000


@pytest.mark.parametrize("original_first", [True, False])
def test_a_resumed_copy_stays_with_its_original_session(home: Path, original_first: bool) -> None:
    from tokscope.ledger import Ledger
    from tokscope.scan import scan

    first = assistant("msg_a", "req_a", inp=10, out=100, session="s-main")
    files = [
        (f"{PROJECT}/s-main.jsonl", [user(), first]),
        # the resumed session's file carries msg_a along, still naming s-main
        (f"{PROJECT}/s-resumed.jsonl", [first, assistant("msg_b", "req_b", inp=1, out=2, session="s-resumed")]),
    ]
    for rel, lines in files if original_first else files[::-1]:
        write(home, rel, *lines)
        scan(readers=[get_reader("claude-code")], workers=1)
    frame = Ledger().frame()
    sessions = dict(zip(frame["event_key"].to_list(), frame["session_id"].cast(pl.String).to_list(), strict=True))
    assert sessions == {"msg_a": "s-main", "msg_b": "s-resumed"}
    assert int(frame["output"].sum()) == 102


def test_cache_write_split_5m_and_1h(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        # pricing.md example 1: 30,000 written = 10,000 5m + 20,000 1h
        assistant("msg_1", "req_1", inp=1200, out=2500, read=150000, write=30000, w5m=10000, w1h=20000),
        # split sums to less than the total: the unsplit 500 have unknown TTL -> 5m
        assistant("msg_2", "req_2", inp=1, out=1, write=1500, w5m=0, w1h=1000, ts="2026-11-20T10:01:00Z"),
        # split without the total
        assistant("msg_3", "req_3", inp=1, out=1, w5m=300, w1h=0, ts="2026-11-20T10:02:00Z"),
    )
    frame = read_all()
    assert frame["cache_write_5m"].to_list() == [10000, 500, 300]
    assert frame["cache_write_1h"].to_list() == [20000, 1000, 0]


def test_nested_subagent_attributed_to_parent_with_agent_name(home: Path) -> None:
    write(home, f"{PROJECT}/s-main.jsonl", user(), assistant("msg_main", "req_m", inp=5, out=50))
    sub = write(
        home,
        f"{PROJECT}/s-main/subagents/agent-a1b2.jsonl",
        assistant("msg_sub", "req_s", inp=7, out=70, session="s-main", isSidechain=True, agentId="a1b2"),
    )
    sub.with_name("agent-a1b2.meta.json").write_text('{"agentType": "code-reviewer"}')
    # orchestration journal: not usage
    write(home, f"{PROJECT}/s-main/subagents/journal.jsonl", assistant("msg_j", "req_j", inp=999, out=999))
    frame = read_all()
    by_key = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert set(by_key) == {"msg_main", "msg_sub"}
    assert by_key["msg_sub"]["session_id"] == "s-main"
    assert by_key["msg_sub"]["agent"] == "code-reviewer"
    assert by_key["msg_main"]["agent"] is None


def test_flat_subagent_takes_the_parent_session_from_its_lines(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/agent-77ff.jsonl",
        assistant("msg_flat", "req_f", inp=3, out=30, session="s-parent", isSidechain=True),
    )
    row = read_all().row(0, named=True)
    assert row["session_id"] == "s-parent"
    assert row["agent"] == "subagent"


def test_sidechain_replay_with_another_request_id_counts_once(home: Path) -> None:
    parent = assistant("msg_p", "req_parent", inp=100, out=400, read=50000)
    write(home, f"{PROJECT}/s-main.jsonl", user(), parent)
    # /btw side question: replays the parent's message under another requestId
    write(
        home,
        f"{PROJECT}/s-main/subagents/agent-btw1.jsonl",
        assistant("msg_p", "req_side", inp=100, out=400, read=52000, isSidechain=True),
        assistant("msg_btw", "req_side2", inp=9, out=90, isSidechain=True, ts="2026-11-20T10:05:00Z"),
    )
    frame = read_all()
    by_key = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert set(by_key) == {"msg_p", "msg_btw"}
    # the main-thread copy wins even though the replay reports more cache reads
    assert by_key["msg_p"]["cache_read"] == 50000
    assert by_key["msg_p"]["agent"] is None


def test_synthetic_lines_and_lines_without_usage_are_skipped(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        user('the word "usage" inside a user line'),
        assistant("msg_syn", "req_syn", inp=0, out=0, model="<synthetic>"),
        assistant("msg_ok", "req_ok", inp=1, out=2),
        json.dumps({"type": "summary", "summary": "usage notes", "leafUuid": "x"}),
    )
    assert read_all()["event_key"].to_list() == ["msg_ok"]


def test_legacy_cost_usd_is_the_source_cost(home: Path) -> None:
    write(home, f"{PROJECT}/s-main.jsonl", assistant("msg_1", "req_1", inp=10, out=10, costUSD=0.0123))
    assert read_all()["source_cost"].to_list() == [0.0123]


def test_fast_speed_and_priority_tier_are_kept(home: Path) -> None:
    fast = json.loads(assistant("msg_f", "req_f", inp=1, out=1))
    fast["message"]["usage"]["speed"] = "fast"
    prio = json.loads(assistant("msg_p", "req_p", inp=1, out=1, ts="2026-11-20T10:01:00Z"))
    prio["message"]["usage"]["service_tier"] = "priority"
    std = json.loads(assistant("msg_s", "req_s", inp=1, out=1, ts="2026-11-20T10:02:00Z"))
    std["message"]["usage"]["service_tier"] = "standard"
    write(home, f"{PROJECT}/s-main.jsonl", *(json.dumps(x) for x in (fast, prio, std)))
    assert read_all()["service_tier"].cast(pl.String).to_list() == ["fast", "priority", None]


def test_malformed_and_invalid_utf8_lines_lose_nothing_else(home: Path) -> None:
    good1 = assistant("msg_1", "req_1", inp=1, out=10)
    bad_utf8 = (
        assistant("msg_2", "req_2", inp=2, out=20, ts="2026-11-20T10:01:00Z").encode().replace(b'"ok"', b'"o\xffk"')
    )
    good3 = assistant("msg_3", "req_3", inp=3, out=30, ts="2026-11-20T10:02:00Z")
    path = write(
        home,
        f"{PROJECT}/s-main.jsonl",
        good1,
        b'{"type":"assistant","message":{"usage":{"input_tokens": 5',  # truncated JSON
        bad_utf8,  # a raw 0xff byte inside a string
        b'\x00\x01garbage \xfe "usage": 1',  # binary junk that passes the cheap check
        good3,
    )
    reader = get_reader("claude-code")
    result = reader.read(reader.discover([])[0], 0, {})
    assert [r.event_key for r in result.rows] == ["msg_1", "msg_2", "msg_3"]  # the bad byte is replaced, the line kept
    assert result.skipped == 2
    assert result.reasons == {"malformed line": 2}
    assert result.offset == path.stat().st_size


def test_workspace_is_the_real_project_path(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        # a cd into a subdirectory first: its encoding does not match the project dir
        assistant("msg_1", "req_1", inp=1, out=1, cwd="/home/alice/my.app/src"),
        assistant("msg_2", "req_2", inp=1, out=1, cwd="/home/alice/my.app", ts="2026-11-20T10:01:00Z"),
    )
    write(home, "-home-bob-x/s2.jsonl", assistant("msg_3", "req_3", inp=1, out=1, cwd=None, session="s2"))
    frame = read_all()
    workspaces = dict(zip(frame["event_key"].to_list(), frame["workspace"].cast(pl.String).to_list(), strict=True))
    assert workspaces["msg_2"] == "/home/alice/my.app"
    assert workspaces["msg_3"] == "/home/bob/x"  # no cwd recorded: decoded from the dir name


def test_lines_without_message_id_fall_back_to_request_id(home: Path) -> None:
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        assistant(None, "req_x", inp=1, out=5),
        assistant(None, "req_x", inp=1, out=9),
        assistant(None, None, inp=4, out=4, uuid="line-7", ts="2026-11-20T10:01:00Z"),
    )
    frame = read_all()
    assert frame["event_key"].to_list() == ["req:req_x", "uuid:line-7"]
    assert frame["output"].to_list() == [9, 4]


def test_claude_config_dir_replaces_the_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home, f"{PROJECT}/s-default.jsonl", assistant("msg_default", "r", inp=1, out=1))
    write(home, "work/projects/-p/s.jsonl", assistant("msg_work", "r", inp=1, out=1), root="")
    write(home, "other-config/projects/-q/s.jsonl", assistant("msg_other", "r", inp=1, out=1), root="")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{home}/work/projects, {home}/other-config")
    assert sorted(read_all()["event_key"].to_list()) == ["msg_other", "msg_work"]


def test_xdg_config_location_is_read_too(home: Path) -> None:
    write(home, "-p/s.jsonl", assistant("msg_xdg", "r", inp=1, out=1), root=".config/claude/projects")
    write(home, "-p/s.jsonl", assistant("msg_home", "r", inp=1, out=1))
    assert sorted(read_all()["event_key"].to_list()) == ["msg_home", "msg_xdg"]


def test_agent_progress_lines_collapse_with_the_subagent_file(home: Path) -> None:
    nested = {
        "type": "progress",
        "timestamp": "2026-11-20T10:00:03Z",
        "sessionId": "s-main",
        "data": {
            "message": {
                "timestamp": "2026-11-20T10:00:02Z",
                "requestId": "req_sub",
                "message": {"id": "msg_sub", "model": SONNET, "usage": {"input_tokens": 4, "output_tokens": 40}},
            }
        },
    }
    write(home, f"{PROJECT}/s-main.jsonl", user(), json.dumps(nested))
    frame = read_all()
    assert frame["event_key"].to_list() == ["msg_sub"]
    assert frame["agent"].cast(pl.String).to_list() == ["subagent"]
    write(
        home,
        f"{PROJECT}/s-main/subagents/agent-9.jsonl",
        assistant("msg_sub", "req_sub", inp=4, out=40, isSidechain=True),
    )
    assert read_all().height == 1


def test_counts_written_as_floats_or_strings_still_count(home: Path) -> None:
    line = json.loads(assistant("msg_1", "req_1"))
    line["message"]["usage"] = {"input_tokens": 12.0, "output_tokens": "7", "cache_read_input_tokens": None}
    write(home, f"{PROJECT}/s-main.jsonl", json.dumps(line))
    assert sums(read_all()) == {
        "input": 12,
        "output": 7,
        "cache_read": 0,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "turns": 1,
    }


def test_lines_without_any_id_count_once_per_content_and_time(home: Path) -> None:
    # Older or third-party transcripts carry no message.id, requestId or uuid: still real turns.
    bare = assistant(None, None, inp=3, out=30, read=100, ts="2026-11-20T10:02:00Z")
    write(home, f"{PROJECT}/s-main.jsonl", bare, assistant(None, None, inp=3, out=31, ts="2026-11-20T10:03:00Z"))
    write(home, f"{PROJECT}/s-resumed.jsonl", bare)  # the same line copied into a resumed session
    frame = read_all()
    assert sums(frame) == {
        "input": 6,
        "output": 61,
        "cache_read": 100,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "turns": 2,
    }


def test_second_config_dirs_are_found_without_claude_config_dir(home: Path) -> None:
    write(home, "-p/s.jsonl", assistant("msg_home", "r", inp=1, out=1))
    write(home, "-p/s.jsonl", assistant("msg_work", "r", inp=1, out=1), root=".claude-work/projects")
    write(home, "-p/s.jsonl", assistant("msg_not", "r", inp=1, out=1), root=".claude-backup.d/other")
    assert sorted(read_all()["event_key"].to_list()) == ["msg_home", "msg_work"]


def test_a_fifo_in_place_of_a_subagent_meta_file_does_not_hang(home: Path) -> None:
    import os
    import threading

    sub = write(home, f"{PROJECT}/s-main/subagents/agent-f1.jsonl", assistant("msg_f", "r", inp=2, out=2))
    os.mkfifo(sub.with_name("agent-f1.meta.json"))
    found: list[pl.DataFrame] = []
    worker = threading.Thread(target=lambda: found.append(read_all()), daemon=True)
    worker.start()
    worker.join(10)
    assert found, "reading a transcript beside a FIFO hung"
    assert found[0]["agent"].cast(pl.String).to_list() == ["subagent"]


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    from tokscope.readers.base import Source

    line = json.loads(assistant("msg_big", "r", out=1))
    line["message"]["usage"]["input_tokens"] = huge
    path = write(home, f"{PROJECT}/s-main.jsonl", json.dumps(line), assistant("msg_ok", "r", inp=5, out=5))
    result = get_reader("claude-code").read(Source("claude-code", path), 0, {})
    by_key = {r.event_key: r for r in result.rows}
    assert by_key["msg_big"].input >= 2**63 - 1  # passed through: the scan rejects it with a reason
    assert (by_key["msg_ok"].input, by_key["msg_ok"].output) == (5, 5)


def test_advisor_iterations_are_their_own_rows(home: Path) -> None:
    # usage.iterations[]: "advisor_message" entries are calls to another model inside the same response;
    # the top-level usage excludes them (formats.md §1). Each counts once, under its own model.
    line = json.loads(assistant("msg_adv", "req_adv", inp=4, out=40, read=1000))
    line["message"]["usage"]["iterations"] = [
        {"type": "message", "input_tokens": 2, "output_tokens": 20, "cache_read_input_tokens": 500},
        {"type": "advisor_message", "model": "claude-opus-4-5", "input_tokens": 3000, "output_tokens": 300},
        {"type": "message", "input_tokens": 2, "output_tokens": 20, "cache_read_input_tokens": 500},
        {"type": "advisor_message", "input_tokens": 9, "output_tokens": 9},  # no model: not a priced call
    ]
    streamed = json.loads(json.dumps(line))
    streamed["message"]["usage"]["output_tokens"] = 1  # an earlier, partial copy of the same response
    write(home, f"{PROJECT}/s-main.jsonl", json.dumps(streamed), json.dumps(line))
    frame = read_all()
    rows = {r["event_key"]: r for r in frame.to_dicts()}
    assert set(rows) == {"msg_adv", "msg_adv:advisor:0"}
    assert (rows["msg_adv"]["input"], rows["msg_adv"]["output"], rows["msg_adv"]["cache_read"]) == (4, 40, 1000)
    advisor = rows["msg_adv:advisor:0"]
    assert (advisor["model"], advisor["input"], advisor["output"]) == ("claude-opus-4-5", 3000, 300)
    assert advisor["session_id"] == "s-main"


def test_every_field_of_a_row_by_name(home: Path) -> None:
    # The hot path builds rows positionally: each field lands where its name says.
    line = json.loads(assistant("msg_all", "req_all", inp=1, out=2, read=3, write=9, w5m=4, w1h=5, costUSD=0.25))
    line["message"]["usage"]["speed"] = "fast"
    path = write(home, f"{PROJECT}/s-main.jsonl", json.dumps(line))
    (row,) = get_reader("claude-code").read(Source("claude-code", path), 0, {}).rows
    assert msgspec.structs.asdict(row) == {
        "client": "claude-code",
        "provider": "anthropic",
        "model": SONNET,
        "workspace": "/home/alice/my.app",
        "session_id": "s-main",
        "agent": None,
        "event_key": "msg_all",
        "ts": 1795168800000000,
        "input": 1,
        "output": 2,
        "reasoning": 0,
        "cache_read": 3,
        "cache_write_5m": 4,
        "cache_write_1h": 5,
        "source_cost": 0.25,
        "service_tier": "fast",
        "rank": 1 + 2 + 3 + 4 + 5 + MAIN_RANK + NATIVE_RANK,
        "account": "",  # the scan worker stamps it per source (tokscope.accounts)
    }
