"""Delta segments a process without Polars can write: the rows of a rescan that read a few changed
files, as msgpack, so that one appended turn is recorded in milliseconds, not after a 0.2 s import.

A journal segment is a delta like any other (``events/delta-N-D.msgpack``: sequence number, digest
of its bytes, written atomically, checked before it is read); ``tokscope.ledger`` reads it beside the
Parquet deltas with the same upsert rule and folds it into the next base when it compacts. Whether
its keys are new is not known without the ledger's keys, so the event count is left to be counted
by the next process that loads the ledger (``state["events"] = None``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from tokscope.fsutil import atomic_write_with
from tokscope.ledger_listing import parse_name
from tokscope.readers.base import Row

SUFFIX = ".msgpack"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Row])


def _segments(events_dir: Path) -> list[tuple[str, int, str | None]]:
    try:
        names = os.listdir(events_dir)  # noqa: PTH208 (names only: no Path per entry)
    except FileNotFoundError:
        return []
    return [parsed for name in names if (parsed := parse_name(name)) is not None]


def highest_seq(events_dir: Path) -> int:
    """The highest sequence number of any segment name in ``events_dir`` (0 when none)."""
    return max((seq for _kind, seq, _digest in _segments(events_dir)), default=0)


#: Deltas after the base at which a rescan takes the Polars path instead: its append writes the
#: ``tokscope.ledger.MAX_DELTAS``-th delta and compacts, so journal segments never pile up while
#: only short-lived processes write.
MAX_LIVE_DELTAS = 15


def has_room(events_dir: Path) -> bool:
    """Whether a journal segment may be written now: there is a base (a cold scan writes one with
    Polars) and fewer than ``MAX_LIVE_DELTAS`` deltas after it."""
    found = _segments(events_dir)
    bases = [seq for kind, seq, _digest in found if kind == "base"]
    if not bases:
        return False
    return sum(1 for kind, seq, _digest in found if kind == "delta" and seq > max(bases)) < MAX_LIVE_DELTAS


def append(root: Path, rows: list[Row], state: dict[str, Any]) -> Path:
    """Write ``rows`` (in write order) as the next delta segment; hold the ledger's lock."""
    events_dir = root / "events"
    seq = max(int(state.get("next_seq") or 1), highest_seq(events_dir) + 1)
    data = _encoder.encode(rows)
    name = f"delta-{seq:08d}-{hashlib.sha256(data).hexdigest()[:16]}{SUFFIX}"
    path = atomic_write_with(
        events_dir / f"delta-{seq:08d}{SUFFIX}",
        lambda tmp: tmp.write_bytes(data),
        rename=lambda _tmp: events_dir / name,
    )
    state["next_seq"] = seq + 1
    state["events"] = None  # counted by the next process that loads the ledger
    return path


def read(path: Path) -> list[Row]:
    """The rows of a journal segment (its digest already checked by the ledger)."""
    from tokscope.readers.base import open_regular

    with open_regular(path) as fh:
        return _decoder.decode(fh.read())


def problem(path: Path) -> str | None:
    """Why the journal segment at ``path`` cannot be read as rows (None when it can): a file with a
    matching digest but other content is not the ledger's own (a foreign or hand-made file)."""
    try:
        read(path)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return f"not a journal segment ({exc})"
    return None
