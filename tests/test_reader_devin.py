"""Devin CLI reader: message_nodes metrics inside chat_message, the "adaptive" routing mode, seconds."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from tokscope.readers import get_reader

# the schema tokscale's fixture mirrors from a real sessions.db
SCHEMA = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, working_directory TEXT NOT NULL, backend_type TEXT NOT NULL, model TEXT NOT NULL,
    agent_mode TEXT NOT NULL, created_at INTEGER NOT NULL, last_activity_at INTEGER NOT NULL
);
CREATE TABLE message_nodes (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, node_id INTEGER NOT NULL,
    parent_node_id INTEGER, chat_message TEXT NOT NULL, created_at INTEGER NOT NULL, metadata TEXT
);
"""
T0 = 1_700_000_000  # epoch seconds


def chat(role: str, metrics: dict | None, model: str | None = None, **extra) -> str:
    meta: dict = {"num_tokens": 147, **extra}
    if metrics is not None:
        meta["metrics"] = metrics
    if model is not None:
        meta["generation_model"] = model
    return json.dumps({"role": role, "content": "hello", "metadata": meta})


MESSAGES = [
    ("sess-1", chat("user", {"input_tokens": 1})),
    # the real row tokscale recorded: sessions.model "adaptive", the model in generation_model
    (
        "sess-1",
        chat(
            "assistant",
            {
                "input_tokens": 31134,
                "output_tokens": 147,
                "cache_read_tokens": 8,
                "cache_creation_tokens": None,
                "total_time_ms": 2846,
            },
            "glm-5-2-max-1m",
        ),
    ),
    # adaptive session and no generation_model: unknown, never "adaptive"
    ("sess-1", chat("assistant", {"input_tokens": 10, "output_tokens": 5})),
    # a pinned session model
    ("sess-2", chat("assistant", {"input_tokens": 20, "output_tokens": 2, "cache_creation_tokens": 300})),
    # num_tokens without metrics: not counted
    ("sess-2", chat("assistant", None, "kimi-k2-7")),
    ("sess-2", '{"role": "assistant", "metadata": {"metrics": '),
]


def make_db(path: Path, wal: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO sessions VALUES ('sess-1', '/Users/alice/project', 'windsurf', 'adaptive', 'a', 1, 1)")
    conn.execute("INSERT INTO sessions VALUES ('sess-2', '/Users/alice/other', 'windsurf', 'kimi-k2-7', 'a', 1, 1)")
    for i, (sid, message) in enumerate(MESSAGES):
        conn.execute(
            "INSERT INTO message_nodes (session_id, node_id, chat_message, metadata, created_at)"
            " VALUES (?, ?, ?, NULL, ?)",
            (sid, i, message, T0 + i),
        )
    conn.commit()
    conn.close()
    return path


def db_path(home: Path) -> Path:
    return home / ".local/share/devin/cli/sessions.db"


def sample(home: Path) -> None:
    make_db(db_path(home))


def test_rows(home: Path) -> None:
    make_db(db_path(home))
    reader = get_reader("devin")
    (source,) = reader.discover([])
    result = reader.read(source, 0, {})
    assert result.reasons == {"malformed chat_message": 1} and result.errors == []
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["sess-1:2", "sess-1:3", "sess-2:4"]
    real = rows["sess-1:2"]
    assert (real.input, real.output, real.cache_read, real.cache_write_5m) == (31134, 147, 8, 0)
    assert (real.model, real.provider, real.workspace) == ("glm-5-2-max-1m", "zai", "/Users/alice/project")
    assert real.ts == (T0 + 1) * 1_000_000  # created_at is seconds
    assert rows["sess-1:3"].model == "unknown"  # "adaptive" is a routing mode
    pinned = rows["sess-2:4"]
    assert (pinned.model, pinned.provider, pinned.cache_write_5m) == ("kimi-k2-7", "moonshot", 300)


def test_windows_root(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(home / "Roaming"))
    make_db(home / "Roaming/devin/cli/sessions.db")
    reader = get_reader("devin")
    assert reader.roots() == [home / "Roaming/devin/cli/sessions.db"]
    (source,) = reader.discover([])
    assert len(reader.read(source, 0, {}).rows) == 3
