"""App-wide messages: what the background workers and the file watcher tell the UI.

Widget-owned messages live on their widgets; these cross the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tokscope.alerts import Delivery
    from tokscope.tui.view import Loaded, View


@dataclass
class SourcesChanged(Message):
    """A watched file changed (posted from the watchdog thread).

    A burst collapses into one: a queued ``SourcesChanged`` is replaced by the
    next, so 200 file events cause one rescan.
    """

    path: str = ""
    """The last path that changed."""
    shared: bool = False
    """True if it is under the shared folder (another device's snapshot)."""

    def can_replace(self, message: Message) -> bool:
        """A newer change supersedes a queued one of the same kind (logs, or the shared folder)."""
        return isinstance(message, SourcesChanged) and message.shared == self.shared


@dataclass
class UsageLoaded(Message):
    """The events were (re)loaded: scan, merge and pricing are done."""

    loaded: Loaded
    view: View
    """The view of the app's state computed on it."""
    new_events: int = 0
    """Events the scan before it added (new turns: schedule an export)."""


@dataclass
class ViewReady(Message):
    """Rows, totals and the summary for the current view state are computed."""

    view: View


@dataclass
class ExportFinished(Message):
    """An export of this device's snapshot ended."""

    ok: bool
    detail: str = ""


@dataclass
class AlertsReady(Message):
    """The alerts of a load were evaluated, recorded (and, by the sending device, delivered)."""

    deliveries: list[Delivery]
    """Every current or undelivered alert, newest first (``tokscope.alerts.process``)."""
    notes: list[str]
    sends: bool
    """This device delivers (the others record and show)."""
