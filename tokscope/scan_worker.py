"""One read job, importable without Polars (scan worker processes start fast).

Every row a reader gives passes ``check_limits`` here, the one place plausibility limits
(``tokscope.limits``) meet reader output: nothing out of range reaches Polars or a total.
"""

from __future__ import annotations

import math
import time
from operator import attrgetter
from pathlib import Path

import msgspec

from tokscope.accounts import source_account
from tokscope.limits import MAX_COST, MAX_SESSION_TOKENS, MAX_TURN_TOKENS, MIN_TS_US, max_ts_us
from tokscope.readers import ReadResult, Source, get_reader
from tokscope.readers.base import COUNT_FIELDS, Rewound, Row

#: Why a row was left out (the reasons ``tokscope doctor`` shows).
OVER_TURN_LIMIT = f"tokens over {MAX_TURN_TOKENS:,} in one turn"
OVER_SESSION_LIMIT = f"tokens over {MAX_SESSION_TOKENS:,} in one session"
BAD_COUNT = "token count not a non-negative number"
TOO_EARLY = "timestamp before 2015"
IN_FUTURE = "timestamp in the future"
BAD_TS = "timestamp not an integer"
BAD_RANK = "rank out of range"
#: A row whose logged cost is implausible is kept without it (priced from tokens instead).
BAD_COST = f"logged cost not within $0–{MAX_COST:,.0f} (dropped, priced from tokens)"

_INT64 = (1 << 63) - 1
_counters = attrgetter(*COUNT_FIELDS)


def read_job(client: str, path: str, mode: str, companions: tuple[str, ...], offset: int, state: dict) -> ReadResult:
    """Run one read; errors become a message, never an exception.

    If the file turns out rewritten under the saved offset, it is read again
    from the start with a fresh state. Rows outside the limits are left out with a counted reason.
    """
    source = Source(client, Path(path), mode, tuple(Path(c) for c in companions))  # type: ignore[arg-type]
    reader = get_reader(client)
    try:
        try:
            result = reader.read(source, offset, state)
        except Rewound:
            result = reader.read(source, 0, {})
        check_limits(result, reader.session_totals, int(time.time() * 1_000_000))
        result.rows = best_per_key(result.rows)  # after the check: an implausible copy must not outrank a real one
        if result.rows and (account := source_account(client, source.path)):  # "": the default, nothing to stamp
            result.rows = [msgspec.structs.replace(row, account=account) for row in result.rows]
        return result
    except OSError as exc:
        return ReadResult(offset=offset, state=state, errors=[f"{path}: {exc.strerror or exc}"])
    except Exception as exc:  # a reader bug must not lose the other files
        return ReadResult(offset=offset, state=state, errors=[f"{path}: {type(exc).__name__}: {exc}"])


def check_limits(result: ReadResult, session_totals: bool, now_us: int) -> None:
    """Leave out of ``result.rows`` every row with an implausible counter, timestamp or rank, and
    drop an implausible logged cost; each counted in ``result`` with its reason."""
    limit = MAX_SESSION_TOKENS if session_totals else MAX_TURN_TOKENS
    latest = max_ts_us(now_us)
    kept: list[Row] = []
    for row in result.rows:
        cost = row.source_cost
        try:
            # The common case in one expression. For ints, the bitwise or of non-negative counts is at
            # least each of them and negative if any is: one comparison bounds all six. Floats, None or a
            # string raise TypeError, and an or over the limit may still be fine: both go to _settle.
            # A float timestamp or rank would pass a comparison but not the ledger's Int64 columns.
            bits = row.input | row.output | row.reasoning | row.cache_read | row.cache_write_5m | row.cache_write_1h
            if (
                0 <= bits <= limit
                and type(row.ts) is int
                and MIN_TS_US <= row.ts <= latest
                and type(row.rank) is int
                and -_INT64 <= row.rank <= _INT64
                and (cost is None or 0 <= cost <= MAX_COST)
            ):
                kept.append(row)
                continue
        except TypeError:
            pass
        settled, reason = _settle(row, limit, latest)
        if reason is not None:
            result.skip(reason)
        if settled is not None:
            kept.append(settled)
    result.rows = kept


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _settle(row: Row, limit: int, latest: int) -> tuple[Row | None, str | None]:
    """``row`` as the ledger can store it (None when it is left out) and the reason to count, if any.

    A count written as a float is kept as an int (the ledger's columns are Int64); an implausible
    cost is dropped from a row that is otherwise fine."""
    counts = _counters(row)
    if not all(_number(v) and v >= 0 for v in counts):
        return None, BAD_COUNT
    if max(counts) > limit:
        return None, OVER_SESSION_LIMIT if limit == MAX_SESSION_TOKENS else OVER_TURN_LIMIT
    if type(row.ts) is not int:
        return None, BAD_TS
    if row.ts < MIN_TS_US:
        return None, TOO_EARLY
    if row.ts > latest:
        return None, IN_FUTURE
    if type(row.rank) is not int or not -_INT64 <= row.rank <= _INT64:
        return None, BAD_RANK
    if any(type(v) is not int for v in counts):
        row = msgspec.structs.replace(row, **{f: int(v) for f, v in zip(COUNT_FIELDS, counts, strict=True)})
    cost = row.source_cost
    if cost is not None and not (_number(cost) and 0 <= cost <= MAX_COST):
        return msgspec.structs.replace(row, source_cost=None), BAD_COST
    return row, None


def best_per_key(rows: list[Row]) -> list[Row]:
    """The ledger's upsert rule applied within one read: per (client, event_key) the highest rank,
    ties to the later row. Streaming copies then never leave the worker."""
    best: dict[tuple[str, str], Row] = {}
    get = best.get
    for row in rows:
        key = (row.client, row.event_key)
        kept = get(key)
        if kept is None or row.rank >= kept.rank:
            best[key] = row
    return rows if len(best) == len(rows) else list(best.values())


def read_batch(jobs: list[tuple]) -> list[ReadResult]:
    """``read_job`` for each argument tuple of a batch (one message to and from a worker process)."""
    return [read_job(*args) for args in jobs]
