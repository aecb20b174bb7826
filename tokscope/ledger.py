"""The local ledger: this device's durable, de-duplicated store of events.

Layout under ``paths.ledger_dir()``:

* ``scan-state.msgpack``: per-source scan state and the ledger's counters (``tokscope.scan_state``);
* ``events/base-N.parquet``: the compacted, de-duplicated events;
* ``events/delta-N.parquet``: rows appended by later scans, newest last.

Rows are upserted by ``(client, event_key)``: among rows with one key the
highest ``rank`` wins, ties go to the row written last. Segments are written
atomically and never changed, so a reader needs no lock; writers take
``lock``. Events whose source file was deleted stay.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl

from tokscope import paths, scan_state
from tokscope.events import LEDGER_SCHEMA
from tokscope.fsutil import atomic_write_with, locked

KEY = ["client", "event_key"]

#: Compact when this many deltas pile up, or when they reach this share of the base.
MAX_DELTAS = 16
MAX_DELTA_SHARE = 0.05


def dedupe(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (client, event_key): highest rank, then the last written.

    The winner of each key is found on two small columns and the rows kept by a
    semi join; sorting the whole frame would gather every column (2x the memory).
    """
    indexed = frame.with_row_index("_seq")
    winners = indexed.group_by(KEY).agg(pl.col("_seq").sort_by(["rank", "_seq"]).last())
    return indexed.join(winners.select("_seq"), on="_seq", how="semi").drop("_seq")


class Ledger:
    """The ledger at ``root`` (default: the platformdirs data dir)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.ledger_dir()
        self.events_dir = self.root / "events"
        self.lock_path = self.root / scan_state.LOCK_NAME

    # --- state ---------------------------------------------------------------

    def load_state(self) -> dict[str, Any]:
        """The saved scan state (``tokscope.scan_state``; fresh when there is none, reset when damaged)."""
        return scan_state.load(self.root, self._next_seq_on_disk)

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the scan state atomically."""
        scan_state.save(self.root, state)

    def lock(self):
        """Exclusive writer lock (scans, compaction)."""
        return locked(self.lock_path)

    # --- segments ------------------------------------------------------------

    def _segments(self) -> tuple[Path | None, list[Path]]:
        """The current base and the deltas after it, in write order."""
        try:
            names = [p for p in self.events_dir.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")]
        except FileNotFoundError:
            return None, []
        bases = sorted((p for p in names if p.name.startswith("base-")), key=_seq)
        base = bases[-1] if bases else None
        floor = _seq(base) if base else -1
        deltas = sorted((p for p in names if p.name.startswith("delta-") and _seq(p) > floor), key=_seq)
        return base, deltas

    def _next_seq_on_disk(self) -> int:
        base, deltas = self._segments()
        seqs = [_seq(p) for p in ([base] if base else []) + deltas]
        return max(seqs, default=0) + 1

    def lazy(self) -> pl.LazyFrame:
        """All events, de-duplicated, as a LazyFrame in the ledger schema."""
        for _attempt in range(5):
            base, deltas = self._segments()
            try:
                return self._lazy(base, deltas)
            except FileNotFoundError:  # a compaction removed a segment under us
                time.sleep(0.05)
        base, deltas = self._segments()
        return self._lazy(base, deltas)

    def _lazy(self, base: Path | None, deltas: list[Path]) -> pl.LazyFrame:
        if base is None and not deltas:
            return LEDGER_SCHEMA.to_frame().lazy()
        if not deltas:
            return pl.scan_parquet(base, schema=LEDGER_SCHEMA)
        delta = pl.concat([pl.read_parquet(p, schema=LEDGER_SCHEMA) for p in deltas])
        if base is None:
            return dedupe(delta.lazy())
        base_frame = pl.scan_parquet(base, schema=LEDGER_SCHEMA)
        # The base rows whose key a delta holds again (usually none: deltas are mostly new turns)
        # are found on the key column alone and settled with the deltas by dedupe; the rest of the
        # base is dropped by row number, so the base is decoded once.
        maybe = pl.col("event_key").is_in(delta["event_key"].unique().implode())
        contested = base_frame.with_row_index("_row").filter(maybe).collect()
        settled = dedupe(pl.concat([contested.drop("_row").lazy(), delta.lazy()]))
        if not contested.height:
            return pl.concat([base_frame, settled])
        kept = ~pl.col("_row").is_in(contested.get_column("_row").implode())
        return pl.concat([base_frame.with_row_index("_row").filter(kept).drop("_row"), settled])

    def frame(self) -> pl.DataFrame:
        """All events, de-duplicated, collected."""
        return self.lazy().collect()

    def keys(self) -> pl.DataFrame:
        """The (client, event_key) pairs stored, not de-duplicated."""
        base, deltas = self._segments()
        frames = [pl.read_parquet(p, columns=KEY, schema=LEDGER_SCHEMA) for p in ([base] if base else []) + deltas]
        if not frames:
            return LEDGER_SCHEMA.to_frame().select(KEY)
        return pl.concat(frames)

    def known(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Which of ``keys`` (client, event_key) the ledger already stores."""
        base, deltas = self._segments()
        wanted = pl.col("event_key").is_in(keys["event_key"].unique().implode())
        frames = [
            pl.scan_parquet(p, schema=LEDGER_SCHEMA).filter(wanted).select(KEY)
            for p in ([base] if base else []) + deltas
        ]
        if not frames:
            return keys.clear()
        return pl.concat(frames).collect().join(keys, on=KEY, how="semi").unique()

    def append(self, rows: pl.DataFrame, state: dict[str, Any]) -> int:
        """Write ``rows`` as a new delta; return how many keys were new. Hold the lock."""
        if rows.is_empty():
            return 0
        base, deltas = self._segments()
        if base is None and not deltas:  # a cold scan: write the base directly
            merged = dedupe(rows.lazy()).collect()
            seq = max(int(state.get("next_seq") or 1), 1)
            path = self.events_dir / f"base-{seq:08d}.parquet"
            atomic_write_with(path, lambda tmp: merged.write_parquet(tmp, compression="zstd"))
            state["next_seq"] = seq + 1
            state["events"] = merged.height
            return merged.height
        fresh = rows.select(KEY).unique()
        new = fresh.height - self.known(fresh).height
        seq = max(int(state.get("next_seq") or 1), self._next_seq_on_disk())
        path = self.events_dir / f"delta-{seq:08d}.parquet"
        atomic_write_with(path, lambda tmp: rows.write_parquet(tmp, compression="lz4", statistics=False))
        state["next_seq"] = seq + 1
        if state.get("events") is not None:
            state["events"] += new
        self.maybe_compact(state)
        return new

    def maybe_compact(self, state: dict[str, Any], force: bool = False) -> None:
        """Merge the deltas into a new base when they are many or large. Hold the lock."""
        base, deltas = self._segments()
        if not deltas:
            return
        if not force and len(deltas) < MAX_DELTAS:
            base_rows = pl.scan_parquet(base).select(pl.len()).collect().item() if base else 0
            delta_rows = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in deltas)
            if base_rows and delta_rows < base_rows * MAX_DELTA_SHARE:
                return
        merged = self._lazy(base, deltas).collect()
        seq = _seq(deltas[-1])
        path = self.events_dir / f"base-{seq:08d}.parquet"
        atomic_write_with(path, lambda tmp: merged.write_parquet(tmp, compression="zstd"))
        state["events"] = merged.height
        for old in ([base] if base else []) + deltas:
            old.unlink(missing_ok=True)

    def count(self, state: dict[str, Any] | None = None) -> int:
        """How many distinct events the ledger holds."""
        state = state if state is not None else self.load_state()
        if state.get("events") is None:
            state["events"] = self.lazy().select(pl.len()).collect().item()
        return int(state["events"])


def _seq(path: Path | None) -> int:
    assert path is not None
    return int(path.stem.split("-", 1)[1])
