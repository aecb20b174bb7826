"""One read job, importable without Polars (scan worker processes start fast)."""

from __future__ import annotations

from pathlib import Path

from tokscope.readers import ReadResult, Source, get_reader
from tokscope.readers.base import Rewound, Row


def read_job(client: str, path: str, mode: str, companions: tuple[str, ...], offset: int, state: dict) -> ReadResult:
    """Run one read; errors become a message, never an exception.

    If the file turns out rewritten under the saved offset, it is read again
    from the start with a fresh state.
    """
    source = Source(client, Path(path), mode, tuple(Path(c) for c in companions))  # type: ignore[arg-type]
    reader = get_reader(client)
    try:
        try:
            result = reader.read(source, offset, state)
        except Rewound:
            result = reader.read(source, 0, {})
        result.rows = best_per_key([r if isinstance(r, Row) else Row(*r) for r in result.rows])
        return result
    except OSError as exc:
        return ReadResult(offset=offset, state=state, errors=[f"{path}: {exc.strerror or exc}"])
    except Exception as exc:  # a reader bug must not lose the other files
        return ReadResult(offset=offset, state=state, errors=[f"{path}: {type(exc).__name__}: {exc}"])


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
