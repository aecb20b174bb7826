"""The usage event: one turn (request -> response), as one Polars schema.

Readers produce ``readers.base.Row`` structs (no Polars);
``frame_from_rows`` turns a batch of them into a frame with the ledger schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import polars as pl

from tokscope.readers.base import ROW_FIELDS, Row

#: Every client tokscope knows. New clients are appended, never reordered:
#: the Enum's order is part of the on-disk schema.
CLIENTS: tuple[str, ...] = (
    "claude-code",
    "codex",
    "every-code",
    "opencode",
    "kilo",
    "gemini-cli",
    "qwen-code",
    "kimi",
    "pi",
    "omp",
    "openclaw",
    "amp",
    "goose",
    "droid",
    "copilot",
    "hermes",
    "cline",
    "roo-code",
    "kilo-code",
    "crush",
    "zed",
    "vibe",
    "mux",
    "continue",
    "lmstudio",
    "aider",
    "cursor",
    "mimo-code",
    "zcode",
    "workbuddy",
    "antigravity",
    "qoder",
    "qoder-cli",
    "augment",
    "junie",
    "devin",
    "cowork",
    "grok",
    "gjc",
    "senpi",
    "kimchi",
    "prime-agent",
    "dsh",
    "reasonix",
    "codebuff",
    "harnessbridge",
)

CLIENT_ENUM = pl.Enum(list(CLIENTS))

#: Token counters, in the order they appear in a row.
TOKEN_FIELDS: tuple[str, ...] = (
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
)

#: Counters that add up to the total (reasoning is part of output).
TOTAL_FIELDS: tuple[str, ...] = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")

#: The event schema of design.md ("The event"), device_id first.
EVENT_SCHEMA: pl.Schema = pl.Schema(
    {
        "device_id": pl.Categorical(),
        "client": CLIENT_ENUM,
        "provider": pl.Categorical(),
        "model": pl.Categorical(),
        "workspace": pl.Categorical(),
        "session_id": pl.Categorical(),
        "agent": pl.Categorical(),
        "event_key": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "input": pl.Int64(),
        "output": pl.Int64(),
        "reasoning": pl.Int64(),
        "cache_read": pl.Int64(),
        "cache_write_5m": pl.Int64(),
        "cache_write_1h": pl.Int64(),
        "source_cost": pl.Float64(),
        "service_tier": pl.Categorical(),
        "account": pl.Categorical(),
    }
)

#: The ledger's stored schema: the event minus device_id, plus rank; columns added later
#: (``account``) come after rank, so reader rows built positionally keep their order.
LEDGER_SCHEMA: pl.Schema = pl.Schema(
    {
        **{c: t for c, t in EVENT_SCHEMA.items() if c not in ("device_id", "account")},
        "rank": pl.Int64(),
        "account": pl.Categorical(),
    }
)


def frame_from_rows(rows: Sequence[Row]) -> pl.DataFrame:
    """Build a ledger-schema frame from reader rows.

    ``ts`` is given as epoch microseconds (int) in the rows.
    """
    if not rows:
        return LEDGER_SCHEMA.to_frame()
    columns = [list(map(attrgetter(name), rows)) for name in ROW_FIELDS]
    data = {}
    for name, values in zip(ROW_FIELDS, columns, strict=True):
        data[name] = pl.Series(name, values, dtype=pl.Int64 if name == "ts" else None)
    frame = pl.DataFrame(data)
    return frame.with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")),
        *[pl.col(c).cast(t) for c, t in LEDGER_SCHEMA.items() if c != "ts"],
    ).select(list(LEDGER_SCHEMA))


def total_tokens_expr() -> pl.Expr:
    """Expression for total tokens (input + output + cache read + cache writes)."""
    return pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS])


assert tuple(LEDGER_SCHEMA) == ROW_FIELDS, "reader rows and the ledger schema disagree"
