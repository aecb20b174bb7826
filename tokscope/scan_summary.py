"""What a scan did (``tokscope.scan.scan``, or the scan seal's answer for a rescan with nothing new).

A plain class, not a dataclass: ``dataclasses`` imports ``inspect`` (about 8 ms), and a rescan
answered from the seal (the statusline's path) imports nothing it does not need.
"""

from __future__ import annotations

from typing import Any


class ScanSummary:
    """What a scan did."""

    __slots__ = (
        "bytes_read",
        "changed",
        "discover_errors",
        "errors",
        "events",
        "files",
        "new_events",
        "per_client",
        "read",
        "skipped",
    )

    def __init__(
        self,
        files: int = 0,
        read: int = 0,
        bytes_read: int = 0,
        events: int | None = 0,
        new_events: int | None = 0,
        skipped: int = 0,
        errors: list[str] | None = None,
        per_client: dict[str, int] | None = None,
        discover_errors: dict[str, list[str]] | None = None,
        changed: bool = False,
    ) -> None:
        self.files = files
        """Source files present."""
        self.read = read
        """Files read (new, grown, changed)."""
        self.bytes_read = bytes_read
        self.events = events
        """Distinct events in the ledger after the scan (None: rows were journaled, counted by the next
        process that loads the ledger; ``tokscope.ledger_journal``)."""
        self.new_events = new_events
        """Events whose key the ledger had not seen before (None: journaled, not known yet)."""
        self.skipped = skipped
        """Lines or records that could not be decoded."""
        self.errors: list[str] = errors if errors is not None else []
        self.per_client: dict[str, int] = per_client if per_client is not None else {}
        """Source files per client."""
        self.discover_errors: dict[str, list[str]] = discover_errors if discover_errors is not None else {}
        """What went wrong finding each client's files (also in ``errors``)."""
        self.changed = changed
        """Whether the scan wrote anything (rows or state)."""

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScanSummary) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  (mutable, like the dataclass it replaces)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ScanSummary({fields})"
