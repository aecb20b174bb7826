"""Official usage limits: the readings clients report (Codex ``rate_limits``, Claude Code's statusLine
``rate_limits``) kept as a small time series beside the ledger, and what they say now.

A reading (``readers.base.QuotaSample``) is one window of one account at one moment: its used
percentage and when it resets. Windows are account-wide and recomputed by the vendor, so readings are
never summed: the state of a window is its freshest reading, from whichever device saw it last.

The series lives in ``<ledger>/quota.msgpack`` (written atomically under the ledger's lock). It is
de-duplicated (one reading per window, device and moment), a run of equal readings keeps only its
first and last, and it is bounded: ``KEEP_DAYS`` of history and ``PER_SERIES`` readings per window
and device, the latest of each always kept. No Polars here: the statusline records through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from tokscope import paths
from tokscope.format import age, countdown, iso_utc
from tokscope.fsutil import atomic_write_with, locked
from tokscope.readers.base import QuotaSample, same_reset
from tokscope.sync.location import S3Location

FILE_NAME = "quota.msgpack"
#: The ledger's lock (``scan_state.LOCK_NAME``): the scan records under it, so a tidy never meets a write.
LOCK_NAME = "lock"
#: Layout of the file; another layout is read as empty (the next readings rebuild it).
LAYOUT = 1
#: History kept per series before its latest reading, in days.
KEEP_DAYS = 35
#: Readings kept per (client, account, limit, window, device).
PER_SERIES = 500
#: The largest file read (a bounded series is far smaller; anything bigger is not ours).
MAX_BYTES = 16 << 20

#: Window names in display order.
WINDOW_ORDER = ("five_hour", "weekly")
WINDOW_LABELS = {"five_hour": "5-hour", "weekly": "weekly"}

__all__ = ["age", "countdown"]  # re-exported: the short forms of a reset countdown and a reading's age

Series = tuple[str, str, str, str, str]
"""(client, account, limit, window, device)."""
Window = tuple[str, str, str, str]
"""(client, account, limit, window): one window of one account, whichever device saw it."""


class _File(msgspec.Struct):
    layout: int
    samples: list[QuotaSample]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_File)


def account_key(client: str, account: str) -> str:
    """The account a reading belongs to: the key its client's turns carry (``tokscope.accounts``: the
    home or config dir written with ``~`` for HOME, a Codex login's e-mail), so one account's readings
    on two devices meet and match its turns. ``[[account]]`` rules rename it when shown."""
    from tokscope.accounts import quota_key

    return quota_key(client, account)


def file_path(root: Path | None = None) -> Path:
    """The series file under ``root`` (default: the ledger dir)."""
    return (root or paths.ledger_dir()) / FILE_NAME


def load(root: Path | None = None) -> list[QuotaSample]:
    """Every stored reading (none when the file is missing, damaged or of another layout)."""
    from tokscope.readers.base import read_regular

    try:
        data = _decoder.decode(read_regular(file_path(root), MAX_BYTES))
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return []
    return data.samples if data.layout == LAYOUT else []


def series_of(sample: QuotaSample) -> Series:
    return (sample.client, sample.account, sample.limit, sample.window, sample.device)


def _same_reading(a: QuotaSample, b: QuotaSample) -> bool:
    return a.used_percent == b.used_percent and same_reset(a.resets_at, b.resets_at) and a.plan_type == b.plan_type


def merge(existing: Iterable[QuotaSample], new: Iterable[QuotaSample]) -> list[QuotaSample]:
    """``existing`` and ``new`` as one bounded series: one reading per (series, moment) (the newer
    given wins), runs of equal readings cut to their first and last, history bounded."""
    by_series: dict[Series, dict[int, QuotaSample]] = {}
    for sample in (*existing, *new):
        by_series.setdefault(series_of(sample), {})[sample.observed_at] = sample
    keep_us = KEEP_DAYS * 86_400_000_000
    out: list[QuotaSample] = []
    for moments in by_series.values():
        ordered = [moments[t] for t in sorted(moments)]
        cut = [
            s
            for i, s in enumerate(ordered)
            if i in (0, len(ordered) - 1) or not (_same_reading(ordered[i - 1], s) and _same_reading(s, ordered[i + 1]))
        ]
        newest = cut[-1].observed_at
        cut = [s for s in cut if s.observed_at >= newest - keep_us][-PER_SERIES:]
        out.extend(cut)
    out.sort(key=lambda s: (s.observed_at, series_of(s)))
    return out


def prepared(samples: Iterable[QuotaSample], now_us: int | None = None) -> list[QuotaSample]:
    """Readings as stored: the account through ``account_key``; one observed before 2015 or in the
    future (past the clock-skew slack of ``tokscope.limits``) is left out, as it would stay the
    freshest for good."""
    import time

    from tokscope.limits import MIN_TS_US, max_ts_us

    latest = max_ts_us(now_us if now_us is not None else int(time.time() * 1_000_000))
    out = []
    for s in samples:
        if not MIN_TS_US <= s.observed_at <= latest:
            continue
        account = account_key(s.client, s.account)
        out.append(s if account == s.account else msgspec.structs.replace(s, account=account))
    return out


def record_locked(root: Path, samples: Sequence[QuotaSample]) -> int:
    """Add ``samples`` to the series under ``root``; the caller holds the ledger's lock. Returns how
    many readings the file holds now (0 and nothing written when there was nothing to add)."""
    new = prepared(samples)
    if not new:
        return 0
    merged = merge(load(root), new)
    data = _encoder.encode(_File(LAYOUT, merged))
    atomic_write_with(file_path(root), lambda tmp: tmp.write_bytes(data), durable=False)
    return len(merged)


def record(samples: Sequence[QuotaSample], root: Path | None = None) -> int:
    """``record_locked`` under the ledger's lock (for callers outside a scan: the statusline)."""
    if not samples:
        return 0
    root = root or paths.ledger_dir()
    with locked(root / LOCK_NAME):
        return record_locked(root, samples)


# --- what the readings say now --------------------------------------------------


def window_of(sample: QuotaSample) -> Window:
    return (sample.client, sample.account, sample.limit, sample.window)


def latest(samples: Iterable[QuotaSample]) -> dict[Window, QuotaSample]:
    """The freshest reading of each window of each account, whichever device saw it (never a sum)."""
    best: dict[Window, QuotaSample] = {}
    for sample in samples:
        key = window_of(sample)
        kept = best.get(key)
        if kept is None or (sample.observed_at, sample.used_percent, sample.device) > (
            kept.observed_at,
            kept.used_percent,
            kept.device,
        ):
            best[key] = sample
    return best


def burn_rate(samples: Sequence[QuotaSample], current: QuotaSample) -> float | None:
    """Percentage points per hour over the current window's readings (same reset time, give or take
    ``RESET_SLACK_US``), None when
    fewer than two readings at least a minute apart say it."""
    key, until = window_of(current), current.observed_at
    same = [
        s
        for s in samples
        if window_of(s) == key and same_reset(s.resets_at, current.resets_at) and s.observed_at <= until
    ]
    if len(same) < 2:
        return None
    first = min(same, key=lambda s: s.observed_at)
    hours = (current.observed_at - first.observed_at) / 3_600_000_000
    if hours < 1 / 60:
        return None
    return max(0.0, (current.used_percent - first.used_percent) / hours)


def iso(us: int | None) -> str | None:
    """Epoch µs as ISO-8601 UTC (``2026-11-20T09:00:00Z``)."""
    if us is None:
        return None
    return iso_utc(datetime.fromtimestamp(us / 1_000_000, UTC))


def _window_rank(window: str) -> tuple[int, str]:
    return (WINDOW_ORDER.index(window) if window in WINDOW_ORDER else len(WINDOW_ORDER), window)


def limit_rows(
    samples: Sequence[QuotaSample],
    now_us: int,
    this_device: str = "",
    names: dict[str, str] | None = None,
    rules: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """One row per account and window: the JSON contract of ``tokscope limits`` (README).

    ``reset`` is true when the reading's reset time has passed (the window restarted since: its
    used percentage is history). ``runs_out_at`` is when the burn rate reaches 100 %, given only
    when that comes before the reset. ``rules`` (``accounts.AccountRule``) name the accounts as the
    report does.
    """
    names = names or {}
    if rules:
        from tokscope.accounts import resolve
    rows = []
    for current in latest(samples).values():
        device = current.device or this_device
        resets = current.resets_at
        reset = resets is not None and resets <= now_us
        rate = None if reset else burn_rate(samples, current)
        runs_out = None
        if rate and current.used_percent < 100:
            at = current.observed_at + round((100 - current.used_percent) / rate * 3_600_000_000)
            runs_out = at if resets is None or at < resets else None
        rows.append(
            {
                "client": current.client,
                "account": resolve(current.client, current.account, device, list(rules), names)
                if rules
                else current.account,
                "limit": current.limit,
                "window": current.window,
                "window_minutes": current.window_minutes,
                "used_percent": current.used_percent,
                "resets_at": iso(resets),
                "resets_in_seconds": None if resets is None else max(0, (resets - now_us) // 1_000_000),
                "reset": reset,
                "observed_at": iso(current.observed_at),
                "age_seconds": max(0, (now_us - current.observed_at) // 1_000_000),
                "source": current.source,
                "device": device,
                "device_name": names.get(device),
                "plan_type": current.plan_type,
                "credits_balance": current.credits_balance,
                "burn_percent_per_hour": None if rate is None else round(rate, 2),
                "runs_out_at": iso(runs_out),
            }
        )
    rows.sort(key=lambda r: (r["account"], r["client"], r["limit"], _window_rank(r["window"])))
    return rows


def this_device_rows(root: Path | None = None, now_us: int | None = None) -> list[dict[str, Any]]:
    """``limit_rows`` of this device's store alone (the statusline: no identity, no shared folder)."""
    import time

    now = now_us if now_us is not None else int(time.time() * 1_000_000)
    with contextlib.suppress(Exception):
        return limit_rows(load(root), now)
    return []


# --- across devices ------------------------------------------------------------

#: Readings a snapshot carries at most (the latest of each series and the last day's, newest first).
EXPORT_MAX = 200
#: History a snapshot carries before each series' latest reading (for the burn rate), µs.
EXPORT_HISTORY_US = 24 * 3_600_000_000
#: The longest string field accepted from another device.
_MAX_TEXT = 512


def export_entries(root: Path | None = None) -> list[dict[str, Any]]:
    """This device's readings for its signed snapshot (``manifest.json`` ``quota``), as plain values
    without ``device`` (the importing side names the device by the folder it verified)."""
    local = [s for s in load(root) if not s.device]
    newest: dict[Series, int] = {}
    for s in local:
        newest[series_of(s)] = max(newest.get(series_of(s), 0), s.observed_at)
    keep = [s for s in local if s.observed_at >= newest[series_of(s)] - EXPORT_HISTORY_US]
    latest_ones = {id(s) for s in keep if s.observed_at == newest[series_of(s)]}
    keep.sort(key=lambda s: (id(s) not in latest_ones, -s.observed_at))
    out = []
    for s in sorted(keep[:EXPORT_MAX], key=lambda s: (s.observed_at, series_of(s))):
        entry = msgspec.to_builtins(s)
        del entry["device"]
        out.append(entry)
    return out


def from_manifest(entries: Any, device_id: str, now_us: int) -> list[QuotaSample]:
    """Another device's readings from its verified manifest; anything implausible is left out."""
    from tokscope.limits import MIN_TS_US, max_ts_us

    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries[:EXPORT_MAX]:
        if not isinstance(entry, dict):
            continue
        try:
            sample = msgspec.convert({**entry, "device": device_id}, QuotaSample)
        except (msgspec.ValidationError, TypeError):
            continue
        texts = (sample.client, sample.account, sample.window, sample.limit, sample.plan_type or "", sample.source)
        if any(len(t) > _MAX_TEXT for t in texts) or not sample.client or not sample.window:
            continue
        if not (0 <= sample.used_percent <= 1000) or not (MIN_TS_US <= sample.observed_at <= max_ts_us(now_us)):
            continue
        if sample.source != "official":
            continue
        out.append(sample)
    return out


def gather(
    shared: Path | S3Location | None = None, root: Path | None = None, from_config: bool = True
) -> tuple[list[QuotaSample], dict[str, str]]:
    """This device's readings, and those of the trusted devices in the shared folder whose signed
    snapshot verifies, with those devices' names. Without ``shared``, the configured folder
    (``from_config``; else none)."""
    readings = load(root)
    names: dict[str, str] = {}
    if shared is None and from_config:
        from tokscope import config

        shared = config.load().shared_folder
    if shared is None:
        return readings, names
    import time

    from tokscope.sync.identity import load_device
    from tokscope.sync.merge import DeviceState, scan_shared

    now = int(time.time() * 1_000_000)
    for snap in scan_shared(shared, load_device(), read=False, record=False):
        if snap.status.status == DeviceState.MERGED:
            theirs = from_manifest(snap.manifest.get("quota"), snap.status.id, now)
            readings.extend(theirs)
            if theirs:
                names[snap.status.id] = snap.status.name or snap.status.id
    return readings, names
