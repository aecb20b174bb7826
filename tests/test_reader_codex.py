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
    assert [(r[8], r[9], r[11]) for r in second.rows] == [(500, 5, 100)]
