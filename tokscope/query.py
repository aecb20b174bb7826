"""From events to report rows: one query object -> one lazy Polars plan.

The counters and their names are the ``tokscope report --format json`` contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from tokscope.events import TOTAL_FIELDS
from tokscope.timezone import canonical_tz

PERIODS = ("today", "yesterday", "7d", "30d", "month", "all")

#: Group-by keys the user may name, and the column each one reads.
GROUP_KEYS: dict[str, str] = {
    "client": "client",
    "provider": "provider",
    "model": "model",
    "workspace": "workspace",
    "session": "session_id",
    "device": "device_id",
    "account": "account",
    "day": "day",
    "hour": "hour",
}

#: The counters of every row and of the totals, in output order.
COUNTERS: tuple[str, ...] = (
    "turns",
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "total_tokens",
    "cost",
    "unpriced_turns",
    "api_equivalent",
    "metered",
    "subscription",
    "estimated",
    "unknown",
)

#: The five cost kinds (``tokscope.pricing.kinds``): USD sums but ``unknown``, a count of turns.
KIND_COUNTERS: tuple[str, ...] = ("api_equivalent", "metered", "subscription", "estimated", "unknown")


@dataclass
class Query:
    """What to report: the period, the timezone, filters and group-by keys."""

    by: list[str] = field(default_factory=lambda: ["client", "model"])
    period: str = "30d"
    since: date | None = None
    until: date | None = None
    tz: str = "UTC"
    clients: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    """Device ids to keep (empty: all)."""

    def bounds(self, today: date) -> tuple[date | None, date | None]:
        """Inclusive first and last day of the query (None: open)."""
        since, until = period_bounds(self.period, today)
        if self.since is not None:
            since = self.since
        if self.until is not None:
            until = self.until
        return since, until


def period_bounds(period: str, today: date) -> tuple[date | None, date | None]:
    """Inclusive (first day, last day) of a named period ending ``today``."""
    if period == "today":
        return today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if period == "7d":
        return today - timedelta(days=6), today
    if period == "30d":
        return today - timedelta(days=29), today
    if period == "month":
        return today.replace(day=1), today
    if period == "all":
        return None, None
    raise ValueError(f"unknown period {period!r} (one of {', '.join(PERIODS)})")


def today_in(tz: str, now: datetime | None = None) -> date:
    """Today's date in ``tz``."""
    return (now or datetime.now(ZoneInfo(tz))).astimezone(ZoneInfo(tz)).date()


def filtered(events: pl.LazyFrame, query: Query, today: date) -> pl.LazyFrame:
    """Events of the query's period and filters, with ``day``/``hour`` in its timezone."""
    since, until = query.bounds(today)
    frame = events
    # Converting to a named zone costs ~70 ns a row (UTC: ~10), so the period is first cut on
    # the UTC instant with a day of margin (no zone is a day off UTC); the exact cut is by ``day``.
    if since is not None:
        frame = frame.filter(pl.col("ts") >= datetime.combine(since, time(), UTC) - timedelta(days=1))
    if until is not None:
        frame = frame.filter(pl.col("ts") < datetime.combine(until, time(), UTC) + timedelta(days=2))
    local = pl.col("ts").dt.convert_time_zone(canonical_tz(query.tz))
    frame = frame.with_columns(day=local.dt.date(), hour=local.dt.truncate("1h").dt.strftime("%Y-%m-%dT%H:00"))
    if since is not None:
        frame = frame.filter(pl.col("day") >= since)
    if until is not None:
        frame = frame.filter(pl.col("day") <= until)
    if query.clients:
        frame = frame.filter(pl.col("client").cast(pl.String).is_in(query.clients))
    if query.models:
        frame = frame.filter(pl.col("model").cast(pl.String).is_in(query.models))
    if query.devices:
        frame = frame.filter(pl.col("device_id").cast(pl.String).is_in(query.devices))
    return frame


#: Counters present only when the events carry an energy estimate (``tokscope.energy.with_energy``).
ENERGY_COUNTERS: tuple[str, ...] = ("energy_wh_min", "energy_wh_max")


def _null_sum(column: str) -> pl.Expr:
    """Sum of ``column``: null when every value is null (an unknown is never 0)."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).alias(column)


def cost_sum() -> pl.Expr:
    """Sum of ``cost``: null when no row is priced (never $0), else the priced rows' sum."""
    return _null_sum("cost")


def _counters(schema: pl.Schema) -> list[pl.Expr]:
    priced = "cost" in schema
    exprs = [pl.len().alias("turns")]
    exprs += [
        pl.col(c).sum().alias(c)
        for c in ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")
    ]
    exprs.append(pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS]).sum().alias("total_tokens"))
    if priced:
        # a sum over only unpriced rows is null, never $0
        exprs.append(cost_sum())
        exprs.append(pl.col("cost").is_null().sum().cast(pl.UInt32).alias("unpriced_turns"))
    else:
        exprs.append(pl.lit(None, pl.Float64).alias("cost"))
        exprs.append(pl.len().alias("unpriced_turns"))
    # api_equivalent is the list price (``cost``) and unknown the turns without one, by definition
    exprs.append(cost_sum().alias("api_equivalent") if priced else pl.lit(None, pl.Float64).alias("api_equivalent"))
    kinds = ("metered", "subscription", "estimated")
    if "metered" in schema:
        exprs += [pl.col(c).sum().alias(c) for c in kinds]
    else:  # before the kinds are known (a frame priced without plans): nothing paid is known
        exprs += [pl.lit(0.0, pl.Float64).alias(c) for c in kinds]
    exprs.append((pl.col("cost").is_null().sum() if priced else pl.len()).cast(pl.UInt32).alias("unknown"))
    exprs += [_null_sum(c) for c in ENERGY_COUNTERS if c in schema]
    return exprs


def aggregate(events: pl.LazyFrame, query: Query, today: date) -> tuple[pl.DataFrame, dict]:
    """Grouped rows and totals for ``query``.

    Rows hold the by-keys (as strings) then ``COUNTERS``; time keys sort
    ascending, everything else by cost then tokens, descending.
    """
    for key in query.by:
        if key not in GROUP_KEYS:
            raise ValueError(f"unknown group-by key {key!r} (one of {', '.join(GROUP_KEYS)})")
    frame = filtered(events, query, today)
    schema = frame.collect_schema()
    counters = _counters(schema)
    # group categoricals as they are (ids: 2x faster at 10 M rows); strings only for the result rows
    keys = [
        (pl.col(c).fill_null("") if isinstance(schema.get(c), pl.Categorical) else pl.col(c)).alias(k)
        for k, c in ((k, GROUP_KEYS[k]) for k in query.by)
    ]
    grouped = (
        frame.group_by(keys).agg(counters).with_columns(pl.col(k).cast(pl.String).fill_null("") for k in query.by)
        if keys
        else frame.select(counters)
    )
    if any(k in ("day", "hour") for k in query.by):
        grouped = grouped.sort(query.by)
    elif keys:
        grouped = grouped.sort(
            ["cost", "total_tokens", *query.by], descending=[True, True, *[False] * len(keys)], nulls_last=True
        )
    extra = [c for c in ENERGY_COUNTERS if c in schema]
    rows = grouped.collect().select([*query.by, *COUNTERS, *extra])
    return rows, totals_of(rows)


def totals_of(rows: pl.DataFrame) -> dict:
    """The counters summed over grouped rows (the groups partition the events, so no second pass)."""
    extra = [c for c in ENERGY_COUNTERS if c in rows.columns]
    sums = rows.select(
        *[pl.col(c).sum() for c in COUNTERS if c not in ("cost", "api_equivalent")],
        cost_sum(),
        _null_sum("api_equivalent"),
        *[_null_sum(c) for c in extra],
    ).row(0, named=True)
    return {c: sums[c] for c in (*COUNTERS, *extra)}


def plan_values(events: pl.LazyFrame, plans: list, query: Query, today: date) -> list[dict]:
    """Per ``[[plan]]``: its fee over the query's period (``plans.fee_for``; an open start begins at
    the plan's first covered turn), the API-equivalent value of the turns it covered, and their ratio
    (the README's ``plans`` contract of ``report --format json``)."""
    from tokscope.plans import fee_for

    if not plans:
        return []
    frame = filtered(events, query, today)
    if "plan" not in frame.collect_schema():
        return []
    got = {
        r["plan"]: r
        for r in frame.filter(pl.col("plan").is_not_null())
        .group_by(pl.col("plan").cast(pl.String))
        .agg(
            pl.len().alias("turns"),
            pl.col("subscription").sum().alias("value"),
            pl.col("cost").is_null().sum().alias("unknown"),
            pl.col("day").min().alias("first"),
        )
        .collect()
        .to_dicts()
    }
    since, until = query.bounds(today)
    out = []
    for plan in plans:
        seen = got.get(plan.name, {})
        first = since or seen.get("first") or plan.since
        last = until or today
        paid = fee_for(plan, first, last) if first is not None else 0.0
        value = float(seen.get("value") or 0.0)
        out.append(
            {
                "name": plan.name,
                "price_per_month": plan.price_per_month,
                "billing_day": plan.billing_day,
                "accounts": list(plan.accounts),
                "clients": list(plan.clients),
                "providers": list(plan.providers),
                "windows": list(plan.windows),
                "turns": int(seen.get("turns") or 0),
                "unknown": int(seen.get("unknown") or 0),
                "paid": round(paid, 2),
                "api_equivalent": round(value, 2),
                "value_ratio": round(value / paid, 2) if paid > 0 else None,
                "source": plan.source,
                "as_of": plan.as_of,
            }
        )
    return out
