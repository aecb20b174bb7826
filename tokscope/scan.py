"""Incremental scanning: discover sources, read what changed, upsert into the ledger.

For each source the scan state (``tokscope.scan_state``) remembers (device,
inode, size, mtime, offset, reader state). A scan then

* skips files whose stat is unchanged (and writes nothing when nothing changed);
* reads append-only files from the saved offset (a partial last line waits);
* re-reads from the start files that shrank, were replaced (new inode) or,
  in ``whole`` mode, changed at all;
* forgets files that are gone (their events stay in the ledger).

Big reads go to a set of worker processes in batches (one result message per
batch, not per file); small ones are read in this process. Polars is imported
only when there are rows to write, so an unchanged rescan starts and ends fast.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from tokscope import ledger_journal, paths, scan_seal, scan_state
from tokscope.fsutil import atomic_write_with, locked
from tokscope.health import Health
from tokscope.readers import Reader, ReadResult, Source, all_readers, load_module
from tokscope.readers.base import Listings, use_listings
from tokscope.scan_state import SourceState
from tokscope.scan_summary import ScanSummary
from tokscope.scan_worker import read_batch, read_job

if TYPE_CHECKING:
    import polars as pl

    from tokscope.ledger import Ledger

#: Below this many bytes to read, worker processes cost more than they save (their start-up).
PARALLEL_MIN_BYTES = 48 << 20
#: Batches per worker: enough to balance uneven files, few enough that messages stay rare.
BATCHES_PER_WORKER = 8
#: A rescan reading less than this writes its rows as a journal segment (no Polars import); more
#: is worth the import, and a Parquet delta.
JOURNAL_MAX_BYTES = 8 << 20

Progress = Callable[[int, int], None]

#: The cached directory walks (``readers.base.Listings``), under the cache dir.
LISTINGS_NAME = "listings.msgpack"


Signature = tuple[int, int, int, int, list[Any]]


class _Job(NamedTuple):
    source: Source
    offset: int
    state: dict[str, Any]
    size: int
    stat: Signature


def _signature(source: Source, key: str | None = None) -> Signature | None:
    # os.stat on a str: pathlib's stat costs 2-3x per call, and a rescan is mostly stats
    try:
        st = os.stat(key or str(source.path))  # noqa: PTH116
    except OSError:
        return None
    companions: list[Any] = []
    for extra in source.companions:
        try:
            cst = os.stat(extra)  # noqa: PTH116
            companions.append([cst.st_ino, cst.st_size, cst.st_mtime_ns])
        except OSError:
            companions.append(None)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, companions)


def plan(sources: Iterable[Source], saved: dict[str, SourceState]) -> tuple[list[_Job], list[str]]:
    """Decide what to read: jobs for changed sources, and the paths still present."""
    jobs: list[_Job] = []
    present: list[str] = []
    stat = os.stat
    get = saved.get
    for source in sources:
        key = str(source.path)
        old = get(key)
        if old is not None and not source.companions and not old.comp:
            # the common case of a rescan, without building a signature: one stat, four compares
            try:
                st = stat(key)
            except OSError:
                continue
            present.append(key)
            if (
                old.size == st.st_size
                and old.mtime == st.st_mtime_ns
                and old.ino == st.st_ino
                and old.dev == st.st_dev
                and old.client == source.client
            ):
                continue
        sig = _signature(source, key)
        if sig is None:
            continue
        if old is None or old.comp or source.companions:
            present.append(key)
        dev, ino, size, mtime, companions = sig
        if old is not None and old.client == source.client:
            same_file = old.dev == dev and old.ino == ino
            if same_file and old.size == size and old.mtime == mtime and old.comp == companions:
                continue
            if source.mode == "append" and same_file and size > old.size and old.offset <= size:
                reader_state = scan_state.unpack(old.state)
                if reader_state is not None:
                    jobs.append(_Job(source, old.offset, reader_state, size - old.offset, sig))
                    continue
        jobs.append(_Job(source, 0, {}, size, sig))
    return jobs, present


def _args(job: _Job) -> tuple:
    s = job.source
    return (s.client, str(s.path), s.mode, tuple(str(c) for c in s.companions), job.offset, job.state)


def batches(jobs: list[_Job], count: int) -> list[list[int]]:
    """Job indexes in about ``count`` batches of similar bytes, biggest jobs first (so one large
    file does not finish alone at the end)."""
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].size)
    total = sum(j.size for j in jobs) or 1
    per = total / max(count, 1)
    out: list[list[int]] = [[]]
    filled = 0
    for i in order:
        if out[-1] and filled + jobs[i].size > per:
            out.append([])
            filled = 0
        out[-1].append(i)
        filled += jobs[i].size
    return out


def _run(jobs: list[_Job], progress: Progress | None, workers: int) -> Iterator[tuple[int, ReadResult]]:
    """Run the jobs, yielding (job index, result) as each finishes.

    With enough to read, ``workers - 1`` worker processes take batches from the big end while this
    process reads batches from the small end, so every core works and nothing waits on one file.
    """
    total = sum(j.size for j in jobs)
    done = 0

    def finished(index: int, result: ReadResult) -> tuple[int, ReadResult]:
        nonlocal done
        done += jobs[index].size
        if progress:
            progress(done, total)
        return index, result

    if workers < 2 or len(jobs) < 2 or total < PARALLEL_MIN_BYTES:
        for index, job in enumerate(jobs):
            yield finished(index, read_job(*_args(job)))
        return
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    queue = deque(batches(jobs, workers * BATCHES_PER_WORKER))
    pending: dict[Future, list[int]] = {}
    with ProcessPoolExecutor(workers - 1, mp_context=get_context("spawn")) as pool:
        while queue or pending:
            try:
                while queue and len(pending) < 2 * (workers - 1):
                    group = queue.popleft()
                    pending[pool.submit(read_batch, [_args(jobs[i]) for i in group])] = group
                for future in [f for f in pending if f.done()]:
                    results = future.result()  # raises first, so a lost batch stays pending
                    group = pending.pop(future)  # its results are not kept to the end
                    for index, result in zip(group, results, strict=True):
                        yield finished(index, result)
            except BrokenProcessPool:  # a worker died (killed, out of memory): read the rest here
                queue.extend(pending.values())
                pending.clear()
                for group in queue:
                    for index in group:
                        yield finished(index, read_job(*_args(jobs[index])))
                return
            if queue:
                for index in queue.pop():
                    yield finished(index, read_job(*_args(jobs[index])))
            elif pending:
                wait(pending, return_when=FIRST_COMPLETED)


class _Rows:
    """Rows gathered from many reads, turned into frames in batches (no per-event objects kept long)."""

    BATCH = 25_000

    def __init__(self, batch: int | None = BATCH) -> None:
        self.frames: list[pl.DataFrame] = []
        self.rows: list[Any] = []
        self.jobs: list[int] = []
        self.batch = batch
        """Rows kept before they become a frame (None: kept as rows, for a journal write without Polars)."""

    def add(self, index: int, rows: list[Any]) -> None:
        self.rows.extend(rows)
        self.jobs.extend([index] * len(rows))
        if self.batch is not None and len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            import polars as pl

            from tokscope.events import frame_from_rows

            frame = frame_from_rows(self.rows).with_columns(pl.Series("_job", self.jobs, dtype=pl.UInt32))
            self.frames.append(frame)
            self.rows, self.jobs = [], []

    def frame(self) -> pl.DataFrame | None:
        """All rows in job order (so 'the last written wins' does not depend on which worker was faster)."""
        self.flush()
        if not self.frames:
            return None
        import polars as pl

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
    seal: bool = False,
) -> ScanSummary:
    """Scan every reader's sources into the ledger and say what happened.

    ``on_plan(files_to_read, bytes_to_read)`` is called once the work is known
    (the CLI uses it to decide whether to show a progress bar). With ``seal``, a scan that ends
    complete writes the scan seal (``tokscope.scan_seal``) that lets the next rescan skip discovery:
    only for the readers the ``readers`` setting chooses, which is what ``scan_seal.verify`` assumes.
    """
    readers = list(readers) if readers is not None else list(all_readers())
    summary = ScanSummary()
    sources: list[Source] = []
    listings = _load_listings()
    use_listings(listings)
    recorder = scan_seal.recording() if seal else contextlib.nullcontext()
    try:
        with recorder as deps:
            for reader in readers:
                found, problems = discover(reader)
                summary.per_client[reader.client] = len(found)
                summary.discover_errors[reader.client] = problems
                summary.errors.extend(problems)
                sources.extend(found)
    finally:
        use_listings(None)
    if listings.changed:
        _save_listings(listings)
    summary.files = len(sources)
    root = ledger.root if ledger is not None else paths.ledger_dir()
    sealing = None
    if deps is not None:
        env = scan_seal.env_names(tuple({name for reader in readers for name in getattr(reader, "env", ())}))
        modules = {reader.client: type(reader).__module__.rpartition(".")[2] for reader in readers}
        sealing = _Sealing(deps, env, modules, None)
    return _scan(root, ledger, sources, None, summary, progress, on_plan, workers, sealing)


def rescan(
    sealed: scan_seal.Seal,
    changed: list[int],
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ScanSummary:
    """The scan when ``scan_seal.verify`` says only the sources at ``changed`` differ from the seal:
    no discovery (it would find the same files), only those sources' readers imported, only they
    planned and read; a new seal is written as ``scan`` writes one."""
    sources: list[Source] = []
    for index in changed:
        path, client, mode, *_stat, companions, _comp = sealed.sources[index]
        load_module(sealed.modules[client])
        sources.append(Source(client, Path(path), mode, tuple(Path(c) for c in companions)))
    summary = ScanSummary(
        files=sealed.files,
        per_client=dict(sealed.per_client),
        discover_errors={client: [] for client in sealed.per_client},
    )
    sealing = _Sealing(dict(sealed.deps), [name for name, _ in sealed.env], dict(sealed.modules), sealed.sources)
    present = [entry[0] for entry in sealed.sources]
    return _scan(paths.ledger_dir(), None, sources, present, summary, progress, on_plan, workers, sealing)


class _Sealing(NamedTuple):
    """What a scan needs to write its seal: discovery's marks, the variables and reader modules it
    depended on, and (a rescan) the sealed sources it starts from."""

    deps: dict[str, scan_seal.Mark]
    env: list[str]
    modules: dict[str, str]
    previous: tuple[tuple[Any, ...], ...] | None


def _scan(
    root: Path,
    ledger: Ledger | None,
    sources: list[Source],
    others: list[str] | None,
    summary: ScanSummary,
    progress: Progress | None,
    on_plan: Callable[[int, int], None] | None,
    workers: int | None,
    sealing: _Sealing | None,
) -> ScanSummary:
    """Plan ``sources`` against the scan state, read what changed, write the rows and the state.
    ``others`` (a rescan) is every source path present, planned or not: a state entry for any other
    path is of a file that is gone."""
    # the lock file alone, not Ledger.lock(): that one tidies (lists and verifies every segment),
    # which only a scan that writes needs (it tidies below, still under this lock)
    with locked(root / scan_state.LOCK_NAME):
        state = scan_state.load(root, lambda: _ledger(root, ledger)._next_seq_on_disk())
        if "reset" in state:
            summary.errors.append(f"{state.pop('reset')}: reset; every source is read again (nothing is counted twice)")
        health = Health(root)
        saved: dict[str, SourceState] = state["sources"]
        jobs, present = plan(sources, saved)
        if others is not None:
            present = others
        if on_plan:
            on_plan(len(jobs), sum(j.size for j in jobs))
        # a rescan of a few changed files on top of a base writes a journal segment: no Polars import
        journal = sealing is not None and sealing.previous is not None and ledger is None
        journal = journal and sum(j.size for j in jobs) < JOURNAL_MAX_BYTES and ledger_journal.has_room(root / "events")
        gathered = _Rows(None if journal else _Rows.BATCH)
        readings: list[Any] = []  # official usage-limit readings (tokscope.quota)
        for index, result in _run(jobs, progress, workers or (os.cpu_count() or 1)):
            job = jobs[index]
            health.note(job.source, job.offset, result)
            summary.skipped += result.skipped
            summary.errors.extend(result.errors)
            if result.errors and not result.rows:
                continue  # unreadable: keep the old state so nothing is skipped for good
            gathered.add(index, result.rows)
            readings.extend(result.quota)
            summary.read += 1
            summary.bytes_read += job.size
            dev, ino, size, mtime, companions = job.stat
            # the stat's size, not the bytes consumed: a file whose last line has no newline yet
            # must match its stat on the next scan (the partial line waits in ``offset``)
            saved[str(job.source.path)] = SourceState(
                job.source.client, dev, ino, size, mtime, companions, result.offset, scan_state.pack(result.state)
            )
        if readings:
            from tokscope import quota

            quota.record_locked(root, readings)
        gone = set(saved).difference(present)
        for key in gone:
            del saved[key]
        if journal and not gone:
            if gathered.rows:  # in job order: the serial reads of a small rescan finish in order
                ledger_journal.append(root, gathered.rows, state)
            if jobs:
                scan_state.save_changes(root, state, [str(job.source.path) for job in jobs])
                summary.changed = True
            summary.events = state.get("events")
            summary.new_events = None if gathered.rows else 0
        else:
            rows = gathered.frame()
            if rows is not None or gone or jobs or state.get("events") is None or "converted" in state:
                led = _ledger(root, ledger)
                led._tidy()  # what Ledger.lock() does on taking the lock: this scan holds it already
                if rows is not None:
                    summary.new_events = led.append(rows, state)
                summary.events = led.count(state)
                scan_state.save(root, state)
                summary.changed = True
            else:
                summary.events = int(state["events"])
        health.finish(present, summary.discover_errors)  # after the state: a read it lost is counted again
        health.save()
        if sealing is not None:
            _seal(root, sealing, sources, saved, summary)
    return summary


def _seal(
    root: Path, sealing: _Sealing, sources: list[Source], saved: dict[str, SourceState], summary: ScanSummary
) -> None:
    """Write the scan seal when this scan is the whole truth: nothing failed and every source
    planned has its state (one that could not be read is read again by the next full scan)."""
    if summary.errors:
        scan_seal.remove(root)
        return
    entries: list[tuple[Any, ...]] = list(sealing.previous or ())
    at = {entry[0]: i for i, entry in enumerate(entries)}
    for source in sources:
        key = str(source.path)
        old = saved.get(key)
        if old is None or old.client != source.client:
            scan_seal.remove(root)
            return
        companions = tuple(str(c) for c in source.companions)
        comp = tuple(tuple(c) if c is not None else None for c in old.comp)
        entry = (key, source.client, source.mode, old.dev, old.ino, old.size, old.mtime, companions, comp)
        if key in at:
            entries[at[key]] = entry
        else:
            entries.append(entry)
    files, events, per_client = summary.files, summary.events, summary.per_client
    checked = sealing.previous is not None  # a rescan: verify() just compared the deps with the disk
    scan_seal.write(root, sealing.deps, sealing.env, sealing.modules, entries, files, events, per_client, checked)


def _listings_path() -> Path:
    # a subfolder: the statusline's fingerprint covers the cache dir's own files, not this one
    return paths.cache_dir() / "scan" / LISTINGS_NAME


_listings_decoder = msgspec.msgpack.Decoder(dict[str, list[tuple[str, int, int, list[str]]]])


def _load_listings() -> Listings:
    """The directory walks of the last discovery (none when the cache is missing or damaged)."""
    try:
        walks = _listings_decoder.decode(_listings_path().read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return Listings()
    return Listings(walks)  # type: ignore[arg-type]  (tuples: read, never changed in place)


def _save_listings(listings: Listings) -> None:
    data = msgspec.msgpack.encode(listings.walks)
    with contextlib.suppress(OSError):  # only a cache: the next scan walks again
        atomic_write_with(_listings_path(), lambda tmp: tmp.write_bytes(data), durable=False)


def _ledger(root: Path, given: Ledger | None) -> Ledger:
    """The ledger to write to (imported only when needed: it brings Polars)."""
    if given is not None:
        return given
    from tokscope.ledger import Ledger

    return Ledger(root)


def frame_of(readers: Iterable[Reader]) -> pl.DataFrame:
    """Read every source of ``readers`` from scratch into one de-duplicated frame (no ledger).

    For tests and one-off reads.
    """
    from tokscope.events import frame_from_rows
    from tokscope.ledger import dedupe

    errors: list[str] = []
    rows: list[tuple] = []
    for reader in readers:
        for source in reader.discover(errors):
            rows.extend(reader.read(source, 0, {}).rows)
    return dedupe(frame_from_rows(rows).lazy()).collect()
