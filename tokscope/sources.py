"""What each reader finds: where it looks, the files and the events — ``tokscope sources`` and ``doctor``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokscope.readers import Reader


def reachable(path: Path) -> bool:
    """``path`` exists and can be looked at (an unreadable parent is not an error here: discovery names it)."""
    try:
        return path.exists()
    except OSError:
        return False


def source_entries(summary: Any = None, readers: Iterable[Reader] | None = None) -> list[dict[str, Any]]:
    """One entry per reader (of ``readers``, default all): its roots (found and searched), files, ledger
    events and problems.

    ``summary`` is a just-run ``ScanSummary`` whose walk is reused; without one the roots are walked here.
    """
    import polars as pl

    from tokscope.ledger import Ledger
    from tokscope.readers import all_readers
    from tokscope.scan import discover

    counts = dict(
        Ledger()
        .lazy()
        .group_by("client")
        .agg(pl.len())
        .collect()
        .select(pl.col("client").cast(pl.String), "len")
        .iter_rows()
    )
    entries = []
    for reader in all_readers() if readers is None else readers:
        if summary is not None and reader.client in summary.per_client:  # the scan just walked the roots
            files, errors = summary.per_client[reader.client], summary.discover_errors[reader.client]
        else:
            found, errors = discover(reader)
            files = len(found)
        entries.append(
            {
                "client": reader.client,
                "paths": [str(p) for p in reader.roots() if reachable(p)],
                "searched": [str(p) for p in reader.roots()],
                "files": files,
                "events": int(counts.get(reader.client, 0)),
                "session_totals_only": reader.session_totals,
                "fidelity": reader.fidelity,
                "errors": errors,
            }
        )
    return entries
