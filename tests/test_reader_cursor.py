"""Cursor reader: per-turn token counts Cursor keeps in state.vscdb bubbles (fidelity estimated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.cursor import CursorReader

from tests.session_totals_helpers import (
    check_declared_env,
    check_existing_shm,
    check_fifo_database,
    check_random_bytes,
    check_wal_without_shm,
    ledger_scan,
    make_db,
    pick,
    read_one,
    totals,
    us,
)

DB = ".config/Cursor/User/globalStorage/state.vscdb"
#: Cursor's tables: the KV store of chat state, and ItemTable (where its auth tokens live).
SCHEMA = """
CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);
CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB);
"""
KV = "INSERT INTO cursorDiskKV (key, value) VALUES (?, ?)"
ITEM = "INSERT INTO ItemTable (key, value) VALUES (?, ?)"


def blob(doc: object) -> bytes:
    return json.dumps(doc).encode()


def bubble(
    kind: int,
    inp: int,
    out: int,
    created: str | None = "2026-06-12T09:30:00.000Z",
    model: str | None = None,
    **extra: object,
) -> bytes:
    doc: dict = {
        "_v": 3,
        "type": kind,
        "bubbleId": "b",
        "text": "secret prompt",
        "tokenCount": {"inputTokens": inp, "outputTokens": out},
        **extra,
    }
    if created is not None:
        doc["createdAt"] = created
    if model is not None:
        doc["modelInfo"] = {"modelName": model}
    return blob(doc)


ROWS = [
    (ITEM, ("cursorAuth/accessToken", b"canary-token-never-read")),
    (
        KV,
        (
            "composerData:c1",
            blob(
                {
                    "composerId": "c1",
                    "createdAt": 1_781_250_000_000,
                    "lastUpdatedAt": 1_781_256_600_000,
                    "modelConfig": {"modelName": "claude-4.5-sonnet"},
                }
            ),
        ),
    ),
    (KV, ("bubbleId:c1:u1", bubble(1, 0, 0))),  # the user's bubble: no counts
    (KV, ("bubbleId:c1:t1", bubble(2, 0, 0, toolFormerData={"name": "read_file"}))),  # a tool step: zeros
    (KV, ("bubbleId:c1:a1", bubble(2, 18_500, 640, model="gpt-5"))),  # turn-final: the turn's totals
    (KV, ("bubbleId:c1:a2", bubble(2, 21_000, 300, created=None, model="default"))),  # old bubble, Auto mode
    (KV, ("composerData:c2", blob({"composerId": "c2"}))),
    (KV, ("bubbleId:c2:a1", bubble(2, 900, 90, created=None))),  # no time anywhere: skipped, counted
    (KV, ("bubbleId:c3:a1", bubble(2, 100, 10, model="default"))),  # no composer: cursor-auto
    (KV, ("bubbleId:c4:bad", b"{not json")),
]


def cursor_db(home: Path) -> Path:
    return make_db(home / DB, SCHEMA, ROWS, wal=True)


def test_registered_and_estimated() -> None:
    reader = get_reader("cursor")
    assert isinstance(reader, CursorReader) and reader.fidelity == "estimated" and not reader.session_totals
    check_declared_env(CursorReader())


def test_rows(home: Path) -> None:
    cursor_db(home)
    result = read_one(CursorReader())
    assert result.errors == [] and result.reasons == {"bubble without a time": 1}
    rows = {r.event_key: r for r in result.rows}
    assert sorted(rows) == ["bubbleId:c1:a1", "bubbleId:c1:a2", "bubbleId:c3:a1"]
    first = rows["bubbleId:c1:a1"]
    assert pick(
        first, "model", "provider", "session_id", "input", "output", "cache_read", "reasoning", "source_cost"
    ) == (
        "gpt-5",
        "openai",
        "c1",
        18_500,
        640,
        0,
        0,
        None,
    )
    assert first.ts == us("2026-06-12T09:30:00")
    # Auto mode ("default") falls back to the composer's model; no createdAt: the composer's lastUpdatedAt
    old = rows["bubbleId:c1:a2"]
    assert pick(old, "model", "provider", "input", "output") == ("claude-4.5-sonnet", "anthropic", 21_000, 300)
    assert old.ts == 1_781_256_600_000 * 1000
    assert pick(rows["bubbleId:c3:a1"], "model", "provider") == ("cursor-auto", "cursor")


def test_zero_counts_give_nothing(home: Path) -> None:
    make_db(home / DB, SCHEMA, [(KV, ("bubbleId:c1:a1", bubble(2, 0, 0, model="gpt-5")))])
    result = read_one(CursorReader())
    assert result.rows == [] and result.skipped == 0


def test_auth_and_prompt_text_never_reach_a_row(home: Path) -> None:
    cursor_db(home)
    for row in read_one(CursorReader()).rows:
        assert "canary" not in repr(row) and "secret" not in repr(row)


def test_oversized_value_is_left_out(home: Path) -> None:
    big = bubble(2, 5, 5, model="gpt-5", text="x" * (600 << 10))
    make_db(
        home / DB, SCHEMA, [(KV, ("bubbleId:c1:big", big)), (KV, ("bubbleId:c1:ok", bubble(2, 7, 1, model="gpt-5")))]
    )
    assert [r.event_key for r in read_one(CursorReader()).rows] == ["bubbleId:c1:ok"]


def test_no_kv_table(home: Path) -> None:
    make_db(home / DB, "CREATE TABLE ItemTable (key TEXT, value BLOB);")
    result = read_one(CursorReader())
    assert result.rows == [] and result.errors == []


def test_macos_and_windows_places(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mac = home / "Library/Application Support/Cursor/User/globalStorage/state.vscdb"
    make_db(mac, SCHEMA, ROWS[:5])
    win = home / "win" / "Cursor/User/globalStorage/state.vscdb"
    make_db(win, SCHEMA, ROWS[:5])
    monkeypatch.setenv("APPDATA", str(home / "win"))
    assert sorted(str(s.path.relative_to(home)) for s in CursorReader().discover([])) == [
        "Library/Application Support/Cursor/User/globalStorage/state.vscdb",
        "win/Cursor/User/globalStorage/state.vscdb",
    ]


def test_rescan_replaces_nothing_twice(home: Path) -> None:
    cursor_db(home)
    ledger_scan(home, CursorReader())
    _, frame = ledger_scan(home, CursorReader())
    assert frame.height == 3 and totals(frame)["input"] == 18_500 + 21_000 + 100


def test_database_kit_safety(home: Path) -> None:
    db = cursor_db(home)
    result = check_wal_without_shm(
        CursorReader(), db, f"INSERT INTO cursorDiskKV VALUES ('bubbleId:c1:a9', '{bubble(2, 1, 1).decode()}')"
    )
    assert "bubbleId:c1:a9" in {r.event_key for r in result.rows}


def test_existing_shm(home: Path) -> None:
    result = check_existing_shm(
        CursorReader(), cursor_db(home), "DELETE FROM cursorDiskKV WHERE key = 'bubbleId:c3:a1'"
    )
    assert len(result.rows) == 2


def test_fifo(home: Path) -> None:
    check_fifo_database(home, CursorReader(), home / DB)


def test_random_bytes(home: Path) -> None:
    check_random_bytes(CursorReader(), home / DB)
