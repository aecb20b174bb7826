"""Codex / Every Code reader: every trap of formats.md §2 on small hand-made rollouts."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.scan import frame_of

U = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def meta(sid: str = "thread-1", ts: str = "2026-11-20T09:00:00.000Z", **payload: object) -> str:
    body = {"id": sid, "cwd": "/home/alice/api", "source": "cli", "model_provider": "openai", **payload}
    return json.dumps({"timestamp": ts, "type": "session_meta", "payload": body})


def turn(model: str = "gpt-5.3-codex", ts: str = "2026-11-20T09:00:01.000Z", **payload: object) -> str:
    return json.dumps({"timestamp": ts, "type": "turn_context", "payload": {"model": model, **payload}})


def count(ts: str, total: tuple[int, ...] | None, last: tuple[int, ...] | None) -> str:
    info = None
    if total is not None or last is not None:
        info = {}
        if total is not None:
            info["total_token_usage"] = dict(zip(U, total, strict=True))
        if last is not None:
            info["last_token_usage"] = dict(zip(U, last, strict=True))
    return json.dumps({"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}})


def transcript(ts: str = "2026-11-20T09:00:05.000Z") -> str:
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "token_count"}]}
    return json.dumps({"timestamp": ts, "type": "response_item", "payload": item})


def write(home: Path, rel: str, *lines: str, root: str = ".codex") -> Path:
    path = home / root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def read_all(client: str = "codex") -> pl.DataFrame:
    return frame_of([get_reader(client)]).sort("ts")


def test_deltas_cached_and_reasoning_subsets(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-a.jsonl",
        meta(),
        turn(),
        transcript(),
        # formats.md example: last = 12500 in (11000 cached), 400 out (256 reasoning)
        count("2026-11-20T09:00:09.000Z", (24000, 20000, 900, 512), (12500, 11000, 400, 256)),
    )
    row = read_all().row(0, named=True)
    # uncached 12500 - 11000 = 1500; output 400 incl. reasoning 256 (never added again)
    assert (row["input"], row["cache_read"], row["output"], row["reasoning"]) == (1500, 11000, 400, 256)
    assert row["model"] == "gpt-5.3-codex"
    assert row["provider"] == "openai"
    assert row["workspace"] == "/home/alice/api"
    assert row["session_id"] == "thread-1"


def test_last_that_does_not_explain_the_total_uses_the_difference(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-b.jsonl",
        meta(),
        turn(),
        count("2026-11-20T09:00:09.000Z", (1000, 500, 100, 0), (1000, 500, 100, 0)),
        # a zero estimate as last, while the total moved by (2000, 1500, 300, 100)
        count("2026-11-20T09:01:00.000Z", (3000, 2000, 400, 100), (0, 0, 0, 0)),
        # total missing `last`: the difference again, (500, 500, 50, 0)
        count("2026-11-20T09:02:00.000Z", (3500, 2500, 450, 100), None),
    )
    frame = read_all()
    assert frame["input"].to_list() == [500, 500, 0]
    assert frame["cache_read"].to_list() == [500, 1500, 500]
    assert frame["output"].to_list() == [100, 300, 50]
    assert frame["reasoning"].to_list() == [0, 100, 0]


def test_repeated_token_count_and_null_info_count_nothing(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-c.jsonl",
        meta(),
        turn(),
        count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
        count("2026-11-20T09:00:10.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),  # written again
        count("2026-11-20T09:00:11.000Z", None, None),  # info: null (rate limits only)
        count("2026-11-20T09:00:12.000Z", (0, 0, 0, 0), (0, 0, 0, 0)),  # a zero snapshot
        count("2026-11-20T09:00:20.000Z", (1500, 0, 30, 0), (500, 0, 20, 0)),
    )
    frame = read_all()
    assert frame["input"].to_list() == [1000, 500]
    assert frame["output"].to_list() == [10, 20]


def test_a_stale_out_of_order_snapshot_is_skipped(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-d.jsonl",
        meta(),
        turn(),
        count("2026-11-20T09:00:01.000Z", (100000, 0, 1000, 0), (100000, 0, 1000, 0)),
        count("2026-11-20T09:00:02.000Z", (99500, 0, 1000, 0), (99500, 0, 1000, 0)),  # 99.5 %: stale
        count("2026-11-20T09:00:03.000Z", (101000, 0, 1100, 0), (1000, 0, 100, 0)),
    )
    assert read_all()["input"].to_list() == [100000, 1000]


def test_a_resumed_file_starts_from_last_not_the_carried_total(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/21/rollout-resumed.jsonl",
        meta(sid="thread-r", ts="2026-11-21T08:00:00.000Z"),
        turn(ts="2026-11-21T08:00:01.000Z"),
        count("2026-11-21T08:00:09.000Z", (900000, 800000, 9000, 0), (20000, 15000, 200, 50)),
    )
    row = read_all().row(0, named=True)
    assert (row["input"], row["cache_read"], row["output"]) == (5000, 15000, 200)


def test_fork_replay_is_not_counted(home: Path) -> None:
    parent = [
        meta(sid="parent"),
        turn(),
        count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
        count("2026-11-20T09:05:00.000Z", (3000, 1000, 30, 0), (2000, 1000, 20, 0)),
    ]
    write(home, "sessions/2026/11/20/rollout-parent.jsonl", *parent)
    write(
        home,
        "sessions/2026/11/22/rollout-child.jsonl",
        meta(sid="child", ts="2026-11-22T14:00:00.000Z", forked_from_id="parent"),
        # the parent's events replayed, re-stamped with the child's time
        count("2026-11-22T14:00:00.100Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
        count("2026-11-22T14:00:00.200Z", (3000, 1000, 30, 0), (2000, 1000, 20, 0)),
        turn(ts="2026-11-22T14:00:30.000Z"),
        count("2026-11-22T14:01:00.000Z", (7000, 4000, 70, 0), (4000, 3000, 40, 0)),
    )
    frame = read_all()
    # parent: 1000 + 2000 input-ish; the child's only own turn: (4000 in, 3000 cached, 40 out)
    assert frame["session_id"].cast(pl.String).to_list() == ["parent", "parent", "child"]
    assert frame["input"].to_list() == [1000, 1000, 1000]
    assert frame["cache_read"].to_list() == [0, 1000, 3000]
    assert int(frame["output"].sum()) == 10 + 20 + 40


def test_subagent_replay_in_the_same_second_is_not_counted(home: Path) -> None:
    source = {"subagent": {"thread_spawn": {"parent_thread_id": "parent", "agent_role": "explorer", "depth": 1}}}
    write(
        home,
        "sessions/2026/11/20/rollout-sub.jsonl",
        meta(sid="sub", ts="2026-11-20T10:00:00.000Z", source=source),
        turn(ts="2026-11-20T10:00:00.100Z"),  # the replay may hold the parent's turn_context too
        count("2026-11-20T10:00:00.300Z", (5000, 0, 50, 0), (5000, 0, 50, 0)),  # replayed, same second
        turn(ts="2026-11-20T10:00:04.000Z"),
        count("2026-11-20T10:00:09.000Z", (5600, 100, 60, 0), (600, 100, 10, 0)),
    )
    row = read_all().row(0, named=True)
    assert read_all().height == 1
    assert (row["input"], row["cache_read"], row["output"]) == (500, 100, 10)
    assert row["agent"] == "explorer"


def test_model_comes_from_the_latest_turn_context(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-m.jsonl",
        meta(),
        count("2026-11-20T09:00:00.500Z", (10, 0, 1, 0), (10, 0, 1, 0)),  # before any model: unknown
        turn(model="gpt-5.3-codex"),
        count("2026-11-20T09:00:09.000Z", (110, 0, 2, 0), (100, 0, 1, 0)),
        turn(model="gpt-5.5", ts="2026-11-20T09:01:00.000Z"),
        count("2026-11-20T09:01:09.000Z", (1110, 0, 3, 0), (1000, 0, 1, 0)),
    )
    assert read_all()["model"].cast(pl.String).to_list() == ["unknown", "gpt-5.3-codex", "gpt-5.5"]


def test_a_session_crossing_midnight_splits_by_event_day(home: Path) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-night.jsonl",
        meta(ts="2026-11-20T23:50:00.000Z"),
        turn(ts="2026-11-20T23:50:01.000Z"),
        count("2026-11-20T23:59:00.000Z", (100, 0, 1, 0), (100, 0, 1, 0)),
        count("2026-11-21T00:01:00.000Z", (300, 0, 2, 0), (200, 0, 1, 0)),
    )
    days = read_all()["ts"].dt.date().cast(pl.String).to_list()
    assert days == ["2026-11-20", "2026-11-21"]


def test_archived_copy_counts_once(home: Path) -> None:
    lines = [meta(), turn(), count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0))]
    write(home, "sessions/2026/11/20/rollout-x.jsonl", *lines)
    write(home, "archived_sessions/rollout-x.jsonl", *lines)
    assert read_all().height == 1


def test_cache_write_input_tokens_is_inside_input(home: Path) -> None:
    line = json.loads(count("2026-11-20T09:00:09.000Z", (1000, 600, 10, 0), (1000, 600, 10, 0)))
    for usage in line["payload"]["info"].values():
        usage["cache_write_input_tokens"] = 300
    write(home, "sessions/2026/11/20/rollout-w.jsonl", meta(), turn(), json.dumps(line))
    row = read_all().row(0, named=True)
    # 1000 input = 600 cached + 300 written + 100 uncached
    assert (row["input"], row["cache_read"], row["cache_write_5m"]) == (100, 600, 300)


def test_every_code_home_is_its_own_client(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [meta(), turn(), count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0))]
    write(home, "sessions/2026/11/20/rollout-e.jsonl", *lines, root=".code")
    assert read_all("every-code")["client"].cast(pl.String).to_list() == ["every-code"]
    assert read_all("codex").height == 0
    monkeypatch.setenv("CODE_HOME", str(home / "elsewhere"))
    write(home, "sessions/rollout-f.jsonl", *lines, root="elsewhere")
    assert read_all("every-code")["session_id"].to_list() == ["thread-1"]


def test_codex_home_comma_list(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = [meta(sid="a"), turn(), count("2026-11-20T09:00:09.000Z", (1, 0, 1, 0), (1, 0, 1, 0))]
    two = [meta(sid="b"), turn(), count("2026-11-20T09:00:09.000Z", (2, 0, 2, 0), (2, 0, 2, 0))]
    write(home, "sessions/r1.jsonl", *one, root="h1")
    write(home, "sessions/r2.jsonl", *two, root="h2")
    monkeypatch.setenv("CODEX_HOME", f"{home}/h1,{home}/h2")
    assert sorted(read_all()["session_id"].cast(pl.String).to_list()) == ["a", "b"]


def test_incremental_reads_continue_the_running_total(home: Path) -> None:
    path = write(
        home,
        "sessions/2026/11/20/rollout-i.jsonl",
        meta(),
        turn(),
        count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
    )
    reader = get_reader("codex")
    source = reader.discover([])[0]
    first = reader.read(source, 0, {})
    with path.open("a") as fh:
        # `last` missing: only the saved running total can give the delta
        fh.write(count("2026-11-20T09:01:00.000Z", (1600, 100, 15, 0), None) + "\n")
    second = reader.read(source, first.offset, first.state)
    assert [(r.input, r.output, r.cache_read) for r in second.rows] == [(500, 5, 100)]


# --- child rollouts (issue 11 item 1): subagents and forks --------------------------------------

SPAWN = {"subagent": {"thread_spawn": {"parent_thread_id": "parent-session", "depth": 1}}}


def at(second: str) -> str:
    return f"2026-05-05T21:51:{second}Z"


def own_usage(frame: pl.DataFrame) -> list[tuple[int, int, int, int]]:
    return list(zip(frame["input"], frame["cache_read"], frame["output"], frame["reasoning"], strict=True))


def test_copied_ancestor_meta_keeps_the_childs_identity_and_the_replay_is_not_counted(home: Path) -> None:
    # tokscale codex.rs test_forked_child_ignores_inherited_records_before_turn_context (our fixture)
    write(
        home,
        "sessions/2026/05/05/rollout-child.jsonl",
        meta(
            sid="child-session",
            ts=at("57.991"),
            forked_from_id="parent-session",
            source=SPAWN,
            model_provider="openai",
            agent_nickname="worker",
            cwd="/repo-child",
        ),
        meta(sid="parent-session", ts=at("57.992"), source="cli", model_provider="azure", cwd="/repo-parent"),
        count(at("57.994"), (116000, 114000, 1000, 0), (73000, 72000, 500, 0)),  # the parent's, replayed
        turn(model="gpt-5.5", ts=at("58.947")),
        count(at("58.948"), (116000, 114000, 1000, 0), (73000, 72000, 500, 0)),  # the baseline again
        count(at("59.253"), (117500, 115000, 1200, 50), (1500, 1000, 200, 50)),
    )
    frame = read_all()
    # 1,700 tokens: 500 uncached + 1,000 cached + 200 output (50 of it reasoning); the replayed 73,500 not again
    assert own_usage(frame) == [(500, 1000, 200, 50)]
    row = frame.row(0, named=True)
    assert (row["provider"], row["workspace"], row["model"]) == ("openai", "/repo-child", "gpt-5.5")


def test_subagent_turns_carry_the_parent_session_and_forks_their_own(home: Path) -> None:
    """The rule (design.md, ``session_id``: subagent turns carry the parent's): a ``thread_spawn``
    subagent's turns go to the session of the interactive thread that spawned it (through nested
    subagents), tagged with its role in ``agent``; a fork (``forked_from_id`` alone, user ``/fork``)
    is a thread of its own and keeps its own id. Keys stay the thread's own (two subagents never merge)."""
    nested = {"subagent": {"thread_spawn": {"parent_thread_id": "mid", "depth": 2, "agent_role": "explorer"}}}
    mid = {"subagent": {"thread_spawn": {"parent_thread_id": "root", "depth": 1, "agent_role": "worker"}}}
    write(
        home,
        "sessions/2026/05/05/rollout-nested.jsonl",
        meta(sid="leaf", ts=at("10.000"), source=nested, agent_nickname="Curie"),
        meta(sid="mid", ts=at("10.001"), source=mid),
        meta(sid="root", ts=at("10.002")),
        count(at("10.003"), (1000, 0, 10, 0), (1000, 0, 10, 0)),
        turn(ts=at("12.000")),
        count(at("13.000"), (1100, 0, 12, 0), (100, 0, 2, 0)),
    )
    write(
        home,
        "sessions/2026/05/05/rollout-fork.jsonl",
        meta(sid="fork", ts=at("20.000"), forked_from_id="root"),
        meta(sid="root", ts=at("20.001")),
        count(at("20.003"), (1000, 0, 10, 0), (1000, 0, 10, 0)),
        turn(ts=at("22.000")),
        count(at("23.000"), (1300, 0, 13, 0), (300, 0, 3, 0)),
    )
    frame = read_all()
    got = list(zip(frame["session_id"].cast(pl.String), frame["agent"].cast(pl.String), frame["input"], strict=True))
    # the random agent_nickname ("Curie") is not a role: the role names the agent
    assert got == [("root", "explorer", 100), ("fork", None, 300)]


def test_a_replayed_parent_turn_context_does_not_end_the_replay(home: Path) -> None:
    # tokscale codex.rs test_user_forked_child_counts_own_turn_after_parent_replay (our fixture):
    # turn ids are UUIDv7, so a turn minted before the child thread is the parent's
    child, parent = "22222222-2222-7222-8222-222222222222", "11111111-1111-7111-8111-111111111111"
    write(
        home,
        "sessions/2026/01/02/rollout-userfork.jsonl",
        meta(sid=child, ts="2026-01-02T03:10:00.000Z", forked_from_id=parent, source="vscode", thread_source="user"),
        meta(sid=parent, ts="2026-01-02T03:10:00.001Z", source="vscode"),
        turn(ts="2026-01-02T03:10:00.100Z", turn_id="11111111-3333-7333-8333-333333333333"),
        count("2026-01-02T03:10:00.200Z", (1000, 400, 100, 0), (1000, 400, 100, 0)),
        turn(ts="2026-01-02T03:10:30.100Z", turn_id="22222222-4444-7444-8444-444444444444"),
        meta(sid=child, ts="2026-01-02T03:10:30.200Z", forked_from_id=parent, source="vscode"),  # written again
        count("2026-01-02T03:10:31.100Z", (1250, 450, 120, 0), (250, 50, 20, 0)),
    )
    frame = read_all()
    assert own_usage(frame) == [(200, 50, 20, 0)]
    assert frame["session_id"].cast(pl.String).to_list() == [child]


def test_totals_within_the_inherited_baseline_are_replay(home: Path) -> None:
    # tokscale codex.rs test_forked_child_ignores_replayed_parent_rows_after_turn_context (our fixture)
    write(
        home,
        "sessions/2026/05/05/rollout-within.jsonl",
        meta(sid="child-session", ts=at("57.991"), forked_from_id="parent-session", source=SPAWN),
        count(at("57.994"), (300, 0, 30, 0), (300, 0, 30, 0)),
        turn(model="gpt-5.5", ts=at("58.947")),
        count(at("58.948"), (50, 0, 5, 0), (50, 0, 5, 0)),  # replayed again, within the baseline
        count(at("58.949"), (300, 0, 30, 0), (250, 0, 25, 0)),
        count(at("59.253"), (310, 0, 32, 0), (10, 0, 2, 0)),
    )
    assert own_usage(read_all()) == [(10, 0, 2, 0)]


def test_after_the_burst_a_snapshot_within_the_baseline_is_replay_and_a_fresh_count_is_not(home: Path) -> None:
    write(
        home,
        "sessions/2026/05/05/rollout-late.jsonl",
        meta(sid="late", ts=at("00.000"), source=SPAWN),
        count(at("00.500"), (1000, 0, 10, 0), (400, 0, 4, 0)),
        turn(ts=at("05.000")),
        count(at("06.000"), (800, 0, 8, 0), (300, 0, 3, 0)),  # a parent snapshot written late
        count(at("07.000"), (1100, 0, 11, 0), (100, 0, 1, 0)),
    )
    # ccusage loader.rs skips_replayed_parent_token_history_in_thread_spawn_subagent_files (our fixture):
    # a thread counting from zero (total == last) below the inherited baseline is its own usage
    write(
        home,
        "sessions/2026/05/12/rollout-fresh.jsonl",
        meta(sid="fresh", ts="2026-05-12T08:03:00.000Z", source=SPAWN),
        meta(sid="parent-session", ts="2026-05-12T08:03:00.000Z"),
        count("2026-05-12T08:03:00.000Z", (1000, 100, 200, 0), (1000, 100, 200, 0)),
        count("2026-05-12T08:03:00.000Z", (1500, 150, 300, 0), (500, 50, 100, 0)),
        count("2026-05-12T08:04:00.000Z", (100, 10, 20, 0), (100, 10, 20, 0)),
        count("2026-05-12T08:05:00.000Z", (150, 15, 30, 0), (50, 5, 10, 0)),
    )
    assert own_usage(read_all()) == [(100, 0, 1, 0), (90, 10, 20, 0), (45, 5, 10, 0)]


def with_model(line: str, model: str) -> str:
    data = json.loads(line)
    data["payload"]["info"]["model"] = model
    return json.dumps(data)


def test_a_child_without_turn_context_still_has_its_own_usage(home: Path) -> None:
    # ccusage loader.rs keeps_cumulative_baseline_when_skipping_subagent_replay (our fixture)
    write(
        home,
        "sessions/2026/05/12/rollout-noturn.jsonl",
        meta(sid="subagent-abc", ts="2026-05-12T08:03:00.000Z", source=SPAWN),
        count("2026-05-12T08:03:00.000Z", (1000, 100, 200, 0), None),
        count("2026-05-12T08:03:00.000Z", (1500, 150, 300, 0), None),
        with_model(count("2026-05-12T08:04:00.000Z", (1600, 160, 320, 0), None), "gpt-5.2"),
    )
    frame = read_all()
    assert own_usage(frame) == [(90, 10, 20, 0)]
    assert frame["model"].cast(pl.String).to_list() == ["gpt-5.2"]


def test_a_child_read_in_pieces_equals_one_read(home: Path) -> None:
    lines = [
        meta(sid="child-session", ts=at("57.991"), forked_from_id="parent-session", source=SPAWN),
        meta(sid="parent-session", ts=at("57.992")),
        count(at("57.994"), (300, 0, 30, 0), (300, 0, 30, 0)),
        turn(model="gpt-5.5", ts=at("58.947")),
        count(at("59.253"), (310, 0, 32, 0), (10, 0, 2, 0)),
        count(at("59.900"), (330, 0, 33, 0), (20, 0, 1, 0)),
    ]
    path = write(home, "sessions/2026/05/05/rollout-pieces.jsonl", *lines[:3])
    reader = get_reader("codex")
    source = reader.discover([])[0]
    rows, offset, state = [], 0, {}
    for line in lines[3:]:
        result = reader.read(source, offset, json.loads(json.dumps(state)))  # the state survives JSON
        rows += result.rows
        offset, state = result.offset, result.state
        with path.open("a") as fh:
            fh.write(line + "\n")
    rows += reader.read(source, offset, state).rows
    whole = reader.read(source, 0, {}).rows
    assert rows == whole
    assert [(r.session_id, r.input, r.output) for r in whole] == [("parent-session", 10, 2), ("parent-session", 20, 1)]


# --- smaller shapes (issue 11 item 2) ----------------------------------------------------------


def test_numeric_epoch_ms_timestamps_count(home: Path) -> None:
    # ccusage loader.rs loads_session_usage_with_numeric_timestamp (our fixture)
    line = json.loads(count("x", (100, 10, 50, 0), (100, 10, 50, 0)))
    line["timestamp"] = 1767312001000
    write(home, "sessions/2026/01/02/rollout-ms.jsonl", meta(ts="2026-01-02T00:00:00.000Z"), turn(), json.dumps(line))
    frame = read_all()
    assert frame["ts"].dt.to_string("%Y-%m-%dT%H:%M:%S").to_list() == ["2026-01-02T00:00:01"]
    assert own_usage(frame) == [(90, 10, 50, 0)]


def test_model_info_slug_names_the_model(home: Path) -> None:
    slug = json.dumps(
        {
            "timestamp": "2026-11-20T09:00:01.000Z",
            "type": "turn_context",
            "payload": {"model_info": {"slug": "gpt-5.4"}},
        }
    )
    write(
        home,
        "sessions/2026/11/20/rollout-slug.jsonl",
        meta(),
        slug,
        count("2026-11-20T09:00:09.000Z", (10, 0, 1, 0), None),
    )
    assert read_all()["model"].cast(pl.String).to_list() == ["gpt-5.4"]


def test_a_branch_without_session_meta_does_not_count_the_copied_parent_line_again(home: Path) -> None:
    # ccusage loader.rs dedupes_copied_branch_history_across_session_files (our fixture): neither file
    # has a session_meta; the branch begins with a byte-identical copy of the parent's lines
    parent = [
        turn(model="gpt-5.2", ts="2026-05-12T08:00:00.000Z"),
        count("2026-05-12T08:01:00.000Z", (1000, 100, 200, 20), None),
    ]
    write(home, "sessions/2026/05/12/rollout-2026-05-12T08-00-00-parent.jsonl", *parent)
    write(
        home,
        "sessions/2026/05/12/rollout-2026-05-12T08-02-00-branch.jsonl",
        *parent,
        count("2026-05-12T08:02:00.000Z", (1600, 300, 450, 40), None),
    )
    assert own_usage(read_all()) == [(900, 100, 200, 20), (400, 200, 250, 20)]


def test_a_line_nested_1000_deep_costs_one_line(home: Path) -> None:
    deep = (
        '{"timestamp":"2026-11-20T09:00:05.000Z","type":"session_meta","payload":{"source":'
        + "[" * 1000
        + "]" * 1000
        + "}}"
    )
    path = write(
        home,
        "sessions/2026/11/20/rollout-deep.jsonl",
        meta(),
        turn(),
        deep,
        count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
    )
    reader = get_reader("codex")
    result = reader.read(reader.discover([])[0], 0, {})
    assert [(r.input, r.output) for r in result.rows] == [(1000, 10)]
    assert (result.skipped, result.reasons) == (1, {"malformed line": 1})
    assert path.read_bytes().count(b"\n") == 4


def test_readers_declare_their_environment() -> None:
    assert get_reader("codex").env == ("CODEX_HOME",)
    assert get_reader("every-code").env == ("CODE_HOME",)


def settings(ts: str, **thread_settings: object) -> str:
    payload = {"type": "thread_settings_applied", "thread_settings": thread_settings}
    return json.dumps({"timestamp": ts, "type": "event_msg", "payload": payload})


def test_the_service_tier_comes_from_thread_settings_applied_and_sticks_until_changed(home: Path) -> None:
    # tokscale codex.rs CodexThreadSettings: the thread-scoped snapshot is where Codex writes the tier
    write(
        home,
        "sessions/2026/11/20/rollout-tier.jsonl",
        meta(),
        settings("2026-11-20T09:00:00.500Z", service_tier="priority", model="gpt-5.5"),
        turn(),
        count("2026-11-20T09:00:09.000Z", (1000, 0, 10, 0), (1000, 0, 10, 0)),
        turn(ts="2026-11-20T09:01:00.000Z"),  # a new turn does not end the thread's tier
        count("2026-11-20T09:01:09.000Z", (2000, 0, 20, 0), (1000, 0, 10, 0)),
        settings("2026-11-20T09:02:00.000Z", service_tier="default"),
        count("2026-11-20T09:02:09.000Z", (3000, 0, 30, 0), (1000, 0, 10, 0)),
    )
    assert read_all()["service_tier"].to_list() == ["priority", "priority", None]


def test_codex_started_threads_name_their_kind_as_the_agent(home: Path) -> None:
    # tokscale codex.rs: source.subagent is also {"other": "guardian"} or a plain string ("review")
    for sid, source in (("g", {"subagent": {"other": "guardian"}}), ("r", {"subagent": "review"})):
        write(
            home,
            f"sessions/2026/11/20/rollout-{sid}.jsonl",
            meta(sid=sid, source=source),
            turn(ts="2026-11-20T09:00:05.000Z"),
            count("2026-11-20T09:00:09.000Z", (100, 0, 1, 0), (100, 0, 1, 0)),
        )
    frame = read_all().sort("session_id")
    assert list(zip(frame["session_id"], frame["agent"], strict=True)) == [("g", "guardian"), ("r", "review")]


CASES = Path(__file__).parent / "conformance" / "codex"


@pytest.mark.parametrize("rollout", sorted(CASES.rglob("*.jsonl")), ids=lambda p: p.relative_to(CASES).parts[0])
def test_every_conformance_rollout_read_line_by_line_equals_one_read(home: Path, rollout: Path) -> None:
    lines = rollout.read_bytes().splitlines(keepends=True)
    path = home / ".codex" / "sessions" / rollout.name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    reader = get_reader("codex")
    source = reader.discover([])[0]
    rows, offset, state = [], 0, {}
    for line in lines:
        with path.open("ab") as fh:
            fh.write(line)
        result = reader.read(source, offset, json.loads(json.dumps(state)))
        rows += result.rows
        offset, state = result.offset, result.state
    assert rows == reader.read(source, 0, {}).rows


def test_a_state_saved_by_the_previous_reader_continues_with_the_same_keys(home: Path) -> None:
    path = write(home, "sessions/2026/11/20/rollout-old.jsonl", meta(sid="t-old"), turn())
    reader = get_reader("codex")
    source = reader.discover([])[0]
    offset = path.stat().st_size
    old_state = {"session": "t-old", "cwd": "/w", "provider": "openai", "model": "gpt-5.3-codex"}
    old_state |= {"prev": [100, 0, 1, 0, 0], "parent": None, "agent": None}
    old_state |= {"meta_second": "2026-11-20T09:00:00", "turn_seen": True}
    with path.open("a") as fh:
        fh.write(count("2026-11-20T09:01:00.000Z", (300, 0, 3, 0), (200, 0, 2, 0)) + "\n")
    continued = reader.read(source, offset, old_state).rows
    whole = [r for r in reader.read(source, 0, {}).rows if r.ts == continued[0].ts]
    assert [(r.event_key, r.input, r.session_id) for r in continued] == [(whole[0].event_key, 200, "t-old")]


def test_counts_written_as_strings_or_floats_count_and_negatives_are_zero(home: Path) -> None:
    line = json.loads(count("2026-11-20T09:00:09.000Z", None, (0, 0, 0, 0)))
    usage = {"input_tokens": "1200", "cached_input_tokens": 200.0, "output_tokens": -4}
    line["payload"]["info"]["last_token_usage"] = usage
    write(home, "sessions/2026/11/20/rollout-lenient.jsonl", meta(), turn(), json.dumps(line))
    assert own_usage(read_all()) == [(1000, 200, 0, 0)]
