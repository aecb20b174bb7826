"""Mistral Vibe reader: session totals from meta.json (2.x) and flat session files (1.x)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tokscope.readers import get_reader
from tokscope.readers.base import Source
from tokscope.readers.vibe import VibeReader

from tests.session_totals_helpers import check_declared_env, ledger_scan, pick, totals, us

ROOT = ".vibe/logs/session"


def write(path: Path, data: object, mtime: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    if mtime:
        t = us(mtime) / 1e6
        os.utime(path, (t, t))
    return path


def meta(
    sid: str,
    prompt: int,
    completion: int,
    cached: int,
    *,
    start: str = "2026-10-10T08:00:00Z",
    end: str | None = "2026-10-10T08:05:00Z",
    active: object = "devstral-2",
    cost: float | None = 0.0123,
) -> dict:
    """A Vibe 2.x meta.json, shaped as Vibe writes it (config snapshot with the model table)."""
    body: dict = {
        "session_id": sid,
        "start_time": start,
        "title": "Refactor parser",
        "origin_directory": "/home/al/repo",
        "environment": {"working_directory": "/home/al/repo/sub"},
        "config": {
            "active_model": active,
            "models": {
                "devstral-2": {"name": "devstral-2512", "provider": "mistral", "alias": "devstral-2"},
                "local": {"name": "qwen3-coder", "provider": "llamacpp", "alias": "local"},
            },
        },
        "stats": {
            "steps": 3,
            "session_prompt_tokens": prompt,
            "session_completion_tokens": completion,
            "session_cached_tokens": cached,
            "input_price_per_million": 0.4,
            "output_price_per_million": 2.0,
        },
    }
    if end is not None:
        body["end_time"] = end
    if cost is not None:
        body["stats"]["session_cost"] = cost
    return body


def vibe_tree(home: Path) -> Path:
    root = home / ROOT
    write(root / "session_20261010_080000_abc123" / "meta.json", meta("019e-aaa", 15000, 1200, 5000))
    write(root / "session_20261010_080000_abc123" / "messages.jsonl", '{"role":"user","content":"hi"}\n')
    # a sub-agent's session under the parent's agents/
    write(
        root / "session_20261010_080000_abc123" / "agents" / "explore_1" / "meta.json",
        meta("019e-child", 800, 90, 0, active="local", cost=None),
    )
    # Vibe 1.x: flat file, metadata wrapper, model at the top level, no end_time -> the mtime
    write(
        root / "session_20260901_010203.json",
        {
            "metadata": {
                "session_id": "legacy-1",
                "start_time": "2026-09-01T01:02:03Z",
                "active_model": "mistral-large-latest",
                "stats": {"session_prompt_tokens": 8000, "session_completion_tokens": 500, "session_cached_tokens": 0},
            },
            "messages": [{"role": "user", "content": "x"}],
        },
        mtime="2026-09-01T02:00:00",
    )
    # no rows: zero usage, malformed, a stray json that is neither form
    write(root / "session_20261011_000000_zero" / "meta.json", meta("zero", 0, 0, 0, cost=None))
    write(root / "session_20261012_000000_bad" / "meta.json", '{"session_id": "bad", "stats": {')
    write(root / "session_20261012_000000_bad" / "notes.json", {"stats": {"session_prompt_tokens": 99}})
    return root


def rows_by_key(home: Path) -> dict:
    reader = VibeReader()
    out = {}
    for source in reader.discover([]):
        for row in reader.read(source, 0, {}).rows:
            out[row.event_key] = row
    return out


def test_registered() -> None:
    assert isinstance(get_reader("vibe"), VibeReader)
    check_declared_env(VibeReader())


def test_discovers_meta_and_legacy_files_only(home: Path) -> None:
    vibe_tree(home)
    names = sorted(str(s.path.relative_to(home / ROOT)) for s in VibeReader().discover([]))
    assert names == [
        "session_20260901_010203.json",
        "session_20261010_080000_abc123/agents/explore_1/meta.json",
        "session_20261010_080000_abc123/meta.json",
        "session_20261011_000000_zero/meta.json",
        "session_20261012_000000_bad/meta.json",
    ]


def test_cached_taken_out_of_prompt_and_alias_resolved(home: Path) -> None:
    vibe_tree(home)
    row = rows_by_key(home)["019e-aaa"]
    assert pick(row, "input", "output", "cache_read", "reasoning") == (10000, 1200, 5000, 0)
    assert pick(row, "model", "provider", "workspace", "session_id", "agent") == (
        "devstral-2512",
        "mistral",
        "/home/al/repo",
        "019e-aaa",
        None,
    )
    assert row.source_cost == 0.0123
    assert row.ts == us("2026-10-10T08:05:00")  # end_time: the last write of the totals


def test_subagent_session_in_parent(home: Path) -> None:
    vibe_tree(home)
    row = rows_by_key(home)["019e-child"]
    assert pick(row, "session_id", "agent", "model", "provider", "input", "output") == (
        "019e-aaa",
        "subagent",
        "qwen3-coder",
        "llamacpp",
        800,
        90,
    )
    assert row.source_cost is None


def test_legacy_flat_file_dated_at_mtime(home: Path) -> None:
    vibe_tree(home)
    row = rows_by_key(home)["legacy-1"]
    assert pick(row, "model", "provider", "input", "output", "cache_read") == (
        "mistral-large-latest",
        "mistral",
        8000,
        500,
        0,
    )
    assert row.ts == us("2026-09-01T02:00:00")  # no end_time: the file's mtime, after start_time


def test_never_before_start(home: Path) -> None:
    path = write(
        home / ROOT / "session_x" / "meta.json",
        meta("s", 10, 1, 0, start="2026-10-10T08:00:00Z", end=None),
        mtime="2026-10-01T00:00:00",
    )
    (source,) = VibeReader().discover([])
    assert source.path == path
    assert VibeReader().read(source, 0, {}).rows[0].ts == us("2026-10-10T08:00:00")


def test_active_model_object_and_list_models(home: Path) -> None:
    body = meta("s", 100, 10, 0, active={"alias": "big"})
    body["config"]["models"] = [{"alias": "big", "name": "mistral-medium-2508", "provider": "mistral"}]
    write(home / ROOT / "session_y" / "meta.json", body)
    (row,) = rows_by_key(home).values()
    assert row.model == "mistral-medium-2508"


def test_cached_above_prompt_is_capped(home: Path) -> None:
    write(home / ROOT / "session_z" / "meta.json", meta("s", 100, 10, 400))
    (row,) = rows_by_key(home).values()
    assert pick(row, "input", "cache_read") == (0, 100)


def test_malformed_counted_and_zero_skipped(home: Path) -> None:
    vibe_tree(home)
    reader = VibeReader()
    by_name = {s.path.parent.name: reader.read(s, 0, {}) for s in reader.discover([])}
    bad = by_name["session_20261012_000000_bad"]
    assert bad.rows == [] and bad.skipped == 1 and bad.reasons == {"malformed file": 1}
    zero = by_name["session_20261011_000000_zero"]
    assert zero.rows == [] and zero.skipped == 0


def test_vibe_home_override(home: Path, monkeypatch) -> None:
    other = home / "elsewhere"
    write(other / "logs" / "session" / "session_a" / "meta.json", meta("moved", 10, 1, 0))
    vibe_tree(home)
    monkeypatch.setenv("VIBE_HOME", str(other))
    assert [s.path.parent.name for s in VibeReader().discover([])] == ["session_a"]


def test_grown_session_replaces_its_row(home: Path) -> None:
    path = write(home / ROOT / "session_g" / "meta.json", meta("g", 1000, 100, 200))
    _, frame = ledger_scan(home, VibeReader())
    assert totals(frame)["input"] == 800
    write(path, meta("g", 3000, 300, 1000, end="2026-10-10T09:00:00Z"))
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    _, frame = ledger_scan(home, VibeReader())
    assert frame.height == 1
    assert {k: v for k, v in totals(frame).items() if v} == {"input": 2000, "output": 300, "cache_read": 1000}


def test_fifo_is_not_read(home: Path) -> None:
    path = home / ROOT / "session_f" / "meta.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    assert VibeReader().discover([]) == []
    try:
        VibeReader().read(Source("vibe", path, "whole"), 0, {})
    except OSError as exc:
        assert "not a regular file" in str(exc)
    else:
        raise AssertionError("a FIFO must not be read")
