"""The two-line summary above the tabs: cost, tokens, cache hit, turns, sessions, top model."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class SummaryData:
    """Already formatted figures (the screen formats; this widget lays out)."""

    cost: str
    unpriced: str
    """``"+12 unpriced"`` or ``""``."""
    total: str
    input: str
    output: str
    cache_read: str
    cache_write: str
    cache_hit: str
    turns: str
    sessions: str
    top_model: str
    energy: str = ""
    """``"≈ 1.2–2.4 kWh"`` when the estimate is on, else ``""``."""
    paid: str = ""
    """What was paid per token (metered, ``≈`` estimated) when plans are configured, else ``""``."""
    plans: str = ""
    """Each plan's value: ``Claude Max 20x: $200 paid, $1,430 at API prices, 7.2×``."""


class Summary(Static):
    """Key figures of the current selection."""

    DEFAULT_CSS = """
    Summary {
        height: 2;
        width: 1fr;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, data: SummaryData) -> None:
        """Render the figures on two lines (the most important first; the rest may be cut)."""
        text = Text()
        text.append("API equiv. " if data.paid else "Cost ", style="dim")
        text.append(data.cost, style="bold")
        if data.unpriced:
            text.append(f" {data.unpriced}", style="yellow")
        if data.paid:
            text.append("  Paid ", style="dim")
            text.append(data.paid, style="bold")
        text.append("  Tokens ", style="dim")
        text.append(data.total, style="bold")
        text.append("  Cache hit ", style="dim")
        text.append(data.cache_hit, style="bold")
        text.append("  Turns ", style="dim")
        text.append(data.turns, style="bold")
        text.append("  Sessions ", style="dim")
        text.append(data.sessions, style="bold")
        text.append("\n")
        text.append("in ", style="dim")
        text.append(data.input)
        text.append(" · out ", style="dim")
        text.append(data.output)
        text.append(" · cache read ", style="dim")
        text.append(data.cache_read)
        text.append(" · write ", style="dim")
        text.append(data.cache_write)
        text.append("  Top ", style="dim")
        text.append(data.top_model, style="bold")
        if data.energy:
            text.append("  Energy ", style="dim")
            text.append(data.energy)
            text.append(" (order of magnitude)", style="dim")
        if data.plans:
            text.append("  ")
            text.append(data.plans)
        self.update(text)
