"""The Alerts tab: one table row per alert (``tokscope.alerts.Delivery``) and, below the table, the
alert under the cursor in full: its figures, each channel's delivery and, for an anomaly, the turns
that prove it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.widgets import Static
from tokscope.widgets.usage_table import Column

from tokscope.format import money, short

if TYPE_CHECKING:
    from tokscope.alerts import Delivery

#: The table's columns (key, label, priority: the highest drop first when narrow, width).
COLUMNS: tuple[Column, ...] = (
    Column("created", "Raised", 2, 11, numeric=False),
    Column("rule", "Rule", 0, 14, numeric=False, flex=True, min_width=12),
    Column("scope", "Scope", 3, 16, numeric=False, flex=True, min_width=10),
    Column("period", "Period", 4, 11, numeric=False),
    Column("threshold", "At", 1, 4),
    Column("figure", "Figure", 1, 9),
    Column("delivery", "Delivery", 2, 10, numeric=False),
    Column("ack", "Ack", 0, 3, numeric=False),
)

#: Proof turns shown under an anomaly (the delivery log keeps five).
PROOF_ROWS = 5


def _when(text: str | None, tz: str, fmt: str = "%m-%d %H:%M") -> str:
    """An ISO instant as local ``11-20 15:30`` (``—`` when missing or unreadable)."""
    if not text:
        return "—"
    try:
        return f"{datetime.fromisoformat(text.replace('Z', '+00:00')).astimezone(ZoneInfo(tz)):{fmt}}"
    except ValueError:
        return "—"


def is_budget(d: Delivery) -> bool:
    """A budget threshold crossing (else an anomaly)."""
    return d.alert.kind == "budget"


def threshold_of(d: Delivery) -> float | None:
    """The budget threshold the alert is for (its detail, else the last part of its key)."""
    value = d.alert.detail.get("threshold")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(d.alert.key.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _amount(value: Any, unit: str) -> str:
    if not isinstance(value, int | float):
        return "—"
    return money(float(value)) if unit == "usd" else short(value)


def scope_text(d: Delivery, names: Mapping[str, str]) -> str:
    """``client=claude-code`` for a budget (``all`` without a scope); ``session 1a2b3c4d`` … for an anomaly."""
    detail = d.alert.detail
    if is_budget(d):
        scope = detail.get("scope") or {}
        parts = [f"{k}={','.join(map(str, v))}" for k, v in scope.items() if isinstance(v, list)]
        return " ".join(parts) or "all"
    dimension, key = str(detail.get("dimension") or ""), str(detail.get("key") or "")
    if dimension == "device":
        return f"device {names.get(key, key[:8])}"
    if dimension == "session":
        return f"session {key[:8]}"
    return f"{dimension} {key}".strip()


def delivery_text(d: Delivery) -> Text:
    """Each channel in a word: ``hook ✓``, ``hook ✗``, ``desktop …``; ``shown`` when none is set."""
    if not d.targets:
        return Text("shown", style="dim")
    text = Text()
    for i, (target, state) in enumerate(d.targets.items()):
        if i:
            text.append(" ")
        name = "desktop" if target == "desktop" else "hook"
        mark = {"sent": ("✓", "green"), "failed": ("✗", "bold red")}.get(str(state.get("state")), ("…", "yellow"))
        text.append(f"{name} ")
        text.append(mark[0], style=mark[1])
    return text


def figure_text(d: Delivery) -> str:
    """What crossed: ``$12.30`` (a budget's spend, an anomaly's cost) or ``5.1K`` tokens."""
    detail = d.alert.detail
    if is_budget(d):
        return _amount(detail.get("spent"), str(detail.get("unit")))
    figures = detail.get("figures") or {}
    cost = figures.get("cost", figures.get("cost_after"))
    if isinstance(cost, int | float):
        return money(float(cost))
    return f"{short(detail.get('rows_total'))} turns" if detail.get("rows_total") else "—"


def alert_cells(d: Delivery, tz: str, names: Mapping[str, str]) -> dict[str, Any]:
    """The table cells of one alert."""
    detail = d.alert.detail
    if is_budget(d):
        rule = str(detail.get("name") or d.alert.key)
        if detail.get("period") == "session":
            period = f"session {str(detail.get('session_id') or '')[:8]}"
        else:
            period = f"{detail.get('period')} {_when(detail.get('start'), tz, '%m-%d')}"
        threshold = threshold_of(d)
        at = "—" if threshold is None else f"{threshold:g}%"
    else:
        rule = d.alert.kind.replace("_", " ")
        period = _when(detail.get("start"), tz)
        at = "—"
    ack = Text("new", "bold yellow", justify="left") if d.acknowledged is None else Text("ack", "dim", justify="left")
    return {
        "created": _when(d.created, tz),
        "rule": rule,
        "scope": scope_text(d, names),
        "period": period,
        "threshold": at,
        "figure": figure_text(d),
        "delivery": delivery_text(d),
        "ack": ack,
    }


def detail_text(d: Delivery | None, tz: str, names: Mapping[str, str]) -> Text:
    """The alert under the cursor in full (a function, so tests read it without an app)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if d is None:
        return text
    detail = d.alert.detail
    text.append(d.alert.title, style="bold")
    if d.acknowledged:
        text.append(f"  acknowledged {_when(d.acknowledged, tz)}", style="dim")
    text.append("\n")
    if is_budget(d):
        unit = str(detail.get("unit"))
        text.append(
            f"spent {_amount(detail.get('spent'), unit)} of {_amount(detail.get('limit'), unit)}"
            f" ({float(detail.get('percent') or 0):.0f}%) · {detail.get('turns', 0)} turns"
        )
        if detail.get("forecast") is not None:
            text.append(f" · forecast {_amount(detail.get('forecast'), unit)} by {_when(detail.get('end'), tz)}")
        text.append("\n")
    else:
        figures = detail.get("figures") or {}
        parts = []
        for name, value in figures.items():
            if isinstance(value, float) and ("cost" in name or name.endswith("_usd")):
                parts.append(f"{name} {money(value)}")
            elif isinstance(value, float):
                parts.append(f"{name} {value:g}")
            else:
                parts.append(f"{name} {short(value) if isinstance(value, int) else value}")
        text.append(" · ".join(parts) + "\n", style="dim")
    for target, state in d.targets.items():
        name = "desktop" if target == "desktop" else target
        status = str(state.get("state"))
        style = {"sent": "green", "failed": "bold red"}.get(status, "yellow")
        text.append(f"{name}: ")
        text.append(status, style=style)
        if status == "sent":
            text.append(f" {_when(state.get('sent_at'), tz)}", style="dim")
        elif state.get("error"):
            text.append(f" ({state.get('error')}, {state.get('attempts', 0)} attempts)", style="dim")
        text.append("\n")
    rows = detail.get("rows") or []
    if rows:
        labels = ("turn", "model", "input", "output", "cache rd", "cache wr", "cost")
        text.append("  {:<11}  {:<26} {:>6}  {:>6}  {:>8}  {:>8}  {:>8}\n".format(*labels), style="dim")
    for row in rows[:PROOF_ROWS]:
        cost = row.get("cost")
        text.append(
            f"  {_when(row.get('ts'), tz)}  {str(row.get('model') or '')[:26]:<26}"
            f" {short(row.get('input')):>6}  {short(row.get('output')):>6}"
            f"  {short(row.get('cache_read')):>8}  {short(row.get('cache_write')):>8}"
            f"  {money(cost) if isinstance(cost, int | float) else '—':>8}\n"
        )
    total = detail.get("rows_total")
    if isinstance(total, int) and total > len(rows[:PROOF_ROWS]):
        text.append(f"  … {total:,} turns in all", style="dim")
        text.append("\n")
    if is_budget(d) or detail.get("session_id") or detail.get("dimension") in ("device", "workspace"):
        text.append("Enter: its turns and sessions · a: acknowledge · A: acknowledge all", style="dim")
    else:
        text.append("a: acknowledge · A: acknowledge all", style="dim")
    return text


class AlertDetail(Static):
    """The alert under the cursor, below the alerts table."""

    DEFAULT_CSS = """
    AlertDetail {
        height: auto;
        max-height: 12;
        width: 1fr;
        padding: 0 1;
        border-top: hkey $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.-hidden { display: none; }
    }
    """

    def show(self, d: Delivery | None, tz: str, names: Mapping[str, str]) -> None:
        """Show ``d`` (nothing when None)."""
        self.update(detail_text(d, tz, names))
