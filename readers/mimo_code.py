"""MiMo Code (Xiaomi): OpenCode's SQLite schema under a new root (clients.md §3.12).

Root: ``${XDG_DATA_HOME:-~/.local/share}/mimocode`` (``MIMOCODE_DATA_DIR``, a comma list,
replaces it: a tokscope setting, like ``OPENCODE_DATA_DIR``). Sources: ``mimocode.db`` and the
release-channel databases ``mimocode-<channel>.db``, read whole with their ``-wal`` as companion
through ``database.query`` (nothing is created beside them).

The ``message(id, session_id, time_created, data)`` rows are parsed by the OpenCode reader's code
(``readers/opencode.py``: assistant rows with tokens, output = output + reasoning, cache read /
write, ``cost`` as ``source_cost``, fork copies collapsed, child sessions rolled up to their root).

Traps handled (tokscale ``sessions/micode.rs`` + ``opencode_schema.rs``; Tokdash ``MimoParser``):

* Messages MiMo imported from Claude Code and other clients (ids listed as JSON arrays in
  ``external_import.message_ids`` / ``claude_import.message_ids``) are skipped: the original
  client's reader counts them.
* A channel switch writes the same message into two channel databases under different row ids:
  the event key is the message's embedded ``id`` (the row id only when there is none), so the
  ledger's upsert keeps one.
* ``time.created`` may be epoch seconds (coerce tells seconds from ms by size).
* ``path`` may be a string rather than ``{cwd, root}``: it then gives no workspace, and the
  message still counts.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from . import database
from . import opencode as oc
from .base import Fidelity, ReadResult, Source, decode_line, env_paths, xdg

CLIENT = "mimo-code"
_IMPORT_TABLES = ("external_import", "claude_import")


class _Message(oc._Message):
    """OpenCode's message with ``path`` of any shape (MiMo may write a string)."""

    path: Any = None


_decode = msgspec.json.Decoder(_Message).decode
_decode_ids = msgspec.json.Decoder(list[Any]).decode


def _imported(conn: sqlite3.Connection) -> set[str]:
    """Every message id listed in the import tables (a malformed list costs only itself)."""
    found: set[str] = set()
    for table in _IMPORT_TABLES:
        if "message_ids" not in database.columns(conn, table):
            continue
        for (raw,) in conn.execute(f"SELECT CAST(message_ids AS BLOB) FROM {table}"):
            if not raw:
                continue
            ids = decode_line(_decode_ids, raw)
            if ids:
                found.update(i for i in ids if isinstance(i, str))
    return found


def _turns(conn: sqlite3.Connection) -> tuple[list[oc._Turn], int, int]:
    """Counted turns, rows that did not decode, and imported rows left out."""
    cols = database.columns(conn, "message")
    if not cols:
        raise sqlite3.DatabaseError("no message table (not a MiMo Code database)")
    imported = _imported(conn)
    sql = (
        f"SELECT id, {database.col(cols, 'session_id')}, {database.col(cols, 'time_created')}, CAST(data AS BLOB)"
        " FROM message"
    )
    turns: list[oc._Turn] = []
    bad = skipped = 0
    for row_id, sid, created, data in conn.execute(sql):
        if not data or b'"tokens"' not in data:
            continue
        message = decode_line(_decode, data)
        if message is None:
            bad += 1
            continue
        embedded = message.id if isinstance(message.id, str) and message.id else None
        if (embedded or row_id) in imported or row_id in imported:
            skipped += 1
            continue
        path = message.path
        if isinstance(path, dict):
            message.path = oc._Path(cwd=path.get("cwd"), root=path.get("root"))
        elif path is not None:
            message.path = None
        turn = oc._parse(message, embedded or row_id, sid, created)
        if turn is not None:
            turns.append(turn)
    return turns, bad, skipped


class MimoCodeReader:
    """Reads MiMo Code's databases."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("MIMOCODE_DATA_DIR",)

    def roots(self) -> list[Path]:
        """The data directories."""
        return env_paths("MIMOCODE_DATA_DIR") or [xdg("XDG_DATA_HOME", ".local/share") / "mimocode"]

    def discover(self, errors: list[str]) -> list[Source]:
        """``mimocode.db`` and ``mimocode-<channel>.db`` in each root."""
        found: list[Source] = []
        for root in self.roots():
            try:
                names = sorted(e.name for e in os.scandir(root) if e.is_file())
            except OSError:
                continue
            for name in names:
                if name == "mimocode.db" or (name.startswith("mimocode-") and name.endswith(".db")):
                    db = root / name
                    found.append(Source(CLIENT, db, "whole", database.companions(db)))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every counted assistant message of one database."""
        result = ReadResult()

        def work(conn: sqlite3.Connection) -> tuple[list[oc._Turn], int, int, oc._Sessions]:
            try:
                return *_turns(conn), oc._db_sessions(conn)
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc):
                    raise
            conn.text_factory = oc._lenient_text
            return *_turns(conn), oc._db_sessions(conn)

        try:
            turns, bad, _imported_rows, sessions = database.query(source.path, work)
        except database.Locked:
            result.errors.append(f"{source.path}: database is busy (the client is writing); will retry next scan")
            return result
        except (OSError, sqlite3.DatabaseError, RecursionError) as exc:
            result.errors.append(f"{source.path}: cannot read database: {exc}")
            return result
        if bad:
            result.skip("malformed message", bad)
        smallest = oc._collapse(turns)
        result.rows = [oc._row(CLIENT, t, sessions, oc.DB_RANK) for t in turns if smallest[t.fingerprint] == t.id]
        return result


READERS = (MimoCodeReader(),)
