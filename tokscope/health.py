"""What the scans left out and why, kept beside the ledger in ``health.json`` for ``tokscope doctor``.

Per source file: the reasons its rows or values were left out (``ReadResult.reasons``) and the
errors of its last read; per client: what went wrong finding its files. A read from the start
replaces a file's reasons, a read from a saved offset adds to them, and a file that is gone is
forgotten, so the counts describe the files as they are. Not ``state.json``: losing this file loses
a report, never data, so it is written without fsync.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from tokscope.format import iso_utc
from tokscope.fsutil import atomic_write_with
from tokscope.readers.base import ReadResult, Source

HEALTH_VERSION = 1
#: The reason of a skip a reader counted without naming one.
UNNAMED = "unreadable line or record"


def health_path(root: Path) -> Path:
    """``health.json`` in the ledger's root."""
    return root / "health.json"


class Health:
    """The scans' skips and errors, loaded, updated by one scan and saved."""

    def __init__(self, root: Path) -> None:
        self.path = health_path(root)
        try:
            self._raw = self.path.read_bytes()
            data = msgspec.json.decode(self._raw)
        except (OSError, msgspec.DecodeError):
            self._raw, data = b"", None
        if not isinstance(data, dict) or data.get("version") != HEALTH_VERSION:
            data = {}
        sources = data.get("sources")
        discovery = data.get("discovery")
        self.sources: dict[str, dict[str, Any]] = sources if isinstance(sources, dict) else {}
        self.discovery: dict[str, list[str]] = discovery if isinstance(discovery, dict) else {}
        self.updated: str | None = data.get("updated") if isinstance(data.get("updated"), str) else None

    def note(self, source: Source, offset: int, result: ReadResult) -> None:
        """Record one read of ``source`` from ``offset``."""
        key = str(source.path)
        old = self.sources.get(key)
        failed = bool(result.errors and not result.rows)  # the scan keeps the old state: so do the counts
        reasons: dict[str, int] = dict(old.get("reasons") or {}) if old and (offset or failed) else {}
        for reason, n in result.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
        unnamed = result.skipped - sum(result.reasons.values())
        if unnamed > 0:
            reasons[UNNAMED] = reasons.get(UNNAMED, 0) + unnamed
        if reasons or result.errors:
            self.sources[key] = {"client": source.client, "reasons": reasons, "errors": list(result.errors)}
        else:
            self.sources.pop(key, None)

    def finish(self, present: Iterable[str], discovery: dict[str, list[str]]) -> None:
        """Forget files that are gone; keep each client's discovery problems of this scan."""
        here = set(present)
        self.sources = {k: v for k, v in self.sources.items() if k in here}
        self.discovery = {client: list(problems) for client, problems in discovery.items() if problems}

    def save(self) -> None:
        """Write ``health.json`` if anything changed (the time of the scan alone is not a change)."""
        body = {"version": HEALTH_VERSION, "sources": self.sources, "discovery": self.discovery}
        if self._raw and msgspec.json.decode(self._raw) | {"updated": None} == body | {"updated": None}:
            return
        self.updated = iso_utc(datetime.now(UTC).replace(microsecond=0))
        data = msgspec.json.encode({**body, "updated": self.updated})
        with contextlib.suppress(OSError):  # the events and the state are already written: only a report is lost
            atomic_write_with(self.path, lambda tmp: tmp.write_bytes(data), durable=False)
            self._raw = data

    def per_client(self) -> dict[str, dict[str, Any]]:
        """Per client: values left out (``total``, ``reasons``), ``files`` with any, read ``errors``, ``discovery``."""
        out: dict[str, dict[str, Any]] = {}

        def entry(client: str) -> dict[str, Any]:
            return out.setdefault(client, {"total": 0, "reasons": {}, "files": 0, "errors": [], "discovery": []})

        for _path, record in sorted(self.sources.items()):
            e = entry(str(record.get("client")))
            reasons = record.get("reasons") or {}
            if reasons:
                e["files"] += 1
            for reason, n in reasons.items():
                e["reasons"][reason] = e["reasons"].get(reason, 0) + int(n)
                e["total"] += int(n)
            e["errors"].extend(str(m) for m in record.get("errors") or [])
        for client, problems in sorted(self.discovery.items()):
            entry(client)["discovery"].extend(problems)
        for e in out.values():
            e["reasons"] = dict(sorted(e["reasons"].items(), key=lambda kv: (-kv[1], kv[0])))
        return dict(sorted(out.items()))
