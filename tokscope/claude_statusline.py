"""``tokscope statusline --claude-code``: Claude Code's statusLine input (JSON on stdin) read, its official
``rate_limits`` recorded as quota readings, and one line printed.

Claude Code pipes an object to its ``statusLine`` command after each assistant message: the session
id, ``model``, ``workspace``, ``transcript_path``, ``cost.total_cost_usd`` and, for claude.ai
subscribers after the session's first response, ``rate_limits.five_hour`` / ``seven_day`` as
``{used_percentage, resets_at (epoch s)}``. Anything may be missing or malformed: every value is
checked, and a bad input still gives a line. No Polars: the day's cost comes from the statusline summary.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, NamedTuple

CLIENT = "claude-code"
#: Claude's window names -> tokscope's (others are kept under their own name).
WINDOWS = {"five_hour": ("five_hour", 300), "seven_day": ("weekly", 10080)}
#: The most stdin read (a statusLine object is a few hundred bytes).
MAX_INPUT = 1 << 20


class Reading(NamedTuple):
    window: str
    minutes: int | None
    used_percent: float
    resets_at_us: int | None


class ClaudeStatus(NamedTuple):
    """What the input says (every field optional)."""

    session_id: str | None
    session_cost: float | None
    account: str
    readings: list[Reading]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _resets_us(value: Any) -> int | None:
    """``resets_at`` (epoch seconds; milliseconds or an ISO string accepted) as epoch µs."""
    number = _number(value)
    if number is not None:
        if number <= 0:
            return None
        return int(number * 1_000) if number > 1e11 else int(number * 1_000_000)
    if isinstance(value, str):
        from datetime import UTC, datetime

        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1_000_000)
    return None


def config_dir(data: dict[str, Any]) -> str:
    """The Claude config dir this session runs under: the one its transcript lies in
    (``<dir>/projects/<project>/<session>.jsonl``), else ``CLAUDE_CONFIG_DIR`` (the statusLine command
    inherits Claude's environment), else ``~/.claude``."""
    transcript = data.get("transcript_path")
    if isinstance(transcript, str) and transcript:
        parts = Path(transcript).expanduser().parts
        if "projects" in parts:
            at = len(parts) - 1 - parts[::-1].index("projects")
            if at > 0:
                return str(Path(*parts[:at]))
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
    if env:
        return str(Path(env).expanduser())
    return str(Path(os.environ.get("HOME") or Path.home()) / ".claude")


def parse(raw: bytes) -> ClaudeStatus:
    """The statusLine input; malformed JSON or values count as absent."""
    import json

    try:
        data = json.loads(raw.decode("utf-8", "replace")) if raw.strip() else {}
    except (ValueError, RecursionError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    session = data.get("session_id")
    cost = data.get("cost")
    session_cost = _number(cost.get("total_cost_usd")) if isinstance(cost, dict) else None
    if session_cost is not None and session_cost < 0:
        session_cost = None
    readings: list[Reading] = []
    limits = data.get("rate_limits")
    if isinstance(limits, dict):
        for key, value in limits.items():
            if not isinstance(value, dict) or not isinstance(key, str):
                continue
            used = _number(value.get("used_percentage"))
            if used is None or not 0 <= used <= 1000:
                continue
            window, minutes = WINDOWS.get(key, (key, None))
            readings.append(Reading(window, minutes, used, _resets_us(value.get("resets_at"))))
    return ClaudeStatus(
        session_id=session if isinstance(session, str) and session else None,
        session_cost=session_cost,
        account=config_dir(data),
        readings=readings,
    )


#: A reading equal to the one recorded less than this long ago (s) is not recorded again: Claude Code
#: runs the command after every message, and the store (msgspec, a lock, a rewrite) costs more than the line.
RECORD_EVERY = 60.0


def _memo_path() -> Path:
    from tokscope import paths

    # a subfolder: the statusline's fingerprint covers the cache dir's own files, not this one
    return paths.cache_dir() / "quota" / "statusline-last"


def _recorded_recently(memo: tuple[Any, ...], now_us: int) -> bool:
    import marshal

    try:
        account, readings, at = marshal.loads(_memo_path().read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return False
    return (account, readings) == memo[:2] and 0 <= now_us - at < RECORD_EVERY * 1_000_000


def record(status: ClaudeStatus, now_us: int, root: Path | None = None) -> None:
    """Keep the input's readings as quota samples (nothing written when it has none, or when the
    same readings were recorded under ``RECORD_EVERY`` seconds ago)."""
    if not status.readings:
        return
    import marshal

    memo = (status.account, tuple(tuple(r) for r in status.readings), now_us)
    if root is None and _recorded_recently(memo, now_us):
        return
    from tokscope import quota
    from tokscope.readers.base import QuotaSample

    quota.record(
        [
            QuotaSample(
                client=CLIENT,
                account=status.account,
                window=r.window,
                used_percent=r.used_percent,
                observed_at=now_us,
                resets_at=r.resets_at_us,
                window_minutes=r.minutes,
            )
            for r in status.readings
        ],
        root,
    )
    if root is None:
        from tokscope.fsutil import atomic_write_with

        data = marshal.dumps(memo)
        with contextlib.suppress(OSError):  # only a shortcut
            atomic_write_with(_memo_path(), lambda tmp: tmp.write_bytes(data), durable=False)


def limit_parts(status: ClaudeStatus, now_us: int, root: Path | None = None) -> list[str]:
    """``5h 42% ↻2h13m`` and ``wk 17% ↻3d4h``: from the input, else this account's stored readings."""
    from tokscope.format import countdown

    by_window: dict[str, tuple[float, int | None]] = {
        r.window: (r.used_percent, r.resets_at_us) for r in status.readings
    }
    if not by_window:
        from tokscope import quota

        account = quota.account_key(CLIENT, status.account)
        for row in quota.this_device_rows(root, now_us):
            if row["client"] == CLIENT and row["account"] == account and not row["reset"]:
                resets = None if row["resets_in_seconds"] is None else now_us + row["resets_in_seconds"] * 1_000_000
                by_window[row["window"]] = (row["used_percent"], resets)
    parts = []
    for window, label in (("five_hour", "5h"), ("weekly", "wk")):
        if window not in by_window:
            continue
        used, resets = by_window[window]
        if resets is not None and resets <= now_us:
            parts.append(f"{label} reset")
            continue
        left = None if resets is None else (resets - now_us) // 1_000_000
        tail = f" ↻{countdown(left)}" if left is not None else ""
        parts.append(f"{label} {used:.0f}%{tail}")
    return parts
