"""Small private caches as ``marshal`` of plain values behind a CRC-32: they load in a few ms with
no import (msgspec's import alone is 20 ms, and the statusline and the scan seal run on every
prompt). ``marshal`` is not meant for damaged input, so the checksum is checked first: a torn,
truncated or bit-flipped file is no value, never a crash.
"""

from __future__ import annotations

import contextlib
import marshal
import zlib
from pathlib import Path
from typing import Any

MAGIC = b"TKSM"


def dumps(value: Any) -> bytes:
    """``value`` (plain tuples, lists, dicts, str, int, float, None) as the file's bytes."""
    body = marshal.dumps(value)
    return MAGIC + zlib.crc32(body).to_bytes(4, "little") + body


def loads(data: bytes) -> Any | None:
    """The value in ``data``, or None when it is damaged or not such a file."""
    if len(data) < 8 or data[:4] != MAGIC or int.from_bytes(data[4:8], "little") != zlib.crc32(data[8:]):
        return None
    try:
        return marshal.loads(data[8:])
    except (EOFError, ValueError, TypeError):
        return None


def load(path: Path) -> Any | None:
    """The value stored at ``path``, or None (missing, unreadable, damaged)."""
    try:
        with open(path, "rb") as f:  # noqa: PTH123
            data = f.read()  # marshal.load(f) would read in small pieces: 8x slower
    except OSError:
        return None
    return loads(data)


def dump(path: Path, value: Any) -> bool:
    """Store ``value`` at ``path`` atomically (a cache: no fsync); False when it could not be written."""
    from tokscope.fsutil import atomic_write_with

    data = dumps(value)
    with contextlib.suppress(OSError):
        atomic_write_with(path, lambda tmp: tmp.write_bytes(data), durable=False)
        return True
    return False
