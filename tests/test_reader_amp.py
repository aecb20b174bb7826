"""Amp reader: ledger events paired with message usage (formats.md §6), totals worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.events import total_tokens_expr
from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

CREATED = 1772445000000  # 2026-03-02T09:50:00Z in epoch ms


def usage(model: str, i: int, o: int, w: int = 0, r: int = 0, **extra) -> dict:
    return {
        "model": model,
        "inputTokens": i,
        "outputTokens": o,
        "cacheCreationInputTokens": w,
        "cacheReadInputTokens": r,
        "totalTokens": i + o + w + r,
        **extra,
    }


def thread(extra_messages: list | None = None, extra_events: list | None = None) -> dict:
    return {
        "v": 120,
        "id": "T-aaa",
        "created": CREATED,
        "title": "fix the build",
        "env": {"initial": {"trees": [{"displayName": "my app", "uri": "file:///home/alice/my%20app"}]}},
        "messages": [
            {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "fix it"}]},
            {"role": "assistant", "messageId": 1, "usage": usage("claude-sonnet-4-5", 12, 420, 3100, 18000)},
            {"role": "assistant", "messageId": 3, "usage": usage("claude-sonnet-4-5", 5, 50, 0, 21000)},
            {"role": "assistant", "messageId": 5, "usage": usage("claude-haiku-4-5", 100, 10, credits=0.4)},
            *(extra_messages or []),
        ],
        "usageLedger": {
            "events": [
                # legacy ledger input = whole prompt 12 + 3100 + 18000; the split comes from message 1
                {
                    "id": "evt-1",
                    "timestamp": "2026-03-02T10:30:04.000Z",
                    "model": "claude-sonnet-4-5",
                    "credits": 3,
                    "tokens": {"input": 21112, "output": 420},
                    "operationType": "inference",
                    "fromMessageId": 0,
                    "toMessageId": 1,
                },
                # no toMessageId: paired with message 3 by its counts (21005 = 5 + 21000, output 50)
                {
                    "id": "evt-2",
                    "timestamp": "2026-03-02T10:31:00.000Z",
                    "model": "claude-sonnet-4-5",
                    "credits": 0.5,
                    "tokens": {"input": 21005, "output": 50},
                    "operationType": "inference",
                },
                # its message is not written yet: counted from the ledger; input 700 holds the 300 cache reads
                {
                    "id": "evt-3",
                    "timestamp": "2026-03-02T10:32:00.000Z",
                    "model": "gpt-5",
                    "credits": 1.25,
                    "tokens": {"input": 700, "output": 30, "cacheReadInputTokens": 300, "total": 730},
                    "operationType": "inference",
                    "toMessageId": 7,
                },
                {"id": "evt-4", "timestamp": "2026-03-02T10:33:00.000Z", "model": "gpt-5", "credits": -1, "tokens": {}},
                *(extra_events or []),
            ]
        },
    }


def write(path: Path, value: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1))
    return path


def threads_dir(home: Path) -> Path:
    return home / ".local/share/amp/threads"


def test_amp_pairs_ledger_and_messages(home: Path) -> None:
    write(threads_dir(home) / "T-aaa.json", thread())
    (threads_dir(home) / "T-bad.json").write_text('{"id": "T-bad", "messages": [')  # caught mid-rewrite
    (threads_dir(home) / "notes.json").write_text("{}")  # not a thread file
    reader = get_reader("amp")
    sources = reader.discover([])
    assert sorted(s.path.name for s in sources) == ["T-aaa.json", "T-bad.json"]
    assert all(s.mode == "whole" for s in sources)
    bad = reader.read(next(s for s in sources if s.path.name == "T-bad.json"), 0, {})
    assert bad.rows == [] and bad.skipped == 1 and bad.errors
    frame = frame_of([reader])
    # m1 12+420+3100+18000 = 21532 (not the ledger's 21112+420 on top); m3 5+50+21000 = 21055;
    # evt-3 (700-300)+30+300 = 730; m5 100+10 = 110; evt-4 empty -> 21532+21055+730+110 = 43427
    assert frame.height == 4
    assert frame.select(total_tokens_expr().sum()).item() == 43427
    assert frame["input"].sum() == 12 + 5 + 400 + 100
    assert frame["cache_read"].sum() == 18000 + 21000 + 300
    assert frame["cache_write_5m"].sum() == 3100
    # credits as source_cost: 3 + 0.5 + 1.25 + 0.4 (evt-4's negative credits dropped)
    assert frame["source_cost"].sum() == pytest.approx(5.15)
    assert set(frame["session_id"]) == {"T-aaa"}
    assert set(frame["workspace"]) == {"/home/alice/my app"}
    m1 = frame.filter(pl.col("cache_write_5m") == 3100).row(0, named=True)
    assert m1["ts"].isoformat() == "2026-03-02T10:30:04+00:00"  # the ledger event's time
    assert m1["provider"] == "anthropic"
    m5 = frame.filter(pl.col("input") == 100).row(0, named=True)
    assert m5["ts"].timestamp() == pytest.approx((CREATED + 5 * 1000) / 1000)  # created + messageId s
    e3 = frame.filter(pl.col("model") == "gpt-5").row(0, named=True)
    assert e3["provider"] == "openai"


def test_amp_rewrite_keeps_keys(home: Path) -> None:
    path = write(threads_dir(home) / "T-aaa.json", thread())
    ledger = Ledger()
    reader = get_reader("amp")
    scan(ledger, [reader], workers=1)
    assert ledger.frame().select(total_tokens_expr().sum()).item() == 43427
    # Amp rewrites the thread: message 7 arrives for evt-3, message 5 gets its ledger event, a new turn 9
    write(
        path,
        thread(
            extra_messages=[
                {"role": "assistant", "messageId": 7, "usage": usage("gpt-5", 400, 30, 0, 300)},
                {"role": "assistant", "messageId": 9, "usage": usage("claude-sonnet-4-5", 1, 2)},
            ],
            extra_events=[
                {
                    "id": "evt-5",
                    "timestamp": "2026-03-02T10:40:00.000Z",
                    "model": "claude-haiku-4-5",
                    "credits": 0.4,
                    "tokens": {"input": 100, "output": 10},
                    "toMessageId": 5,
                },
                {
                    "id": "evt-9",
                    "timestamp": "2026-03-02T10:41:00.000Z",
                    "model": "claude-sonnet-4-5",
                    "tokens": {"input": 1, "output": 2},
                    "toMessageId": 9,
                },
            ],
        ),
    )
    summary = scan(ledger, [reader], workers=1)
    assert summary.read == 1
    assert summary.new_events == 1  # only message 9 is new
    frame = ledger.frame()
    # 43427 + (1+2 = 3) = 43430; message 7 replaces evt-3's row with the same 730
    assert frame.height == 5
    assert frame.select(total_tokens_expr().sum()).item() == 43430
    m5 = frame.filter(pl.col("input") == 100).row(0, named=True)
    assert m5["ts"].isoformat() == "2026-03-02T10:40:00+00:00"  # the paired row won
    assert scan(ledger, [reader], workers=1).read == 0


def test_amp_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("amp")
    assert "AMP_DATA_DIR" in reader.env
    assert reader.roots() == [home / ".local/share/amp/threads"]
    # XDG_DATA_HOME moved: its amp dir and Amp's fixed ~/.local/share/amp (ccusage adapter/amp/paths.rs) both count
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    assert reader.roots() == [home / "data/amp/threads", home / ".local/share/amp/threads"]
    # AMP_DATA_DIR (comma list, as ccusage reads it) replaces both
    monkeypatch.setenv("AMP_DATA_DIR", f"{home}/a, {home}/b")
    assert reader.roots() == [home / "a/threads", home / "b/threads"]


def test_amp_messages_without_message_id_still_count(home: Path) -> None:
    # Older threads write assistant messages with usage but no messageId: each is still one inference.
    bare = {"role": "assistant", "usage": usage("claude-sonnet-4-5", 7, 70, 0, 700)}
    other = {"role": "assistant", "usage": usage("claude-sonnet-4-5", 8, 80)}
    value = {"id": "T-old", "created": CREATED, "messages": [{"role": "user", "content": []}, bare, other]}
    path = write(threads_dir(home) / "T-old.json", value)
    frame = frame_of([get_reader("amp")])
    # 7+70+700 = 777 and 8+80 = 88 -> 865 over 2 inferences, dated at the thread's creation
    assert frame.height == 2
    assert frame.select(total_tokens_expr().sum()).item() == 865
    assert set(frame["ts"].dt.epoch("ms")) == {CREATED}
    keys = set(frame["event_key"])
    write(path, value | {"title": "renamed"})  # a rewrite keeps the keys
    assert set(frame_of([get_reader("amp")])["event_key"]) == keys


@pytest.mark.parametrize("huge", [9223372036854775807, 1e30])
def test_an_out_of_range_amp_count_reaches_the_scan_as_a_number(home: Path, huge: float) -> None:
    big = {"role": "assistant", "messageId": 1, "usage": usage("gpt-5", 1, 1) | {"inputTokens": huge}}
    ok = {"role": "assistant", "messageId": 2, "usage": usage("gpt-5", 2, 3)}
    write(threads_dir(home) / "T-big.json", {"id": "T-big", "created": CREATED, "messages": [big, ok]})
    reader = get_reader("amp")
    rows = {r.event_key: r for r in reader.read(reader.discover([])[0], 0, {}).rows}
    assert rows["T-big:1"].input >= 2**63 - 1 and (rows["T-big:2"].input, rows["T-big:2"].output) == (2, 3)


def test_one_mistyped_message_costs_only_itself(home: Path) -> None:
    value = thread(extra_messages=[{"role": "assistant", "messageId": 9, "usage": "not an object"}])
    value["usageLedger"]["events"].append({"id": "evt-9", "tokens": 12})  # a mistyped ledger event
    write(threads_dir(home) / "T-aaa.json", value)
    reader = get_reader("amp")
    result = reader.read(reader.discover([])[0], 0, {})
    assert result.reasons == {"mistyped message": 1, "mistyped ledger event": 1}
    # everything else as in test_amp_pairs_ledger_and_messages: 43427 tokens over 4 events
    frame = frame_of([reader])
    assert frame.height == 4
    assert frame.select(total_tokens_expr().sum()).item() == 43427


def test_a_number_beyond_float_range_costs_only_its_message(home: Path) -> None:
    # 1e400 is valid JSON that msgspec refuses ("Number out of range"): the thread is still read.
    text = json.dumps(thread(extra_messages=[{"role": "assistant", "messageId": 9, "usage": usage("gpt-5", 1, 1)}]))
    text = text.replace('"inputTokens": 1, "outputTokens": 1', '"inputTokens": 1e400, "outputTokens": 1')
    assert "1e400" in text
    (threads_dir(home)).mkdir(parents=True)
    (threads_dir(home) / "T-aaa.json").write_text(text)
    reader = get_reader("amp")
    rows = {r.event_key: r for r in reader.read(reader.discover([])[0], 0, {}).rows}
    assert rows["T-aaa:9"].input >= 2**63  # infinite: the scan refuses this row with a reason
    assert sum(r.input + r.output + r.cache_read + r.cache_write_5m for k, r in rows.items() if k != "T-aaa:9") == 43427
