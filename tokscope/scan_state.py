"""The scan state: what the last scan saw of every source, and the ledger's counters.

One compact msgpack file (``scan-state.msgpack`` in the ledger dir): a header
(format version, the ledger's next segment number and event count) and one
array per source ``[client, dev, ino, size, mtime_ns, companions, offset,
reader state]``. Decoding it is typed, so a damaged file is noticed, never
half-trusted: it is reset (every source is read again; the ledger's upsert by
key keeps a re-read from double counting) and the reset is reported once.

A rescan that read a few files appends what changed to ``scan-state.log`` instead of rewriting
the whole table (2 MB at 7,000 files, 15 MB at 1.5 GB of history, on every appended turn): framed
records (length, CRC-32, msgpack) naming the table they extend; a full save writes a new table and
drops the log. A torn last record (a crash mid-append) is no record: the sources it covered are
read again from their older offsets, and the ledger's upsert by key counts nothing twice.

``state.json`` (version 1, the old format) is converted on first load.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from tokscope.fsutil import atomic_write

FILE_NAME = "scan-state.msgpack"
LOG_NAME = "scan-state.log"
#: The log is folded into a new table when it grows past this (bytes).
LOG_MAX = 1 << 20
#: The writer lock beside it (``Ledger.lock`` takes the same file).
LOCK_NAME = "lock"
LEGACY_NAME = "state.json"
VERSION = 2


class SourceState(msgspec.Struct, array_like=True):
    """What the last scan saw of one source."""

    client: str
    dev: int
    ino: int
    size: int
    """The file's size when it was read (not the bytes consumed: a partial last line waits in ``offset``)."""
    mtime: int
    comp: list[list[int] | None]
    """(ino, size, mtime_ns) of each companion file, None where absent."""
    offset: int
    state: msgspec.Raw
    """The reader's state, still encoded: decoded (``unpack``) only for a source that is read again,
    so loading the table of every source stays cheap."""


class _File(msgspec.Struct):
    version: int
    next_seq: int
    events: int | None
    sources: dict[str, SourceState]
    table: int = 0
    """This table's id: a log record names the table it extends (one left by a crash before the
    old log was dropped names another, and is not applied)."""


class _Record(msgspec.Struct, array_like=True):
    """One rescan's changes, appended to the log."""

    table: int
    next_seq: int
    events: int | None
    sources: dict[str, SourceState]
    gone: list[str]


_record_decoder = msgspec.msgpack.Decoder(_Record)


_decoder = msgspec.msgpack.Decoder(_File)
_encoder = msgspec.msgpack.Encoder()


def pack(reader_state: dict[str, Any]) -> msgspec.Raw:
    """A reader's state, encoded for ``SourceState.state``."""
    return msgspec.Raw(_encoder.encode(reader_state))


def unpack(raw: msgspec.Raw) -> dict[str, Any] | None:
    """A reader's state back; None if it is damaged (the source is then read from the start)."""
    try:
        value = msgspec.msgpack.decode(raw)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def fresh(next_seq: int = 1, note: str | None = None) -> dict[str, Any]:
    """A state with no sources (``note`` says why, for the scan to report)."""
    state: dict[str, Any] = {"version": VERSION, "next_seq": next_seq, "events": None, "sources": {}}
    if note:
        state["reset"] = note
    return state


def load(root: Path, next_seq_on_disk: Callable[[], int]) -> dict[str, Any]:
    """The saved state of the ledger at ``root``; a fresh one when there is none, or a reset one
    (with ``"reset"`` naming the problem) when it is unreadable or damaged.

    ``next_seq_on_disk`` (the segment number after the newest on disk) is asked only for a new
    state, so an unchanged rescan never lists the segments.
    """
    path = root / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _legacy(root, next_seq_on_disk)
    except OSError as exc:
        return fresh(next_seq_on_disk(), f"scan state {path} is unreadable ({exc.strerror or exc})")
    try:
        saved = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return fresh(next_seq_on_disk(), f"scan state {path} is damaged ({exc})")
    if saved.version != VERSION:
        return fresh(next_seq_on_disk(), f"scan state {path} has unknown version {saved.version}")
    state = {"version": VERSION, "next_seq": saved.next_seq, "events": saved.events, "sources": saved.sources}
    state["table"] = saved.table
    for record in _records(root / LOG_NAME, saved.table):
        state["next_seq"], state["events"] = record.next_seq, record.events
        state["sources"].update(record.sources)
        for key in record.gone:
            state["sources"].pop(key, None)
    return state


def _records(path: Path, table: int) -> list[_Record]:
    """The log's intact records for ``table``, in order, up to the first torn or damaged one."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return [r for r in _intact(data)[0] if r.table == table]


def _intact(data: bytes) -> tuple[list[_Record], int]:
    """The log's records up to the first torn or damaged one, and where that one starts."""
    found: list[_Record] = []
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "little")
        body = data[at + 8 : at + 8 + size]
        if len(body) != size or zlib.crc32(body) != int.from_bytes(data[at + 4 : at + 8], "little"):
            break
        try:
            record = _record_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            break
        found.append(record)
        at += 8 + size
    return found, at


def save(root: Path, state: dict[str, Any]) -> None:
    """Write the whole state atomically as a new table (and drop the log and the old-format file)."""
    sources = state["sources"]
    for key, value in list(sources.items()):
        if isinstance(value, dict):  # a caller handed a plain dict (tests, demo data)
            sources[key] = from_dict(value)
    state.pop("converted", None)
    state["table"] = table = int.from_bytes(os.urandom(7), "little") or 1
    body = _File(VERSION, int(state.get("next_seq") or 1), state.get("events"), sources, table)
    atomic_write(root / FILE_NAME, _encoder.encode(body))
    (root / LOG_NAME).unlink(missing_ok=True)
    (root / LEGACY_NAME).unlink(missing_ok=True)


def save_changes(root: Path, state: dict[str, Any], changed: Sequence[str], gone: Sequence[str] = ()) -> None:
    """Record that the sources ``changed`` (keys of ``state["sources"]``) and ``gone`` changed, by
    appending to the log (fsync'ed) when there is a table to extend and the log has room; else ``save``."""
    table = state.get("table")
    path = root / LOG_NAME
    try:
        size = _intact(path.read_bytes())[1]
    except FileNotFoundError:
        size = 0
    except OSError:
        size = LOG_MAX
    sources = state["sources"]
    if not table or "converted" in state or size >= LOG_MAX or not (root / FILE_NAME).is_file():
        save(root, state)
        return
    entries = {key: sources[key] for key in changed if isinstance(sources.get(key), SourceState)}
    if len(entries) != len(changed):
        save(root, state)
        return
    body = _encoder.encode(_Record(table, int(state.get("next_seq") or 1), state.get("events"), entries, list(gone)))
    frame = len(body).to_bytes(4, "little") + zlib.crc32(body).to_bytes(4, "little") + body
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)  # a torn tail left by a crash: records go after the intact ones
        os.write(fd, frame)
        os.fsync(fd)
    finally:
        os.close(fd)


def from_dict(entry: dict[str, Any]) -> SourceState:
    """A source entry from its field names (the version-1 format); ValueError if it does not fit."""
    try:
        if not isinstance(entry["state"], dict):
            raise TypeError("the reader state is not a table")
        values = [entry[name] for name in SourceState.__struct_fields__[:-1]]
        return msgspec.convert([*values, pack(entry["state"])], SourceState)
    except (KeyError, TypeError, msgspec.ValidationError) as exc:
        raise ValueError(f"bad source entry: {exc}") from None


def _legacy(root: Path, next_seq_on_disk: Callable[[], int]) -> dict[str, Any]:
    """Convert a version-1 ``state.json``, or start fresh (a bad one is reported and reset)."""
    path = root / LEGACY_NAME
    try:
        old = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        return fresh(next_seq_on_disk())
    except (OSError, msgspec.DecodeError) as exc:
        return fresh(next_seq_on_disk(), f"scan state {path} is unreadable ({exc})")
    try:
        if not isinstance(old, dict) or old.get("version") != 1 or not isinstance(old.get("sources"), dict):
            raise ValueError("not a version-1 state with a table of sources")
        sources = {str(key): from_dict(entry) for key, entry in old["sources"].items()}
        next_seq = max(int(old.get("next_seq") or 1), next_seq_on_disk())
    except (ValueError, TypeError) as exc:
        return fresh(next_seq_on_disk(), f"scan state {path} is damaged ({exc})")
    events = old.get("events") if next_seq == old.get("next_seq") and isinstance(old.get("events"), int) else None
    # "converted": the caller saves it in the new format even if nothing else changed
    return {"version": VERSION, "next_seq": next_seq, "events": events, "sources": sources, "converted": True}
