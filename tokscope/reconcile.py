"""The estimate against the bill: per provider, UTC day and model, tokscope's priced usage next to the
provider's own export (``tokscope.invoices``), with the gap in dollars and percent.

Both sides meet on ``invoices.canonical_model`` and on the event's ``provider`` column (the pricing
table's provider when a client logged none): never on the client's name. Where an export does not
split a day by model (a cost report not grouped by description, OpenAI costs not grouped by line
item), that provider's day is compared as a whole, under model ``*``. The invoiced amount is the
billed dollars where a cost export covers the row (``basis: billed``), else the exported tokens
priced at list base rates by tokscope's own table (``basis: usage``).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple

from tokscope.format import round_cost
from tokscope.invoices import InvoiceRow, canonical_model

#: Drift above this share of the invoiced amount raises an alert (issue 17: 3 %).
DEFAULT_THRESHOLD_PCT = 3.0
#: Model name of a provider's whole day (an export that does not split by model).
WHOLE_DAY = "*"

Side = Literal["both", "estimate_only", "invoice_only"]


class EstimateGroup(NamedTuple):
    """The priced turns of one provider (as logged), raw model and UTC day."""

    provider: str
    model: str
    day: str
    cost: float | None
    turns: int
    unpriced_turns: int
    tokens: int


@dataclass
class Estimate:
    """tokscope's side of one (provider, day, model)."""

    cost: float | None = None
    turns: int = 0
    unpriced_turns: int = 0
    tokens: int = 0
    names: set[str] = field(default_factory=set)


@dataclass
class Invoiced:
    """The export's side of one (provider, day, model)."""

    billed: float | None = None
    usage_cost: float | None = None
    usage_unpriced: bool = False
    tokens: int | None = None
    names: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Line:
    """One row of ``tokscope reconcile`` (the JSON contract's ``rows[]``)."""

    provider: str
    day: str
    model: str
    side: Side
    basis: str | None
    """``billed`` (the export's dollars), ``usage`` (its tokens priced by tokscope) or None (no invoice)."""
    estimate: float | None
    invoiced: float | None
    gap_usd: float | None
    gap_pct: float | None
    flagged: bool
    turns: int
    unpriced_turns: int
    estimate_tokens: int
    invoiced_tokens: int | None
    names: list[str]


def configured_threshold(extra: Any, where: str) -> tuple[float, list[str]]:
    """``threshold`` of config.toml's ``[reconcile]`` table (percent), else the default; a bad value
    is reported (file, key, cause) and the default used."""
    table = extra.get("reconcile") if hasattr(extra, "get") else None
    if table is None:
        return DEFAULT_THRESHOLD_PCT, []
    if not isinstance(table, dict):
        return DEFAULT_THRESHOLD_PCT, [f"{where}: reconcile must be a table ([reconcile]); ignored"]
    value = table.get("threshold", DEFAULT_THRESHOLD_PCT)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        why = f"{where}: reconcile.threshold = {value!r}: expected a percentage from 0 up (e.g. 2.5)"
        return DEFAULT_THRESHOLD_PCT, [f"{why}; using {DEFAULT_THRESHOLD_PCT:g}"]
    return float(value), []


def _tidy(value: float | None, digits: int | None = None) -> float | None:
    """A rounded figure for output, with float noise's ``-0.0`` as ``0.0``."""
    if value is None:
        return None
    return (round_cost(value) if digits is None else round(value, digits)) + 0.0  # type: ignore[operator]


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM``; ValueError for anything else."""
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise ValueError(f"--month {month!r}: expected YYYY-MM, e.g. 2026-11") from None
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def gap(estimate: float | None, invoiced: float | None) -> tuple[float | None, float | None]:
    """(estimate − invoiced, that as a percent of invoiced); None where a side is unknown or the bill is 0."""
    if estimate is None or invoiced is None:
        return None, None
    diff = estimate - invoiced
    return diff, (diff / invoiced * 100 if invoiced else None)


def invoice_side(rows: Iterable[InvoiceRow], table: Any) -> dict[tuple[str, str, str], Invoiced]:
    """The invoice rows per (provider, day, canonical model); usage tokens priced with ``table``."""
    out: dict[tuple[str, str, str], Invoiced] = defaultdict(Invoiced)
    for row in rows:
        key = (row.provider, row.day, canonical_model(row.model) if row.model else WHOLE_DAY)
        side = out[key]
        if row.model:
            side.names.add(row.model)
        if row.kind == "cost":
            side.billed = (side.billed or 0.0) + (row.cost_usd or 0.0)
            continue
        counts = tuple(
            getattr(row, f) or 0 for f in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
        )
        side.tokens = (side.tokens or 0) + sum(counts)
        cost = base_cost(table, row.model, row.provider, row.day, counts) if row.model else None
        if cost is None:
            side.usage_unpriced = True
        else:
            side.usage_cost = (side.usage_cost or 0.0) + cost
    return out


def base_cost(table: Any, model: str, provider: str, day: str, counts: tuple[int, ...]) -> float | None:
    """Tokens of one exported day at the model's list base rates on that day (a day's sum is many
    requests, so no whole-request long-context tier applies); None when the model has no price."""
    entry = table.resolve(model, provider).entry
    if entry is None:
        return None
    noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    version = entry.versions[0]
    for v in entry.versions:
        if v.start is None or v.start <= noon:
            version = v
    rates = version.std.base
    return sum(n * r for n, r in zip(counts, rates, strict=True)) * entry.multiplier


def estimate_side(
    grouped: Iterable[EstimateGroup], providers: set[str], table: Any
) -> dict[tuple[str, str, str], Estimate]:
    """tokscope's priced usage per (provider, day, canonical model), for ``providers`` only."""
    out: dict[tuple[str, str, str], Estimate] = defaultdict(Estimate)
    for g in grouped:
        model = g.model or ""
        provider = (g.provider or "").strip().lower()
        if not provider and model:
            entry = table.resolve(model).entry
            provider = entry.provider if entry is not None else ""
        if provider not in providers:
            continue
        side = out[(provider, g.day, canonical_model(model) if model else "")]
        side.names.add(model)
        if g.cost is not None:
            side.cost = (side.cost or 0.0) + g.cost
        side.turns += g.turns
        side.unpriced_turns += g.unpriced_turns
        side.tokens += g.tokens
    return out


def compare(
    estimates: dict[tuple[str, str, str], Estimate],
    invoiced: dict[tuple[str, str, str], Invoiced],
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
) -> list[Line]:
    """Both sides side by side; a provider's day with a whole-day invoice row is compared as one row."""
    whole_days = {(p, d) for p, d, m in invoiced if m == WHOLE_DAY}
    est: dict[tuple[str, str, str], Estimate] = defaultdict(Estimate)
    inv: dict[tuple[str, str, str], Invoiced] = defaultdict(Invoiced)
    for (p, d, m), e in estimates.items():
        t = est[(p, d, WHOLE_DAY if (p, d) in whole_days else m)]
        t.cost = e.cost if t.cost is None else t.cost + (e.cost or 0.0)
        t.turns += e.turns
        t.unpriced_turns += e.unpriced_turns
        t.tokens += e.tokens
        t.names |= e.names
    for (p, d, m), i in invoiced.items():
        t = inv[(p, d, WHOLE_DAY if (p, d) in whole_days else m)]
        t.billed = i.billed if t.billed is None else t.billed + (i.billed or 0.0)
        t.usage_cost = i.usage_cost if t.usage_cost is None else t.usage_cost + (i.usage_cost or 0.0)
        t.usage_unpriced = t.usage_unpriced or i.usage_unpriced
        t.tokens = i.tokens if t.tokens is None else t.tokens + (i.tokens or 0)
        t.names |= i.names
    lines = []
    for key in sorted(set(est) | set(inv)):
        e, i = est.get(key), inv.get(key)
        if i is None:
            basis, amount = None, None
        elif i.billed is not None:
            basis, amount = "billed", i.billed
        else:
            basis, amount = "usage", None if i.usage_unpriced else i.usage_cost
        side: Side = "both" if e is not None and i is not None else "invoice_only" if e is None else "estimate_only"
        estimate = e.cost if e is not None else None
        diff, pct = gap(estimate if e is not None else 0.0, amount) if side != "estimate_only" else (estimate, None)
        flagged = side == "both" and pct is not None and abs(pct) > threshold_pct
        names = sorted((e.names if e else set()) | (i.names if i else set()))
        lines.append(
            Line(
                provider=key[0],
                day=key[1],
                model=key[2],
                side=side,
                basis=basis,
                estimate=round_cost(estimate),
                invoiced=round_cost(amount),
                gap_usd=_tidy(diff),
                gap_pct=_tidy(pct, 4),
                flagged=flagged,
                turns=e.turns if e else 0,
                unpriced_turns=e.unpriced_turns if e else 0,
                estimate_tokens=e.tokens if e else 0,
                invoiced_tokens=i.tokens if i else None,
                names=names,
            )
        )
    return lines


def summary(lines: list[Line]) -> list[dict[str, Any]]:
    """Per provider: the estimate, the invoiced amount and the gap over all its rows, with counts of
    flagged and one-sided rows."""
    out = []
    for provider in sorted({line.provider for line in lines}):
        mine = [x for x in lines if x.provider == provider]
        estimate = sum(x.estimate or 0.0 for x in mine)
        invoiced = sum(x.invoiced or 0.0 for x in mine)
        diff, pct = gap(estimate, invoiced)
        out.append(
            {
                "provider": provider,
                "estimate": round_cost(estimate),
                "invoiced": round_cost(invoiced),
                "gap_usd": _tidy(diff),
                "gap_pct": _tidy(pct, 4),
                "flagged": sum(x.flagged for x in mine),
                "one_sided": sum(x.side != "both" for x in mine),
            }
        )
    return out


def line_dict(line: Line) -> dict[str, Any]:
    return asdict(line)


def estimate_groups(events: Any, first: date, last: date, clients: list[str] | None = None) -> list[EstimateGroup]:
    """Priced events of ``first``..``last`` (UTC days) summed per provider, raw model and day."""
    import polars as pl

    from tokscope.events import total_tokens_expr
    from tokscope.query import Query, cost_sum, filtered

    query = Query(by=[], period="all", since=first, until=last, tz="UTC", clients=list(clients or []))
    frame = filtered(events, query, last)
    grouped = (
        frame.group_by(
            pl.col("provider").cast(pl.String).fill_null(""),
            pl.col("model").cast(pl.String).fill_null(""),
            pl.col("day").cast(pl.String),
        )
        .agg(
            cost_sum(),
            pl.len().alias("turns"),
            pl.col("cost").is_null().sum().alias("unpriced_turns"),
            total_tokens_expr().sum().alias("tokens"),
        )
        .collect()
        .select(EstimateGroup._fields)
    )
    return [EstimateGroup(*row) for row in grouped.iter_rows()]


def reconcile(
    events: Any,
    invoice_rows: Iterable[InvoiceRow],
    month: str,
    table: Any,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    clients: list[str] | None = None,
) -> list[Line]:
    """Every comparison row of ``month`` (see the module's docstring)."""
    first, last = month_bounds(month)
    rows = [r for r in invoice_rows if first.isoformat() <= r.day <= last.isoformat()]
    invoiced = invoice_side(rows, table)
    providers = {p for p, _, _ in invoiced}
    estimates = estimate_side(estimate_groups(events, first, last, clients), providers, table) if providers else {}
    return compare(estimates, invoiced, threshold_pct)
