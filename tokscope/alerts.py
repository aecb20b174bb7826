"""Alerts that arrive: a crossed budget threshold or a detected anomaly becomes an alert, recorded in
the ledger's delivery log and sent to the configured webhooks (HTTP POST of JSON) and the desktop.

* An alert's ``key`` is stable for (rule, period, threshold), e.g. ``budget:claude per day:
  2026-12-02T23:00:00Z:80`` or ``anomaly:cache_thrash:<session>:<start>``: a restart finds it in
  the log and sends nothing again, and receivers get it as the ``Idempotency-Key`` header.
* Every device sees the same merged usage, so only one sends: the **sender** is the device with
  the smallest id among this one and the trusted devices merged whose snapshot is under a day old
  (the others record and show alerts, and take over when the sender goes quiet).
* A delivery that fails (refused, an HTTP error, a timeout) is retried with backoff (``RETRY``,
  within a run and across runs) and stays visible as failed until it succeeds.

```toml
[alerts]
webhooks = ["https://hooks.example.com/tokscope"]
desktop = true          # notify-send / osascript where one exists
anomalies = true        # anomalies of the last 7 days become alerts too
```
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tokscope import paths
from tokscope.format import iso_utc
from tokscope.fsutil import atomic_write, locked

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import polars as pl

    from tokscope.anomalies import Anomaly
    from tokscope.budgets import Status
    from tokscope.config import Config
    from tokscope.usage import Usage

FILE_NAME = "alerts.json"
LOCK_NAME = ".alerts.lock"
LOG_VERSION = 1
#: Seconds to wait before attempt n+1 (the last value repeats), within a run and across runs.
RETRY: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
#: Attempts within one run before the rest waits for the next run, and the longest wait between them.
ATTEMPTS_PER_RUN = 3
MAX_WAIT_IN_RUN = 10.0
TIMEOUT = 5.0
#: A trusted device whose snapshot is older than this is not a candidate sender.
SENDER_FRESH = timedelta(days=1)
#: Delivered alerts kept in the log (the newest), so it stays small.
KEEP = 500


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str
    """``budget`` or an anomaly kind (``cache_thrash`` …)."""
    title: str
    detail: dict[str, Any] = field(default_factory=dict)

    def payload(self, device_id: str, created: str) -> dict[str, Any]:
        """The webhook body (a contract: README documents it)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "created": created,
            "device_id": device_id,
            "source": "tokscope",
        }


@dataclass(frozen=True)
class Settings:
    webhooks: tuple[str, ...] = ()
    desktop: bool = False
    anomalies: bool = True


def settings_from(table: Any) -> tuple[Settings, list[str]]:
    """The ``[alerts]`` table; a bad value is named and left out."""
    if table is None:
        return Settings(), []
    if not isinstance(table, dict):
        return Settings(), ["config.toml: alerts must be a table ([alerts]); ignored"]
    errors: list[str] = []
    hooks = table.get("webhooks", [])
    if isinstance(hooks, str):
        hooks = [hooks]
    good = []
    for hook in hooks if isinstance(hooks, list) else []:
        if isinstance(hook, str) and hook.startswith(("http://", "https://")):
            good.append(hook)
        else:
            errors.append(f"config.toml: alerts.webhooks: {hook!r} is not an http(s) URL; ignored")
    if not isinstance(hooks, list):
        errors.append("config.toml: alerts.webhooks must be a list of URLs; ignored")
    desktop = table.get("desktop", False) is True
    anomalies = table.get("anomalies", True) is not False
    return Settings(tuple(good), desktop, anomalies), errors


# --- what is alerting now ------------------------------------------------------------------------


def from_budgets(statuses: list[Status]) -> list[Alert]:
    """One alert per threshold each budget crossed in its current period (or costliest session)."""
    from tokscope.budgets import status_json

    found = []
    for s in statuses:
        period = s.session_id or iso_utc(s.start)
        for threshold in s.crossed:
            what = "over" if threshold >= 100 else f"past {threshold:g}%"
            found.append(
                Alert(
                    key=f"budget:{s.budget.name}:{period}:{threshold:g}",
                    kind="budget",
                    title=f"budget {s.budget.name!r} {what}: {s.percent:.0f}% of its {s.budget.period}",
                    detail={**status_json(s), "threshold": threshold},
                )
            )
    return found


def from_anomalies(anomalies: list[Anomaly]) -> list[Alert]:
    from tokscope.anomalies import anomaly_json

    found = []
    for a in anomalies:
        doc = anomaly_json(a)
        doc["rows"] = doc["rows"][:5]  # the proof, shortened: a webhook body stays small
        found.append(
            Alert(key=f"anomaly:{a.kind}:{a.key}:{iso_utc(a.start)}", kind=a.kind, title=a.summary, detail=doc)
        )
    return found


class Candidate(NamedTuple):
    """A trusted device merged into the usage, as a possible sender."""

    id: str
    last_export: str | None
    """``created_at`` of its snapshot (ISO 8601)."""


def sender(usage: Usage, now: datetime) -> str:
    """The device id that sends (smallest id among this device and fresh trusted merged devices)."""
    from tokscope.sync.merge import MERGED

    merged = [Candidate(d.id, d.last_export) for d in usage.devices if d.status == MERGED]
    return choose_sender(usage.device.id, merged, now)


def choose_sender(device_id: str, merged: Iterable[Candidate], now: datetime) -> str:
    """The smallest id among ``device_id`` and the ``merged`` devices whose snapshot is fresh."""
    ids = [device_id]
    for d in merged:
        if not d.last_export:
            continue
        with contextlib.suppress(ValueError):
            if now - datetime.fromisoformat(d.last_export.replace("Z", "+00:00")) <= SENDER_FRESH:
                ids.append(d.id)
    return min(ids)


class Found(NamedTuple):
    """What is alerting now, the ``[alerts]`` settings, and the notes (bad config entries)."""

    alerts: list[Alert]
    settings: Settings
    notes: list[str]


def evaluate(config: Config, events: pl.LazyFrame, device_names: Mapping[str, str], now: datetime, tz: str) -> Found:
    """The alerts of ``events`` (merged, priced) at ``now``: each configured budget's crossed
    thresholds and, unless ``[alerts] anomalies = false``, the anomalies of the last 7 days."""
    from tokscope import anomalies, budgets
    from tokscope.query import Query, filtered, today_in

    settings, notes = settings_from(config.extra.get("alerts"))
    rules, errors = budgets.parse(config.extra.get("budget"))
    notes.extend(errors)
    ids: dict[str, list[str]] = {}
    for device_id, name in device_names.items():
        ids.setdefault(name, []).append(device_id)
    found = from_budgets(budgets.evaluate(events, rules, now, tz, ids)) if rules else []
    if settings.anomalies:
        thresholds, bad = anomalies.thresholds_from(config.extra.get("anomalies"))
        notes.extend(bad)
        recent = filtered(events, Query(by=[], period="7d", tz=tz), today_in(tz, now))
        found.extend(from_anomalies(anomalies.detect(recent, thresholds)))
    return Found(found, settings, notes)


# --- the delivery log ----------------------------------------------------------------------------


def log_path() -> Path:
    return paths.ledger_dir() / FILE_NAME


def _load_log(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}  # a damaged log: alerts may be sent again, which the idempotency key lets receivers drop
    entries = doc.get("alerts") if isinstance(doc, dict) and doc.get("version") == LOG_VERSION else None
    return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def _save_log(path: Path, entries: dict[str, Any]) -> None:
    kept = dict(sorted(entries.items(), key=lambda kv: kv[1].get("created", ""))[-KEEP:])
    atomic_write(path, (json.dumps({"version": LOG_VERSION, "alerts": kept}, indent=1) + "\n").encode())


@dataclass
class Delivery:
    """One alert and what became of it per target (``webhook URL`` or ``desktop``)."""

    alert: Alert
    created: str
    targets: dict[str, dict[str, Any]]
    acknowledged: str | None = None
    """When someone acknowledged it (the TUI's ``a``), ISO 8601 UTC; None: not yet."""

    @property
    def state(self) -> str:
        """``sent`` (every target), ``failed`` (some target still failing), ``pending`` or ``shown``."""
        states = [t.get("state") for t in self.targets.values()]
        if not states:
            return "shown"
        if all(s == "sent" for s in states):
            return "sent"
        return "failed" if any(s == "failed" for s in states) else "pending"


def post(url: str, body: dict[str, Any], key: str, timeout: float | None = None) -> str | None:
    """POST ``body`` as JSON; None when the receiver took it (2xx), else why not."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "tokscope"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout or TIMEOUT) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason


def notify_desktop(title: str, body: str) -> str | None:
    """A desktop notification where a notifier exists; None when shown, else why not."""
    import shutil
    import subprocess

    if shutil.which("notify-send"):
        command = ["notify-send", "--app-name=tokscope", title, body]
    elif sys.platform == "darwin" and shutil.which("osascript"):
        script = f"display notification {json.dumps(body)} with title {json.dumps(title)}"
        command = ["osascript", "-e", script]
    else:
        return "no desktop notifier (notify-send, osascript) found"
    try:
        subprocess.run(command, check=True, timeout=TIMEOUT, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _due(target: dict[str, Any], now: float) -> bool:
    return target.get("state") != "sent" and float(target.get("next_try") or 0) <= now


def _attempt(target: dict[str, Any], problem: str | None, now: float) -> None:
    target["attempts"] = int(target.get("attempts") or 0) + 1
    if problem is None:
        target.update(state="sent", sent_at=iso_utc(datetime.fromtimestamp(int(now), UTC)), error=None, next_try=None)
    else:
        wait = RETRY[min(target["attempts"] - 1, len(RETRY) - 1)]
        target.update(state="failed", error=problem, next_try=now + wait)


def process(
    alerts: list[Alert],
    settings: Settings,
    device_id: str,
    sends: bool,
    *,
    clock: Any = time.time,
    sleep: Any = time.sleep,
) -> list[Delivery]:
    """Record ``alerts`` in the delivery log and, if this device ``sends``, deliver what is due.

    Returns every alert in the log that is still current or not yet delivered, newest first."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.with_name(LOCK_NAME)):  # two processes never send the same alert twice
        entries = _load_log(path)
        now = clock()
        created_now = iso_utc(datetime.fromtimestamp(int(now), UTC))
        targets = [*settings.webhooks, *(["desktop"] if settings.desktop else [])]
        for alert in alerts:
            entry = entries.setdefault(
                alert.key,
                {
                    "kind": alert.kind,
                    "title": alert.title,
                    "detail": alert.detail,
                    "created": created_now,
                    "targets": {},
                },
            )
            for target in targets:
                entry["targets"].setdefault(target, {"state": "pending", "attempts": 0})
        if sends:
            for key, entry in entries.items():
                alert = Alert(key, entry.get("kind", ""), entry.get("title", ""), entry.get("detail") or {})
                for target, state in entry.get("targets", {}).items():
                    for attempt in range(ATTEMPTS_PER_RUN):
                        if attempt and float(state["next_try"]) - clock() > MAX_WAIT_IN_RUN:
                            break  # a longer backoff waits for the next run
                        if attempt:
                            sleep(max(0.0, float(state["next_try"]) - clock()))
                        elif not _due(state, clock()):
                            break
                        if target == "desktop":
                            problem = notify_desktop("tokscope", alert.title)
                        else:
                            problem = post(target, alert.payload(device_id, entry.get("created", created_now)), key)
                        _attempt(state, problem, clock())
                        if problem is None:
                            break
        _save_log(path, entries)
    current = {a.key for a in alerts}
    shown = [
        Delivery(
            Alert(k, e.get("kind", ""), e.get("title", ""), e.get("detail") or {}),
            e.get("created", ""),
            e.get("targets", {}),
            e.get("acknowledged") if isinstance(e.get("acknowledged"), str) else None,
        )
        for k, e in entries.items()
    ]
    shown = [d for d in shown if d.alert.key in current or d.state in ("failed", "pending")]
    return sorted(shown, key=lambda d: d.created, reverse=True)


def acknowledge(keys: Iterable[str], *, clock: Any = time.time) -> int:
    """Mark the alerts ``keys`` acknowledged in the delivery log (delivery goes on); how many were new."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    marked = 0
    with locked(path.with_name(LOCK_NAME)):
        entries = _load_log(path)
        when = iso_utc(datetime.fromtimestamp(int(clock()), UTC))
        for key in keys:
            entry = entries.get(key)
            if entry is not None and not entry.get("acknowledged"):
                entry["acknowledged"] = when
                marked += 1
        if marked:
            _save_log(path, entries)
    return marked


def run(send: bool = True, now: datetime | None = None) -> tuple[list[Delivery], list[str], bool]:
    """Compute the alerts of the merged usage now, record and (if this device is the sender) deliver
    them: the deliveries, the notes, and whether this device is the sender."""
    from tokscope import config as config_mod
    from tokscope.timezone import local_tz
    from tokscope.usage import load_usage

    config = config_mod.load()
    usage = load_usage(config)
    now = now or datetime.now(UTC)
    found = evaluate(config, usage.events, usage.device_names(), now, config.timezone or local_tz())
    sends = send and sender(usage, now) == usage.device.id
    return process(found.alerts, found.settings, usage.device.id, sends), [*found.notes, *usage.notes], sends


# --- the command -------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``alerts`` to the CLI."""
    p = sub.add_parser("alerts", help="budget thresholds crossed and anomalies, delivered to webhooks once")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--no-send", action="store_true", help="record and show, deliver nothing")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.set_defaults(func=cmd_alerts)


def delivery_json(d: Delivery) -> dict[str, Any]:
    """One alert in the ``tokscope alerts --format json`` contract."""
    return {
        "key": d.alert.key,
        "kind": d.alert.kind,
        "title": d.alert.title,
        "created": d.created,
        "state": d.state,
        "acknowledged": d.acknowledged,
        "targets": {t: {k: s.get(k) for k in ("state", "attempts", "error", "sent_at")} for t, s in d.targets.items()},
    }


def cmd_alerts(args: argparse.Namespace) -> int:
    """``tokscope alerts``: 0; 1 when a delivery is still failing."""
    from tokscope.cli.common import print_errors, run_scan

    if not args.no_scan:
        print_errors(run_scan())
    deliveries, notes, sends = run(send=not args.no_send)
    for note in notes:
        print(f"tokscope: {note}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"sender": sends, "alerts": [delivery_json(d) for d in deliveries]}, indent=2))
    elif not deliveries:
        print("no alerts")
    else:
        for d in deliveries:
            failing = [f"{t}: {s.get('error')}" for t, s in d.targets.items() if s.get("state") == "failed"]
            extra = f" ({'; '.join(failing)})" if failing else ""
            print(f"{d.created}  {d.state:<7} {d.alert.title}{extra}")
        if not sends and not args.no_send:
            print("(another trusted device sends these alerts; this one records and shows them)")
    return 1 if any(d.state == "failed" for d in deliveries) else 0
