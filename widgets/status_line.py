"""The one-line header: period, timezone, filters, last update and warnings."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    """``tokscope · 30d 10-25–11-23 · UTC · all devices · updated 12:34:56  ⚠ …``."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, parts: Sequence[str], warnings: Sequence[str] = (), busy: bool = False) -> None:
        """Render ``parts`` joined by dots, then the warnings (highlighted).

        When the line is too long for the pane, the name goes first and the
        warnings move to the front, so they are never the part cut off.
        """
        parts = [*parts, "scanning…"] if busy else list(parts)
        full = len("tokscope") + sum(3 + len(p) for p in parts) + sum(4 + len(w) for w in warnings)
        width = self.size.width or (self.app.size.width if self.is_attached else 0)
        narrow = bool(width) and full > width - 2
        text = Text()
        if narrow:
            for warning in warnings:
                text.append(f"⚠ {warning}", style="bold yellow")
                text.append("  ")
        else:
            text.append("tokscope", style="bold")
        for i, part in enumerate(parts):
            if i or not narrow:
                text.append(" · ", style="dim")
            text.append(part, style="italic" if part == "scanning…" else "")
        if not narrow:
            for warning in warnings:
                text.append("  ")
                text.append(f"⚠ {warning}", style="bold yellow")
        self.update(text)
