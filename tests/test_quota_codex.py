"""Codex ``payload.rate_limits`` -> quota samples on the side of the reader's rows (issue #15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokscope.readers import get_reader
from tokscope.readers.base import QuotaSample, ReadResult, Source

from tests.test_reader_codex import meta, turn, write

U = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
T0 = "2026-11-20T09:00:00.000Z"
T0_US = 1_795_165_200_000_000  # 2026-11-20 09:00:00 UTC


def tc(ts: str, limits: Any, total: tuple[int, ...] | None = None, last: tuple[int, ...] | None = None) -> str:
    """A token_count line; without counts it is an ``info: null`` (quota-only) row."""
    info = None
    if total is not None:
        info = {"total_token_usage": dict(zip(U, total, strict=True))}
        if last is not None:
            info["last_token_usage"] = dict(zip(U, last, strict=True))
    payload = {"type": "token_count", "info": info, "rate_limits": limits}
    return json.dumps({"timestamp": ts, "type": "event_msg", "payload": payload})


def window(used: float, minutes: int | None = None, resets: int | None = 1_795_180_000) -> dict[str, Any]:
    out: dict[str, Any] = {"used_percent": used}
    if minutes is not None:
        out["window_minutes"] = minutes
    if resets is not None:
        out["resets_at"] = resets
    return out


def both(five: float = 12.5, week: float = 40.0, **extra: Any) -> dict[str, Any]:
    return {
        "limit_id": "codex",
        "primary": window(five, 300, 1_795_180_000),
        "secondary": window(week, 10080, 1_795_600_000),
        **extra,
    }


def read(home: Path, *lines: str) -> ReadResult:
    path = write(home, "sessions/2026/11/20/rollout-q.jsonl", meta(), turn(), *lines)
    return get_reader("codex").read(Source("codex", path), 0, {})


def test_windows_named_by_length_with_every_field(home: Path) -> None:
    limits = both(plan_type="plus", credits={"has_credits": True, "unlimited": False, "balance": "12.5"})
    result = read(home, tc(T0, limits))
    assert [(q.window, q.used_percent, q.resets_at, q.window_minutes) for q in result.quota] == [
        ("five_hour", 12.5, 1_795_180_000_000_000, 300),
        ("weekly", 40.0, 1_795_600_000_000_000, 10080),
    ]
    first = result.quota[0]
    assert (first.client, first.observed_at, first.limit, first.plan_type) == ("codex", T0_US, "codex", "plus")
    assert (first.credits_balance, first.has_credits, first.unlimited) == (12.5, True, False)
    assert first.account == str(home / ".codex")  # the home the rollout lies under
    assert (first.source, first.device) == ("official", "")
    assert result.rows == [] and result.skipped == 0  # info: null rows are quota-only


def test_a_single_window_without_a_length_is_the_weekly_one(home: Path) -> None:
    result = read(
        home,
        tc(T0, {"primary": window(84.0)}),
        tc("2026-11-20T09:01:00.000Z", {"primary": window(5.0), "secondary": window(18.0)}),
        tc("2026-11-20T09:02:00.000Z", {"primary": window(84.0, 10080), "secondary": None}),
    )
    assert [(q.window, q.used_percent) for q in result.quota] == [
        ("weekly", 84.0),
        ("five_hour", 5.0),  # two windows without lengths: primary is the 5-hour one
        ("weekly", 18.0),
        ("weekly", 84.0),  # a lone primary of 10080 minutes
    ]


def test_a_logged_length_wins_and_other_lengths_keep_their_minutes(home: Path) -> None:
    result = read(home, tc(T0, {"primary": window(12.5, 300), "secondary": window(3.0, 1440)}))
    assert [q.window for q in result.quota] == ["five_hour", "1440m"]


def test_usage_rows_are_the_same_with_or_without_rate_limits(home: Path) -> None:
    plain = read(home, tc(T0, None, (1000, 200, 50, 10), (1000, 200, 50, 10)))
    with_limits = read(home, tc(T0, both(), (1000, 200, 50, 10), (1000, 200, 50, 10)))
    assert with_limits.rows == plain.rows and len(plain.rows) == 1
    assert (plain.rows[0].input, plain.rows[0].cache_read, plain.rows[0].output) == (800, 200, 50)
    assert plain.quota == [] and len(with_limits.quota) == 2


def test_repeated_readings_keep_the_first_and_the_latest_observation(home: Path) -> None:
    stamps = [f"2026-11-20T09:0{i}:00.000Z" for i in range(5)]
    result = read(home, *(tc(ts, both()) for ts in stamps), tc("2026-11-20T09:06:00.000Z", both(five=13.0)))
    five = [(q.observed_at - T0_US) // 60_000_000 for q in result.quota if q.window == "five_hour"]
    week = [(q.observed_at - T0_US) // 60_000_000 for q in result.quota if q.window == "weekly"]
    assert five == [0, 4, 6]  # 12.5 first seen at :00, last at :04; 13.0 at :06
    assert week == [0, 6]  # 40.0 throughout: first and latest (the snapshot changed, the window did not)


def test_limit_ids_are_separate_limits(home: Path) -> None:
    spark = {"limit_id": "codex_bengalfox", "primary": window(0.0, 300), "secondary": window(3.0, 10080)}
    result = read(home, tc(T0, both()), tc("2026-11-20T09:00:01.000Z", spark))
    assert [(q.limit, q.window, q.used_percent) for q in result.quota] == [
        ("codex", "five_hour", 12.5),
        ("codex", "weekly", 40.0),
        ("codex_bengalfox", "five_hour", 0.0),
        ("codex_bengalfox", "weekly", 3.0),
    ]


def test_snapshots_without_windows_give_no_sample(home: Path) -> None:
    depleted = {
        "limit_id": "premium",
        "primary": None,
        "secondary": None,
        "credits": {"has_credits": False, "unlimited": False, "balance": None},
        "rate_limit_reached_type": "workspace_owner_credits_depleted",
    }
    result = read(home, tc(T0, depleted), tc(T0, {"limit_id": "codex"}))
    assert result.quota == [] and result.skipped == 0


def test_older_builds_resets_in_seconds_count_from_the_observation(home: Path) -> None:
    result = read(home, tc(T0, {"primary": {"used_percent": 7, "window_minutes": 300, "resets_in_seconds": 3600}}))
    assert result.quota[0].resets_at == T0_US + 3_600_000_000
    assert result.quota[0].used_percent == 7.0 and result.quota[0].limit == "codex"


def test_malformed_rate_limits_cost_only_the_reading(home: Path) -> None:
    result = read(
        home,
        tc(T0, "junk", (1000, 0, 50, 0), (1000, 0, 50, 0)),
        tc("2026-11-20T09:01:00.000Z", {"primary": window(-3.0, 300), "secondary": window(40.0, 10080)}),
        tc("2026-11-20T09:02:00.000Z", {"primary": {"used_percent": "n/a", "window_minutes": 300}}),
    )
    assert len(result.rows) == 1 and result.rows[0].input == 1000  # the line's usage is kept
    assert [(q.window, q.used_percent) for q in result.quota] == [("weekly", 40.0)]
    assert result.reasons == {
        "rate_limits not an object": 1,
        "rate limit without a plausible used_percent": 2,
    }


def test_a_line_read_leniently_keeps_its_rate_limits(home: Path) -> None:
    line = tc(T0, both(), (1000, 0, 50, 0), (1000, 0, 50, 0)).replace('"input_tokens": 1000', '"input_tokens": 1000.0')
    result = read(home, line)
    assert len(result.rows) == 1 and result.rows[0].input == 1000
    assert [q.used_percent for q in result.quota] == [12.5, 40.0]


def test_append_reads_continue_and_every_code_is_its_own_client(home: Path) -> None:
    path = write(home, "sessions/2026/11/20/rollout-a.jsonl", meta(), tc(T0, both()))
    reader = get_reader("codex")
    first = reader.read(Source("codex", path), 0, {})
    with path.open("a") as fh:
        fh.write(tc("2026-11-20T09:05:00.000Z", both(five=20.0)) + "\n")
    more = reader.read(Source("codex", path), first.offset, first.state)
    assert [q.used_percent for q in more.quota] == [20.0, 40.0]
    code = write(home, "sessions/2026/11/20/rollout-b.jsonl", meta(), tc(T0, both()), root=".code")
    samples = get_reader("every-code").read(Source("every-code", code), 0, {}).quota
    assert {q.client for q in samples} == {"every-code"} and samples[0].account == str(home / ".code")


def test_quota_samples_are_plain_structs() -> None:
    sample = QuotaSample("codex", "~/.codex", "weekly", 40.0, T0_US)
    assert (sample.resets_at, sample.limit, sample.source) == (None, "", "official")


def test_a_reset_time_that_jitters_by_seconds_is_one_window(home: Path) -> None:
    lines = [tc(f"2026-11-20T09:0{i}:00.000Z", {"primary": window(12.5, 300, 1_795_180_000 + i % 2)}) for i in range(4)]
    result = read(home, *lines)
    assert [((q.observed_at - T0_US) // 60_000_000, q.resets_at) for q in result.quota] == [
        (0, 1_795_180_000_000_000),
        (3, 1_795_180_001_000_000),  # a run: first and latest, though resets_at moved by a second
    ]
