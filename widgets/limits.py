"""The Limits tab: per account, a bar for each official window (used %, reset countdown, burn rate,
predicted run-out, source, age and the device that saw it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

#: What the bars look like without colour (and in the SVG snapshots' text).
FULL, EMPTY = "█", "░"


def bar(percent: float, width: int) -> str:
    """A bar of ``width`` cells filled to ``percent`` (0-100, clipped), rounded to the nearest cell."""
    filled = round(max(0.0, min(100.0, percent)) / 100 * width)
    return FULL * filled + EMPTY * (width - filled)


def level_style(percent: float) -> str:
    """Green under 50 %, yellow under 80 %, red from there."""
    return "green" if percent < 50 else "yellow" if percent < 80 else "red"


class LimitsPanel(Static):
    """The official limits of every account (rows of ``tokscope.quota.limit_rows``)."""

    DEFAULT_CSS = """
    LimitsPanel {
        height: 1fr;
        width: 1fr;
        padding: 0 1;
        overflow-y: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, rows: Sequence[dict[str, Any]], width: int) -> None:
        """Lay ``rows`` out for a screen ``width`` cells wide."""
        self.update(render(rows, width))


def render(rows: Sequence[dict[str, Any]], width: int) -> Text:
    """The panel's text (a function, so tests can read it without an app)."""
    from tokscope import quota

    text = Text(no_wrap=True, overflow="ellipsis")
    if not rows:
        text.append("No official limits recorded yet.\n\n", style="bold")
        text.append("Codex writes its 5-hour and weekly windows into every rollout: a scan reads them.\n")
        text.append("Claude Code hands them to its statusLine command: set it to ")
        text.append("tokscope statusline --claude-code", style="bold")
        text.append("\n(README: Limits).")
        return text
    wide = width >= 120
    label_width = 16
    # what a line holds besides its bar: label 16, " 62%  ↻  2h15m" 15, source and age ~21 (+ burn,
    # run-out and device when wide), and the panel's padding
    bar_width = max(10, min(40, width - (98 if wide else 54)))
    account = None
    for row in rows:
        key = (row["account"], row["client"])
        if key != account:
            if account is not None:
                text.append("\n")
            account = key
            text.append(f"{row['account']}", style="bold")
            text.append(f"  {row['client']}", style="dim")
            if row.get("plan_type"):
                text.append(f"  plan {row['plan_type']}", style="dim")
            text.append("\n")
        label = quota.WINDOW_LABELS.get(row["window"], row["window"])
        if row["limit"] and row["limit"] != "codex":
            label = f"{label} {row['limit']}"
        used = float(row["used_percent"])
        text.append(f"  {label[: label_width - 2]:<{label_width - 2}}")
        if row["reset"]:
            text.append(bar(0, bar_width), style="dim")
            text.append(f" {used:>3.0f}%", style="dim")
            text.append("  reset since seen", style="dim")
        else:
            text.append(bar(used, bar_width), style=level_style(used))
            text.append(f" {used:>3.0f}%", style="bold")
            text.append(f"  ↻ {quota.countdown(row['resets_in_seconds']):>6}")
        if wide:
            burn = row["burn_percent_per_hour"]
            text.append(f"  burn {'—' if burn is None else f'{burn:.1f}%/h':>7}", style="dim")
            if row["runs_out_at"]:
                text.append(f"  out {row['runs_out_at'][11:16]} UTC", style="red")
        device = row.get("device_name") or (row.get("device") or "")[:8]
        text.append(f"  {row['source']} · {quota.age(row['age_seconds'])}", style="dim")
        if wide:
            text.append(f" · {device}", style="dim")
        text.append("\n")
    return text
