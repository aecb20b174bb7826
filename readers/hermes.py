"""Hermes Agent (NousResearch): SQLite ``state.db``, running totals per session (formats.md §13).

Root: ``${HERMES_HOME:-~/.hermes}/state.db`` (``HERMES_HOME`` may be a comma list).

Schema read (checked against hermes-agent's ``hermes_state`` schema and
tokscale's ``sessions/hermes.rs``): ``sessions(id, model, billing_provider,
started_at, ended_at, cwd, parent_session_id, input_tokens, output_tokens,
cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_cost_usd,
actual_cost_usd)``; newer builds also keep ``session_model_usage(session_id,
model, billing_provider, ..., input_tokens, ..., estimated_cost_usd,
actual_cost_usd, first_seen, last_seen)``, one running total per (session,
model, route); ``messages(session_id, timestamp)``.

Traps handled:

* Running totals, not turns: one row per session (or per session and model
  where ``session_model_usage`` has rows for the session), keyed stably, with a
  tied rank: a re-read replaces the numbers. A session with any per-model row
  is read from those rows only (never both, which would double count); the
  row of the session's first model (earliest ``first_seen``) keeps the bare
  session id as key, so it replaces a total read before Hermes started
  writing per-model rows, and keys never move between rows as a session
  grows or switches model (a moved key would leave a stale row behind).
* Hermes normalises usage itself (``agent/usage_pricing.py``): ``input`` is
  uncached (prompt = input + cache read + cache write), ``output`` includes
  reasoning (``reasoning_tokens`` is reported, never added again).
* Cost: ``actual_cost_usd`` when > 0, else ``estimated_cost_usd`` when > 0
  (tokdash's precedence), as ``source_cost``.
* Rows without a model or with nothing counted are skipped.
* Timestamp: the per-model row's ``last_seen``; for session totals
  ``ended_at``, or while the session is open its last message's ``timestamp``;
  never before ``started_at`` (epoch seconds; larger values read as ms).
* Workspace: ``cwd`` (newer builds), else empty. Compression splits a session
  into a ``parent_session_id`` chain of sessions with their own totals; each
  is counted as its own session (assumption: totals are not carried over).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .base import Fidelity, ReadResult, Row, Source, env_paths, home
from .coerce import cost, count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals, usage_time

CLIENT = "hermes"


class HermesReader:
    """Reads Hermes Agent's state database."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("HERMES_HOME",)

    def roots(self) -> list[Path]:
        """The candidate ``state.db`` files."""
        homes = env_paths("HERMES_HOME") or [home() / ".hermes"]
        return [h / "state.db" for h in homes]

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases that exist."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every session (or session and model) with usage, as running-total rows."""
        return read_totals(source.path, _rows)


def _row(
    sid: str,
    key: str,
    model: Any,
    provider: Any,
    workspace: Any,
    ts: int | None,
    counts: tuple[Any, Any, Any, Any, Any],
    spent: float | None,
) -> Row | None:
    model = text(model)
    if model is None or ts is None:
        return None
    inp, out, cache_read, cache_write, reasoning = (count(v) for v in counts)
    if inp + out + cache_read + cache_write == 0 and spent is None:
        return None
    # positional, in Row's field order: keywords cost ~1 µs more per row (a tenth of this read); the
    # tests pin every field by name
    return Row(
        CLIENT,
        infer_provider(model, provider),
        model,
        workspace if isinstance(workspace, str) else "",
        sid,
        None,
        key,
        ts,
        inp,
        out,
        min(reasoning, out),
        cache_read,
        cache_write,
        0,
        spent,
    )


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    conn.execute("BEGIN")  # one snapshot for every query below
    present = columns(conn, "sessions")
    if "id" not in present or "model" not in present:
        return
    last = "NULL"
    if {"session_id", "timestamp"} <= columns(conn, "messages"):
        last = "(SELECT MAX(m.timestamp) FROM messages m WHERE m.session_id = s.id)"
    if "ended_at" in present:
        last = f"COALESCE(s.ended_at, {last})"
    counts = ", ".join(col(present, c, "0") for c in _COUNTS)
    totals = conn.execute(
        f"""
        SELECT s.id, s.model, {col(present, "billing_provider")}, {col(present, "started_at")}, {last},
               {col(present, "cwd")}, {counts}, {col(present, "actual_cost_usd")}, {col(present, "estimated_cost_usd")}
        FROM sessions s
        """
    ).fetchall()
    sessions: dict[str, tuple[Any, int | None, Any]] = {}
    for sid, model, _provider, started, _last, cwd, *_rest in totals:
        if isinstance(sid, str) and sid:
            sessions[sid] = (model, time_us(started), cwd)
    rows = result.rows
    covered: set[str] = set()
    smu = columns(conn, "session_model_usage")
    if {"session_id", "model"} <= smu:
        provider = col(smu, "billing_provider", "''")
        # TOTAL, not SUM: an absurd count must cost its row (the scan's limits), not overflow the query
        sums = ", ".join(f"TOTAL({col(smu, c, '0')})" for c in _COUNTS)
        per_model = conn.execute(
            f"""
            SELECT session_id, model, {provider}, {sums}, SUM({_smu_cost(smu)}),
                   MAX({col(smu, "last_seen")}), MIN({col(smu, "first_seen")})
            FROM session_model_usage
            GROUP BY session_id, model, {provider}
            ORDER BY session_id, model, {provider}
            """
        ).fetchall()
        # the session's first model (earliest first_seen) keeps the bare session id as its key:
        # stable while the session grows, and the model a pre-upgrade session total was credited to
        per_model.sort(key=lambda r: (str(r[0]), (first := time_us(r[10])) is None, first or 0, str(r[1]), str(r[2])))
        keyed: set[str] = set()
        for sid, model, prov, inp, out, cr, cw, rs, spent, seen_last, seen_first in per_model:
            if not isinstance(sid, str) or not sid:
                continue
            _own, started, cwd = sessions.get(sid, (None, None, ""))
            key = sid if sid not in keyed else f"{sid}|{model}|{prov or ''}"
            keyed.add(sid)  # by position, not by whether the row counts: keys never move
            ts = usage_time(started or time_us(seen_first), time_us(seen_last))
            row = _row(sid, key, model, prov, cwd, ts, (inp, out, cr, cw, rs), cost(spent) or None)
            if row is not None:
                covered.add(sid)
                rows.append(row)
    for sid, model, prov, started, seen_last, cwd, inp, out, cr, cw, rs, actual, estimated in totals:
        if not isinstance(sid, str) or not sid or sid in covered:
            continue
        ts = usage_time(time_us(started), time_us(seen_last))
        row = _row(sid, sid, model, prov, cwd, ts, (inp, out, cr, cw, rs), cost(actual) or cost(estimated) or None)
        if row is not None:
            rows.append(row)
    conn.execute("COMMIT")


_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _smu_cost(present: set[str]) -> str:
    actual = "NULLIF(actual_cost_usd, 0)" if "actual_cost_usd" in present else "NULL"
    estimated = "NULLIF(estimated_cost_usd, 0)" if "estimated_cost_usd" in present else "NULL"
    return f"COALESCE({actual}, {estimated}, 0)"


READERS = (HermesReader(),)
