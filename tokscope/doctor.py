"""``tokscope doctor``: what needs a look, as named sections of one report.

Each section is a dict with a ``status`` (``ok``, ``warning``: worth knowing, nothing is wrong with
the numbers' store; ``error``: something needs the user) and its own fields; the report's status is
the worst of them. New checks add sections; existing fields keep their meaning (README, "doctor").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
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


def report(ledger: Ledger | None = None) -> dict[str, Any]:
    """The whole doctor report (the ``--format json`` contract)."""
    ledger = ledger or Ledger()
    health = Health(ledger.root)
    sections = {
        "ledger": ledger_section(ledger),
        "skipped": skipped_section(health),
        "sources": sources_section(health),
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
    lines.append(f"\nsources [{sources['status']}]" + ("" if sources["clients"] else ": every reader found its files"))
    for client, e in sources["clients"].items():
        lines.extend(f"  {client}: {m}" for m in e["discovery"] + e["read"])
    return lines
