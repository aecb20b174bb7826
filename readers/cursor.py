"""Cursor (IDE): the per-turn token counts Cursor keeps in ``state.vscdb`` (clients.md §3.1).

Roots (all that exist): ``${XDG_CONFIG_HOME:-~/.config}/Cursor/User/globalStorage/state.vscdb``
(Linux), ``~/Library/Application Support/Cursor/User/globalStorage/state.vscdb`` (macOS),
``%APPDATA%/Cursor/User/globalStorage/state.vscdb`` (Windows).

Schema read: table ``cursorDiskKV(key, value)``; ``bubbleId:<composerId>:<bubbleId>`` values are
JSON with ``type`` (1 user, 2 assistant), ``createdAt`` (ISO-8601), ``modelInfo.modelName``,
``tokenCount.{inputTokens, outputTokens}``; ``composerData:<composerId>`` values hold the
session's ``createdAt``/``lastUpdatedAt`` (epoch ms) and ``modelConfig.modelName`` (tokscale
``sessions/cursorcli.rs``; ryandemelo/token-monitor ``src/adapters/cursor.ts`` and its spike #9).

Fidelity: **estimated**. These are Cursor's own client-side counts, not the billed usage (that is
only in Cursor's web dashboard, which tokscope does not call). Peers ran this on real databases
and found the counts on the turn-final assistant bubble of each turn (the turn's totals;
intermediate bubbles carry zeros: token-monitor #9/#18, budi #553); codeburn #164/#575 report that
newer Cursor builds write ``{0, 0}`` everywhere, so such a database gives no rows here.

Traps handled:

* Only the two ``cursorDiskKV`` key prefixes are selected, and only the fields above (never
  ``ItemTable``, where Cursor keeps its auth tokens, and never prompt text).
* Bubbles with zero tokens are skipped (tool-step bubbles, aborted turns, newer builds).
* No cache split, no reasoning, no cost.
* Model ``default`` (Auto mode) or missing: the composer's ``modelConfig.modelName``, else
  ``cursor-auto`` (unpriced: Cursor does not record which model Auto chose).
* Time: the bubble's ``createdAt``; older bubbles lack it: the composer's ``lastUpdatedAt``
  (else ``createdAt``); a bubble with neither is skipped and counted.
* Key: the bubble's key (stable); session: the composer id; workspace: empty (the per-workspace
  ``state.vscdb`` mapping is not read).
* Values larger than ``MAX_VALUE_BYTES`` or not valid JSON are left out by the query itself.
* The database can be gigabytes and Cursor writes it constantly: it is re-read whole on each
  change through the read-only database kit (a live ``-wal`` means a private copy).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from .base import Fidelity, ReadResult, Row, Source, home, xdg
from .coerce import count, epoch_us, text, time_us
from .providers import infer_provider
from .session_totals import database_sources, read_totals

CLIENT = "cursor"
MAX_VALUE_BYTES = 512 << 10
_GLOBAL = Path("Cursor") / "User" / "globalStorage" / "state.vscdb"


class CursorReader:
    """Reads the token counts Cursor stores per chat turn."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "estimated"
    env = ("APPDATA",)

    def roots(self) -> list[Path]:
        """The candidate global ``state.vscdb`` files of this user (every platform's place)."""
        appdata = os.environ.get("APPDATA", "").strip()
        bases = [xdg("XDG_CONFIG_HOME", ".config"), home() / "Library" / "Application Support"]
        bases.append(Path(appdata) if appdata else home() / "AppData" / "Roaming")
        return [base / _GLOBAL for base in bases]

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases that exist."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every bubble with token counts, as one row."""
        return read_totals(source.path, _rows)


_BUBBLES = """
    SELECT key,
           json_extract(CAST(value AS TEXT), '$.createdAt'),
           json_extract(CAST(value AS TEXT), '$.modelInfo.modelName'),
           json_extract(CAST(value AS TEXT), '$.tokenCount.inputTokens'),
           json_extract(CAST(value AS TEXT), '$.tokenCount.outputTokens')
    FROM cursorDiskKV
    WHERE key GLOB 'bubbleId:*' AND length(value) <= ? AND json_valid(CAST(value AS TEXT))
"""
_COMPOSERS = """
    SELECT key,
           json_extract(CAST(value AS TEXT), '$.lastUpdatedAt'),
           json_extract(CAST(value AS TEXT), '$.createdAt'),
           json_extract(CAST(value AS TEXT), '$.modelConfig.modelName')
    FROM cursorDiskKV
    WHERE key GLOB 'composerData:*' AND json_valid(CAST(value AS TEXT))
"""


def _model(value: Any) -> str | None:
    name = text(value)
    return None if name is None or name.lower() in ("default", "auto") else name


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cursorDiskKV'").fetchone():
        return
    conn.execute("BEGIN")  # one snapshot for both queries
    bubbles = [
        row
        for row in conn.execute(_BUBBLES, (MAX_VALUE_BYTES,))
        if count(row[3]) + count(row[4]) > 0 and isinstance(row[0], str)
    ]
    composers: dict[str, tuple[int | None, str | None]] = {}
    if bubbles:
        wanted = {key.split(":", 2)[1] for key, *_ in bubbles if key.count(":") >= 2}
        for key, updated, created, model in conn.execute(_COMPOSERS):
            composer = key[len("composerData:") :] if isinstance(key, str) else ""
            if composer in wanted:
                composers[composer] = (epoch_us(updated) or epoch_us(created) or time_us(created), _model(model))
    conn.execute("COMMIT")
    rows = result.rows
    for key, created, model, inp, out in bubbles:
        parts = key.split(":", 2)
        composer = parts[1] if len(parts) == 3 and parts[1] else ""
        if not composer:
            result.skip("bubble key without a composer")
            continue
        fallback_ts, composer_model = composers.get(composer, (None, None))
        ts = time_us(created) or fallback_ts
        if ts is None:
            result.skip("bubble without a time")
            continue
        name = _model(model) or composer_model or "cursor-auto"
        provider = infer_provider(name)
        rows.append(
            Row(
                client=CLIENT,
                provider=provider if provider != "unknown" else "cursor",
                model=name,
                workspace="",
                session_id=composer,
                agent=None,
                event_key=key,
                ts=ts,
                input=count(inp),
                output=count(out),
            )
        )


READERS = (CursorReader(),)
