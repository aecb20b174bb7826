"""``tokscope doctor``: what needs a look, as named sections of one report.

Each section is a dict with a ``status`` (``ok``, ``warning``: worth knowing, nothing is wrong with
the numbers' store; ``error``: something needs the user) and its own fields; the report's status is
the worst of them. New checks add sections; existing fields keep their meaning (README, "doctor").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tokscope.health import Health
from tokscope.ledger import Finding, Ledger

REPORT_VERSION = 1

Status = Literal["ok", "warning", "error"]
_ORDER: tuple[Status, ...] = ("ok", "warning", "error")


def worst(statuses: list[Status]) -> Status:
    """The most serious of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=_ORDER.index, default="ok")


def _finding(f: Finding) -> dict[str, str]:
    return {"path": str(f.path), "kind": f.kind, "reason": f.reason}


def ledger_section(ledger: Ledger) -> dict[str, Any]:
    """The ledger's segments, events and size, and every file it does not read."""
    import polars as pl

    layout = ledger.layout()
    live = ledger.segments()
    size = 0
    for path in live:
        with contextlib.suppress(OSError):
            size += path.stat().st_size
    events = ledger.lazy().select(pl.len()).collect().item() if live else 0
    findings = [f for f in layout.findings if f.kind != "quarantined"]
    status: Status = "error" if layout.damaged else "warning" if findings else "ok"
    return {
        "status": status,
        "path": str(ledger.root),
        "segments": len(live),
        "events": int(events),
        "bytes": size,
        "findings": [_finding(f) for f in findings],
        "quarantined": [_finding(f) for f in layout.findings if f.kind == "quarantined"],
    }


def skipped_section(health: Health) -> dict[str, Any]:
    """Rows and values the scans left out, per client, with their reasons."""
    clients = {
        client: {"total": e["total"], "files": e["files"], "reasons": e["reasons"]}
        for client, e in health.per_client().items()
        if e["total"]
    }
    return {"status": "warning" if clients else "ok", "updated": health.updated, "clients": clients}


def sources_section(health: Health) -> dict[str, Any]:
    """What went wrong finding or reading each client's files in the last scan."""
    clients = {
        client: {"discovery": e["discovery"], "read": e["errors"]}
        for client, e in health.per_client().items()
        if e["discovery"] or e["errors"]
    }
    return {"status": "warning" if clients else "ok", "clients": clients}


def config_section() -> dict[str, Any]:
    """config.toml: where it is, whether it exists, and every problem in it or in the environment."""
    from tokscope import config as config_mod
    from tokscope.accounts import parse_rules
    from tokscope.plans import parse as parse_plans

    settings = config_mod.load()
    path = config_mod.config_path()
    errors = [
        *settings.errors,
        *parse_rules(settings.extra.get("account"), str(path))[1],
        *parse_plans(settings.extra.get("plan"), str(path))[1],
    ]
    return {
        "status": "warning" if errors else "ok",
        "path": str(path),
        "exists": path.is_file(),
        "shared_folder": str(settings.shared_folder) if settings.shared_folder else None,
        "timezone": settings.timezone,
        "readers": list(settings.readers),
        "errors": errors,
    }


#: The ``tokscope sources`` fields doctor repeats per client.
SOURCE_KEYS = ("paths", "searched", "files", "events", "session_totals_only", "fidelity", "errors")


def readers_section(summary: Any = None) -> dict[str, Any]:
    """Per client: where it looks, what it found (files, events) and what went wrong."""
    from tokscope.sources import source_entries

    entries = source_entries(summary)
    found = [e for e in entries if e["files"]]
    problems = any(e["errors"] for e in entries)
    return {
        "status": "warning" if problems or not found else "ok",
        "found": len(found),
        "note": "" if found else "no agent logs found in any reader's paths (tokscope sources lists them)",
        "clients": {e["client"]: {k: e[k] for k in SOURCE_KEYS} for e in entries},
    }


def identity_section() -> dict[str, Any]:
    """This device: id, name, key fingerprint, and where they are kept."""
    from tokscope.sync import identity

    try:
        me = identity.load_identity()
    except Exception as exc:  # an unreadable identity is this section's finding, not a crash
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return {
        "status": "warning" if me.device.notice else "ok",
        "notice": me.device.notice,  # a new key or id others must re-trust, a key found readable by others
        "id": me.device.id,
        "name": me.device.name,
        "fingerprint": me.fingerprint,
        "device_file": str(identity.device_path()),
        "key_file": str(identity.key_path()),
    }


def shared_section() -> dict[str, Any]:
    """The shared folder: set, reachable, writable; every device in it, trusted or refused and why."""
    import os

    from tokscope import config as config_mod

    settings = config_mod.load()
    folder = settings.shared_folder
    if folder is None:
        return {"status": "ok", "path": None, "note": "no shared folder set: this device only (README: two machines)"}
    if isinstance(folder, Path):
        exists = folder.is_dir()
        writable = exists and os.access(folder, os.W_OK | os.X_OK)
    else:  # s3://: listed now; a write is tried by the next export, not here
        from tokscope.sync.store import S3Store

        bucket = S3Store(folder)
        exists = bucket.reachable()
        writable = exists
    out: dict[str, Any] = {"path": str(folder), "exists": exists, "writable": writable, "devices": []}
    if not isinstance(folder, Path) and not exists:
        out["error"] = bucket.offline
    if exists:
        from tokscope.usage import load_usage

        try:
            usage = load_usage(settings)
            out["devices"] = [
                {k: d[k] for k in ("id", "name", "fingerprint", "trusted", "status", "reason", "last_export")}
                for d in (e.as_dict() for e in usage.devices or [])
            ]
            out["notes"] = list(usage.notes)
        except Exception as exc:  # a merge that fails is what this section reports
            out["error"] = f"{type(exc).__name__}: {exc}"
    from tokscope.sync.merge import STORE_NOTE, DeviceState

    refused = [d for d in out["devices"] if d.get("status") == DeviceState.REFUSED]
    refused += [n for n in out.get("notes") or [] if n.startswith(STORE_NOTE)]  # a lost or damaged trust store
    bad = not exists or not writable or "error" in out
    out["status"] = "error" if bad else "warning" if refused else "ok"
    return out


def prices_section(max_age_days: int = 60) -> dict[str, Any]:
    """The price table's source and age, and the models in the ledger it cannot price."""
    from datetime import UTC, datetime

    from tokscope.cli.prices import missing_models
    from tokscope.pricing import load_table

    try:
        table = load_table()
    except Exception as exc:  # a broken table is this section's finding
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    built = str(table.meta.get("built_at") or "")
    age = None
    with contextlib.suppress(ValueError):
        age = (datetime.now(UTC) - datetime.fromisoformat(built.replace("Z", "+00:00"))).days
    from tokscope import config as config_mod
    from tokscope.usage import load_usage

    try:
        unpriced = missing_models(load_usage(config_mod.load()).events)
    except Exception as exc:  # reported, not raised
        unpriced = [{"model": f"(could not check: {type(exc).__name__}: {exc})"}]
    old = age is not None and age > max_age_days
    return {
        "status": "warning" if old or unpriced else "ok",
        "table": str(table.path),
        "built_at": built or None,
        "age_days": age,
        "note": "older than 60 days: tokscope prices update" if old else "",
        "unpriced": unpriced,
    }


def terminal_section() -> dict[str, Any]:
    """The terminal the TUI would run in, and whether the file watcher has room for every directory."""
    import os
    import shutil
    import sys

    from tokscope.readers import all_readers
    from tokscope.watch import plan_watches

    size = shutil.get_terminal_size((0, 0))
    plan = plan_watches([root for reader in all_readers() for root in reader.roots()], None)
    watched = 0
    for folder, (recursive, _shared) in plan.items():
        watched += 1
        if recursive:
            for _dirpath, dirnames, _files in os.walk(folder):
                watched += len(dirnames)
    limit = None
    with contextlib.suppress(OSError, ValueError):  # Linux only
        limit = int(Path("/proc/sys/fs/inotify/max_user_watches").read_text())
    short = limit is not None and watched > limit
    return {
        "status": "warning" if short else "ok",
        "tty": sys.stdout.isatty(),
        "term": os.environ.get("TERM", ""),
        "colorterm": os.environ.get("COLORTERM", ""),
        "size": [size.columns, size.lines],
        "watched_dirs": watched,
        "max_user_watches": limit,
        "note": f"raise fs.inotify.max_user_watches above {watched:,} for live updates everywhere" if short else "",
    }


def report(ledger: Ledger | None = None, summary: Any = None) -> dict[str, Any]:
    """The whole doctor report (the ``--format json`` contract)."""
    ledger = ledger or Ledger()
    health = Health(ledger.root)
    sections = {
        "ledger": ledger_section(ledger),
        "skipped": skipped_section(health),
        "sources": sources_section(health),
        "config": config_section(),
        "readers": readers_section(summary),
        "identity": identity_section(),
        "shared": shared_section(),
        "prices": prices_section(),
        "terminal": terminal_section(),
    }
    return {
        "version": REPORT_VERSION,
        "status": worst([s["status"] for s in sections.values()]),
        "sections": sections,
    }


@dataclass
class Repair:
    """What ``doctor --repair`` did."""

    quarantined: list[str] = field(default_factory=list)
    """Files moved to ``quarantine/`` (damaged segments, files that are not the ledger's)."""
    rescanned: bool = False
    recovered: int = 0
    """Events the re-read brought back (keys the intact segments did not hold)."""


def repair(ledger: Ledger | None = None) -> Repair:
    """Move damaged and foreign files aside and, when a segment was damaged, read every source
    again from the start: its events come back from the sources that still exist, the intact
    segments keep those whose sources are gone, and the upsert by key counts nothing twice."""
    from tokscope.scan import scan

    ledger = ledger or Ledger()
    done = Repair()
    with ledger.lock():  # clears temp files too
        layout = ledger.layout()
        aside = [f.path for f in layout.findings if f.kind in ("damaged", "unknown") and f.path != ledger.events_dir]
        done.quarantined = [str(p) for p in ledger.quarantine(aside)]
        if layout.damaged:
            state = ledger.load_state()
            state["sources"] = {}
            state["events"] = None
            ledger.save_state(state)
            done.rescanned = True
    if done.rescanned:
        done.recovered = scan(ledger=ledger).new_events
    return done


def warnings(ledger: Ledger) -> list[str]:
    """One line per file the ledger does not read, for the commands that scan."""
    out = []
    for f in ledger.layout().findings:
        if f.kind == "damaged":
            out.append(f"ledger segment {f.path.name} left out ({f.reason}): run tokscope doctor --repair")
        elif f.kind == "unknown":
            out.append(f"ignoring {f.path} in the ledger ({f.reason})")
    return out


def render(data: dict[str, Any]) -> list[str]:
    """The report as lines of text."""
    lines = [f"tokscope doctor: {data['status']}"]
    ledger = data["sections"]["ledger"]
    lines.append(
        f"\nledger [{ledger['status']}] {ledger['path']}: {ledger['segments']} segments, "
        f"{ledger['events']:,} events, {ledger['bytes'] / 1e6:,.1f} MB"
    )
    for f in ledger["findings"]:
        lines.append(f"  {f['kind']}: {f['path']}: {f['reason']}")
    if any(f["kind"] == "damaged" for f in ledger["findings"]):
        lines.append("  run tokscope doctor --repair to re-read the sources (intact segments are kept)")
    for f in ledger["quarantined"]:
        lines.append(f"  quarantined: {f['path']}")
    skipped = data["sections"]["skipped"]
    lines.append(f"\nskipped [{skipped['status']}]" + ("" if skipped["clients"] else ": nothing left out"))
    for client, e in skipped["clients"].items():
        lines.append(f"  {client}: {e['total']:,} left out in {e['files']:,} files")
        lines.extend(f"    {n:,} × {reason}" for reason, n in e["reasons"].items())
    sources = data["sections"]["sources"]
    lines.append(
        f"\nsources [{sources['status']}]" + ("" if sources["clients"] else ": no problem finding or reading any file")
    )
    for client, e in sources["clients"].items():
        lines.extend(f"  {client}: {m}" for m in e["discovery"] + e["read"])
    lines.extend(_render_more(data["sections"]))
    return lines


def _render_more(sections: dict[str, Any]) -> list[str]:
    lines = []
    c = sections["config"]
    lines.append(f"\nconfig [{c['status']}] {c['path']}" + ("" if c["exists"] else " (not created: defaults)"))
    lines.extend(f"  {e}" for e in c["errors"])
    r = sections["readers"]
    lines.append(f"\nreaders [{r['status']}] {r['found']} of {len(r['clients'])} clients have logs here")
    if r["note"]:
        lines.append(f"  {r['note']}")
    for client, e in r["clients"].items():
        if e["files"] or e["errors"]:
            lines.append(f"  {client}: {e['files']:,} files, {e['events']:,} events in {', '.join(e['paths'])}")
            lines.extend(f"    {m}" for m in e["errors"][:3])
    i = sections["identity"]
    if "error" in i:
        lines.append(f"\nidentity [{i['status']}] {i['error']}")
    else:
        lines.append(f"\nidentity [{i['status']}] {i['name']} ({i['id']})  fingerprint {i['fingerprint']}")
        if i.get("notice"):
            lines.append(f"  {i['notice']}")
    sh = sections["shared"]
    if sh["path"] is None:
        lines.append(f"\nshared [{sh['status']}] {sh['note']}")
    else:
        state = "writable" if sh["writable"] else "not writable" if sh["exists"] else "does not exist"
        lines.append(f"\nshared [{sh['status']}] {sh['path']}: {state}")
        if "error" in sh:
            lines.append(f"  {sh['error']}")
        for d in sh["devices"]:
            why = f": {d['reason']}" if d.get("reason") else ""
            lines.append(f"  {d.get('name')} ({str(d.get('id'))[:8]}) {d.get('status')}{why}")
    p = sections["prices"]
    if "error" in p:
        lines.append(f"\nprices [{p['status']}] {p['error']}")
    else:
        age = f", {p['age_days']} days old" if p["age_days"] is not None else ""
        lines.append(f"\nprices [{p['status']}] built {p['built_at']}{age}" + (f": {p['note']}" if p["note"] else ""))
        for m in p["unpriced"][:10]:
            lines.append(f"  unpriced: {m.get('model')}")
    t = sections["terminal"]
    limit = t["max_user_watches"]
    lines.append(
        f"\nterminal [{t['status']}] {'a terminal' if t['tty'] else 'not a terminal'}, TERM={t['term'] or '?'}, "
        f"{t['size'][0]}x{t['size'][1]}; watching {t['watched_dirs']:,} directories"
        + (f" of {limit:,} allowed" if limit else "")
    )
    if t["note"]:
        lines.append(f"  {t['note']}")
    return lines
