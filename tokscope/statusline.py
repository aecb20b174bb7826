"""The statusline's summary: the last answer per (period, timezone, day), kept with a fingerprint of
everything it was computed from, so an unchanged world answers without Polars or a ledger load.

The fingerprint is the stat (inode, size, mtime) of the files a report depends on: the scan state
and the segments (any scan that writes, by any process, changes them), tokscope's config,
trust and price files, and each shared device folder's manifest. Anything else changed means the
answer is computed the full way again (and stored).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from tokscope import __version__, marshal_file, paths, scan_seal
from tokscope.sync.location import S3Location, s3_cache_dir

FILE_NAME = "statusline.msgpack"
#: Answers kept (one per period / timezone / day asked for).
KEEP = 16
#: The layout of the file (``tokscope.marshal_file``): (LAYOUT, [(key, fingerprint, totals), ...]).
LAYOUT = 2


def _files_in(directory: Path) -> list[Any]:
    """Name and stat of each file directly in ``directory`` (not recursive)."""
    try:
        with os.scandir(directory) as entries:
            return sorted([e.name, scan_seal.mark(e.path)] for e in entries if e.is_file(follow_symlinks=False))
    except OSError:
        return []


def ledger_mark() -> list[Any]:
    """The part of the fingerprint only a scan (or compaction) changes."""
    ledger = paths.ledger_dir()
    return [list(scan_seal.state_mark(ledger)), _files_in(ledger / "events")]


def fingerprint(shared: Path | S3Location | None) -> list[Any]:
    """What the report's answer depends on, as stats."""
    parts: list[Any] = [
        __version__,
        *ledger_mark(),
        _files_in(paths.config_dir()),
        _files_in(paths.data_dir()),
        _files_in(paths.cache_dir()),
    ]
    if isinstance(shared, S3Location):  # no network here: what the last listing of the bucket saw
        parts.append(scan_seal.mark(s3_cache_dir(shared) / "index.json"))
    elif shared is not None:
        parts.append(scan_seal.mark(shared))
        try:
            with os.scandir(shared) as entries:
                folders = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
        except OSError:
            folders = []
        for folder in folders:
            parts.append(
                [folder, scan_seal.mark(Path(folder) / "manifest.json"), scan_seal.mark(Path(folder) / "manifest.sig")]
            )
    return parts


def key_of(period: str, tz: str, local: bool = False) -> str:
    """The answer's key: a relative period means another answer on another day. ``local``: ``tz`` is
    this system's own zone (``timezone.local_tz``), whose date the C library gives without zoneinfo."""
    import time

    if tz == "UTC" or local:
        day = time.strftime("%Y-%m-%d", time.gmtime() if tz == "UTC" else time.localtime())
    else:
        from datetime import datetime  # here: the guard reads only the fingerprint
        from zoneinfo import ZoneInfo

        day = datetime.now(ZoneInfo(tz)).date().isoformat()
    return f"{period}|{tz}|{day}"


def _entries() -> list[tuple[str, list[Any], dict[str, Any]]]:
    raw = marshal_file.load(paths.ledger_dir() / FILE_NAME)  # lost or damaged: only a slower answer
    if not isinstance(raw, tuple) or len(raw) != 2 or raw[0] != LAYOUT or not isinstance(raw[1], list):
        return []
    return [e for e in raw[1] if isinstance(e, tuple) and len(e) == 3]


def cached(key: str, current: list[Any]) -> dict[str, Any] | None:
    """The stored totals for ``key`` if nothing they depend on changed since."""
    for entry_key, fingerprint, totals in _entries():
        if entry_key == key and fingerprint == current and isinstance(totals, dict):
            return totals
    return None


def store(key: str, mark: list[Any], totals: dict[str, Any], shared: Path | S3Location | None) -> None:
    """Keep ``totals`` for ``key`` with the fingerprint of now, unless a scan wrote while they were
    computed (``mark`` is ``ledger_mark()`` from before: another process may have scanned meanwhile).
    The fingerprint is taken after, as computing the answer may itself write trust or cache files."""
    after = fingerprint(shared)
    if after[1:3] != mark:
        return
    entries = [(key, after, totals), *(e for e in _entries() if e[0] != key)][:KEEP]
    with contextlib.suppress(ValueError):  # only a cache (a value marshal cannot hold is not kept)
        marshal_file.dump(paths.ledger_dir() / FILE_NAME, (LAYOUT, entries))
