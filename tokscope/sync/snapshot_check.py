"""Is a verified month file of another device fit to count? Its schema and values, against ``limits``.

A trusted device signs what it exports, but a bug or a compromised device can still sign
nonsense: negative or int64-max counters, year-9999 timestamps, keyless rows. The merge
refuses such a snapshot whole, with the first reason found, before any row is summed.
One pass per file (a grouped aggregate); a file that passed is remembered by its SHA-256,
so a warm merge pays nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers.base import read_regular

from tokscope import paths
from tokscope.events import CLIENTS, EVENT_SCHEMA, TOKEN_FIELDS
from tokscope.fsutil import atomic_write
from tokscope.limits import MAX_COST, MAX_SESSION_TOKENS, MAX_TURN_TOKENS, MIN_TS_US, max_ts_us

#: Changes whenever what is checked changes (remembered passes of other versions are not trusted).
CHECK_VERSION = f"1|{MAX_TURN_TOKENS}|{MAX_SESSION_TOKENS}|{MAX_COST}|{MIN_TS_US}"
#: Columns a file must have: without them a row cannot be de-duplicated or placed in time.
REQUIRED = ("client", "event_key", "ts")
_KNOWN = frozenset(CLIENTS)


def _session_clients() -> frozenset[str]:
    """Clients whose rows are running session totals (their counters may reach MAX_SESSION_TOKENS)."""
    from tokscope.readers import all_readers  # only when a counter is over the turn limit: rare

    return frozenset(r.client for r in all_readers() if r.session_totals)


def _schema_problem(schema: dict[str, pl.DataType]) -> str | None:
    for column in REQUIRED:
        if column not in schema:
            return f"no {column} column"
    for column in TOKEN_FIELDS:
        dtype = schema.get(column)
        if dtype is not None and not (dtype.is_integer() or dtype == pl.Null):
            return f"column {column} is {dtype}, not an integer"
    if not isinstance(schema["ts"], pl.Datetime):
        return f"column ts is {schema['ts']}, not a timestamp"
    text = pl.String | pl.Categorical | pl.Enum
    for column, wanted in EVENT_SCHEMA.items():  # text columns: anything else would fail the merge's cast
        dtype = schema.get(column)
        if isinstance(wanted, text) and dtype is not None and not (isinstance(dtype, text) or dtype == pl.Null):
            return f"column {column} is {dtype}, not text"
    cost = schema.get("source_cost")
    if cost is not None and not (cost.is_numeric() or cost == pl.Null):
        return f"column source_cost is {cost}, not a number"
    return None


def check_file(name: str, data: bytes, schema: dict[str, pl.DataType], rows: object, now_us: int) -> str | None:
    """Why the month file ``name`` (its bytes and Parquet schema) may not count, or None when it may.

    ``rows`` is the row count its manifest entry gives (None: not given).
    """
    problem = _schema_problem(schema)
    if problem is not None:
        return f"{name}: {problem}"
    counters = [c for c in TOKEN_FIELDS if c in schema and schema[c] != pl.Null]
    has_cost = "source_cost" in schema and schema["source_cost"] != pl.Null
    cost = pl.col("source_cost").cast(pl.Float64)
    aggs = [
        pl.len().alias("rows"),
        pl.col("ts").null_count().alias("ts_nulls"),
        pl.col("ts").dt.epoch("us").min().alias("ts_min"),
        pl.col("ts").dt.epoch("us").max().alias("ts_max"),
        pl.col("event_key").null_count().alias("key_nulls"),
        (pl.col("event_key").cast(pl.String).str.len_bytes() == 0).sum().alias("key_empty"),
        *(pl.col(c).min().alias(f"{c}_min") for c in counters),
        *(pl.col(c).max().alias(f"{c}_max") for c in counters),
    ]
    if has_cost:
        aggs += [
            (cost.is_nan() | cost.is_infinite()).sum().alias("cost_bad"),
            cost.min().alias("cost_min"),
            cost.max().alias("cost_max"),
        ]
    found = (
        pl.scan_parquet(io.BytesIO(data))
        .group_by(pl.col("client").cast(pl.String))
        .agg(aggs)
        .collect()
        .to_dicts()
    )
    total = sum(int(g["rows"]) for g in found)
    if isinstance(rows, int) and not isinstance(rows, bool) and rows != total:
        return f"{name} holds {total:,} rows, the manifest says {rows:,}"
    high = max_ts_us(now_us)
    for group in found:
        problem = _group_problem(group, counters, has_cost, high)
        if problem is not None:
            return f"{name}: {problem}"
    return None


def _group_problem(group: dict[str, Any], counters: list[str], has_cost: bool, high_ts: int) -> str | None:
    client = group["client"]
    if client is None or client not in _KNOWN:
        return f"client {client!r} is unknown to this version of tokscope"
    if group["key_nulls"] or group["key_empty"]:
        return f"{group['key_nulls'] + group['key_empty']:,} {client} rows have no event_key"
    if group["ts_nulls"]:
        return f"{group['ts_nulls']:,} {client} rows have no ts"
    low, top = group["ts_min"], group["ts_max"]
    if low is not None and (low < MIN_TS_US or top > high_ts):
        return f"{client} ts out of range ({_when(low)} .. {_when(top)})"
    for column in counters:
        least, most = group[f"{column}_min"], group[f"{column}_max"]
        if least is None:
            continue
        limit = MAX_TURN_TOKENS
        if most > limit and client in _session_clients():
            limit = MAX_SESSION_TOKENS
        if least < 0 or most > limit:
            return f"{client} {column} out of range 0..{limit:,} (lowest {least:,}, highest {most:,})"
    if has_cost:
        least, most = group["cost_min"], group["cost_max"]
        if group["cost_bad"] or (least is not None and (least < 0 or most > MAX_COST)):
            shown = "NaN or infinite" if group["cost_bad"] else f"lowest {least}, highest {most}"
            return f"{client} source_cost out of range 0..{MAX_COST:,.0f} ({shown})"
    return None


def _when(us: int) -> str:
    from datetime import UTC, datetime

    with contextlib.suppress(ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")
    return f"{us} µs" if math.isfinite(us) else str(us)


def _cache_path() -> Path:
    return paths.cache_dir() / "checked.json"


class Checked:
    """SHA-256s of month files that passed ``check_file`` (under this CHECK_VERSION).

    Only hashes the last merge used are kept. A cache: a lost file costs one check per file.
    """

    def __init__(self) -> None:
        try:
            data = json.loads(read_regular(_cache_path()))
            old = data.get(CHECK_VERSION) if isinstance(data, dict) else None
        except (OSError, ValueError):
            old = None
        self.old: set[str] = {s for s in old if isinstance(s, str)} if isinstance(old, list) else set()
        self.new: set[str] = set()

    def passed(self, sha256: str) -> bool:
        if sha256 in self.old:
            self.new.add(sha256)
        return sha256 in self.new

    def add(self, sha256: str) -> None:
        self.new.add(sha256)

    def save(self) -> None:
        if self.new != self.old:
            with contextlib.suppress(OSError):
                atomic_write(_cache_path(), json.dumps({CHECK_VERSION: sorted(self.new)}).encode())
