"""MiMo Code reader: OpenCode schema, imported messages skipped, channel databases, seconds, string paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tokscope.readers import get_reader

from tests.test_reader_opencode import SCHEMA, msg
from tokscope.scan import frame_of

APP = "/home/alice/src/app"
T0 = 1772445307412  # epoch ms

IMPORTS = """
CREATE TABLE external_import (
    id TEXT PRIMARY KEY, source TEXT, session_id TEXT, message_ids TEXT, time_created INTEGER
);
CREATE TABLE claude_import (id TEXT PRIMARY KEY, session_id TEXT, message_ids TEXT, time_created INTEGER);
"""


def data_dir(home: Path) -> Path:
    return home / ".local/share/mimocode"


def mimo(tokens: tuple[int, int, int, int, int], **extra: Any) -> dict[str, Any]:
    """A MiMo assistant message (OpenCode's shape, MiMo's model and provider)."""
    data = msg(tokens, model="mimo-v2.5-pro", provider="xiaomi", **{k: v for k, v in extra.items() if k != "path"})
    if "path" in extra:
        data["path"] = extra["path"]
    return data


MESSAGES: list[tuple[str, str, dict[str, Any]]] = [
    ("msg_001", "ses_A", mimo((1000, 500, 100, 200, 50), id="msg_001", cost=0.05)),
    ("msg_002", "ses_A", msg(None, role="user")),
    # epoch seconds in time.created (some MiMo builds): 2026-03-02T09:55:07Z
    ("msg_003", "ses_A", mimo((10, 5, 0, 0, 0), id="msg_003", created=1772445307, completed=1772445309)),
    # path written as a plain string: no workspace from it, still counted
    ("msg_004", "ses_X", mimo((7, 3, 0, 0, 0), id="msg_004", path="/home/alice/src/app")),
    # imported from Claude Code / another client: listed in the import tables, never counted
    ("msg_imp1", "ses_A", mimo((9999, 9999, 0, 0, 0), id="msg_imp1")),
    ("msg_imp2", "ses_A", mimo((8888, 8888, 0, 0, 0), id="msg_imp2")),
    ("msg_bad", "ses_A", {"tokens": "["}),  # replaced below by a row that does not decode
]


def make_db(path: Path, messages=MESSAGES, imports: bool = True, wal: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    if imports:
        conn.executescript(IMPORTS)
        conn.execute("INSERT INTO external_import VALUES ('imp1', 'codex', 'ses_A', ?, ?)",
                     (json.dumps(["msg_imp1"]), T0))  # fmt: skip
        conn.execute("INSERT INTO claude_import VALUES ('imp2', 'ses_A', ?, ?)", (json.dumps(["msg_imp2"]), T0))
        conn.execute("INSERT INTO claude_import VALUES ('imp3', 'ses_A', 'not json', ?)", (T0,))
    conn.execute("INSERT INTO session (id, project_id, parent_id, directory) VALUES ('ses_A', 'p1', NULL, ?)", (APP,))
    for mid, sid, data in messages:
        raw = '{"tokens": ' if mid == "msg_bad" else json.dumps(data)
        conn.execute("INSERT INTO message (id, session_id, time_created, data) VALUES (?,?,?,?)", (mid, sid, T0, raw))
    conn.commit()
    conn.close()
    return path


def test_messages_and_traps(home: Path) -> None:
    make_db(data_dir(home) / "mimocode.db")
    reader = get_reader("mimo-code")
    (source,) = reader.discover([])
    assert source.mode == "whole" and source.companions == (data_dir(home) / "mimocode.db-wal",)
    result = reader.read(source, 0, {})
    assert result.errors == []
    assert result.skipped == 1 and result.reasons == {"malformed message": 1}
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["msg_001", "msg_003", "msg_004"]  # user row, imports, malformed: out
    one = rows["msg_001"]
    assert (one.input, one.output, one.reasoning, one.cache_read, one.cache_write_5m) == (1000, 600, 100, 200, 50)
    assert one.source_cost == 0.05 and one.model == "mimo-v2.5-pro" and one.provider == "xiaomi"
    assert one.workspace == APP and one.session_id == "ses_A" and one.client == "mimo-code"
    assert rows["msg_003"].ts == 1772445307 * 1_000_000  # seconds read as seconds, not 1970
    assert (rows["msg_004"].input, rows["msg_004"].output, rows["msg_004"].workspace) == (7, 3, "")


def test_same_message_in_two_channel_databases_counts_once(home: Path) -> None:
    shared = mimo((40, 4, 0, 0, 0), id="msg_shared", created=T0 + 1000)
    make_db(data_dir(home) / "mimocode.db", messages=[("row_a", "ses_A", shared)])
    make_db(data_dir(home) / "mimocode-beta.db", messages=[("row_b", "ses_A", shared)], imports=False)
    (data_dir(home) / "other.db").write_bytes(b"")  # not a MiMo database name: not discovered
    reader = get_reader("mimo-code")
    assert sorted(s.path.name for s in reader.discover([])) == ["mimocode-beta.db", "mimocode.db"]
    keys = [r.event_key for s in reader.discover([]) for r in reader.read(s, 0, {}).rows]
    assert keys == ["msg_shared", "msg_shared"]  # the embedded id, not the row ids
    frame = frame_of([reader])
    assert frame.height == 1 and int(frame["input"].sum()) == 40


def test_row_id_is_the_key_without_an_embedded_id(home: Path) -> None:
    make_db(data_dir(home) / "mimocode.db", messages=[("row_only", "ses_A", mimo((1, 2, 0, 0, 0)))], imports=False)
    reader = get_reader("mimo-code")
    (source,) = reader.discover([])
    assert [r.event_key for r in reader.read(source, 0, {}).rows] == ["row_only"]


def test_data_dir_variable(home: Path, monkeypatch) -> None:
    other = home / "elsewhere"
    make_db(other / "mimocode.db")
    monkeypatch.setenv("MIMOCODE_DATA_DIR", str(other))
    reader = get_reader("mimo-code")
    assert reader.roots() == [other]
    assert [s.path for s in reader.discover([])] == [other / "mimocode.db"]


def test_not_a_database_is_an_error(home: Path) -> None:
    path = data_dir(home) / "mimocode.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    reader = get_reader("mimo-code")
    (source,) = reader.discover([])
    result = reader.read(source, 0, {})
    assert result.rows == [] and len(result.errors) == 1
