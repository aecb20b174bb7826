"""ZCode (Z.ai's GLM desktop app), v2: SQLite ``model_usage``, one row per model request (clients.md §3.15).

Source: ``${ZCODE_HOME:-~/.zcode}/cli/db/db.sqlite`` (Windows ``%USERPROFILE%\\.zcode``, i.e. the
same path under HOME), WAL mode: read whole with its ``-wal`` as companion through
``database.query`` (immutable open, or a private copy while a WAL is live: no ``-shm`` appears).
The v1 ``~/.zcode/projects/**.jsonl`` transcripts are not read.

Columns read (the schema Tokdash observed on ZCode 3.7.7; tokscale ``sessions/zcode.rs``):
``model_usage(id, logical_request_id, attempt_index, session_id, model_id, provider_id, status,
started_at, input_tokens, output_tokens, reasoning_tokens, cache_read_input_tokens,
cache_creation_input_tokens, computed_total_tokens, agent, mode)``, ``session(id, parent_id,
directory)``. Columns missing from an older schema read as NULL.

Traps handled:

* ``input_tokens`` INCLUDES the cache read and cache write slices, ``output_tokens`` INCLUDES
  reasoning (a live row: 16026 input, 24 output, 11776 cache read, ``computed_total_tokens``
  16050 = input + output). Input is ``input - cache_read - cache_write``. Where
  ``computed_total_tokens`` equals the fully additive sum instead (or input is smaller than the
  cache slices), the row is taken as already disjoint and nothing is subtracted. Reasoning above
  output means the two are disjoint for that row: it is added to output.
* Retries are separate rows sharing ``logical_request_id`` (``attempt_index`` 0, 1, …): one row
  per logical request, keyed by it, from its completed attempt (else its latest), so a retry
  that later succeeds replaces the earlier attempt's numbers on the next read.
* ``status`` ``running`` (still growing: read again once it completes) and ``cancelled`` rows
  are dropped; ``completed`` and ``error`` rows count. Rows with no tokens give nothing.
* Anchored at the attempt's ``started_at`` (epoch ms).
* ``provider_id`` is a plan route (``builtin:zai-start-plan``), not a vendor: the provider is
  inferred from the model (GLM -> ``zai``).
* Workspace: the session's ``directory``; subagent sessions (``session.parent_id``) are
  attributed to the root session; agent from ``agent``, else ``mode``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from .base import Fidelity, ReadResult, Row, Source, home
from .coerce import count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals

CLIENT = "zcode"
_DROPPED = frozenset({"running", "cancelled", "canceled"})
_MAX_DEPTH = 32


class ZCodeReader:
    """Reads ZCode's ``model_usage`` table."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("ZCODE_HOME",)

    def roots(self) -> list[Path]:
        """The database file."""
        explicit = os.environ.get("ZCODE_HOME", "").strip()
        base = Path(explicit).expanduser() if explicit else home() / ".zcode"
        return [base / "cli" / "db" / "db.sqlite"]

    def discover(self, errors: list[str]) -> list[Source]:
        """The database, when it exists."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One row per logical request with usage."""
        return read_totals(source.path, _rows)


def _split(inp: int, out: int, reasoning: int, read: int, write: int, total: Any) -> tuple[int, int, int]:
    """(uncached input, output incl. reasoning, reasoning) from ZCode's inclusive columns."""
    cached = read + write
    additive = total is not None and cached > 0 and count(total) == inp + out + cached
    disjoint = inp < cached or additive
    fresh = inp if disjoint else inp - read - write
    if reasoning > out:
        out += reasoning
    return fresh, out, reasoning


def _sessions(conn: sqlite3.Connection) -> dict[str, tuple[str | None, str]]:
    present = columns(conn, "session")
    if "id" not in present:
        return {}
    sql = f"SELECT id, {col(present, 'parent_id')}, {col(present, 'directory')} FROM session"
    return {
        sid: (text(parent), directory if isinstance(directory, str) else "")
        for sid, parent, directory in conn.execute(sql)
        if isinstance(sid, str)
    }


def _root(session: str, sessions: dict[str, tuple[str | None, str]]) -> str:
    current = session
    for _ in range(_MAX_DEPTH):
        parent = sessions.get(current, (None, ""))[0]
        if not parent or parent == current:
            break
        current = parent
    return current


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    conn.execute("BEGIN")  # one snapshot for both tables
    present = columns(conn, "model_usage")
    if "id" not in present:
        conn.execute("COMMIT")
        return
    wanted = (
        "id", "logical_request_id", "attempt_index", "session_id", "model_id", "status", "started_at",
        "completed_at", "input_tokens", "output_tokens", "reasoning_tokens", "cache_read_input_tokens",
        "cache_creation_input_tokens", "computed_total_tokens", "agent", "mode",
    )  # fmt: skip
    records = conn.execute(f"SELECT {', '.join(col(present, c) for c in wanted)} FROM model_usage").fetchall()
    sessions = _sessions(conn)
    conn.execute("COMMIT")
    best: dict[str, tuple[tuple[int, int, str], tuple]] = {}
    for record in records:
        rid, logical, attempt, _sid, _model, status = record[:6]
        if not isinstance(rid, str) or not rid:
            result.skip("no request id")
            continue
        state = status.strip().lower() if isinstance(status, str) else ""
        if state in _DROPPED:
            continue
        key = logical if isinstance(logical, str) and logical else rid
        rank = (1 if state == "completed" else 0, count(attempt), rid)
        known = best.get(key)
        if known is None or rank > known[0]:
            best[key] = (rank, record)
    rows = result.rows
    for key, (_rank, record) in best.items():
        (_rid, _logical, _attempt, sid, model, _status, started, completed,
         inp, out, rs, cr, cw, total, agent, mode) = record  # fmt: skip
        inp, out, rs, cr, cw = count(inp), count(out), count(rs), count(cr), count(cw)
        if inp + out + rs + cr + cw == 0:
            continue
        ts = time_us(started) or time_us(completed)
        if ts is None:
            result.skip("no timestamp")
            continue
        fresh, output, reasoning = _split(inp, out, rs, cr, cw, total)
        model_name = text(model) or "unknown"
        session = sid if isinstance(sid, str) else ""
        rows.append(
            Row(
                client=CLIENT,
                provider=infer_provider(model_name),
                model=model_name,
                workspace=sessions.get(session, (None, ""))[1],
                session_id=_root(session, sessions) if session else "unknown",
                agent=text(agent) or text(mode),
                event_key=key,
                ts=ts,
                input=fresh,
                output=output,
                reasoning=min(reasoning, output),
                cache_read=cr,
                cache_write_5m=cw,
            )
        )


READERS = (ZCodeReader(),)
