"""Devin CLI: SQLite ``sessions.db`` (clients.md §3.20).

Source: ``${XDG_DATA_HOME:-~/.local/share}/devin/cli/sessions.db`` (Windows
``%APPDATA%\\devin\\cli\\sessions.db``, tokscale#872), read whole with its ``-wal`` as companion
through ``database.query``. Devin Desktop is not read: its usage is remote-only (its ACP event
files hold cumulative totals at best, and its Cascade agent writes none).

Tables (tokscale ``sessions/devin.rs``): ``sessions(id, model, working_directory)`` and
``message_nodes(row_id, session_id, node_id, chat_message JSON, metadata, created_at)``. The
tokens are inside ``chat_message``: ``metadata.metrics.{input_tokens, output_tokens,
cache_read_tokens, cache_creation_tokens}``, with ``metadata.generation_model``; the SQL
``metadata`` column is always NULL.

Traps handled:

* ``sessions.model = "adaptive"`` is a routing mode, not a model: the message's
  ``generation_model`` names the model; without it the session's model is used unless it is
  ``adaptive`` (then ``unknown``).
* Only assistant messages with metrics count; ``num_tokens`` alone (no metrics) is not turned into
  output as tokscale does (it is not a billed split).
* ``created_at`` is epoch seconds. The key is ``<session>:<row_id>``.
* Whether ``input_tokens`` includes the cache is unverified: it is taken as uncached (as tokscale).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, xdg
from .coerce import count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals

CLIENT = "devin"
ROUTING_MODES = frozenset({"adaptive"})


class _Metrics(msgspec.Struct):
    input_tokens: Any = None
    output_tokens: Any = None
    cache_read_tokens: Any = None
    cache_creation_tokens: Any = None


class _Meta(msgspec.Struct):
    generation_model: Any = None
    metrics: _Metrics | None = None


class _ChatMessage(msgspec.Struct):
    role: Any = None
    metadata: _Meta | None = None


_decode = msgspec.json.Decoder(_ChatMessage).decode


class DevinReader:
    """Reads the Devin CLI's sessions database."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("APPDATA",)

    def roots(self) -> list[Path]:
        """The database file."""
        if sys.platform == "win32":
            appdata = os.environ.get("APPDATA", "").strip()
            base = Path(appdata) if appdata else home() / "AppData" / "Roaming"
        else:
            base = xdg("XDG_DATA_HOME", ".local/share")
        return [base / "devin" / "cli" / "sessions.db"]

    def discover(self, errors: list[str]) -> list[Source]:
        """The database, when it exists."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One row per assistant message with metrics."""
        return read_totals(source.path, _rows)


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    nodes = columns(conn, "message_nodes")
    if not {"row_id", "chat_message"} <= nodes:
        return
    conn.execute("BEGIN")
    sessions: dict[str, tuple[str | None, str]] = {}
    present = columns(conn, "sessions")
    if "id" in present:
        sql = f"SELECT id, {col(present, 'model')}, {col(present, 'working_directory')} FROM sessions"
        for sid, model, cwd in conn.execute(sql):
            if isinstance(sid, str):
                sessions[sid] = (text(model), cwd if isinstance(cwd, str) else "")
    records = conn.execute(
        f"SELECT row_id, {col(nodes, 'session_id')}, CAST(chat_message AS BLOB), {col(nodes, 'created_at')}"
        " FROM message_nodes"
    ).fetchall()
    conn.execute("COMMIT")
    for row_id, sid, raw, created in records:
        if not raw or b'"metrics"' not in raw:
            continue
        message = decode_line(_decode, raw)
        if message is None:
            result.skip("malformed chat_message")
            continue
        meta = message.metadata
        if message.role != "assistant" or meta is None or meta.metrics is None:
            continue
        m = meta.metrics
        inp, out = count(m.input_tokens), count(m.output_tokens)
        read, write = count(m.cache_read_tokens), count(m.cache_creation_tokens)
        if inp + out + read + write == 0:
            continue
        ts = time_us(created)
        if ts is None:
            result.skip("no timestamp")
            continue
        session = sid if isinstance(sid, str) and sid else "unknown"
        session_model, workspace = sessions.get(session, (None, ""))
        if session_model is not None and session_model.lower() in ROUTING_MODES:
            session_model = None
        model = text(meta.generation_model) or session_model or "unknown"
        result.rows.append(
            Row(
                client=CLIENT,
                provider=infer_provider(model),
                model=model,
                workspace=workspace,
                session_id=session,
                agent=None,
                event_key=f"{session}:{row_id}",
                ts=ts,
                input=inp,
                output=out,
                cache_read=read,
                cache_write_5m=write,
            )
        )


READERS = (DevinReader(),)
