"""Coercing logged values: the one place that turns JSON/SQLite values into text, counts, costs and times.

Every reader uses these instead of its own helpers, so a count written as a float or a string,
an epoch in seconds or milliseconds, or a junk value means the same in every client. Nothing here
checks plausibility: a huge value stays huge (``OVERFLOW`` for one that is not even finite) and the
scan rejects it with a counted reason (``tokscope.limits``), so it can never wrap or be summed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

#: What ``count`` gives for an infinite number: beyond every limit, so the row is rejected, not zeroed.
OVERFLOW = 1 << 63

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_INF = float("inf")


def text(value: Any) -> str | None:
    """A non-empty string (stripped), else None."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def count(value: Any) -> int:
    """A token count as a non-negative int: ints as they are, floats truncated, numeric strings parsed;
    negatives, NaN, bools, None and junk give 0, an infinity gives ``OVERFLOW``."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value if value > 0 else 0
    if isinstance(value, float):
        if value != value or value <= 0:
            return 0
        return int(value) if value != float("inf") else OVERFLOW
    if isinstance(value, str):
        try:
            return count(int(value))
        except ValueError:
            try:
                return count(float(value))
            except ValueError:
                return 0
    return 0


def cost(value: Any) -> float | None:
    """A logged USD cost: a finite number ≥ 0 (or a numeric string) as float, else None. ``0`` is a real cost."""
    if value.__class__ is float:  # the common case first: readers call this once per turn
        return value if 0 <= value < _INF else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return number


def epoch_us(value: Any) -> int | None:
    """An epoch number in seconds, milliseconds, microseconds or nanoseconds (told apart by size: each
    unit's range is years 1973-5138) as µs; None if not > 0."""
    if (value.__class__ is int or value.__class__ is float) and 1e11 < value <= 1e14:  # epoch ms: the common case
        return int(value * 1_000)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value <= 0 or value == float("inf"):
        return None
    if value > 1e17:
        return int(value) // 1_000
    if value > 1e14:
        return int(value)
    if value > 1e11:
        return int(value * 1_000)
    return int(value * 1_000_000)


def iso_us(value: Any) -> int | None:
    """An ISO-8601 string (``Z`` or an offset; naive means UTC) as epoch µs, else None."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return (dt - _EPOCH) // _US
    except (ValueError, OverflowError):
        return None


def time_us(value: Any) -> int | None:
    """A timestamp in any form a client writes (epoch s/ms/µs/ns as a number or a numeric string,
    ISO-8601, SQLite ``YYYY-MM-DD HH:MM:SS`` in UTC) as epoch µs, else None."""
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return None
        if ":" in stripped or stripped[4:5] == "-":  # ISO-8601 (YYYY-…), SQLite time
            return iso_us(stripped)
        try:
            return epoch_us(float(stripped))
        except ValueError:
            return iso_us(stripped)
    return epoch_us(value)
