"""OpenCode / Kilo reader: SQLite (WAL, read-only) + legacy JSON, forks, child sessions, locks, re-reads."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tokscope.readers import database, get_reader
from tokscope.readers import opencode as oc

from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

SCHEMA = """
CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT NOT NULL);
CREATE TABLE session (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parent_id TEXT, slug TEXT, directory TEXT NOT NULL,
    title TEXT, version TEXT, time_created INTEGER, time_updated INTEGER
);
CREATE TABLE message (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, time_created INTEGER, time_updated INTEGER, data TEXT NOT NULL
);
CREATE TABLE part (
    id TEXT PRIMARY KEY, message_id TEXT NOT NULL, session_id TEXT NOT NULL, time_created INTEGER,
    time_updated INTEGER, data TEXT NOT NULL
);
"""

APP = "/home/alice/src/app"
LIB = "/home/alice/src/lib"
OLD = "/home/alice/old"
T0 = 1772445307412  # epoch ms


def msg(
    tokens: tuple[int, int, int, int, int] | None,
    *,
    role: str = "assistant",
    created: float = T0,
    completed: float | None = T0 + 12538,
    model: str = "claude-sonnet-4-5",
    provider: str = "anthropic",
    agent: str | None = "build",
    mode: str | None = None,
    cost: float | None = None,
    **ids: str,
) -> dict[str, Any]:
    """A message ``data`` object; tokens = (input, output, reasoning, cache read, cache write)."""
    data: dict[str, Any] = {"role": role, "time": {"created": created}, **ids}
    if completed is not None:
        data["time"]["completed"] = completed
    if role == "assistant":
        data.update({"modelID": model, "providerID": provider, "path": {"cwd": "/cwd", "root": "/root-of-path"}})
        if agent is not None:
            data["agent"] = agent
        data["mode"] = mode if mode is not None else agent
        if cost is not None:
            data["cost"] = cost
        if tokens is not None:
            i, o, r, cr, cw = tokens
            data["tokens"] = {"input": i, "output": o, "reasoning": r, "cache": {"read": cr, "write": cw}}
    return data


SESSIONS = [
    ("ses_A", None, APP),
    ("ses_B", "ses_A", APP),  # child (task tool) of A
    ("ses_C", "ses_B", APP),  # grandchild: still A's
    ("ses_F", None, APP),  # a fork of A
    ("ses_D", None, LIB),
]

MSG_001 = msg((9, 611, 0, 41200, 1830), cost=0.0213)
MESSAGES = [
    ("msg_001", "ses_A", MSG_001),
    ("msg_002", "ses_A", msg(None, role="user")),
    ("msg_003", "ses_A", msg((0, 0, 0, 0, 0), completed=None)),  # in progress: zeros
    ("msg_004", "ses_B", msg((100, 50, 25, 1000, 0), created=T0 + 90000.5, agent="general", cost=0.0)),
    ("msg_005", "ses_C", msg((10, 5, 0, 0, 0), created=T0 + 95000, agent="explore")),
    ("msg_101", "ses_F", MSG_001),  # the fork's copy of msg_001 under a new id
    ("msg_102", "ses_F", msg((20, 2, 0, 0, 0), created=T0 + 99000, agent=None, mode="plan")),
    ("msg_006", "ses_D", msg((300, 100, 40, 0, 0), model="gpt-5", provider="openai", cost=0.01)),
]


def make_db(path: Path, sessions=SESSIONS, messages=MESSAGES, wal: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(SCHEMA)
    for sid, parent, directory in sessions:
        conn.execute("INSERT INTO session (id, project_id, parent_id, directory) VALUES (?,?,?,?)",
                     (sid, "p1", parent, directory))  # fmt: skip
    for mid, sid, data in messages:
        conn.execute("INSERT INTO message (id, session_id, time_created, data) VALUES (?,?,?,?)",
                     (mid, sid, T0, json.dumps(data)))  # fmt: skip
        conn.execute("INSERT INTO part (id, message_id, session_id, data) VALUES (?,?,?,?)",
                     ("prt_" + mid, mid, sid, json.dumps({"type": "text", "text": "x" * 200})))  # fmt: skip
    conn.execute("INSERT INTO message (id, session_id, data) VALUES ('msg_bad', 'ses_A', '{\"tokens\": ')")
    conn.commit()
    conn.close()
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def make_legacy(data_dir: Path) -> dict[str, Path]:
    storage = data_dir / "storage"
    write_json(storage / "session" / "proj1" / "ses_L.json", {"id": "ses_L", "directory": OLD})
    write_json(storage / "session" / "proj1" / "ses_LC.json", {"id": "ses_LC", "parentID": "ses_L", "directory": OLD})
    m050 = msg((1000, 200, 0, 500, 100), created=T0 - 10**7, cost=0.05, id="msg_050", sessionID="ses_L")
    paths = {
        # migrated into the database too: the database copy counts
        "dup": write_json(storage / "message" / "ses_A" / "msg_001.json", {**MSG_001, "id": "msg_001"}),
        "m050": write_json(storage / "message" / "ses_L" / "msg_050.json", m050),
        "m051": write_json(
            storage / "message" / "ses_LC" / "msg_051.json",
            msg((70, 7, 3, 0, 0), created=T0 - 9 * 10**6, agent="general", id="msg_051", sessionID="ses_LC"),
        ),
        # a legacy fork copy of msg_050
        "fork": write_json(
            storage / "message" / "ses_LF" / "msg_150.json", {**m050, "id": "msg_150", "sessionID": "ses_LF"}
        ),
        "zero": write_json(
            storage / "message" / "ses_L" / "msg_052.json",
            msg((0, 0, 0, 0, 0), completed=None, id="msg_052", sessionID="ses_L"),
        ),
    }
    bad = storage / "message" / "ses_L" / "msg_053.json"
    bad.write_text('{"role": "assistant", "tokens": ')
    paths["bad"] = bad
    return paths


def data_dir(home: Path, name: str = "opencode") -> Path:
    return home / ".local" / "share" / name


def sums(frame: pl.DataFrame) -> dict[str, Any]:
    cols = ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")
    out: dict[str, Any] = {c: int(frame[c].sum()) for c in cols}
    out["source_cost"] = round(float(frame["source_cost"].sum()), 6)
    return out


@contextmanager
def held_writer(path: Path) -> Iterator[sqlite3.Connection]:
    """A client connection kept open, so writes stay in the -wal file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    try:
        yield conn
    finally:
        conn.close()


def test_fixture_totals(home: Path) -> None:
    base = data_dir(home)
    make_db(base / "opencode.db")
    make_legacy(base)
    reader = get_reader("opencode")
    errors: list[str] = []
    sources = reader.discover(errors)
    db_source = next(s for s in sources if s.path.name == "opencode.db")
    assert db_source.mode == "whole"
    assert db_source.companions == (base / "opencode.db-wal",)
    before = {p.name for p in base.iterdir()}

    frame = frame_of([reader])
    assert {p.name for p in base.iterdir()} == before  # no -wal / -shm created by reading
    by_key = {r["event_key"]: r for r in frame.iter_rows(named=True)}
    assert sorted(by_key) == ["msg_001", "msg_004", "msg_005", "msg_006", "msg_050", "msg_051", "msg_102"]
    # msg_001: 9 in, 611 out, 41200 read, 1830 write;  msg_004: 100 in, 50+25 out, 25 reasoning, 1000 read
    # msg_005: 10 in, 5 out;  msg_102: 20 in, 2 out;  msg_006: 300 in, 100+40 out, 40 reasoning
    # legacy msg_050: 1000 in, 200 out, 500 read, 100 write;  msg_051: 70 in, 7+3 out, 3 reasoning
    # skipped: user, zero-token rows, the fork copies msg_101/msg_150, msg_001.json (in the DB), malformed
    assert sums(frame) == {
        "input": 9 + 100 + 10 + 20 + 300 + 1000 + 70,  # 1509
        "output": 611 + 75 + 5 + 2 + 140 + 200 + 10,  # 1043
        "reasoning": 25 + 40 + 3,  # 68
        "cache_read": 41200 + 1000 + 500,  # 42700
        "cache_write_5m": 1830 + 100,  # 1930
        "cache_write_1h": 0,
        "source_cost": 0.0813,  # 0.0213 + 0.0 + 0.01 + 0.05 (msg_005 and msg_102 logged none)
    }
    assert by_key["msg_004"]["session_id"] == "ses_A" and by_key["msg_004"]["agent"] == "general"
    assert by_key["msg_005"]["session_id"] == "ses_A" and by_key["msg_005"]["agent"] == "explore"
    assert by_key["msg_102"]["session_id"] == "ses_F" and by_key["msg_102"]["agent"] == "plan"
    assert by_key["msg_001"]["session_id"] == "ses_A" and by_key["msg_001"]["workspace"] == APP
    assert by_key["msg_006"]["workspace"] == LIB and by_key["msg_006"]["provider"] == "openai"
    assert by_key["msg_051"]["session_id"] == "ses_L" and by_key["msg_051"]["workspace"] == OLD
    assert by_key["msg_004"]["source_cost"] == 0.0
    assert by_key["msg_005"]["source_cost"] is None
    assert by_key["msg_004"]["ts"].isoformat() == "2026-03-02T09:56:37.412500+00:00"  # T0 + 90000.5 ms: float kept


def test_skipped_and_fallback_workspace(home: Path) -> None:
    base = data_dir(home)
    no_time = {k: v for k, v in msg((1, 1, 0, 0, 0)).items() if k != "time"}  # time from the time_created column
    make_db(base / "opencode.db", sessions=[], messages=[("msg_x", "ses_gone", no_time)])
    make_legacy(base)
    reader = get_reader("opencode")
    db = reader.read(next(s for s in reader.discover([]) if s.path.suffix == ".db"), 0, {})
    assert db.skipped == 1 and db.errors == []
    # no session: path.root
    assert [(r.workspace, r.session_id, r.ts) for r in db.rows] == [("/root-of-path", "ses_gone", T0 * 1000)]
    bad = next(s for s in reader.discover([]) if s.path.name == "msg_053.json")
    assert reader.read(bad, 0, {}).skipped == 1


def test_wal_content_and_companion_change(home: Path) -> None:
    base = data_dir(home)
    db = make_db(base / "opencode.db")
    ledger = Ledger(home / "ledger")
    reader = get_reader("opencode")
    scan(ledger=ledger, readers=[reader], workers=1)
    first = sums(ledger.frame())
    with held_writer(db) as conn:
        # the in-progress message completes (updated in place) and a new one arrives: only the WAL changes
        conn.execute("UPDATE message SET data = ? WHERE id = 'msg_003'",
                     (json.dumps(msg((400, 40, 0, 4000, 0), created=T0 + 5000)),))  # fmt: skip
        conn.execute("INSERT INTO message (id, session_id, data) VALUES (?,?,?)",
                     ("msg_007", "ses_D", json.dumps(msg((3, 3, 0, 0, 0), created=T0 + 7000))))  # fmt: skip
        conn.commit()
        assert (base / "opencode.db-wal").stat().st_size > 0
        summary = scan(ledger=ledger, readers=[reader], workers=1)
        assert summary.read == 1 and summary.errors == []
    frame = ledger.frame()
    after = sums(frame)
    # msg_003: 400 in, 40 out, 4000 read; msg_007: 3 in, 3 out; nothing else counted twice
    assert after["input"] == first["input"] + 400 + 3
    assert after["output"] == first["output"] + 40 + 3
    assert after["cache_read"] == first["cache_read"] + 4000
    assert frame.height == 7


def test_legacy_rewrite_in_place(home: Path) -> None:
    base = data_dir(home)
    paths = make_legacy(base)
    ledger = Ledger(home / "ledger")
    reader = get_reader("opencode")
    scan(ledger=ledger, readers=[reader], workers=1)
    # no database: msg_001.json counts too; the fork copy msg_150 still collapses onto msg_050
    assert sorted(ledger.frame()["event_key"].to_list()) == ["msg_001", "msg_050", "msg_051"]
    first = sums(ledger.frame())
    # the zero-token message completes: rewritten in place
    zero = paths["zero"]
    done = msg((60, 6, 0, 0, 0), created=T0 - 8 * 10**6, id="msg_052", sessionID="ses_L")
    zero.write_text(json.dumps(done))
    st = zero.stat()
    os.utime(zero, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert scan(ledger=ledger, readers=[reader], workers=1).read == 1
    after = sums(ledger.frame())
    assert after["input"] == first["input"] + 60  # 60 in, 6 out
    assert after["output"] == first["output"] + 6
    assert ledger.frame().height == 4


def test_locked_database_reports_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "RETRY_BACKOFF", (0.01,))
    base = data_dir(home)
    db = make_db(base / "opencode.db", wal=False)  # rollback journal: an exclusive lock blocks readers
    reader = get_reader("opencode")
    source = next(s for s in reader.discover([]) if s.path == db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA cache_size=1")  # the change spills into the file: the journal is hot (synced, magic set)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("DELETE FROM part")
    conn.execute("DELETE FROM message")
    try:
        result = reader.read(source, 0, {})
        assert result.rows == []
        assert len(result.errors) == 1 and "busy" in result.errors[0] and str(db) in result.errors[0]
        ledger = Ledger(home / "ledger")
        summary = scan(ledger=ledger, readers=[reader], workers=1)
        assert summary.read == 0 and any("busy" in e for e in summary.errors)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    # released: the next scan reads it (the failed read left no state behind)
    summary = scan(ledger=ledger, readers=[reader], workers=1)
    assert summary.read == 1 and ledger.frame().height == 5


def test_kilo_and_channel_databases(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    make_db(home / "xdg" / "kilo" / "kilo.db", sessions=[("ses_K", None, "/k")],
            messages=[("msg_k1", "ses_K", msg((5, 5, 1, 0, 0), model="kilo/auto", provider="kilo"))])  # fmt: skip
    make_db(home / "xdg" / "opencode" / "opencode-beta.db", sessions=[("ses_Z", None, "/z")],
            messages=[("msg_z1", "ses_Z", msg((7, 1, 0, 0, 0)))])  # fmt: skip
    kilo = frame_of([get_reader("kilo")])
    assert kilo["client"].to_list() == ["kilo"]
    assert sums(kilo)["output"] == 6  # 5 + 1 reasoning
    assert frame_of([get_reader("opencode")])["event_key"].to_list() == ["msg_z1"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _read_in_time(reader: Any, source: Any, seconds: float = 10.0) -> Any:
    """``reader.read(source)``, failing the test (not hanging it) if it does not return in time."""
    import threading

    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(reader.read(source, 0, {})), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the read hung"
    return out[0]


def test_fifo_journal_does_not_hang(home: Path) -> None:
    base = data_dir(home)
    db = make_db(base / "opencode.db", wal=False)
    os.mkfifo(base / "opencode.db-journal")
    reader = get_reader("opencode")
    result = _read_in_time(reader, next(s for s in reader.discover([]) if s.path == db))
    assert result.rows == [] and len(result.errors) == 1 and "not a regular file" in result.errors[0]


def test_deeply_nested_row_costs_one_row(home: Path) -> None:
    base = data_dir(home)
    deep = '{"role": "assistant", "tokens": ' + "[" * 5000 + "]" * 5000 + "}"
    db = make_db(base / "opencode.db")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO message (id, session_id, data) VALUES ('msg_deep', 'ses_A', ?)", (deep,))
    conn.commit()
    conn.close()
    reader = get_reader("opencode")
    result = reader.read(next(s for s in reader.discover([]) if s.path == db), 0, {})
    assert result.errors == []
    # the five counted database turns of test_fixture_totals; msg_bad and msg_deep are the two skipped rows
    assert sorted(r.event_key for r in result.rows) == ["msg_001", "msg_004", "msg_005", "msg_006", "msg_102"]
    assert result.skipped == 2 and result.reasons == {"malformed message": 2}


def test_invalid_utf8_row_costs_one_row(home: Path) -> None:
    base = data_dir(home)
    db = make_db(base / "opencode.db")
    bad = json.dumps(msg((1, 2, 0, 0, 0), created=T0 + 3000)).encode().replace(b'"build"', b'"bu\xff\xfeild"')
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO message (id, session_id, data) VALUES ('msg_utf', 'ses_A', CAST(? AS TEXT))", (bad,))
    conn.commit()
    conn.close()
    make_legacy(base)
    frame = frame_of([get_reader("opencode")])
    # every turn of test_fixture_totals still counts, legacy copies included, and the bad row's usage too
    assert sorted(frame["event_key"].to_list()) == [
        "msg_001", "msg_004", "msg_005", "msg_006", "msg_050", "msg_051", "msg_102", "msg_utf",
    ]  # fmt: skip
    reader = get_reader("opencode")
    result = reader.read(next(s for s in reader.discover([]) if s.path == db), 0, {})
    assert result.errors == [] and not any("lock" in e for e in result.errors)
    utf = next(r for r in result.rows if r.event_key == "msg_utf")
    assert (utf.input, utf.output) == (1, 2)


def _live_wal_copy(src: Path, dest: Path, with_shm: bool) -> Path:
    """``dest/opencode.db`` with a non-empty ``-wal`` (and the ``-shm`` when asked), as a running client leaves them."""
    dest.mkdir(parents=True)
    with held_writer(src) as conn:
        conn.execute("INSERT INTO message (id, session_id, data) VALUES (?,?,?)",
                     ("msg_w", "ses_D", json.dumps(msg((8, 8, 0, 0, 0), created=T0 + 8000))))  # fmt: skip
        conn.commit()
        suffixes = ("", "-wal", "-shm") if with_shm else ("", "-wal")
        for suffix in suffixes:
            (dest / f"opencode.db{suffix}").write_bytes((src.parent / f"opencode.db{suffix}").read_bytes())
    assert (dest / "opencode.db-wal").stat().st_size > 0
    return dest / "opencode.db"


@pytest.mark.parametrize("with_shm", [False, True])
def test_wal_database_left_byte_identical(home: Path, monkeypatch: pytest.MonkeyPatch, with_shm: bool) -> None:
    src = make_db(home / "elsewhere" / "opencode.db")
    target = _live_wal_copy(src, data_dir(home), with_shm)
    before = _tree(target.parent)
    frame = frame_of([get_reader("opencode")])
    assert _tree(target.parent) == before  # no -shm created, an existing one untouched
    assert "msg_w" in frame["event_key"].to_list()  # the WAL's content was read


def test_kilo_databases_named_opencode(home: Path) -> None:
    # an install from before Kilo's rename: opencode*.db in the kilo dir, read while no kilo*.db exists
    kilo_dir = data_dir(home, "kilo")
    make_db(kilo_dir / "opencode-beta.db", sessions=[("ses_K", None, "/k")],
            messages=[("msg_kb", "ses_K", msg((4, 4, 0, 0, 0), model="kilo/auto", provider="kilo"))])  # fmt: skip
    make_db(kilo_dir / "opencode.db", sessions=[("ses_K", None, "/k")],
            messages=[("msg_kl", "ses_K", msg((3, 3, 0, 0, 0), created=T0 + 1))])  # fmt: skip
    kilo = frame_of([get_reader("kilo")])
    assert sorted(kilo["event_key"].to_list()) == ["msg_kb", "msg_kl"]
    assert set(kilo["client"].to_list()) == {"kilo"}
    assert frame_of([get_reader("opencode")]).height == 0
    # once Kilo has its own database the old files are the migrated past: not read again
    make_db(kilo_dir / "kilo.db", sessions=[("ses_K", None, "/k")],
            messages=[("msg_kl", "ses_K", msg((3, 3, 0, 0, 0), created=T0 + 1))])  # fmt: skip
    assert [p.name for p in get_reader("kilo").databases(kilo_dir)] == ["kilo.db"]


def test_data_dir_variables(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_reader("opencode").env == ("OPENCODE_DATA_DIR",)
    assert get_reader("kilo").env == ("KILO_DATA_DIR",)
    make_db(home / "a" / "opencode.db", sessions=[], messages=[("msg_a", "ses_a", msg((1, 1, 0, 0, 0)))])
    make_db(home / "b" / "kilo.db", sessions=[], messages=[("msg_b", "ses_b", msg((2, 2, 0, 0, 0)))])
    monkeypatch.setenv("OPENCODE_DATA_DIR", f"{home / 'a'},{home / 'missing'}")
    monkeypatch.setenv("KILO_DATA_DIR", str(home / "b"))
    assert frame_of([get_reader("opencode")])["event_key"].to_list() == ["msg_a"]
    assert frame_of([get_reader("kilo")])["event_key"].to_list() == ["msg_b"]
    assert oc.OpenCodeReader.roots(get_reader("kilo")) == [home / "b"]


def test_unreadable_database_suppresses_no_legacy_copy(home: Path) -> None:
    base = data_dir(home)
    make_legacy(base)
    (base / "opencode.db").write_bytes(b"this is not a database" * 100)
    reader = get_reader("opencode")
    db = reader.read(next(s for s in reader.discover([]) if s.path.suffix == ".db"), 0, {})
    assert db.rows == [] and len(db.errors) == 1
    assert "cannot read database" in db.errors[0] and "lock" not in db.errors[0] and "busy" not in db.errors[0]
    # the legacy copy of msg_001 counts: the database that would have it cannot be read
    assert sorted(frame_of([reader])["event_key"].to_list()) == ["msg_001", "msg_050", "msg_051"]
