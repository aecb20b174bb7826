"""``tokscope limits``: per account and window, from a HOME with Codex rollouts and a Claude statusLine input."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from tokscope.readers.base import QuotaSample

from tests.cli_helpers import cli
from tests.test_quota_codex import T0_US, both, tc
from tests.test_reader_codex import meta, turn, write
from tokscope import quota

NOW_US = T0_US + 30 * 60_000_000  # 09:30, half an hour after the rollout's readings


def test_json_contract_from_a_codex_home(home: Path, monkeypatch) -> None:
    write(
        home,
        "sessions/2026/11/20/rollout-a.jsonl",
        meta(),
        turn(),
        tc("2026-11-20T09:00:00.000Z", both(five=10.0, plan_type="plus")),
        tc("2026-11-20T09:20:00.000Z", both(five=20.0, plan_type="plus")),
    )
    monkeypatch.setattr(time, "time", lambda: NOW_US / 1_000_000)
    code, out, _ = cli("limits", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["now"] == "2026-11-20T09:30:00Z"
    five, week = data["limits"]
    assert {k: five[k] for k in ("client", "account", "limit", "window", "used_percent", "plan_type")} == {
        "client": "codex",
        "account": "~/.codex",
        "limit": "codex",
        "window": "five_hour",
        "used_percent": 20.0,
        "plan_type": "plus",
    }
    # resets_at 1_795_180_000 = 13:06:40; from 09:30 that is 3 h 36 min 40 s
    assert (five["resets_at"], five["resets_in_seconds"], five["reset"]) == ("2026-11-20T13:06:40Z", 13_000, False)
    assert (five["observed_at"], five["age_seconds"], five["source"]) == ("2026-11-20T09:20:00Z", 600, "official")
    assert five["burn_percent_per_hour"] == 30.0  # 10 points in 20 minutes
    assert five["runs_out_at"] == "2026-11-20T12:00:00Z"  # 80 points at 30/h from 09:20: 2 h 40 min, before reset
    assert (week["window"], week["used_percent"], week["burn_percent_per_hour"]) == ("weekly", 40.0, 0.0)
    assert five["device"] and five["device_name"]  # this device, by id and name


def test_table_and_csv(home: Path, monkeypatch) -> None:
    quota.record([QuotaSample("claude-code", str(home / ".claude"), "weekly", 17.4, T0_US, T0_US + 86_400_000_000)])
    monkeypatch.setattr(time, "time", lambda: NOW_US / 1_000_000)
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = cli("limits", "--no-scan")
    assert code == 0
    assert "~/.claude" in out and "weekly" in out and "17%" in out and "23h30m" in out and "official 30m ago" in out
    code, out, _ = cli("limits", "--no-scan", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["client"], r["window"], r["used_percent"], r["resets_in_seconds"]) for r in rows] == [
        ("claude-code", "weekly", "17.4", "84600")
    ]


def test_nothing_recorded_says_where_limits_come_from(home: Path) -> None:
    code, out, _ = cli("limits", "--no-scan")
    assert code == 0 and "No official limits recorded yet" in out
    assert json.loads(cli("limits", "--no-scan", "--format", "json")[1])["limits"] == []
