"""Incremental scanning: discover sources, read what changed, upsert into the ledger.

For each source the ledger remembers (device, inode, size, mtime, offset,
reader state). A scan then

* skips files whose stat is unchanged;
* reads append-only files from the saved offset (a partial last line waits);
* re-reads from the start files that shrank, were replaced (new inode) or,
  in ``whole`` mode, changed at all;
* forgets files that are gone (their events stay in the ledger).

Cold scans with enough bytes to read use a process pool (one worker per core).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import polars as pl

from tokscope.events import frame_from_rows
from tokscope.health import Health
from tokscope.ledger import Ledger
from tokscope.readers import Reader, ReadResult, Source, all_readers
from tokscope.scan_worker import indexed_read_job, read_job

#: Below this many bytes to read, a process pool costs more than it saves.
PARALLEL_MIN_BYTES = 48 << 20

Progress = Callable[[int, int], None]


@dataclass
class ScanSummary:
    """What a scan did."""

    files: int = 0
    """Source files present."""
    read: int = 0
    """Files read (new, grown, changed)."""
    bytes_read: int = 0
    events: int = 0
    """Distinct events in the ledger after the scan."""
    new_events: int = 0
    """Events whose key the ledger had not seen before."""
    skipped: int = 0
    """Lines or records that could not be decoded."""
    errors: list[str] = field(default_factory=list)
    per_client: dict[str, int] = field(default_factory=dict)
    """Source files per client."""
    discover_errors: dict[str, list[str]] = field(default_factory=dict)
    """What went wrong finding each client's files (also in ``errors``)."""


@dataclass(frozen=True)
class _Job:
    source: Source
    offset: int
    state: dict[str, Any]
    size: int
    stat: tuple[int, int, int, int, list[Any]]


def _signature(source: Source) -> tuple[int, int, int, int, list[Any]] | None:
    try:
        st = source.path.stat()
    except OSError:
        return None
    companions = []
    for extra in source.companions:
        try:
            cst = extra.stat()
            companions.append([cst.st_ino, cst.st_size, cst.st_mtime_ns])
        except OSError:
            companions.append(None)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, companions)


def plan(sources: Iterable[Source], saved: dict[str, Any]) -> tuple[list[_Job], list[str]]:
    """Decide what to read: jobs for changed sources, and the paths still present."""
    jobs: list[_Job] = []
    present: list[str] = []
    for source in sources:
        sig = _signature(source)
        if sig is None:
            continue
        key = str(source.path)
        present.append(key)
        dev, ino, size, mtime, companions = sig
        old = saved.get(key)
        if old is not None and old["client"] == source.client:
            same_file = old["dev"] == dev and old["ino"] == ino
            if same_file and old["size"] == size and old["mtime"] == mtime and old.get("comp") == companions:
                continue
            if source.mode == "append" and same_file and size > old["size"] and old["offset"] <= size:
                jobs.append(_Job(source, old["offset"], old["state"], size - old["offset"], sig))
                continue
        jobs.append(_Job(source, 0, {}, size, sig))
    return jobs, present


def _run(jobs: list[_Job], progress: Progress | None, workers: int) -> Iterator[tuple[int, ReadResult]]:
    """Run the jobs, yielding (job index, result) as each finishes."""
    total = sum(j.size for j in jobs)
    done = 0

    def args(job: _Job) -> tuple:
        s = job.source
        return (s.client, str(s.path), s.mode, tuple(str(c) for c in s.companions), job.offset, job.state)

    if workers > 1 and len(jobs) > 1 and total >= PARALLEL_MIN_BYTES:
        # biggest first, so one large file does not finish alone at the end; imap_unordered
        # hands each result over once (a futures map would keep every result alive to the end)
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i].size)
        with get_context("spawn").Pool(workers) as pool:
            for index, result in pool.imap_unordered(indexed_read_job, [(i, *args(jobs[i])) for i in order]):
                done += jobs[index].size
                if progress:
                    progress(done, total)
                yield index, result
    else:
        for index, job in enumerate(jobs):
            result = read_job(*args(job))
            done += job.size
            if progress:
                progress(done, total)
            yield index, result


class _Rows:
    """Rows gathered from many reads, turned into frames in batches (no per-event objects kept long)."""

    BATCH = 25_000

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.rows: list[tuple] = []
        self.jobs: list[int] = []

    def add(self, index: int, rows: list[tuple]) -> None:
        self.rows.extend(rows)
        self.jobs.extend([index] * len(rows))
        if len(self.rows) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            frame = frame_from_rows(self.rows).with_columns(pl.Series("_job", self.jobs, dtype=pl.UInt32))
            self.frames.append(frame)
            self.rows, self.jobs = [], []

    def frame(self) -> pl.DataFrame | None:
        """All rows in job order (so 'the last written wins' does not depend on which worker was faster)."""
        self.flush()
        if not self.frames:
            return None
        return pl.concat(self.frames).sort("_job", maintain_order=True).drop("_job")


def discover(reader: Reader) -> tuple[list[Source], list[str]]:
    """``reader``'s sources and the problems finding them; nothing a root does (a symlink loop, no
    permission, a reader bug) escapes, so one bad root costs only its own reader."""
    problems: list[str] = []
    try:
        return reader.discover(problems), problems
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        problems.append(f"cannot look for {reader.client} files: {where}{exc.strerror or exc}")
    except Exception as exc:
        problems.append(f"cannot look for {reader.client} files: {type(exc).__name__}: {exc}")
    return [], problems


def scan(
    ledger: Ledger | None = None,
    readers: Iterable[Reader] | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ScanSummary:
    """Scan every reader's sources into the ledger and say what happened.

    ``on_plan(files_to_read, bytes_to_read)`` is called once the work is known
    (the CLI uses it to decide whether to show a progress bar).
    """
    ledger = ledger or Ledger()
    readers = list(readers) if readers is not None else list(all_readers())
    summary = ScanSummary()
    sources: list[Source] = []
    for reader in readers:
        found, problems = discover(reader)
        summary.per_client[reader.client] = len(found)
        summary.discover_errors[reader.client] = problems
        summary.errors.extend(problems)
        sources.extend(found)
    summary.files = len(sources)
    with ledger.lock():
        state = ledger.load_state()
        health = Health(ledger.root)
        saved: dict[str, Any] = state["sources"]
        jobs, present = plan(sources, saved)
        if on_plan:
            on_plan(len(jobs), sum(j.size for j in jobs))
        gathered = _Rows()
        for index, result in _run(jobs, progress, workers or (os.cpu_count() or 1)):
            job = jobs[index]
            health.note(job.source, job.offset, result)
            summary.skipped += result.skipped
            summary.errors.extend(result.errors)
            if result.errors and not result.rows:
                continue  # unreadable: keep the old state so nothing is skipped for good
            gathered.add(index, result.rows)
            summary.read += 1
            summary.bytes_read += job.size
            dev, ino, size, mtime, companions = job.stat
            saved[str(job.source.path)] = {
                "client": job.source.client,
                "dev": dev,
                "ino": ino,
                "size": size if job.source.mode == "whole" else result.offset,
                "mtime": mtime,
                "comp": companions,
                "offset": result.offset,
                "state": result.state,
            }
        gone = set(saved) - set(present)
        for key in gone:
            del saved[key]
        rows = gathered.frame()
        if rows is not None:
            summary.new_events = ledger.append(rows, state)
        if rows is not None or gone or jobs or state.get("events") is None:
            summary.events = ledger.count(state)
            ledger.save_state(state)
        else:
            summary.events = ledger.count(state)
        health.finish(present, summary.discover_errors)  # after the state: a read it lost is counted again
        health.save()
    return summary


def frame_of(readers: Iterable[Reader]) -> pl.DataFrame:
    """Read every source of ``readers`` from scratch into one de-duplicated frame (no ledger).

    For tests and one-off reads.
    """
    from tokscope.ledger import dedupe

    errors: list[str] = []
    rows: list[tuple] = []
    for reader in readers:
        for source in reader.discover(errors):
            rows.extend(reader.read(source, 0, {}).rows)
    return dedupe(frame_from_rows(rows).lazy()).collect()
