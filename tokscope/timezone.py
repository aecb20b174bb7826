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


#: Where the system's zone files usually are (``zoneinfo.TZPATH``'s default on Linux and macOS).
_SYSTEM_ZONES = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo")


def valid_tz(name: str) -> bool:
    """True if ``name`` is a known IANA zone.

    A plain name whose zone file is on the system is one without importing ``zoneinfo`` (~5 ms on
    every statusline); anything else asks ``zoneinfo`` (its tzdata package, its name rules)."""
    if name and name[0] != "/" and ".." not in name and "\\" not in name:
        for folder in _SYSTEM_ZONES:
            try:
                with open(os.path.join(folder, name), "rb") as fh:  # noqa: PTH118, PTH123
                    if fh.read(4) == b"TZif":
                        return True
            except OSError:
                continue
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
