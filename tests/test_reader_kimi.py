"""Kimi CLI / Kimi Code reader: both wire formats, traps of formats.md §8, totals worked out by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tokscope.events import total_tokens_expr
from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def status(ts: float, usage: dict, message_id: str | None = None) -> dict:
    payload: dict = {"context_usage": 0.02, "token_usage": usage}
    if message_id:
        payload["message_id"] = message_id
    return {"timestamp": ts, "message": {"type": "StatusUpdate", "payload": payload}}


def tokens(i: int, o: int, r: int = 0, w: int = 0) -> dict:
    return {"input_other": i, "output": o, "input_cache_read": r, "input_cache_creation": w}


def record(usage: dict, time: int, model: str = "kimi-code/kimi-for-coding", scope: str | None = "turn") -> dict:
    line = {"type": "usage.record", "model": model, "usage": usage, "time": time}
    if scope is not None:
        line["usageScope"] = scope
    return line


def cli_fixture(home: Path) -> Path:
    share = home / ".kimi"
    share.mkdir()
    (share / "config.toml").write_text(
        'default_model = "k2"\n\n[models.k2]\nprovider = "moonshot-ai"\nmodel = "kimi-k2-turbo-preview"\n'
    )
    (share / "kimi.json").write_text(json.dumps({"work_dirs": [{"path": "/home/alice/proj"}, {"path": "/x"}]}))
    workdir = hashlib.md5(b"/home/alice/proj").hexdigest()
    return write_jsonl(
        share / "sessions" / workdir / "sess-old" / "wire.jsonl",
        [
            {"type": "metadata", "protocol_version": "1.3"},
            {"timestamp": 1770983400.0, "message": {"type": "TurnBegin", "payload": {"user_input": "hello"}}},
            status(1770983410.0, tokens(100, 10), "msg-1"),
            status(1770983420.0, tokens(120, 30, 5), "msg-1"),  # msg-1 grew: this copy wins (155)
            status(1770983430.0, tokens(300, 400, 50, 20), "msg-2"),
            status(1770983440.0, tokens(40, 4)),  # no id
            '{"timestamp": 1770983450.0, "message": {"type": "StatusUpdate", "payload": {"token_usage":',
            status(1770983460.0, tokens(0, 0), "msg-zero"),
            status(1770983470.0, {"total": 432}, "msg-3"),  # only a total: output
        ],
    )


def code_fixture(home: Path) -> Path:
    root = home / ".kimi-code"
    root.mkdir()
    (root / "workspaces.json").write_text(
        json.dumps({"version": 1, "workspaces": {"wd_app_1234": {"root": "/home/alice/app", "name": "app"}}})
    )
    (root / "session_index.jsonl").write_text(
        json.dumps({"sessionId": "sess-b", "sessionDir": str(root / "sessions/wd_other/sess-b"), "workDir": "/srv/b"})
        + "\n"
    )
    camel = {"inputOther": 5102, "output": 172, "inputCacheRead": 13312, "inputCacheCreation": 0}
    main = write_jsonl(
        root / "sessions/wd_app_1234/sess-new/agents/main/wire.jsonl",
        [
            {"type": "metadata", "protocolVersion": 1},
            {"type": "llm.request", "model": "k3", "time": 1780319377000},
            record(camel, 1780319377014, model="kimi-code/__kimi_env_model__"),  # symbolic: model k3
            record({"inputOther": 999, "output": 999}, 1780319377020, scope="session"),  # bookkeeping
            record({"inputOther": 888, "output": 888}, 1780319377030, scope=None),  # no scope: session
            record(tokens(100, 50, 25, 10), 1780319377050),  # snake_case spelling
            {"type": "step.end", "usage": {"inputOther": 100, "output": 50}, "time": 1780319377051},
        ],
    )
    write_jsonl(
        root / "sessions/wd_app_1234/sess-new/agents/explore-1/wire.jsonl",
        [record({"inputOther": 200, "output": 20}, 1780319377060)],
    )
    write_jsonl(
        root / "sessions/wd_other/sess-b/agents/main/wire.jsonl",
        [record({"inputOther": 1, "output": 1}, 1780319377070)],
    )
    return main


def test_kimi_cli_status_updates(home: Path) -> None:
    cli_fixture(home)
    reader = get_reader("kimi")
    sources = reader.discover([])
    assert len(sources) == 1
    assert reader.read(sources[0], 0, {}).skipped == 1  # the truncated line
    frame = frame_of([reader])
    # msg-1 120+30+5 = 155 (largest copy), msg-2 300+400+50+20 = 770, no-id 40+4 = 44, msg-3 432
    # = 155 + 770 + 44 + 432 = 1401 over 4 events
    assert frame.height == 4
    assert frame.select(total_tokens_expr().sum()).item() == 1401
    assert frame["input"].sum() == 120 + 300 + 40
    assert frame["output"].sum() == 30 + 400 + 4 + 432
    assert frame["cache_read"].sum() == 5 + 50
    assert frame["cache_write_5m"].sum() == 20
    assert set(frame["model"]) == {"kimi-k2-turbo-preview"}  # config alias k2 -> API model
    assert set(frame["provider"]) == {"moonshot"}
    assert set(frame["workspace"]) == {"/home/alice/proj"}  # md5 dir mapped back through kimi.json
    assert set(frame["session_id"]) == {"sess-old"}
    msg1 = frame.filter(pl.col("cache_read") == 5).row(0, named=True)
    assert msg1["ts"].timestamp() == pytest.approx(1770983420.0)


def test_kimi_code_usage_records(home: Path) -> None:
    code_fixture(home)
    frame = frame_of([get_reader("kimi")])
    # main: 5102+172+13312 = 18586 and 100+50+25+10 = 185 (session-scoped, unscoped, step.end skipped)
    # explore-1: 200+20 = 220; sess-b: 1+1 = 2  -> 18586 + 185 + 220 + 2 = 18993 over 4 events
    assert frame.height == 4
    assert frame.select(total_tokens_expr().sum()).item() == 18993
    assert frame["cache_read"].sum() == 13312 + 25
    assert frame["cache_write_5m"].sum() == 10
    big = frame.filter(pl.col("cache_read") == 13312).row(0, named=True)
    assert big["model"] == "k3"  # from the llm.request before the symbolic usage.record model
    assert big["session_id"] == "sess-new" and big["agent"] is None
    assert big["workspace"] == "/home/alice/app"
    assert big["ts"].timestamp() == pytest.approx(1780319377.014)
    sub = frame.filter(pl.col("input") == 200).row(0, named=True)
    assert (sub["session_id"], sub["agent"], sub["model"]) == ("sess-new", "explore-1", "kimi-for-coding")
    other = frame.filter(pl.col("input") == 1).row(0, named=True)
    assert other["workspace"] == "/srv/b"  # from session_index.jsonl


def test_kimi_both_generations_together_and_incremental(home: Path) -> None:
    old = cli_fixture(home)
    new = code_fixture(home)
    ledger = Ledger()
    reader = get_reader("kimi")
    scan(ledger, [reader], workers=1)
    # 1401 (Kimi CLI) + 18993 (Kimi Code) = 20394
    assert ledger.frame().select(total_tokens_expr().sum()).item() == 20394
    with old.open("a") as fh:  # msg-2 grows again: replaces its earlier copy, no new event
        fh.write(json.dumps(status(1770983480.0, tokens(300, 500, 50, 20), "msg-2")) + "\n")
    with new.open("a") as fh:
        fh.write(json.dumps(record({"inputOther": 7, "output": 3}, 1780319377090)) + "\n")
    summary = scan(ledger, [reader], workers=1)
    assert summary.read == 2
    assert summary.new_events == 1
    # 20394 - 770 + (300+500+50+20 = 870) + (7+3 = 10) = 20504
    frame = ledger.frame()
    assert frame.height == 9
    assert frame.select(total_tokens_expr().sum()).item() == 20504


def test_kimi_env_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIMI_SHARE_DIR", raising=False)
    reader = get_reader("kimi")
    assert reader.roots() == [home / ".kimi-code/sessions", home / ".kimi/sessions"]
    monkeypatch.setenv("KIMI_CODE_HOME", str(home / "kc"))
    monkeypatch.setenv("KIMI_SHARE_DIR", str(home / "ks"))
    assert reader.roots() == [home / "kc/sessions", home / "ks/sessions"]


def test_fifo_side_files_do_not_hang(home: Path) -> None:
    import os
    import threading

    wire = cli_fixture(home)
    for name in ("config.toml", "kimi.json"):
        (home / ".kimi" / name).unlink()
        os.mkfifo(home / ".kimi" / name)
    reader = get_reader("kimi")
    source = next(s for s in reader.discover([]) if s.path == wire)
    out: list = []
    worker = threading.Thread(target=lambda: out.append(reader.read(source, 0, {})), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "hung"
    # no config: the default model; no work-dir index: the hash as the workspace
    assert {(r.model, r.workspace) for r in out[0].rows} == {
        ("kimi-for-coding", hashlib.md5(b"/home/alice/proj").hexdigest())
    }
    assert set(reader.env) == {"KIMI_CODE_HOME", "KIMI_SHARE_DIR"}
