"""Goose (block/goose): SQLite ``sessions.db``, one row per session (formats.md §10).

Roots (all that exist are read): ``$GOOSE_PATH_ROOT/data/sessions/sessions.db``
when set (replaces the defaults), else
``${XDG_DATA_HOME:-~/.local/share}/goose/sessions/sessions.db`` (Linux),
``~/Library/Application Support/goose/sessions/sessions.db`` (macOS) and the
legacy ``~/.local/share/Block/goose/sessions/sessions.db``.

Schema read (columns missing in older versions are tolerated): ``sessions(id,
working_dir, created_at, updated_at, session_type, provider_name,
model_config_json, input_tokens, output_tokens, total_tokens,
accumulated_input_tokens, accumulated_output_tokens, accumulated_total_tokens,
accumulated_cost)``.

Traps handled:

* Session totals only: the ``accumulated_*`` columns are the whole session's
  running totals (the plain ``*_tokens`` columns are the last context's, used
  only when the accumulated ones are NULL). One row per session, keyed by the
  session id with a tied rank, so a re-read replaces the session's numbers.
* No cache split and no reasoning column. A ``total`` above ``input + output``
  is counted as output and reported as reasoning (providers whose thinking is
  outside their output count, e.g. Gemini's thoughts); assumption, as tokscale.
  Goose's input may include cache reads for Anthropic (not split): it is
  priced as uncached input.
* Model = ``model_config_json.model_name``; sessions without one are skipped
  (nothing was sent). Provider = ``provider_name`` (folded by the shared
  provider table), else inferred from the model.
* ``accumulated_cost`` (newer Goose, its own estimate) > 0 becomes ``source_cost``.
* Sub-agent / scheduled sessions are their own rows (``agent`` =
  ``session_type`` when not ``user``); assumption: a parent's totals do not
  include its sub-agents' (not confirmed in the Goose source).
* Timestamp: ``updated_at`` (the last write of the totals), floored at
  ``created_at`` (``YYYY-MM-DD HH:MM:SS`` UTC or RFC 3339).
* Workspace: ``working_dir``.
* One bad row costs that row: a ``model_config_json`` nested too deep to
  decode is skipped and counted; an absurd count is left for the scan's limits.
* Legacy per-session JSONL files (pre-SQLite Goose) are not read.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, home, xdg
from .coerce import cost, count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals, usage_time

CLIENT = "goose"


class _ModelConfig(msgspec.Struct):
    model_name: Any = None


_decode_config = msgspec.json.Decoder(_ModelConfig).decode


class GooseReader:
    """Reads Goose's session database."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("GOOSE_PATH_ROOT",)

    def roots(self) -> list[Path]:
        """The candidate ``sessions.db`` files."""
        root = os.environ.get("GOOSE_PATH_ROOT", "").strip()
        if root:
            return [Path(root).expanduser() / "data" / "sessions" / "sessions.db"]
        return [
            xdg("XDG_DATA_HOME", ".local/share") / "goose" / "sessions" / "sessions.db",
            home() / "Library" / "Application Support" / "goose" / "sessions" / "sessions.db",
            home() / ".local" / "share" / "Block" / "goose" / "sessions" / "sessions.db",
        ]

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases that exist."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every session with usage, as one running-total row each."""
        return read_totals(source.path, _rows)


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    present = columns(conn, "sessions")
    if "id" not in present or "model_config_json" not in present:
        return
    query = f"""
        SELECT id, model_config_json, {col(present, "provider_name")}, {col(present, "working_dir")},
               {col(present, "created_at")}, {col(present, "updated_at")}, {col(present, "session_type")},
               {col(present, "input_tokens")}, {col(present, "output_tokens")}, {col(present, "total_tokens")},
               {col(present, "accumulated_input_tokens")}, {col(present, "accumulated_output_tokens")},
               {col(present, "accumulated_total_tokens")}, {col(present, "accumulated_cost")}
        FROM sessions
        WHERE model_config_json IS NOT NULL
    """
    for (
        sid,
        config,
        provider,
        workdir,
        created,
        updated,
        kind,
        inp,
        out,
        total,
        acc_in,
        acc_out,
        acc_total,
        spent,
    ) in conn.execute(query):
        if not isinstance(sid, str) or not sid or not isinstance(config, str | bytes):
            continue
        try:
            model = text(_decode_config(config).model_name)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        except RecursionError:
            result.skip("model config nested too deeply")
            continue
        if model is None:
            continue
        input_tokens = count(acc_in if acc_in is not None else inp)
        output = count(acc_out if acc_out is not None else out)
        total_tokens = count(acc_total if acc_total is not None else total)
        extra = max(0, total_tokens - input_tokens - output)
        if input_tokens + output + extra == 0:
            continue
        ts = usage_time(time_us(created), time_us(updated))
        if ts is None:
            continue
        result.rows.append(
            Row(
                client=CLIENT,
                provider=infer_provider(model, provider),
                model=model,
                workspace=workdir if isinstance(workdir, str) else "",
                session_id=sid,
                agent=kind if isinstance(kind, str) and kind and kind != "user" else None,
                event_key=sid,
                ts=ts,
                input=input_tokens,
                output=output + extra,
                reasoning=extra,
                source_cost=cost(spent) or None,  # 0 is Goose's "not estimated"
            )
        )


READERS = (GooseReader(),)
