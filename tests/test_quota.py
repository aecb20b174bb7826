"""The official-limits store (``tokscope.quota``): de-duplicated, bounded, freshest wins, never summed."""

from __future__ import annotations

import json
from pathlib import Path

from tokscope.readers.base import QuotaSample

from tests.test_quota_codex import T0, T0_US, both, tc
from tests.test_reader_codex import meta, turn, write
from tokscope import paths, quota
from tokscope.scan import scan

MIN = 60_000_000
HOUR = 60 * MIN


def sample(used: float, at: int, window: str = "five_hour", device: str = "", **kw: object) -> QuotaSample:
    fields = {"resets_at": T0_US + 5 * HOUR, "limit": "codex", **kw}
    return QuotaSample("codex", "~/.codex", window, used, T0_US + at, device=device, **fields)  # type: ignore[arg-type]


def test_the_freshest_reading_wins_across_devices_and_is_never_summed() -> None:
    readings = [
        sample(30.0, 0, device="laptop"),
        sample(45.0, 10 * MIN, device="server"),
        sample(40.0, 5 * MIN, device="laptop"),
        sample(80.0, 0, window="weekly", device="laptop"),
    ]
    now = quota.latest(readings)
    assert {k[3]: (s.used_percent, s.device) for k, s in now.items()} == {
        "five_hour": (45.0, "server"),
        "weekly": (80.0, "laptop"),
    }


def test_merge_dedupes_cuts_runs_and_bounds_history() -> None:
    run = [sample(10.0, i * MIN) for i in range(6)] + [sample(12.0, 6 * MIN)]
    merged = quota.merge(run[:4], [*run[2:], run[3]])  # overlapping reads: one reading per moment
    assert [(s.used_percent, (s.observed_at - T0_US) // MIN) for s in merged] == [(10.0, 0), (10.0, 5), (12.0, 6)]
    old = sample(5.0, -(quota.KEEP_DAYS + 1) * 24 * HOUR)
    assert old not in quota.merge([old], [sample(6.0, 0)])  # past the kept history
    assert quota.merge([old], []) == [old]  # the latest of a series is always kept


def test_merge_keeps_at_most_per_series(monkeypatch) -> None:
    monkeypatch.setattr(quota, "PER_SERIES", 3)
    merged = quota.merge([sample(float(i), i * MIN) for i in range(10)], [])
    assert [s.used_percent for s in merged] == [7.0, 8.0, 9.0]


def test_record_maps_the_account_and_survives_a_damaged_file(home: Path) -> None:
    raw = QuotaSample("codex", str(home / ".codex"), "weekly", 40.0, T0_US)
    assert quota.record([raw]) == 1
    assert [s.account for s in quota.load()] == ["~/.codex"]
    quota.file_path().write_bytes(b"\x00not msgpack")
    assert quota.load() == []
    assert quota.record([raw]) == 1  # rebuilt from the next readings


def test_limit_rows_say_used_reset_countdown_age_and_burn(home: Path) -> None:
    readings = [sample(10.0, 0), sample(25.0, 30 * MIN), sample(40.0, 0, window="weekly", resets_at=T0_US - MIN)]
    rows = quota.limit_rows(readings, T0_US + HOUR, this_device="dev-1", names={"dev-1": "laptop"})
    five, week = rows
    assert five["window"] == "five_hour" and five["used_percent"] == 25.0
    assert five["resets_in_seconds"] == 4 * 3600 and five["age_seconds"] == 1800 and not five["reset"]
    assert five["burn_percent_per_hour"] == 30.0  # 15 points in half an hour
    assert five["runs_out_at"] == "2026-11-20T12:00:00Z"  # 75 points left at 30/h: 2.5 h after 09:30
    assert (five["device"], five["device_name"], five["source"]) == ("dev-1", "laptop", "official")
    assert week["reset"] and week["resets_in_seconds"] == 0 and week["burn_percent_per_hour"] is None
    assert quota.countdown(4 * 3600 + 13 * 60) == "4h13m" and quota.countdown(3 * 86400 + 4 * 3600) == "3d4h"


def test_a_scan_records_codex_readings_in_the_ledger_dir(home: Path) -> None:
    write(home, "sessions/2026/11/20/rollout-a.jsonl", meta(), turn(), tc(T0, both(plan_type="pro")))
    from tokscope.readers import get_reader

    scan(readers=[get_reader("codex")], workers=1)
    stored = quota.load()
    assert [(s.window, s.used_percent, s.account, s.plan_type) for s in stored] == [
        ("five_hour", 12.5, "~/.codex", "pro"),
        ("weekly", 40.0, "~/.codex", "pro"),
    ]
    assert (paths.ledger_dir() / quota.FILE_NAME).is_file()
    scan(readers=[get_reader("codex")], workers=1)  # nothing new: the same two readings
    assert len(quota.load()) == 2
    from tokscope.ledger import Ledger

    assert not [f for f in Ledger().layout().findings if f.kind == "unknown"]  # a ledger file of its own


def test_the_store_is_plain_msgpack_of_known_fields(home: Path) -> None:
    quota.record([sample(10.0, 0)])
    import msgspec

    body = msgspec.msgpack.decode(quota.file_path().read_bytes())
    assert body["layout"] == quota.LAYOUT and body["samples"][0]["used_percent"] == 10.0
    json.dumps(body)  # nothing but plain values


def test_readings_from_the_future_or_before_2015_are_not_kept(home: Path) -> None:
    import time

    now = int(time.time() * 1_000_000)
    future = QuotaSample("codex", "~/.codex", "weekly", 99.0, now + 30 * 86_400_000_000)
    ancient = QuotaSample("codex", "~/.codex", "weekly", 1.0, 1_000_000)
    fine = QuotaSample("codex", "~/.codex", "weekly", 40.0, now)
    assert quota.record([future, ancient, fine]) == 1
    assert [s.used_percent for s in quota.load()] == [40.0]


def test_burn_rate_spans_readings_whose_reset_time_jitters() -> None:
    first = sample(10.0, 0, resets_at=T0_US + 5 * HOUR)
    later = sample(25.0, 30 * MIN, resets_at=T0_US + 5 * HOUR + 1_000_000)
    next_window = sample(2.0, 40 * MIN, resets_at=T0_US + 10 * HOUR)
    assert quota.burn_rate([first, later], later) == 30.0
    assert quota.burn_rate([first, later, next_window], next_window) is None  # a new window starts over
