"""The local IANA timezone name (Polars needs a name, not an offset)."""

from __future__ import annotations

import os
from pathlib import Path

#: Names of UTC itself. Polars converts to ``"UTC"`` about 7x faster than to any other
#: name, and servers often say ``Etc/UTC``.
UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
    | {f"{p}GMT{s}" for p in ("", "Etc/") for s in ("", "0", "+0", "-0")}
    | {"Greenwich", "Etc/Greenwich"}
)


def canonical_tz(name: str) -> str:
    """``name``, or ``"UTC"`` if it is another name of UTC."""
    return "UTC" if name in UTC_NAMES else name


def local_tz() -> str:
    """``TZ`` if it names a zone, else the zone ``/etc/localtime`` points to, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name and valid_tz(name):
        return canonical_tz(name)
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        name = target.split("zoneinfo/", 1)[1]
        if valid_tz(name):
            return canonical_tz(name)
    try:
        name = Path("/etc/timezone").read_text().strip()
        if valid_tz(name):
            return canonical_tz(name)
    except OSError:
        pass
    return "UTC"


def valid_tz(name: str) -> bool:
    """True if ``name`` is a known IANA zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # here: config is read on every statusline

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
