"""What every reader shares: the row layout, the protocol and small IO helpers.

No Polars here: reader code runs in scan worker processes that should start fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import msgspec

#: The fields of one row, in order (the ledger schema minus device_id):
#: client, provider, model, workspace, session_id, agent, event_key, ts (epoch µs),
#: input, output, reasoning, cache_read, cache_write_5m, cache_write_1h,
#: source_cost (float or None), service_tier ("fast", "priority" or None when
#: standard, as the log says), rank (int: the highest rank of a key wins).
ROW_FIELDS: tuple[str, ...] = (
    "client",
    "provider",
    "model",
    "workspace",
    "session_id",
    "agent",
    "event_key",
    "ts",
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "source_cost",
    "service_tier",
    "rank",
)

Row = tuple[Any, ...]
T = TypeVar("T")

Mode = Literal["append", "whole"]


@dataclass(frozen=True, slots=True)
class Source:
    """One file a reader reads.

    ``mode`` is ``"append"`` for logs that only grow (read from the saved
    offset) or ``"whole"`` for files rewritten in place and databases (re-read
    entirely when they change). ``companions`` are files whose change also
    means this source changed (a SQLite ``-wal``).
    """

    client: str
    path: Path
    mode: Mode = "append"
    companions: tuple[Path, ...] = ()


@dataclass(slots=True)
class ReadResult:
    """What one read of a source found."""

    rows: list[Row] = field(default_factory=list)
    offset: int = 0
    """Append mode: bytes consumed (start of the first incomplete line)."""
    state: dict[str, Any] = field(default_factory=dict)
    """Opaque, JSON-serialisable: handed back on the next append read."""
    skipped: int = 0
    """Lines or records that could not be decoded (malformed, truncated)."""
    errors: list[str] = field(default_factory=list)
    """Problems worth telling the user (unreadable file, locked database)."""


class Reader(Protocol):
    """The protocol every reader implements."""

    client: str
    """The client name, one of ``tokscope.events.CLIENTS``."""
    session_totals: bool
    """True when the client only keeps running totals per session."""

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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def iso_to_us(text: Any) -> int | None:
    """Parse an ISO-8601 timestamp to epoch microseconds (naive = UTC); None if invalid."""
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _US


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
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


def read_new_chunk(path: Path, offset: int) -> tuple[bytes, int]:
    """The complete lines of ``path`` from byte ``offset`` on (one bytes object), and the offset after them.

    A last line without its newline is left out: the writer may still be
    writing it, so the next scan picks it up whole. Raises ``Rewound`` when the
    byte before ``offset`` is not a newline (the file was replaced or rewritten
    in place with other content).
    """
    with path.open("rb") as fh:
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


def iter_files(root: Path, suffix: str, errors: list[str] | None = None) -> Iterator[Path]:
    """Files under ``root`` (recursively) ending in ``suffix``.

    An unreadable directory is skipped and, if ``errors`` is given, named there.
    """
    if not root.is_dir():
        return
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            if errors is not None:
                errors.append(f"cannot list {directory}: {exc.strerror or exc}")
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.name.endswith(suffix) and entry.is_file():
                    yield Path(entry.path)
            except OSError:
                continue


def first_sight(path: Path, seen: set[Path]) -> bool:
    """True the first time ``path``'s real location is seen, recording it in ``seen``
    (a symlink, or one root reached under two names, must not be read twice)."""
    real = path.resolve()
    if real in seen:
        return False
    seen.add(real)
    return True


def clamp(value: Any) -> int:
    """A token count as a non-negative int (None, bools, floats and junk handled)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    if isinstance(value, float) and value == value:
        return int(value) if value > 0 else 0
    return 0
