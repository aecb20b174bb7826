"""Qoder readers: the IDE's local.db (prompt includes cache, every role counts) and the CLI's segment logs."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from tokscope.readers import get_reader

from tokscope.scan import frame_of

# chat_message as the Qoder IDE creates it (Tokdash's captured DDL)
SCHEMA = """
CREATE TABLE chat_message (
    id varchar(64) primary key, session_id VARCHAR(64), request_id VARCHAR(64), role VARCHAR(64),
    content text, summary text, summary_modified INTEGER, summary_trigger INTEGER DEFAULT 0, tool_result text,
    token_info text, model_info text, extra text DEFAULT '', gmt_create INTEGER
)
"""
INTL_SESSION = "db96962b-bfda-402f-8728-ff48bb27217c"
CN_SESSION = "task-3b44336653874aa9991b.session.execution"
# (id, session, request, role, token_info, model_info, gmt_create): captured rows (values as Tokdash recorded them)
ROWS = [
    ("0d58a4cf", INTL_SESSION, "81d13c6e", "user", "", "", 1787314424722),
    (
        "39f8185a",
        INTL_SESSION,
        "81d13c6e",
        "assistant",
        '{"prompt_tokens":17553,"completion_tokens":115,"cached_tokens":0,"max_input_tokens":180000}',
        '{"model_key":"auto"}',
        1787314430153,
    ),
    # CN build: model_info empty, tool and user rows carry their own model call
    (
        "5be66f81",
        CN_SESSION,
        "5ae12a88",
        "user",
        '{"prompt_tokens": 24667, "completion_tokens": 103, "cached_tokens": 0, "max_input_tokens": 0}',
        "",
        1781603730142,
    ),
    (
        "8d42bf13",
        CN_SESSION,
        "5ae12a88",
        "tool",
        '{"prompt_tokens": 24814, "completion_tokens": 114, "cached_tokens": 0, "max_input_tokens": 0}',
        "",
        1781603739994,
    ),
    # a pinned model with a cache hit inside the prompt
    (
        "a1",
        INTL_SESSION,
        "r3",
        "assistant",
        '{"prompt_tokens": 30000, "completion_tokens": 400, "cached_tokens": 26000, "max_input_tokens": 180000}',
        '{"model_key":"claude-sonnet-4-5"}',
        1787314500000,
    ),
    ("bad", INTL_SESSION, "r4", "assistant", '{"prompt_tokens": ', "", 1787314600000),
]


def ide_db(home: Path, brand: str = "Qoder", rows: list[tuple] = ROWS) -> Path:
    path = home / ".local/share" / brand / "SharedClientCache/cache/db/local.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(SCHEMA)
    conn.executemany(
        "INSERT INTO chat_message (id, session_id, request_id, role, token_info, model_info, gmt_create)"
        " VALUES (?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()
    conn.close()
    return path


def test_ide_rows(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    ide_db(home)
    reader = get_reader("qoder")
    (source,) = reader.discover([])
    result = reader.read(source, 0, {})
    assert result.reasons == {"malformed token_info": 1} and result.errors == []
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["39f8185a", "5be66f81", "8d42bf13", "a1"]  # the user row with no token_info: none
    assert (rows["39f8185a"].input, rows["39f8185a"].output, rows["39f8185a"].model) == (17553, 115, "auto")
    assert rows["39f8185a"].provider == "qoder" and rows["39f8185a"].ts == 1787314430153 * 1000
    assert rows["5be66f81"].model == "auto" and rows["8d42bf13"].session_id == CN_SESSION  # CN: empty model_info
    pinned = rows["a1"]
    assert (pinned.input, pinned.cache_read, pinned.output) == (4000, 26000, 400)  # cache taken out of the prompt
    assert pinned.provider == "anthropic"


def test_ide_copy_in_two_installs_counts_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    ide_db(home, "Qoder")
    ide_db(home, "QoderCN")
    reader = get_reader("qoder")
    assert len(reader.discover([])) == 2
    frame = frame_of([reader])
    assert frame.height == 4 and int(frame["input"].sum()) == 17553 + 24667 + 24814 + 4000


def test_ide_roots_per_platform(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = get_reader("qoder")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert reader.roots()[0] == home / "Library/Application Support/Qoder/SharedClientCache/cache/db/local.db"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(home / "Roaming"))
    assert reader.roots()[1] == home / "Roaming/QoderCN/SharedClientCache/cache/db/local.db"
    monkeypatch.setenv("QODER_IDE_DATA_DIR", str(home / "x"))
    assert reader.roots() == [home / "x/SharedClientCache/cache/db/local.db"]


# --- CLI ---------------------------------------------------------------------------------------

SESSION = "785f621e-d193-48e4-80e3-5466188f7cc8"
PROJECT = "-private-tmp-qoder-test"


def transcript_line(rid: str, ts: str, tokens: tuple[int, int, int, int] = (0, 0, 0, 0), credits: float = 2.3) -> dict:
    """An assistant transcript line (the international v1.1.28 shape: tokens zero-filled, credits set)."""
    i, o, r, w = tokens
    usage: dict[str, Any] = {
        "input_tokens": i,
        "cache_creation_input_tokens": w,
        "cache_read_input_tokens": r,
        "output_tokens": o,
        "service_tier": "standard",
        "credits": credits,
        "original_credits": credits,
        "billable": True,
        "request_id": rid,
        "context_usage_ratio": 0.12995555555555555,
    }
    return {
        "type": "assistant",
        "uuid": f"u-{rid}",
        "timestamp": ts,
        "sessionId": SESSION,
        "cwd": "/private/tmp/qoder-test",
        "message": {"id": rid, "type": "message", "role": "assistant", "model": "auto", "usage": usage},
        "version": "1.1.28",
    }


def segment_line(rid: str, ts: str, tokens: tuple[int, int, int, int], model: str = "auto") -> dict:
    i, o, r, w = tokens
    return {
        "ts": ts,
        "seq": 38,
        "level": "info",
        "type": "model.response.completed",
        "turn_id": SESSION,
        "request_id": rid,
        "data": {
            "request_index": 1,
            "model": model,
            "stop_reason": "tool_use",
            "input_tokens": i,
            "output_tokens": o,
            "cache_read_input_tokens": r,
            "cache_creation_input_tokens": w,
        },
    }


def write(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def cli_tree(home: Path, root: str = ".qoder") -> None:
    base = home / root
    write(
        base / "projects" / PROJECT / f"{SESSION}.jsonl",
        [
            {"type": "user", "timestamp": "2026-08-21T12:24:20.000Z", "sessionId": SESSION},
            transcript_line("115df0c0", "2026-08-21T12:24:24.531Z"),  # zero-filled: no row
            transcript_line("d265ff5a", "2026-08-21T12:24:27.634Z", (120, 30, 2000, 0)),
            transcript_line("77aa0000", "2026-08-21T12:24:29.000Z", (50, 5, 0, 0)),
            '{"type": "assistant", "message": {"usage": ',
        ],
    )
    write(
        base / "projects" / PROJECT / "transcript" / f"{SESSION}.jsonl",
        [transcript_line("zz", "2026-08-21T12:00:00Z", (9, 9, 9, 9))],
    )
    write(
        base / "logs/sessions" / PROJECT / SESSION / "segments" / "0001.jsonl",
        [
            segment_line("115df0c0", "2026-08-21T13:24:24.422+01:00", (0, 0, 0, 0)),
            segment_line("d265ff5a", "2026-08-21T13:24:27.624+01:00", (130, 31, 2000, 10)),
            {
                "ts": "2026-08-21T13:24:28.633+01:00",
                "type": "turn.finished",
                "request_id": "d265ff5a",
                "data": {"input_tokens": 999},
            },
        ],
    )


def test_cli_rows(home: Path) -> None:
    cli_tree(home)
    reader = get_reader("qoder-cli")
    names = sorted(s.path.name for s in reader.discover([]))
    assert names == ["0001.jsonl", f"{SESSION}.jsonl"]  # the transcript/ copies are not read
    frame = frame_of([reader])
    rows = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert sorted(rows) == ["77aa0000", "d265ff5a"]  # the zero-filled request gives nothing
    seg = rows["d265ff5a"]  # the segment's numbers win over the transcript's
    assert (seg["input"], seg["output"], seg["cache_read"], seg["cache_write_5m"]) == (130, 31, 2000, 10)
    assert seg["ts"].isoformat() == "2026-08-21T12:24:27.624000+00:00" and seg["session_id"] == SESSION
    only = rows["77aa0000"]
    assert (only["input"], only["output"], only["workspace"], only["source_cost"]) == (
        50,
        5,
        "/private/tmp/qoder-test",
        None,
    )


def test_cli_malformed_line_is_counted(home: Path) -> None:
    cli_tree(home)
    reader = get_reader("qoder-cli")
    source = next(s for s in reader.discover([]) if s.path.parent.name == PROJECT)
    assert reader.read(source, 0, {}).skipped == 1


def test_cli_roots(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_tree(home, ".qoder-cn")
    monkeypatch.setenv("QODER_CONFIG_DIR", str(home / "q"))
    cli_tree(home, "q")
    reader = get_reader("qoder-cli")
    assert reader.roots() == [home / "q", home / ".qoder", home / ".qoder-cn"]
    assert len(reader.discover([])) == 4
    assert frame_of([reader]).height == 2  # the same requests in two roots count once


def sample_ide(home: Path) -> None:
    ide_db(home)
