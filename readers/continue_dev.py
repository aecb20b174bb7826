"""Continue (continue.dev IDE extensions): ``dev_data/devdata.sqlite`` (clients.md §3.22).

Root: ``${CONTINUE_GLOBAL_DIR:-~/.continue}/dev_data/devdata.sqlite`` (Continue core
``util/paths.ts``; the override is what Continue's own tests set).

Schema read (Continue core ``data/devdataSqlite.ts``): ``tokens_generated(id INTEGER PRIMARY KEY
AUTOINCREMENT, model, provider, tokens_generated, tokens_prompt, timestamp DATETIME DEFAULT
CURRENT_TIMESTAMP)``; ``tokens_prompt`` was added later by ``ALTER TABLE`` (older databases lack it).

Fidelity: **estimated**. One row per LLM request (chat, edit, autocomplete), but the counts are
Continue's own: ``BaseLLM._logTokensGenerated`` runs its tokenizer (``countTokens``) over the prompt
text and the completion text; the provider's billed usage is never stored. So there is no cache
split, no reasoning and no cost, and the numbers can differ from what the provider billed.

Traps handled:

* Prompt tokens are all counted as uncached input (nothing says what was cached).
* ``timestamp`` is SQLite ``CURRENT_TIMESTAMP``: UTC text ``YYYY-MM-DD HH:MM:SS``.
* No session, no workspace: requests are grouped into one session per UTC day
  (``session_id`` = ``YYYY-MM-DD``); workspace is empty.
* Key ``<id>@<timestamp>``: ids restart when the database is deleted and re-created, and the ledger
  keeps the old events, so the id alone could replace an old request with a new one.
* The same requests are also appended to ``dev_data/0.2.0/tokensGenerated.jsonl`` (and sent as
  telemetry): that log is not read, or every request would count twice.
* Provider: Continue's ``providerName`` (``anthropic``, ``openai``, ``ollama``, ``lmstudio`` …,
  folded), else inferred from the model. Rows with no model or nothing counted are skipped.
* Not read: the ``cn`` CLI's ``~/.continue/sessions/*.json`` (per-message provider usage, but no
  per-message time).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from .base import Fidelity, ReadResult, Row, Source, home
from .coerce import count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals

CLIENT = "continue"


class ContinueReader:
    """Reads Continue's local dev-data database of tokens generated."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "estimated"
    env = ("CONTINUE_GLOBAL_DIR",)

    def roots(self) -> list[Path]:
        """The ``devdata.sqlite`` under Continue's global directory."""
        value = os.environ.get("CONTINUE_GLOBAL_DIR", "").strip()
        base = Path(value).expanduser() if value and Path(value).expanduser().is_absolute() else home() / ".continue"
        return [base / "dev_data" / "devdata.sqlite"]

    def discover(self, errors: list[str]) -> list[Source]:
        """The database, when it exists."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every logged request as one row."""
        return read_totals(source.path, _rows)


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    present = columns(conn, "tokens_generated")
    if not {"id", "model", "tokens_generated"} <= present:
        return
    query = f"""
        SELECT id, model, {col(present, "provider")}, tokens_generated, {col(present, "tokens_prompt", "0")},
               {col(present, "timestamp")}
        FROM tokens_generated
        ORDER BY id
    """
    rows = result.rows
    for rid, model, provider, generated, prompt, stamp in conn.execute(query):
        model = text(model)
        ts = time_us(stamp)
        if model is None or ts is None or rid is None:
            result.skip("row without a model or a time")
            continue
        inp = count(prompt)
        out = count(generated)
        if inp + out == 0:
            continue
        key = f"{rid}@{stamp}"
        rows.append(
            Row(
                client=CLIENT,
                provider=infer_provider(model, provider),
                model=model,
                workspace="",
                session_id=time.strftime("%Y-%m-%d", time.gmtime(ts // 1_000_000)),
                agent=None,
                event_key=key,
                ts=ts,
                input=inp,
                output=out,
            )
        )


READERS = (ContinueReader(),)
