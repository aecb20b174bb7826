"""Factory Droid reader: cumulative settings.json per session, traps, replace-on-re-read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.droid import DroidReader, normalize_model

from tests.session_totals_helpers import ledger_scan, totals, us

SESSIONS = ".factory/sessions"


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest does not clear ``DROID_SESSIONS_DIR``: a developer's own setting must not leak in."""
    monkeypatch.delenv("DROID_SESSIONS_DIR", raising=False)


def write(path: Path, data: object, mtime: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    if mtime:
        t = us(mtime) / 1e6
        os.utime(path, (t, t))
    return path


def droid_tree(home: Path) -> Path:
    root = home / SESSIONS / "-home-al-app"
    # a: thinking outside output (no totalTokens): output 567 + 34; stamped at mtime (after the lock)
    write(
        root / "a1.settings.json",
        {
            "model": "custom:Claude-Opus-4.5-Thinking-[Anthropic]-0",
            "providerLock": "Anthropic",
            "providerLockTimestamp": "2026-11-01T08:00:00Z",
            "tokenUsage": {
                "inputTokens": 1234,
                "outputTokens": 567,
                "cacheCreationTokens": 89,
                "cacheReadTokens": 12,
                "thinkingTokens": 34,
            },
        },
        mtime="2026-11-20T12:00:00",
    )
    write(root / "a1.jsonl", '{"type":"session_start","id":"a1","cwd":"/home/al/app"}\n{"type":"message"}\n')
    # b: totalTokens = in + out + cache -> thinking already inside output, only reported
    write(
        root / "b2.settings.json",
        {
            "model": "gpt-5-codex",
            "tokenUsage": {"inputTokens": 100, "outputTokens": 50, "thinkingTokens": 20, "totalTokens": 150},
        },
        mtime="2026-11-20T13:00:00",
    )
    # c: no model -> the transcript's "Model:" line; mtime older than the lock -> the lock time
    write(
        root / "deeper" / "c3.settings.json",
        {"providerLockTimestamp": "2026-11-21T09:30:00.000Z", "tokenUsage": {"inputTokens": 10, "outputTokens": 5}},
        mtime="2026-11-21T09:00:00",
    )
    write(
        root / "deeper" / "c3.jsonl",
        json.dumps({"type": "message", "text": "<system-reminder>Model: GPT-5.1 Codex [OpenAI]\\nCwd: /x"}) + "\n",
    )
    # traps without rows: malformed JSON (skipped and counted), no tokenUsage, all zero
    write(root / "d4.settings.json", '{"model": "x", "tokenUsage": {')
    write(root / "e5.settings.json", {"model": "gpt-5"})
    write(root / "f6.settings.json", {"model": "gpt-5", "tokenUsage": {"inputTokens": 0}})
    write(root / "notes.json", {"tokenUsage": {"inputTokens": 999}})  # not a settings file
    return root


def test_normalize_model() -> None:
    assert normalize_model("custom:Claude-Opus-4.5-Thinking-[Anthropic]-0") == ("claude-opus-4.5-thinking", "anthropic")
    assert normalize_model("Claude-Sonnet-4-[Anthropic]") == ("claude-sonnet-4", "anthropic")
    assert normalize_model("gemini-2.5-pro") == ("gemini-2.5-pro", None)
    assert normalize_model("GPT 5.1 Codex") == ("gpt-5.1-codex", None)


def test_registered_and_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("droid")
    assert isinstance(reader, DroidReader) and reader.session_totals is True
    assert reader.roots() == [home / SESSIONS]
    monkeypatch.setenv("DROID_SESSIONS_DIR", str(home / "elsewhere"))
    assert reader.roots() == [home / "elsewhere"]


def test_rows_and_traps(home: Path) -> None:
    droid_tree(home)
    reader = DroidReader()
    sources = reader.discover([])
    assert len(sources) == 6 and all(s.mode == "whole" for s in sources)
    rows, skipped = {}, 0
    for source in sources:
        result = reader.read(source, 0, {})
        skipped += result.skipped
        rows.update({r.session_id: r for r in result.rows})
    assert skipped == 1 and set(rows) == {"a1", "b2", "c3"}
    a = rows["a1"]
    assert (a.client, a.provider, a.model, a.workspace, a.session_id, a.agent, a.event_key, a.ts) == (
        "droid", "anthropic", "claude-opus-4.5-thinking", "/home/al/app", "a1", None, "a1", us("2026-11-20T12:00:00"),
    )  # fmt: skip
    # output 567 + 34 thinking = 601, reasoning 34; cache read 12, cache write 89 (5m)
    assert (a.input, a.output, a.reasoning, a.cache_read, a.cache_write_5m, a.cache_write_1h) == (
        1234,
        601,
        34,
        12,
        89,
        0,
    )
    assert (a.source_cost, a.service_tier) == (None, None)
    b = rows["b2"]
    assert (b.provider, b.model) == ("openai", "gpt-5-codex") and (b.input, b.output, b.reasoning) == (100, 50, 20)
    assert b.workspace == ""
    c = rows["c3"]
    assert (c.provider, c.model, c.ts, c.input, c.output) == (
        "openai",
        "gpt-5.1-codex",
        us("2026-11-21T09:30:00"),
        10,
        5,
    )


def test_reread_replaces_session_totals(home: Path) -> None:
    root = droid_tree(home)
    reader = DroidReader()
    summary, frame = ledger_scan(home, reader)
    assert summary.skipped == 1
    # input 1234 + 100 + 10 = 1344; output 601 + 50 + 5 = 656
    assert totals(frame)["input"] == 1344 and totals(frame)["output"] == 656
    settings = json.loads((root / "a1.settings.json").read_text())
    settings["tokenUsage"].update(inputTokens=2000, outputTokens=700)
    write(root / "a1.settings.json", settings, mtime="2026-11-22T07:00:00")
    summary, frame = ledger_scan(home, reader)
    assert summary.read == 1  # only the rewritten file
    # replaced: 2000 + 100 + 10 = 2110 input; 700 + 34 + 50 + 5 = 789 output
    assert totals(frame)["input"] == 2110 and totals(frame)["output"] == 789 and frame.height == 3
    a = frame.filter(frame["session_id"] == "a1")
    assert a["ts"].dt.epoch("us").item() == us("2026-11-22T07:00:00")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_is_reported(home: Path) -> None:
    path = write(home / SESSIONS / "x" / "z.settings.json", {"tokenUsage": {"inputTokens": 1}})
    path.chmod(0)
    try:
        summary, frame = ledger_scan(home, DroidReader())
    finally:
        path.chmod(0o600)
    assert frame.height == 0 and summary.errors


@pytest.mark.parametrize("archive_is_newer", [True, False])
def test_the_newest_copy_of_a_session_wins(home: Path, archive_is_newer: bool) -> None:
    # Droid (or the user) moves old sessions to another folder such as archive/; a copy may be left behind.
    # ccusage's keeps_latest_snapshot_for_duplicate_session_ids: the later snapshot (larger running totals) wins.
    usage = {"model": "gpt-5-codex", "providerLock": "openai"}
    old = usage | {"tokenUsage": {"inputTokens": 100, "outputTokens": 10}}
    new = usage | {"tokenUsage": {"inputTokens": 300, "outputTokens": 30}}
    live = write(home / SESSIONS / "-home-al-app" / "s9.settings.json", old if archive_is_newer else new)
    write(home / SESSIONS / "archive" / "s9.settings.json", new if archive_is_newer else old)
    _summary, frame = ledger_scan(home, DroidReader())
    assert frame.height == 1
    assert totals(frame)["input"] == 300 and totals(frame)["output"] == 30
    assert live.exists()


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_droid_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    write(home / SESSIONS / "x" / "h.settings.json", {"tokenUsage": {"inputTokens": huge, "outputTokens": 1}})
    reader = DroidReader()
    (row,) = reader.read(reader.discover([])[0], 0, {}).rows
    assert row.input >= 2**63 - 1 and row.output == 1


def test_a_fresh_copy_of_an_old_snapshot_does_not_win(home: Path) -> None:
    # `cp` (or a sync tool) gives an old snapshot a new mtime; its smaller running totals still mark it as older.
    usage = {"model": "gpt-5-codex", "providerLock": "openai"}
    write(
        home / SESSIONS / "-home-al-app" / "s7.settings.json",
        usage | {"tokenUsage": {"inputTokens": 500, "outputTokens": 50}},
        mtime="2026-11-20T08:00:00",
    )
    write(
        home / SESSIONS / "backup" / "s7.settings.json",
        usage | {"tokenUsage": {"inputTokens": 200, "outputTokens": 20}},
        mtime="2026-11-25T08:00:00",
    )
    _summary, frame = ledger_scan(home, DroidReader())
    assert frame.height == 1 and totals(frame)["input"] == 500 and totals(frame)["output"] == 50


def test_only_a_total_counts_as_output(home: Path) -> None:
    # ccusage adapter/droid falls_back_to_total_tokens_when_droid_parts_are_missing: {"totalTokens": 456} -> output 456.
    write(home / SESSIONS / "x" / "t.settings.json", {"model": "gpt-5", "tokenUsage": {"totalTokens": 456}})
    reader = DroidReader()
    (row,) = reader.read(reader.discover([])[0], 0, {}).rows
    assert (row.input, row.output, row.reasoning) == (0, 456, 0)


def test_a_fifo_in_place_of_the_transcript_does_not_hang(home: Path) -> None:
    import threading

    # no model in the settings: the reader looks into <id>.jsonl, which here is a FIFO
    write(home / SESSIONS / "x" / "f.settings.json", {"tokenUsage": {"inputTokens": 3, "outputTokens": 4}})
    os.mkfifo(home / SESSIONS / "x" / "f.jsonl")
    reader = DroidReader()
    found: list = []
    worker = threading.Thread(target=lambda: found.extend(reader.read(reader.discover([])[0], 0, {}).rows), daemon=True)
    worker.start()
    worker.join(10)
    assert found, "reading settings beside a FIFO transcript hung"
    assert (found[0].model, found[0].workspace, found[0].input) == ("unknown", "", 3)
