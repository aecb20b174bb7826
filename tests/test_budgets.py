"""Budgets (``tokscope.budgets``): the config's rules, periods in the user's zone, hand-worked spend,
share and forecast, session budgets, and ``tokscope budgets`` end to end with ``--check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tests.cli_helpers import cli
from tests.test_reader_claude_code import PROJECT, assistant, write
from tokscope import paths
from tokscope.budgets import Budget, evaluate, parse, period_bounds


def test_config_rules_and_what_is_refused() -> None:
    budgets, errors = parse(
        [
            {"name": "daily", "amount": 25, "client": "claude-code"},
            {"name": "tok", "tokens": 1_000_000, "period": "week", "model": ["a", "b"], "thresholds": [90, 75]},
            {"name": "both", "amount": 1, "tokens": 2},
            {"name": "neither", "period": "day"},
            {"name": "odd", "amount": 1, "period": "year"},
            {"name": "paid", "amount": 1, "cost": "metered"},
            {"name": "acct", "amount": 1, "account": "work"},
            {"name": "badscope", "amount": 1, "client": [1]},
            {"name": "badthr", "amount": 1, "thresholds": [0]},
            {"name": "inf", "amount": float("inf")},
            {"name": "nan", "amount": float("nan")},
            "not a table",
        ]
    )
    assert [b.name for b in budgets] == ["daily", "tok", "acct", "badthr"]
    daily, tok, acct, badthr = budgets
    assert acct.scope == {"account": ("work",)}  # accounts as the report shows them (issue 15)
    assert (daily.period, daily.unit, daily.limit, daily.scope, daily.thresholds) == (
        "day",
        "usd",
        25.0,
        {"client": ("claude-code",)},
        (50.0, 80.0, 100.0),
    )
    assert (tok.unit, tok.limit, tok.scope, tok.thresholds) == ("tokens", 1e6, {"model": ("a", "b")}, (75.0, 90.0))
    assert badthr.thresholds == (50.0, 80.0, 100.0)
    assert len(errors) == 9  # inf and nan are no amounts (JSON has neither)
    assert any("'both'" in e and "exactly one" in e for e in errors)
    assert any("'odd'" in e and "period" in e for e in errors)
    assert any("'paid'" in e and "api_equivalent" in e for e in errors)
    assert parse(None) == ([], [])
    assert parse("x")[0] == []


def test_periods_are_the_users_days_weeks_and_months() -> None:
    """23:30 UTC on Wednesday 2 December 2026 is 00:30 on Thursday the 3rd in Berlin (UTC+1)."""
    now = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert period_bounds("day", now, "Europe/Berlin") == (
        datetime(2026, 12, 2, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 23, 0, tzinfo=UTC),
    )
    assert period_bounds("week", now, "Europe/Berlin")[0] == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Monday 30th
    assert period_bounds("month", now, "Europe/Berlin") == (
        datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
    )
    assert period_bounds("day", now, "UTC")[0] == datetime(2026, 12, 2, tzinfo=UTC)


def events(*rows: tuple[str, str, str, float | None, int]) -> pl.LazyFrame:
    """(ts, client, session, cost, tokens) rows as priced events (tokens all input)."""
    return pl.DataFrame(
        {
            "ts": [datetime.fromisoformat(r[0]) for r in rows],
            "client": [r[1] for r in rows],
            "session_id": [r[2] for r in rows],
            "device_id": ["dev-a"] * len(rows),
            "model": ["m"] * len(rows),
            "workspace": ["/w"] * len(rows),
            "cost": pl.Series([r[3] for r in rows], dtype=pl.Float64),
            "input": [r[4] for r in rows],
            "output": [0] * len(rows),
            "cache_read": [0] * len(rows),
            "cache_write_5m": [0] * len(rows),
            "cache_write_1h": [0] * len(rows),
        }
    ).lazy()


EVENTS = events(
    ("2026-12-01T20:00:00+00:00", "claude-code", "s1", 5.0, 100),  # yesterday
    ("2026-12-02T08:00:00+00:00", "claude-code", "s2", 3.0, 200),
    ("2026-12-02T09:00:00+00:00", "claude-code", "s2", 4.0, 300),
    ("2026-12-02T10:00:00+00:00", "claude-code", "s2", None, 400),  # no price: not $0, counted apart
    ("2026-12-02T10:30:00+00:00", "codex", "s3", 50.0, 500),  # out of scope
)
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_spend_share_forecast_and_thresholds() -> None:
    day = Budget("claude", "day", amount=10.0, scope={"client": ("claude-code",)})
    (s,) = evaluate(EVENTS, [day], NOON, "UTC")
    assert (s.spent, s.turns, s.unpriced_turns) == (7.0, 3, 1)
    assert s.percent == pytest.approx(70.0)
    assert s.forecast == pytest.approx(14.0)  # half the day gone, 7 spent
    assert (s.crossed, s.over) == ([50.0], False)
    tokens = Budget("tok", "month", tokens=1000, scope={"client": ("claude-code",)})
    (t,) = evaluate(EVENTS, [tokens], NOON, "UTC")
    assert (t.spent, t.percent, t.over, t.unpriced_turns) == (1000.0, 100.0, True, 0)
    everything = Budget("all", "week", amount=60.0)
    (w,) = evaluate(EVENTS, [everything], NOON, "UTC")
    assert (w.spent, w.crossed) == (62.0, [50.0, 80.0, 100.0])


def test_session_budgets_name_the_costliest_session() -> None:
    per = Budget("per session", "session", amount=6.0)
    (s,) = evaluate(EVENTS, [per], NOON, "UTC")
    assert (s.session_id, s.spent, s.sessions_over, s.over) == ("s3", 50.0, 2, True)  # s2 (7.0) is over too
    (c,) = evaluate(EVENTS, [Budget("claude", "session", amount=6.0, scope={"client": ("claude-code",)})], NOON, "UTC")
    assert (c.session_id, c.spent, c.turns, c.unpriced_turns, c.sessions_over) == ("s2", 7.0, 3, 1, 1)


def test_device_scopes_take_names_or_ids() -> None:
    b = Budget("laptop", "day", amount=100.0, scope={"device": ("laptop",)})
    (s,) = evaluate(EVENTS, [b], NOON, "UTC", {"laptop": ["dev-a"]})
    assert s.turns == 4
    (none,) = evaluate(EVENTS, [Budget("x", "day", amount=1.0, scope={"device": ("other",)})], NOON, "UTC", {})
    assert (none.turns, none.spent, none.over) == (0, 0.0, False)


def config(text: str) -> None:
    path = paths.config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_budgets_command_and_check(home: Path) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write(
        home,
        f"{PROJECT}/s-main.jsonl",
        assistant("msg_1", "req_1", inp=1000, out=500, ts=now),
        assistant("msg_2", "req_2", inp=2000, out=500, ts=now),
    )
    config('[[budget]]\nname = "tokens today"\ntokens = 10000\n\n[[budget]]\nname = "big"\namount = 1000.0\n')
    code, out, err = cli("budgets", "--format", "json", "--tz", "UTC")
    assert code == 0, err
    doc = json.loads(out)
    tokens, big = doc["budgets"]
    assert (tokens["name"], tokens["unit"], tokens["spent"], tokens["percent"], tokens["over"]) == (
        "tokens today",
        "tokens",
        4000.0,
        40.0,
        False,
    )
    assert big["unit"] == "usd" and 0 < big["spent"] < 1 and big["unpriced_turns"] == 0
    assert cli("budgets", "--check", "--no-scan")[0] == 0
    config('[[budget]]\nname = "tiny"\ntokens = 3000\n')
    code, out, _err = cli("budgets", "--check", "--no-scan", "--tz", "UTC")
    assert code == 1 and "tiny" in out and "over" in out
    config('[[budget]]\nname = "wrong"\nperiod = "year"\namount = 1\n')
    code, out, err = cli("budgets", "--no-scan")
    assert code == 0 and "period 'year'" in err and "no budgets" in out
