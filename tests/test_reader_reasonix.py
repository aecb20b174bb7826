"""Reasonix reader: per-day request stats, turn aggregates skipped, cache split out of the prompt (clients.md §3.14)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tokscope.readers import get_reader

from tokscope.scan import frame_of

R1 = {
    "ts": "2026-08-04T09:10:11+08:00",
    "model": "opencode/deepseek-v4",
    "prompt": 100,
    "completion": 20,
    "reasoning": 5,
    "cache_hit": 30,
    "cache_miss": 70,
    "total": 120,
    "requests": 1,
}
R2 = {
    "ts": "2026-08-04T09:11:11+08:00",
    "model": "deepseek/chat",
    "prompt": 10,
    "completion": 2,
    "total": 12,
    "requests": 1,
}
R3 = {  # no cache_miss: input is prompt - cache_hit
    "ts": "2026-08-04T09:12:11+08:00",
    "model": "openrouter/google/gemini-2.5-pro",
    "prompt": 500,
    "completion": 40,
    "cache_hit": 450,
    "total": 540,
}
TURN = {
    "ts": "2026-08-04T09:12:12+08:00",
    "model": "opencode/deepseek-v4",
    "prompt": 610,
    "completion": 62,
    "cache_hit": 480,
    "total": 672,
    "requests": 3,
    "turn": True,
}


def write_stats(root: Path, day: str, *rows: dict | str, tail: str = "") -> Path:
    path = root / "stats" / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows) + tail)
    return path


def sample(home: Path) -> None:
    """The contract sample: three requests, their turn aggregate and a line being written."""
    write_stats(home / ".reasonix", "2026-08-04", R1, R2, R3, TURN, tail='{"ts":"2026-08-04T09:13')


def read_all():
    return frame_of([get_reader("reasonix")]).sort("ts")


def test_turn_aggregates_are_skipped_and_cache_comes_out_of_the_prompt(home: Path) -> None:
    sample(home)
    frame = read_all()
    assert frame.select("provider", "model", "input", "output", "reasoning", "cache_read").rows() == [
        ("opencode", "deepseek-v4", 70, 20, 5, 30),  # the label the user gave the provider
        ("deepseek", "chat", 10, 2, 0, 0),
        ("openrouter", "google/gemini-2.5-pro", 50, 40, 0, 450),
    ]
    assert int(frame.select(frame["input"] + frame["output"] + frame["cache_read"]).sum().item()) == 120 + 12 + 540
    assert frame["session_id"].unique().to_list() == ["stats-2026-08-04"]
    assert frame["ts"].dt.epoch("s").to_list() == [1785805811, 1785805871, 1785805931]  # 01:10:11Z: +08:00 honoured


def test_an_explicit_cache_miss_is_the_input(home: Path) -> None:
    row = dict(R2, prompt=100, completion=20, cache_hit=30, cache_miss=10, total=120)
    write_stats(home / ".reasonix", "2026-08-05", row)
    assert read_all().select("input", "cache_read").rows() == [(10, 30)]


def test_times_without_offset_mean_utc_and_odd_values_still_count(home: Path) -> None:
    write_stats(
        home / ".reasonix",
        "2026-08-06",
        dict(R2, ts="2026-08-06T10:00:00"),
        dict(R2, ts=1786010000, prompt="10", completion=2.0),  # epoch seconds, a count as a string
        dict(R2, ts="yesterday"),
    )
    frame = read_all()
    assert frame.select(frame["ts"].dt.epoch("s"), "input", "output").rows() == [
        (1786010000, 10, 2),
        (1786010400, 10, 2),
    ]


def test_labels_are_kept_and_a_bare_model_is_inferred(home: Path) -> None:
    write_stats(
        home / ".reasonix",
        "2026-08-05",
        dict(R2, model="work/house-model-7"),
        dict(R2, model="claude-sonnet-4", ts="2026-08-05T10:00:00Z"),
        dict(R2, model="MoonshotAI/kimi-k2", ts="2026-08-05T11:00:00Z"),
    )
    assert read_all().select("provider", "model").rows() == [
        ("work", "house-model-7"),
        ("anthropic", "claude-sonnet-4"),
        ("moonshot", "kimi-k2"),
    ]


def test_keys_are_stable_and_appends_are_read_on(home: Path) -> None:
    path = write_stats(home / ".reasonix", "2026-08-04", R1, "not json")
    reader = get_reader("reasonix")
    source = reader.discover([])[0]
    first = reader.read(source, 0, {})
    assert first.skipped == 1 and [r.event_key for r in first.rows] == ["2026-08-04@0"]
    with path.open("a") as fh:
        fh.write(json.dumps(R2) + "\n")
    second = reader.read(source, first.offset, first.state)
    assert [r.event_key for r in second.rows] == [f"2026-08-04@{first.offset}"]
    again = reader.read(source, 0, {})
    assert [r.event_key for r in again.rows] == ["2026-08-04@0", f"2026-08-04@{first.offset}"]


def test_homes_and_their_order(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("reasonix")
    assert reader.roots() == [home / ".reasonix/stats"]
    monkeypatch.setenv("REASONIX_HOME", "~/rx")
    assert reader.roots() == [home / "rx/stats"]
    monkeypatch.setenv("REASONIX_STATE_HOME", "${REASONIX_NOT_SET:-$HOME/state}")
    assert reader.roots() == [home / "state/stats"]
    monkeypatch.delenv("REASONIX_STATE_HOME")
    monkeypatch.delenv("REASONIX_HOME")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(home / "AppData/Roaming"))
    assert reader.roots() == [home / "AppData/Roaming/reasonix/stats"]
