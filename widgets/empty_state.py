"""What the app shows instead of a table when there is nothing to show."""

from __future__ import annotations

from textual.widgets import Static


class EmptyState(Static):
    """A centred, helpful message (no data yet; nothing in this period)."""

    DEFAULT_CSS = """
    EmptyState {
        height: 1fr;
        width: 1fr;
        content-align: center middle;
        text-align: center;
        color: $text-muted;
        padding: 1 2;
    }
    """
