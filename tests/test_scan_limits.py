"""Plausibility limits at the scan: an out-of-range value costs its own row (counted, with a reason),
never the scan, and never reaches a total."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tokscope.readers.base import ReadResult, Row

from tests.cli_helpers import cli
from tokscope.limits import MAX_COST, MAX_SESSION_TOKENS, MAX_TURN_TOKENS, MIN_TS_US
from tokscope.scan_worker import (
    BAD_COST,
    BAD_COUNT,
    IN_FUTURE,
    OVER_SESSION_LIMIT,
    OVER_TURN_LIMIT,
    TOO_EARLY,
    check_limits,
)

INT64_MAX = (1 << 63) - 1
NOW = 1_795_000_000_000_000  # 2026-11-19, epoch µs
TS = NOW - 86_400_000_000


def row(key: str = "k", ts: int = TS, cost: float | None = None, **counts: Any) -> Row:
    return Row(
        client="claude-code",
        provider="anthropic",
        model="claude-sonnet-4-5",
        workspace="",
        session_id="s",
        agent=None,
        event_key=key,
        ts=ts,
        source_cost=cost,
        **counts,
    )


def checked(rows: list[Row], session_totals: bool = False) -> ReadResult:
    result = ReadResult(rows=rows)
    check_limits(result, session_totals, NOW)
    return result


def test_each_out_of_range_value_costs_its_row_with_a_reason() -> None:
    good = row("good", input=10, output=5)
    result = checked(
        [
            good,
            row("huge", input=INT64_MAX),
            row("wraps", output=1 << 64),
            row("float", cache_read=1e30),  # type: ignore[arg-type]
            row("nan", cache_read=float("nan")),  # type: ignore[arg-type]
            row("negative", input=-5),
            row("none", output=None),  # type: ignore[arg-type]
            row("old", ts=MIN_TS_US - 1, input=1),
            row("future", ts=NOW + 3 * 86_400_000_000, input=1),
            row("at-limit", input=MAX_TURN_TOKENS),  # the limit itself is allowed
        ]
    )
    assert [r.event_key for r in result.rows] == ["good", "at-limit"]
    assert result.reasons == {OVER_TURN_LIMIT: 3, BAD_COUNT: 3, TOO_EARLY: 1, IN_FUTURE: 1}
    assert result.skipped == 8


def test_counts_whose_bits_or_over_the_limit_are_still_kept() -> None:
    # 2^26 | (2^26 - 1) = 2^27 - 1 > 1e8, yet each count is under the limit: the fast path must not reject
    result = checked([row(input=1 << 26, output=(1 << 26) - 1)])
    assert len(result.rows) == 1 and result.skipped == 0


def test_session_total_readers_get_the_session_limit() -> None:
    total = MAX_TURN_TOKENS * 50  # a long session's running total: fine there, not in one turn
    assert len(checked([row(input=total)], session_totals=True).rows) == 1
    assert checked([row(input=total)]).reasons == {OVER_TURN_LIMIT: 1}
    assert checked([row(input=MAX_SESSION_TOKENS + 1)], session_totals=True).reasons == {OVER_SESSION_LIMIT: 1}


def test_an_implausible_cost_is_dropped_and_the_turn_kept() -> None:
    result = checked([row("a", input=1, cost=MAX_COST * 10), row("b", input=1, cost=-1.0), row("c", input=1, cost=0.0)])
    assert [(r.event_key, r.source_cost) for r in result.rows] == [("a", None), ("b", None), ("c", 0.0)]
    assert result.reasons == {BAD_COST: 2}


# --- end to end: each repro on a temporary HOME ----------------------------------------------------


def claude_line(msg: str, inp: int | float, out: int = 5, ts: str = "2026-11-18T10:00:00Z") -> str:
    usage = {"input_tokens": inp, "output_tokens": out}
    message = {"id": msg, "model": "claude-sonnet-4-5", "usage": usage}
    return json.dumps(
        {"type": "assistant", "timestamp": ts, "sessionId": "s1", "requestId": "r" + msg, "message": message}
    )


def claude_log(home: Path, *lines: str) -> None:
    folder = home / ".claude" / "projects" / "-home-alice-app"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s1.jsonl").write_text("".join(line + "\n" for line in lines))


def gemini_log(home: Path) -> None:
    path = home / ".gemini" / "tmp" / "app" / "chats" / "session-2026-11-18T10-00-abcd.jsonl"
    path.parent.mkdir(parents=True)

    def gem(mid: str, tokens: str) -> str:  # raw JSON: 1e30 must stay a float literal in the file
        return (
            f'{{"id": "{mid}", "timestamp": "2026-11-18T10:00:0{mid[-1]}Z", "type": "gemini", '
            f'"model": "gemini-2.5-pro", "tokens": {tokens}}}'
        )

    path.write_text(
        '{"sessionId": "g-1", "projectHash": "'
        + "f" * 64
        + '", "startTime": "2026-11-18T09:59:00Z"}\n'
        + gem("m1", '{"input": 1e30, "output": 1}')
        + "\n"
        + gem("m2", '{"input": 700, "output": 30}')
        + "\n"
    )


def opencode_db(home: Path) -> None:
    path = home / ".local" / "share" / "opencode" / "opencode.db"
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT, parent_id TEXT, directory TEXT);"
        "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, data TEXT);"
        "INSERT INTO session VALUES ('ses_1', 'p', NULL, '/home/alice/app');"
    )

    def message(created: float, inp: int) -> str:
        tokens = {"input": inp, "output": 4, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        data = {"role": "assistant", "time": {"created": created, "completed": created + 1000}, "tokens": tokens}
        return json.dumps({**data, "modelID": "claude-sonnet-4-5", "providerID": "anthropic"})

    t0 = 1_795_000_000_000  # epoch ms
    rows = [("msg_1", message(1e17, 10)), ("msg_2", message(t0, 20)), ("msg_3", message(t0 + 5, 30))]
    conn.executemany("INSERT INTO message VALUES (?, 'ses_1', 0, ?)", rows)
    conn.commit()
    conn.close()


def codex_log(home: Path) -> None:
    folder = home / ".codex" / "sessions" / "2026" / "11" / "18"
    folder.mkdir(parents=True)
    names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")

    def count(ts: str, usage: tuple[int, ...], total: tuple[int, ...]) -> dict[str, Any]:
        info = {"last_token_usage": dict(zip(names, usage, strict=True))}
        info["total_token_usage"] = dict(zip(names, total, strict=True))
        return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}

    lines = [
        {"timestamp": "2026-11-18T09:00:00Z", "type": "session_meta", "payload": {"id": "th-1", "cwd": "/srv/api"}},
        {"timestamp": "2026-11-18T09:00:01Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        count("2026-11-18T09:00:02Z", (INT64_MAX, 0, 10, 0), (INT64_MAX, 0, 10, 0)),
    ]
    (folder / "rollout-2026-11-18T09-00-00-th-1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def totals() -> dict[str, Any]:
    code, out, err = cli("report", "--period", "all", "--format", "json", "--tz", "UTC", "--by", "client")
    assert code == 0, err
    return {r["client"]: r for r in json.loads(out)["rows"]}


@pytest.fixture
def bad_logs(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every repro of issue 12 #1/#2 beside good turns; a shared folder so export runs too."""
    claude_log(
        home,
        claude_line("m1", 1200, 30),
        claude_line("m2", INT64_MAX),
        claude_line("m3", 1e19),
        claude_line("m4", 10, ts="9999-01-01T00:00:00Z"),
        claude_line("m5", 80, 20),
    )
    gemini_log(home)
    opencode_db(home)
    codex_log(home)
    (home / "shared").mkdir()
    monkeypatch.setenv("TOKSCOPE_SHARED", str(home / "shared"))
    return home


def test_out_of_range_values_never_stop_a_command(bad_logs: Path) -> None:
    for args in (("scan",), ("sources", "--format", "json"), ("statusline", "--period", "all"), ("export",)):
        code, _out, err = cli(*args)
        assert code == 0, f"{args}: {err}"
        assert "Traceback" not in err
    rows = totals()
    assert (rows["claude-code"]["turns"], rows["claude-code"]["input"], rows["claude-code"]["output"]) == (2, 1280, 50)
    assert (rows["gemini-cli"]["turns"], rows["gemini-cli"]["input"]) == (1, 700)
    assert (rows["opencode"]["turns"], rows["opencode"]["input"]) == (2, 50)
    assert "codex" not in rows  # its only turn was out of range: nothing counted, nothing negative


def test_the_scan_counts_what_it_left_out(bad_logs: Path) -> None:
    code, out, _err = cli("scan")
    assert code == 0
    # claude 3 + gemini 1 + opencode 1 + codex 1
    assert "6 lines skipped" in out


# --- one bad root costs only its reader -----------------------------------------------------------


def test_a_symlink_loop_costs_only_its_reader(home: Path) -> None:
    (home / ".claude").mkdir()
    (home / ".claude" / "projects").symlink_to(home / ".claude" / "loop")
    (home / ".claude" / "loop").symlink_to(home / ".claude" / "projects")
    codex_ok(home)
    code, _out, err = cli("scan")
    assert code == 0, err
    assert "claude-code" in err and "symlink loop" in err.lower()
    assert totals()["codex"]["turns"] == 1
    code, out, err = cli("sources", "--format", "json", "--no-scan")
    assert code == 0, err
    claude = next(e for e in json.loads(out) if e["client"] == "claude-code")
    assert claude["files"] == 0 and any("symlink loop" in e.lower() for e in claude["errors"])


def test_an_unreadable_root_costs_only_its_reader(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As an ordinary user, a ~/.claude without read permission fails stat() under it with EACCES
    # (the tests may run as root, where chmod 000 changes nothing): the OS's answer is simulated.
    (home / ".claude" / "projects").mkdir(parents=True)
    claude_log(home, claude_line("m1", 10))
    codex_ok(home)
    real_stat = Path.stat
    locked = home / ".claude"

    def stat(self: Path, *, follow_symlinks: bool = True) -> Any:
        if self != locked and self.is_relative_to(locked):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(Path, "stat", stat)
    for args in (("scan",), ("sources", "--format", "json")):
        code, _out, err = cli(*args)
        assert code == 0, f"{args}: {err}"
        assert "Permission denied" in err
    assert set(totals()) == {"codex"}


def codex_ok(home: Path) -> None:
    folder = home / ".codex" / "sessions" / "2026" / "11" / "18"
    folder.mkdir(parents=True)
    usage = {"input_tokens": 500, "cached_input_tokens": 0, "output_tokens": 10, "reasoning_output_tokens": 0}
    info = {"last_token_usage": usage, "total_token_usage": usage}
    lines = [
        {"timestamp": "2026-11-18T09:00:00Z", "type": "session_meta", "payload": {"id": "th-2", "cwd": "/srv/api"}},
        {"timestamp": "2026-11-18T09:00:01Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        {"timestamp": "2026-11-18T09:00:02Z", "type": "event_msg", "payload": {"type": "token_count", "info": info}},
    ]
    (folder / "rollout-2026-11-18T09-00-00-th-2.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_whatever_a_reader_gives_the_kept_rows_fit_the_ledger() -> None:
    """Random rows from edge values: every row is kept or counted, and the kept ones build a frame
    whose every value is within the limits (no int64 overflow can reach Polars)."""
    import random

    from tokscope.readers.base import COUNT_FIELDS

    from tokscope.events import frame_from_rows

    edges: list[Any] = [0, 1, MAX_TURN_TOKENS, MAX_TURN_TOKENS + 1, INT64_MAX, 1 << 64, -1, 1e30, float("inf")]
    edges += [float("nan"), 12.0, 12.5, None, "7", True]
    times: list[Any] = [TS, MIN_TS_US - 1, NOW + 10**12, 1 << 70, -1, None, 1.5e15]
    costs: list[Any] = [None, 0.0, 1.25, -1.0, float("nan"), float("inf"), 1e300, MAX_COST]
    rng = random.Random(12)

    def pick(odd: list[Any], usual: Any) -> Any:
        return rng.choice(odd) if rng.random() < 0.1 else usual

    rows = [
        row(
            f"k{i}",
            ts=pick(times, TS + i),
            cost=pick(costs, None),
            rank=pick([1.5, 1 << 63, -(1 << 64), None], 0),
            **{f: pick(edges, rng.randrange(5000)) for f in COUNT_FIELDS},
        )
        for i in range(3000)
    ]
    result = checked(rows)
    assert len(result.rows) + sum(n for r, n in result.reasons.items() if r != BAD_COST) == len(rows)
    assert result.rows, "some rows must survive for the check to mean anything"
    frame = frame_from_rows(result.rows)
    for name in COUNT_FIELDS:
        assert frame[name].null_count() == 0 and frame[name].min() >= 0 and frame[name].max() <= MAX_TURN_TOKENS
    cost = frame["source_cost"].drop_nulls()
    assert cost.is_nan().sum() == 0 and (cost.len() == 0 or (cost.min() >= 0 and cost.max() <= MAX_COST))
    assert frame["ts"].dt.epoch("us").min() >= MIN_TS_US
