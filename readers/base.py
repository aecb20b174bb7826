"""What every reader shares: the row layout, the protocol and small IO helpers.

No Polars here: reader code runs in scan worker processes that should start fast.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import msgspec

from tokscope.fsutil import NotRegularFile as NotRegularFile  # re-exported: readers and sync import it here
from tokscope.fsutil import open_regular


class Row(msgspec.Struct, frozen=True, gc=False):
    """One usage row (one turn, or one session's running total): the ledger schema minus device_id.

    Build it with keywords (``Row(client=..., event_key=..., ts=..., input=...)``) and read it by
    name; a msgspec struct costs about 150 ns to build, a quarter of a NamedTuple.
    """

    client: str
    provider: str
    model: str
    workspace: str
    session_id: str
    agent: str | None
    event_key: str
    ts: int
    """Epoch microseconds (UTC)."""
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    source_cost: float | None = None
    service_tier: str | None = None
    """``"fast"`` / ``"priority"`` where the log says so, None when standard."""
    rank: int = 0
    """Among rows with one (client, event_key) the highest rank wins (ties: the later row)."""
    account: str = ""
    """The account key of the source (``tokscope.accounts.source_account``: the client's config dir or
    login, ``""`` for the client's default home). Readers leave it; the scan worker sets it per source."""


#: The fields of one row, in order (the ledger schema minus device_id, plus rank).
ROW_FIELDS: tuple[str, ...] = Row.__struct_fields__

#: The counters of a row that limits apply to.
COUNT_FIELDS: tuple[str, ...] = ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")


class QuotaSample(msgspec.Struct, frozen=True, gc=False):
    """One official reading of a usage-limit window (a client's own report, never an estimate).

    Readers and the statusline give these on the side of their rows (``ReadResult.quota``);
    ``tokscope.quota`` keeps them as a small time series. Percentages are never summed: the
    freshest reading of a window is its state.
    """

    client: str
    account: str
    """The account key: for now the client's home or config dir as found (``tokscope.quota.account_key``
    is the hook that maps it to an account)."""
    window: str
    """``five_hour``, ``weekly``, or ``<N>m`` for a window of another length."""
    used_percent: float
    """0-100 as the vendor reports it."""
    observed_at: int
    """When the client saw it: epoch µs (UTC)."""
    resets_at: int | None = None
    """When the window restarts: epoch µs (UTC), None when not said."""
    limit: str = ""
    """The vendor's limit id where it names one (Codex ``limit_id``: ``codex``, a per-model ``codex_…``)."""
    window_minutes: int | None = None
    plan_type: str | None = None
    credits_balance: float | None = None
    has_credits: bool | None = None
    unlimited: bool | None = None
    device: str = ""
    """The device that observed it (``""``: this device)."""
    source: str = "official"


#: Reset times this close (µs) are one window: vendors recompute ``resets_at`` from "resets in N s" on
#: every response, so one window's reset time jitters by a second or two between readings.
RESET_SLACK_US = 120_000_000


def same_reset(a: int | None, b: int | None) -> bool:
    """Whether two readings' reset times name the same window (both unknown, or within ``RESET_SLACK_US``)."""
    if a is None or b is None:
        return a is b
    return -RESET_SLACK_US <= a - b <= RESET_SLACK_US


T = TypeVar("T")

Mode = Literal["append", "whole"]


class Source(NamedTuple):
    """One file a reader reads.

    ``mode`` is ``"append"`` for logs that only grow (read from the saved
    offset) or ``"whole"`` for files rewritten in place and databases (re-read
    entirely when they change). ``companions`` are files whose change also
    means this source changed (a SQLite ``-wal``). A NamedTuple, not a dataclass: ``dataclasses``
    imports ``inspect`` (~8 ms), paid by every rescan.
    """

    client: str
    path: Path
    mode: Mode = "append"
    companions: tuple[Path, ...] = ()


class ReadResult:
    """What one read of a source found (a plain class: see ``Source`` on ``dataclasses``).

    * ``rows``: the turns read.
    * ``offset``: append mode, the bytes consumed (the start of the first incomplete line).
    * ``state``: opaque, JSON-serialisable; handed back on the next append read.
    * ``skipped``: lines, records or values left out (malformed, truncated, out of range).
    * ``reasons``: why they were left out, a short reason -> how many (``skipped`` is their sum when given).
    * ``errors``: problems worth telling the user (unreadable file, locked database).
    * ``quota``: official usage-limit readings seen on the side (Codex ``rate_limits``), stored by
      ``tokscope.quota``.
    """

    __slots__ = ("errors", "offset", "quota", "reasons", "rows", "skipped", "state")

    def __init__(
        self,
        rows: list[Row] | None = None,
        offset: int = 0,
        state: dict[str, Any] | None = None,
        skipped: int = 0,
        reasons: dict[str, int] | None = None,
        errors: list[str] | None = None,
        quota: list[QuotaSample] | None = None,
    ) -> None:
        self.rows: list[Row] = [] if rows is None else rows
        self.offset = offset
        self.state: dict[str, Any] = {} if state is None else state
        self.skipped = skipped
        self.reasons: dict[str, int] = {} if reasons is None else reasons
        self.errors: list[str] = [] if errors is None else errors
        self.quota: list[QuotaSample] = [] if quota is None else quota

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ReadResult({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReadResult):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  (mutable, like the dataclass it replaces)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` records left out for ``reason`` (e.g. ``"malformed line"``)."""
        self.skipped += count
        self.reasons[reason] = self.reasons.get(reason, 0) + count


Fidelity = Literal["exact", "session_totals", "estimated"]
"""What a reader can know, shown by ``tokscope sources``, doctor, README and the TUI."""


class Reader(Protocol):
    """The protocol every reader implements."""

    client: str
    """The client name, one of ``tokscope.events.CLIENTS``."""
    session_totals: bool
    """True when the client only keeps running totals per session."""
    fidelity: Fidelity
    """How exact the client's data can be: ``exact`` per turn, ``session_totals`` (running totals per
    session, lossy in time), or ``estimated`` (counts the client guesses, or tokscope derives)."""
    env: tuple[str, ...]
    """Every environment variable the reader reads (besides HOME and the XDG base dirs), those read on
    one platform only included: ``readers.reader_env()`` is their union, which the tests and ``tokscope
    demo`` clear. ``tests/test_reader_contract.py`` checks that each one is read and none is missing."""

    def roots(self) -> list[Path]:
        """The directories (or files) this reader looks in, existing or not."""
        ...

    def discover(self, errors: list[str]) -> list[Source]:
        """Every source file now present under the roots; problems go to ``errors``."""
        ...

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read ``source`` from ``offset`` (append mode) or whole."""
        ...


# --- helpers ---------------------------------------------------------------


def env_paths(name: str) -> list[Path] | None:
    """Paths from a comma-separated environment variable, or None if unset/empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    return [Path(p.strip()).expanduser() for p in value.split(",") if p.strip()]


def home() -> Path:
    """The user's home directory (honours ``HOME`` so tests can move it)."""
    return Path(os.environ.get("HOME") or Path.home())


def xdg(name: str, default: str) -> Path:
    """An XDG base directory (``XDG_DATA_HOME`` etc.) with its default under HOME."""
    value = os.environ.get(name)
    return Path(value) if value else home() / default


def read_regular(path: Path, max_bytes: int | None = None) -> bytes:
    """The whole of a regular file; ``max_bytes`` refuses a larger one before reading it (``FileTooLarge``)."""
    with open_regular(path) as fh:
        if max_bytes is not None:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise FileTooLarge(errno.EFBIG, f"{size:,} bytes is over the limit of {max_bytes:,}", str(path))
            data = fh.read(size + 1)  # not read(max_bytes + 1): that allocates max_bytes on every call
            if len(data) > size:  # grew since the fstat: read on, up to just past the limit
                data += fh.read(max_bytes + 1 - len(data))
            if len(data) > max_bytes:
                raise FileTooLarge(errno.EFBIG, f"grew over the limit of {max_bytes:,} bytes", str(path))
            return data
        return fh.read()


class FileTooLarge(OSError):
    """A file is larger than the limit set for it."""


class Rewound(Exception):
    """The file no longer continues where the saved offset says: read it again from the start."""


def lenient_decoder(kind: type[T]) -> Callable[[bytes | str], T]:
    """A typed msgspec decoder for ``kind``; a line whose values have an unexpected type
    (a count written as a float or a string) is converted leniently instead of rejected."""
    typed = msgspec.json.Decoder(kind).decode

    def decode(raw: bytes | str) -> T:
        try:
            return typed(raw)
        except msgspec.ValidationError:
            return msgspec.convert(msgspec.json.decode(raw), kind, strict=False)

    return decode


def decode_line(decode: Callable[[bytes | str], T], raw: bytes) -> T | None:
    """Decode one JSON line with ``decode``; invalid UTF-8 bytes are replaced, and a line that
    still does not decode (malformed, truncated) gives None for the caller to count as skipped."""
    try:
        return decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:
            return decode(raw.decode("utf-8", "replace"))
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
    except RecursionError:  # nested deeper than Python's stack: one bad line, not a lost file
        return None


def read_new_chunk(path: Path, offset: int) -> tuple[bytes, int]:
    """The complete lines of ``path`` from byte ``offset`` on (one bytes object), and the offset after them.

    A last line without its newline is left out: the writer may still be
    writing it, so the next scan picks it up whole. Raises ``Rewound`` when the
    byte before ``offset`` is not a newline (the file was replaced or rewritten
    in place with other content).
    """
    with open_regular(path) as fh:
        if offset:
            fh.seek(offset - 1)
            if fh.read(1) != b"\n":
                raise Rewound(str(path))
        data = fh.read()
    end = data.rfind(b"\n")
    if end < 0:
        return b"", offset
    return data[: end + 1], offset + end + 1


def read_new_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """Like ``read_new_chunk``, split into lines."""
    data, new_offset = read_new_chunk(path, offset)
    return (data[:-1].split(b"\n") if data else []), new_offset


def lines_containing(data: bytes, marker: bytes | re.Pattern[bytes]) -> Iterator[bytes]:
    """Each whole line of ``data`` that contains ``marker`` (a substring or a regex), once, in order.

    The search runs in C over the whole chunk, so the (many) lines without the
    marker never cost a Python step.
    """
    find = data.find
    pos = 0
    if isinstance(marker, bytes):
        while (hit := find(marker, pos)) >= 0:
            start = data.rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            end = len(data) if end < 0 else end
            yield data[start:end]
            pos = end + 1
        return
    for match in marker.finditer(data):
        hit = match.start()
        if hit < pos:
            continue
        start = data.rfind(b"\n", 0, hit) + 1
        end = find(b"\n", hit)
        end = len(data) if end < 0 else end
        yield data[start:end]
        pos = end + 1


class Listings:
    """Directory walks of an earlier discovery, reused while every directory in them is unchanged.

    A directory's mtime changes whenever an entry is added, removed or renamed in it, so a walk
    whose directories all keep their (inode, mtime) finds the same files: a rescan then stats
    directories instead of listing them (a history is thousands of files in hundreds of folders).
    Files are still stat'ed by the scan, which is what notices an append. File systems stamp
    mtimes from a coarse clock (a few ms), so an entry added in the same tick as the listing may
    leave the mtime as it was: a walk with a directory changed less than ``RACY_NS`` before it was
    listed is not kept (as git treats a racily clean index entry).
    """

    def __init__(self, walks: dict[str, list[Any]] | None = None) -> None:
        self.walks: dict[str, list[Any]] = walks or {}
        """``suffix NUL root`` -> [[dir, ino, mtime_ns, [file name, ...]], ...]: every directory walked."""
        self.changed = False


#: A directory modified this recently (ns) before its listing may change again unseen in the same tick.
RACY_NS = 2_000_000_000

#: The listings ``iter_files`` reuses and records (None: walk every time, record nothing).
_listings: Listings | None = None


def use_listings(listings: Listings | None) -> None:
    """Let ``iter_files`` reuse and record walks in ``listings`` (the scan sets this around discovery)."""
    global _listings
    _listings = listings


def _dir_mark(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # noqa: PTH116 (str paths: a rescan does this per directory)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


#: ``parent`` joined with one plain file name, without parsing the name again (7x cheaper than ``/``;
#: the private method pathlib's own ``iterdir`` uses, with ``/`` where a Python lacks it).
_child: Callable[[Path, str], Path] = getattr(Path, "_make_child_relpath", Path.joinpath)


def iter_files(root: Path, suffix: str, errors: list[str] | None = None) -> Iterator[Path]:
    """Files under ``root`` (recursively) ending in ``suffix``.

    An unreadable directory is skipped and, if ``errors`` is given, named there. With ``use_listings``
    set, an earlier walk of ``root`` whose directories are all unchanged is reused.
    """
    listings = _listings
    key = f"{suffix}\0{root}"
    if listings is not None:
        walk = listings.walks.get(key)
        if walk is not None and all(_dir_mark(d[0]) == (d[1], d[2]) for d in walk):
            for directory, _ino, _mtime, names in walk:
                if names:
                    parent = Path(directory)
                    for name in names:
                        yield _child(parent, name)
            return
    if not root.is_dir():
        return
    walked: list[list[Any]] = []
    complete = True
    racy_after = time.time_ns() - RACY_NS
    stack = [root]
    while stack:
        directory = stack.pop()
        # marked before it is listed: an entry added meanwhile changes the mark, so the next scan lists again
        mark = _dir_mark(str(directory))
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            complete = False
            if errors is not None:
                errors.append(f"cannot list {directory}: {exc.strerror or exc}")
            continue
        names: list[str] = []
        if mark is None or mark[1] > racy_after:
            complete = False
        else:
            walked.append([str(directory), *mark, names])
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(_child(directory, entry.name))
                elif entry.name.endswith(suffix) and entry.is_file():
                    names.append(entry.name)
                    yield _child(directory, entry.name)
            except OSError:
                complete = False
                continue
    if listings is not None and complete:  # a walk that missed something is never reused
        listings.walks[key] = walked
        listings.changed = True


def first_sight(path: Path, seen: set[Path]) -> bool:
    """True the first time ``path``'s real location is seen, recording it in ``seen``
    (a symlink, or one root reached under two names, must not be read twice).

    A symlink loop raises ``OSError`` (ELOOP) like any other unreachable path, not RuntimeError."""
    try:
        real = path.resolve()
    except RuntimeError as exc:  # Python < 3.13 reports a loop this way
        raise OSError(errno.ELOOP, "symlink loop", str(path)) from exc
    if real in seen:
        return False
    seen.add(real)
    return True
