"""The local ledger: this device's durable, de-duplicated store of events.

Layout under ``paths.ledger_dir()``:

* ``scan-state.msgpack``: per-source scan state and the ledger's counters (``tokscope.scan_state``);
* ``statusline.msgpack``: the statusline's last answers (``tokscope.statusline``; a cache);
* ``seal.msgpack``: what the last complete scan depended on (``tokscope.scan_seal``; a shortcut);
* ``health.json``: what the last scans left out and why (``tokscope.health``);
* ``quota.msgpack``: official usage-limit readings, a small time series (``tokscope.quota``);
* ``invoices.json``: rows of the providers' own usage and cost exports (``tokscope.invoices``);
* ``events/base-N-D.parquet``: the compacted, de-duplicated events;
* ``events/delta-N-D.parquet``: rows appended by later scans, newest last;
* ``quarantine/``: damaged or foreign files moved aside by ``tokscope doctor --repair``.

``N`` is the segment's sequence number and ``D`` the first 16 hex digits of the SHA-256 of its
bytes, checked before a segment is read: a truncated, bit-flipped or half-synced segment is left
out and reported (never read as if whole), and so is any file that is not the ledger's own (a
``base-00000001 (copy).parquet`` from a sync tool). Names without ``D`` (ledgers from before the
check) get theirs under the next lock.

Rows are upserted by ``(client, event_key)``: among rows with one key the
highest ``rank`` wins, ties go to the row written last. Segments are written
atomically and never changed, so a reader needs no lock; writers take
``lock``, which also clears the temp files of writes that were killed. Events whose source file was deleted stay.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tokscope import (
    ledger_journal,
    ledger_listing,
    paths,
    scan_state,
)
from tokscope.events import CLIENT_ENUM, LEDGER_SCHEMA
from tokscope.fsutil import atomic_write_with, locked
from tokscope.ledger_listing import parse_name
from tokscope.readers.base import open_regular

KEY = ["client", "event_key"]

#: Compact when this many deltas pile up, or when they reach this share of the base.
MAX_DELTAS = ledger_journal.MAX_LIVE_DELTAS + 1
MAX_DELTA_SHARE = 0.05


def dedupe(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (client, event_key): highest rank, then the last written.

    The winner of each key is found on two small columns and the rows kept by a
    semi join; sorting the whole frame would gather every column (2x the memory).
    """
    indexed = frame.with_row_index("_seq")
    winners = indexed.group_by(KEY).agg(pl.col("_seq").sort_by(["rank", "_seq"]).last())
    return indexed.join(winners.select("_seq"), on="_seq", how="semi").drop("_seq")


#: What belongs in the ledger's root besides ``events/``.
_ROOT_FILES = ledger_listing.ROOT_FILES
#: The temp file of a write in progress (``fsutil.atomic_write_with``: ``.<name>.<random>.tmp``).
_TEMP = re.compile(r"\.(.+)\.[a-z0-9_]+\.tmp")
#: The name a segment is written under before its digest names it.
_PROVISIONAL = re.compile(r"(?:base|delta)-\d{8,}\.(?:parquet|msgpack)")


#: Root files written under a lock of their own (or none), not the ledger's: a temp file of one may be
#: a write in progress while this process holds the ledger lock, so only an old one is a killed write.
_UNLOCKED_ROOT_FILES = frozenset({"alerts.json", "statusline.msgpack", "budgets.msgpack"})
#: Seconds after which such a temp file is surely a killed write (they are written in milliseconds).
_IN_PROGRESS_S = 120.0


def _in_progress(entry: os.DirEntry) -> bool:
    """A root temp file that may belong to a write under way in another process or thread."""
    match = _TEMP.fullmatch(entry.name)
    if match is None or match[1] not in _UNLOCKED_ROOT_FILES:
        return False
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime < _IN_PROGRESS_S
    except OSError:
        return True  # gone already: its write finished


def _is_temp(name: str) -> bool:
    """``name`` is the temp file of a write of one of the ledger's own files (a segment or a root file)."""
    match = _TEMP.fullmatch(name)
    return match is not None and (match[1] in _ROOT_FILES or _PROVISIONAL.fullmatch(match[1]) is not None)


FindingKind = Literal["damaged", "unknown", "temp", "quarantined"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A file in the ledger's folders that is not read, and why."""

    path: Path
    kind: FindingKind
    """``damaged``: a segment that fails its check (left out until repaired); ``unknown``: not the
    ledger's (ignored); ``temp``: left by a killed write (removed under the next lock);
    ``quarantined``: moved aside by a repair (kept for inspection, never read)."""
    reason: str


@dataclass(slots=True)
class Layout:
    """The ledger's folders as found: the segments that pass their checks, and everything else."""

    segments: list[str] = field(default_factory=list)
    """Names of the intact segments (every base and delta, in no order; ``current`` picks the live ones)."""
    legacy: list[str] = field(default_factory=list)
    """Intact segments named before digests (no check possible; renamed under the next lock)."""
    findings: list[Finding] = field(default_factory=list)
    highest_seq: int = 0
    """The highest sequence number of any segment name, damaged ones included."""

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "damaged"]


class LedgerDamaged(OSError):
    """The ledger has a damaged segment: what it holds is incomplete until ``tokscope doctor --repair``."""


class LedgerFull(OSError):
    """No space left (or the quota reached) while writing the ledger: nothing of that write was kept."""


def current(names: Iterable[str]) -> list[str]:
    """The live segments among ``names``: the newest base, then the deltas after it in write order."""
    parsed = [(n, p) for n in names if (p := parse_name(n)) is not None]
    bases = sorted((p[1], n) for n, p in parsed if p[0] == "base")
    floor = bases[-1][0] if bases else -1
    deltas = sorted((p[1], n) for n, p in parsed if p[0] == "delta" and p[1] > floor)
    return ([bases[-1][1]] if bases else []) + [n for _seq, n in deltas]


def digest(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of ``path``'s bytes (a regular file only)."""
    with open_regular(path) as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()[:16]


#: Segments already checked in this process, by (path, inode, size, mtime): a segment never changes,
#: so each is hashed once per process (~17 ms for a million events' 23 MB base).
_checked: dict[tuple[str, int, int, int], str | None] = {}


def _check(path: Path, want: str) -> str | None:
    """Why the segment at ``path`` cannot be read as written (None when its digest matches)."""
    try:
        st = path.stat()
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _checked:
            got = digest(path)
            _checked[key] = None if got == want else f"checksum mismatch (truncated or changed; written as {want})"
            if _checked[key] is None and path.suffix == ledger_journal.SUFFIX:
                _checked[key] = ledger_journal.problem(path)  # small: decoded once here, not mid-report
        return _checked[key]
    except FileNotFoundError:
        raise  # removed by a compaction since the listing: the caller lists again
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def scan_parquet(path: Path) -> pl.LazyFrame:
    """A Parquet segment in the ledger schema. One written before clients were added has a shorter
    client Enum (today's is the same list with new names appended), which Polars will not read as
    today's: it is read as written and widened. One written before a column was added (``account``)
    has it filled with null (the client's default account)."""
    written = pl.read_parquet_schema(path)  # the footer only
    client = written.get("client")
    if (client is None or client == CLIENT_ENUM) and len(written) == len(LEDGER_SCHEMA):
        return pl.scan_parquet(path, schema=LEDGER_SCHEMA)
    schema = {c: t for c, t in LEDGER_SCHEMA.items() if c in written}
    if client is not None:
        schema["client"] = client
    frame = pl.scan_parquet(path, schema=schema)
    return frame.select(
        [
            (pl.col(c).cast(t) if c == "client" else pl.col(c)) if c in schema else pl.lit(None, t).alias(c)
            for c, t in LEDGER_SCHEMA.items()
        ]
    )


def disk_full(exc: BaseException) -> bool:
    """``exc`` says the disk is full or the quota reached (Polars wraps the OS error in its own)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc)
    return f"(os error {errno.ENOSPC})" in text or f"(os error {errno.EDQUOT})" in text


class Ledger:
    """The ledger at ``root`` (default: the platformdirs data dir)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or paths.ledger_dir()
        self.events_dir = self.root / "events"
        self.lock_path = self.root / scan_state.LOCK_NAME
        self.quarantine_dir = self.root / "quarantine"

    # --- state ---------------------------------------------------------------

    def load_state(self) -> dict[str, Any]:
        """The saved scan state (``tokscope.scan_state``; fresh when there is none, reset when damaged)."""
        return scan_state.load(self.root, self._next_seq_on_disk)

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the scan state atomically."""
        scan_state.save(self.root, state)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock (scans, compaction). Taking it clears what killed writes left
        (every writer holds it, so no temp file can be in use) and names legacy segments."""
        with locked(self.lock_path):
            self._tidy()
            yield

    # --- segments ------------------------------------------------------------

    def layout(self, verify: bool = True) -> Layout:
        """Every file in the ledger's folders, checked: intact segments and findings.

        ``verify=False`` skips the digests (a listing for a cache key, not for reading). A segment
        that vanishes while it is checked (a compaction replaced it) means listing again."""
        for _attempt in range(20):
            try:
                return self._layout(verify)
            except FileNotFoundError:
                time.sleep(0.01)
        return self._layout(verify)

    def _layout(self, verify: bool) -> Layout:
        found = Layout()
        try:
            entries = sorted(os.scandir(self.events_dir), key=lambda e: e.name)
        except FileNotFoundError:
            entries = []
        except OSError as exc:
            found.findings.append(Finding(self.events_dir, "damaged", f"unreadable: {exc.strerror or exc}"))
            entries = []
        for entry in entries:
            path = Path(entry.path)
            parsed = parse_name(entry.name)
            if parsed is not None:
                found.highest_seq = max(found.highest_seq, parsed[1])
                want = parsed[2]
                problem = _check(path, want) if want and verify else None
                if problem:
                    found.findings.append(Finding(path, "damaged", problem))
                elif not want and not entry.is_file(follow_symlinks=False):
                    found.findings.append(Finding(path, "damaged", "not a regular file"))
                else:
                    found.segments.append(entry.name)
                    if not want:
                        found.legacy.append(entry.name)
            elif _is_temp(entry.name):
                found.findings.append(Finding(path, "temp", "left by an interrupted write"))
            else:
                found.findings.append(Finding(path, "unknown", "not a ledger file (a sync tool's copy?): ignored"))
        try:
            for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
                if _is_temp(entry.name) and _in_progress(entry):
                    continue  # another writer's: neither a finding nor removed
                if _is_temp(entry.name):
                    found.findings.append(Finding(Path(entry.path), "temp", "left by an interrupted write"))
                elif entry.name not in _ROOT_FILES:
                    found.findings.append(Finding(Path(entry.path), "unknown", "not a ledger file: ignored"))
        except OSError:
            pass
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(self.quarantine_dir), key=lambda e: e.name):
                found.findings.append(Finding(Path(entry.path), "quarantined", "moved aside by a repair; never read"))
        return found

    def require_intact(self) -> None:
        """Raise ``LedgerDamaged`` when a segment is damaged (before passing the ledger on as whole, e.g. an export)."""
        damaged = self.layout().damaged
        if damaged:
            names = ", ".join(f.path.name for f in damaged)
            raise LedgerDamaged(errno.EIO, f"damaged ledger segments ({names}): run tokscope doctor --repair first")

    def segments(self, verify: bool = True) -> list[Path]:
        """The live, intact segments: the base, then its deltas in write order."""
        return [self.events_dir / name for name in current(self.layout(verify).segments)]

    def _segments(self) -> tuple[Path | None, list[Path]]:
        """The current base and the deltas after it, in write order."""
        live = self.segments()
        if live and live[0].name.startswith("base-"):
            return live[0], live[1:]
        return None, live

    def _next_seq_on_disk(self) -> int:
        return self.layout().highest_seq + 1

    def _tidy(self) -> None:
        """Remove killed writes' temp files and superseded segments; give legacy segments their digest.
        Hold the lock."""
        found = self.layout()
        for finding in found.findings:
            if finding.kind == "temp":
                finding.path.unlink(missing_ok=True)
        live = set(current(found.segments))
        for name in found.segments:  # superseded: a compaction was killed before it removed them
            if name not in live:
                (self.events_dir / name).unlink(missing_ok=True)
        for name in found.legacy:
            if name not in live:
                continue
            path = self.events_dir / name
            with contextlib.suppress(OSError):
                path.rename(path.with_name(f"{path.stem}-{digest(path)}.parquet"))

    def _write(self, kind: str, seq: int, frame: pl.DataFrame, **options: Any) -> Path:
        """Write ``frame`` as segment ``kind``-``seq`` named with its digest; a full disk raises ``LedgerFull``."""
        provisional = self.events_dir / f"{kind}-{seq:08d}.parquet"

        def named(tmp: Path) -> Path:
            return provisional.with_name(f"{provisional.stem}-{digest(tmp)}.parquet")

        try:
            return atomic_write_with(provisional, lambda tmp: frame.write_parquet(tmp, **options), rename=named)
        except Exception as exc:
            if disk_full(exc):
                raise LedgerFull(errno.ENOSPC, "no space left on device", str(self.root)) from exc
            raise

    def quarantine(self, paths_: Iterable[Path]) -> list[Path]:
        """Move ``paths_`` into ``quarantine/`` (kept for inspection, never read); return where. Hold the lock."""
        moved = []
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        for path in paths_:
            target = self.quarantine_dir / path.name
            n = 1
            while target.exists():
                target = self.quarantine_dir / f"{path.name}.{n}"
                n += 1
            with contextlib.suppress(FileNotFoundError):
                path.rename(target)
                moved.append(target)
        return moved

    def scan_segment(self, path: Path) -> pl.LazyFrame:
        """One segment's rows as written (Parquet, or a journal segment's msgpack)."""
        if path.suffix == ledger_journal.SUFFIX:
            from tokscope.events import frame_from_rows

            return frame_from_rows(ledger_journal.read(path)).lazy()
        return scan_parquet(path)

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
            return scan_parquet(base)
        delta = pl.concat([self.scan_segment(p) for p in deltas]).collect()
        if base is None:
            return dedupe(delta.lazy())
        base_frame = scan_parquet(base)
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
        frames = [self.scan_segment(p).select(KEY) for p in ([base] if base else []) + deltas]
        if not frames:
            return LEDGER_SCHEMA.to_frame().select(KEY)
        return pl.concat(frames).collect()

    def known(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Which of ``keys`` (client, event_key) the ledger already stores."""
        base, deltas = self._segments()
        wanted = pl.col("event_key").is_in(keys["event_key"].unique().implode())
        frames = [self.scan_segment(p).filter(wanted).select(KEY) for p in ([base] if base else []) + deltas]
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
            seq = max(int(state.get("next_seq") or 1), self._next_seq_on_disk())
            self._write("base", seq, merged, compression="zstd")
            state["next_seq"] = seq + 1
            state["events"] = merged.height
            return merged.height
        fresh = rows.select(KEY).unique()
        new = fresh.height - self.known(fresh).height
        seq = max(int(state.get("next_seq") or 1), self._next_seq_on_disk())
        self._write("delta", seq, rows, compression="lz4", statistics=False)
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
            delta_rows = sum(self.scan_segment(p).select(pl.len()).collect().item() for p in deltas)
            if base_rows and delta_rows < base_rows * MAX_DELTA_SHARE:
                return
        merged = self._lazy(base, deltas).collect()
        seq = _seq(deltas[-1])
        self._write("base", seq, merged, compression="zstd")
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
    parsed = parse_name(path.name)
    assert parsed is not None
    return parsed[1]
