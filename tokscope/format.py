"""Number formatting shared by the CLI tables and the TUI."""

from __future__ import annotations

from datetime import UTC, datetime


def tokens(n: int | None) -> str:
    """Full integer with thousands separators (``12,345``)."""
    return "—" if n is None else f"{n:,}"


def short(n: float | None) -> str:
    """Abbreviated count: ``987``, ``12.3K``, ``4.56M``, ``1.2B``."""
    if n is None:
        return "—"
    value = float(n)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}{suffix}" if scaled < 100 else f"{scaled:.0f}{suffix}"
    return f"{value:.0f}"


def money(cost: float | None, unpriced: int = 0) -> str:
    """A dollar amount; ``—`` when nothing is priced, ``≥ $x`` when some turns are unpriced."""
    if cost is None:
        return "—"
    text = f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.4f}"
    return f"≥ {text}" if unpriced else text


def money_total(cost: float | None, unpriced: int = 0) -> str:
    """A total that says what it leaves out: ``≥ $12.30 · 40 turns unpriced``."""
    if not unpriced:
        return money(cost)
    note = f"{unpriced:,} turn{'s' if unpriced != 1 else ''} unpriced"
    return f"{money(cost, unpriced)} · {note}"


#: Decimal places of a dollar amount in JSON and CSV: a nano-dollar, below any price step, above float noise
#: (sums of per-turn costs otherwise print as ``457.140484650001``).
COST_DECIMALS = 9


def round_cost(cost: float | None) -> float | None:
    """A cost for machine-readable output: rounded to ``COST_DECIMALS``; None stays None (unpriced)."""
    return None if cost is None else round(cost, COST_DECIMALS)


def countdown(seconds: int | None) -> str:
    """``2h13m``, ``3d4h``, ``45m``, ``<1m``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    minutes = seconds // 60
    if minutes < 1:
        return "<1m"
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m"


def age(seconds: int) -> str:
    """How old a reading is: ``now`` under a minute, else ``countdown`` + `` ago``."""
    return "now" if seconds < 60 else f"{countdown(seconds)} ago"


def iso_utc(ts: datetime) -> str:
    """``ts`` as ISO 8601 in UTC with a ``Z`` (``2026-12-03T14:43:57Z``): every timestamp tokscope's
    JSON contracts carry."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
