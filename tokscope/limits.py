"""Plausibility limits: the values a turn, a session total or an imported snapshot row may hold.

Pure Python (no Polars): the scan applies them to every reader row, and snapshot import to
every row of another device, before anything is stored or summed. A row outside them is left
out with a counted reason; nothing out of range ever wraps or reaches a total.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: Tokens in one counter of one turn. The largest context windows are a few million tokens;
#: 100 M leaves room for every real turn and is far below anything that could overflow a sum.
MAX_TURN_TOKENS = 100_000_000

#: Tokens in one counter of one session's running total (readers with ``session_totals``).
MAX_SESSION_TOKENS = 100_000_000_000

#: USD in one row's logged cost.
MAX_COST = 1_000_000.0

#: The earliest plausible turn (no coding agent logged usage before this), epoch µs.
MIN_TS_US = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)

#: How far past "now" a timestamp may lie (clock skew between machines), µs.
FUTURE_SLACK_US = 2 * 86_400 * 1_000_000

#: The largest sequence number an exported snapshot may carry. Exports number their snapshots by
#: the time in ms (1.8e12 in 2026), so 2^45 lasts until the year 3084; a value near 2^63 could
#: never be exceeded and would lock a device out.
MAX_SEQUENCE = 1 << 45


def max_ts_us(now_us: int) -> int:
    """The latest plausible timestamp at ``now_us``."""
    return now_us + FUTURE_SLACK_US
