"""What the TUI shows, computed from the loaded events: the user's choices (``ViewState``),
the data in memory (``Loaded``) and one screenful (``View``).

Plain Polars, no Textual: the app computes views in thread workers, the start-up
prefetch (``tokscope.tui.loading``) before Textual is even imported, and the tests and
the benchmark call ``compute_view`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from tokscope.events import TOTAL_FIELDS
from tokscope.query import GROUP_KEYS, Query, aggregate, cost_sum, filtered, period_bounds, plan_values
from tokscope.timezone import canonical_tz
from tokscope.tui.tabs import tab as tab_spec

#: Periods ``p`` cycles through.
PERIOD_CYCLE: tuple[str, ...] = ("today", "7d", "30d", "month", "all")
#: Second group-by keys ``g`` cycles through (those equal to the tab's own key are skipped).
SECOND_KEYS: tuple[str, ...] = ("model", "client", "workspace", "device", "provider", "account")
#: Sort columns ``s`` cycles through; ``key`` is the tab's own key column.
SORT_CYCLE: tuple[str, ...] = (
    "cost",
    "total_tokens",
    "turns",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "key",
)

Clock = Callable[[], datetime]

#: At most this many rows go into a table (a DataTable slows down past a few thousand); the
#: first ones in sort order are kept and the screen says how many more there are.
ROW_LIMIT = 500

#: Days the calendar covers: 53 weeks, so a full year always fits whatever weekday today is.
YEAR_DAYS = 371

#: The event columns kept in memory: what the views use, plus ``event_key`` for live upserts
#: (the pricing inputs stay on disk).
VIEW_COLUMNS: tuple[str, ...] = (
    "device_id",
    "event_key",
    "client",
    "provider",
    "model",
    "workspace",
    "session_id",
    "agent",
    "ts",
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "cost",
    "account",
    "plan",
    "metered",
    "subscription",
    "estimated",
)


def utc_now() -> datetime:
    """The wall clock (UTC)."""
    return datetime.now(UTC)


# --- state and data ------------------------------------------------------------


@dataclass(frozen=True)
class ViewState:
    """Everything the user chose: which rows to show and how."""

    tab: str = "clients"
    period: str = "30d"
    device: str | None = None
    """A device id to keep, or all."""
    client: str | None = None
    """A client to keep, or all."""
    group2: str | None = None
    """The second group-by key (``g``)."""
    sort: str | None = None
    """Column to sort by; None: the tab's default."""
    descending: bool = True
    text: str = ""
    """Row filter (``/``): rows whose key contains it."""
    drill: tuple[tuple[str, str], ...] = ()
    """Filters pushed by Enter on a row: (group key, value); Esc pops."""
    back_tabs: tuple[str, ...] = ()
    """The tab to return to when each drill filter is popped."""
    metric: str = "cost"
    """What the Daily chart shows: ``cost`` or ``tokens``."""

    def by(self) -> list[str]:
        """The group-by keys of the table."""
        keys = list(tab_spec(self.tab).group_by)
        if self.group2 and self.group2 not in keys:
            keys.append(self.group2)
        return keys


@dataclass
class Loaded:
    """The merged, priced events and what is known about the devices."""

    events: pl.DataFrame
    device_id: str
    device_name: str
    devices: list[dict[str, Any]]
    """Device status entries (this device first), as dicts."""
    notes: list[str]
    names: dict[str, str]
    """Device id -> display name."""
    clients: list[str]
    device_ids: list[str]
    priced: bool
    """True once the pricing step added a ``cost`` column."""
    updated: datetime
    scan_errors: list[str] = field(default_factory=list)
    generation: int = 0
    segments: tuple[str, ...] = ()
    """The ledger's segment files when it was read (to apply only newer ones later)."""
    cached: bool = False
    """A stand-in from the view cache (no events yet): paint it, compute nothing from it."""
    event_count: int | None = None
    """How many events there are (the stand-in has none in memory)."""
    energy: bool = False
    """Show the energy estimate (``energy = true`` in config.toml)."""
    readings: list[Any] = field(default_factory=list)
    """Official usage-limit readings of this device and the trusted ones (``tokscope.quota``)."""
    plans: list[Any] = field(default_factory=list)
    """The ``[[plan]]`` entries (``tokscope.plans.Plan``): the summary shows their value."""
    account_rules: list[Any] = field(default_factory=list)
    """The ``[[account]]`` rules (``tokscope.accounts.AccountRule``), for rows added live."""

    def size(self) -> int:
        """How many events are loaded."""
        return self.event_count if self.event_count is not None else self.events.height


@dataclass
class View:
    """What the screen shows for one ``ViewState``."""

    state: ViewState
    by: list[str]
    rows: pl.DataFrame
    """by-keys, the counters, ``cache_write``, ``share`` (and ``last`` for sessions)."""
    totals: dict[str, Any]
    sessions: int
    top_model: str
    cache_hit: float | None
    since: date | None
    until: date | None
    daily: list[tuple[date, float | None, int]]
    """(day, cost, tokens) for each day of the period, zero days included."""
    devices: list[dict[str, Any]]
    generation: int = 0
    year: list[tuple[date, float | None, int]] = field(default_factory=list)
    """(day, cost, tokens) for each of the last ``YEAR_DAYS`` days up to today (calendar tabs only)."""
    hours: list[list[tuple[float, int]]] = field(default_factory=list)
    energy: tuple[float, float] | None = None
    """The energy estimate of the selection (Wh, low and high) when shown; None otherwise or unknown."""
    latest: date | None = None
    """When the view is empty: the last day with usage under the same filters in any period."""
    """``hours[weekday][hour]`` = (cost, tokens) over the period, Monday = 0 (calendar tabs only)."""
    row_count: int = 0
    """Rows before the ``ROW_LIMIT`` cut."""
    plans: list[dict[str, Any]] = field(default_factory=list)
    """Each ``[[plan]]``'s value over the period (``query.plan_values``)."""


def _cost_sum(priced: bool) -> pl.Expr:
    if not priced:
        return pl.lit(None, pl.Float64).alias("cost")
    return cost_sum()


def compute_view(loaded: Loaded, state: ViewState, today: date, tz: str) -> View:
    """Rows, totals, summary figures, the daily series and device rows for ``state``."""
    events = loaded.events.lazy()
    for key, value in state.drill:
        events = events.filter(pl.col(GROUP_KEYS[key]).cast(pl.String).fill_null("") == value)
    by = state.by()
    query = Query(
        by=by,
        period=state.period,
        tz=tz,
        clients=[state.client] if state.client else [],
        devices=[state.device] if state.device else [],
    )
    rows, totals = aggregate(events, query, today)
    frame = filtered(events, query, today)
    tokens = pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS])
    stats = frame.select(sessions=pl.col("session_id").n_unique())
    by_model = frame.group_by("model").agg(
        _cost_sum(loaded.priced), tokens.sum().alias("tokens"), pl.col("output").sum().alias("output")
    )
    top = by_model.sort(["cost", "tokens"], descending=[True, True], nulls_last=True).select(
        pl.col("model").cast(pl.String), "output"
    )
    spec = tab_spec(state.tab)
    plans = [stats, top]
    if spec.chart:
        plans.append(frame.group_by("day").agg(_cost_sum(loaded.priced), tokens.sum().alias("tokens")).sort("day"))
    if spec.calendar:
        year_query = replace(query, period="all", since=today - timedelta(days=YEAR_DAYS - 1), until=today)
        year_frame = filtered(events, year_query, today)
        plans.append(year_frame.group_by("day").agg(_cost_sum(loaded.priced), tokens.sum().alias("tokens")))
        local = pl.col("ts").dt.convert_time_zone(canonical_tz(tz))
        plans.append(
            frame.group_by(local.dt.weekday().alias("weekday"), local.dt.hour().alias("hour")).agg(
                pl.col("cost").fill_null(0).sum().alias("cost") if loaded.priced else pl.lit(0.0).alias("cost"),
                tokens.sum().alias("tokens"),
            )
        )
    if spec.turns_on_enter:
        plans.append(
            frame.group_by(pl.col("session_id").cast(pl.String).fill_null("").alias("session")).agg(
                last=pl.col("ts").max().dt.convert_time_zone(tz)
            )
        )
    results = pl.collect_all(plans)
    sessions = int(results[0].item()) if results[0].height else 0
    top_model = results[1].item(0, "model") if results[1].height else ""
    energy = model_energy(results[1].iter_rows()) if loaded.energy else None
    rows = rows.with_columns(cache_write=pl.col("cache_write_5m") + pl.col("cache_write_1h"))
    if spec.turns_on_enter:
        rows = rows.join(results[-1], on="session", how="left")
    cost_total = totals.get("cost")
    if cost_total:
        rows = rows.with_columns(share=pl.col("cost").fill_null(0) / cost_total)
    elif totals.get("total_tokens"):
        rows = rows.with_columns(share=pl.col("total_tokens") / totals["total_tokens"])
    else:
        rows = rows.with_columns(share=pl.lit(None, pl.Float64))
    if state.text:
        needle = state.text.lower()
        match = [pl.col(k).str.to_lowercase().str.contains(needle, literal=True) for k in by]
        if "device" in by:
            names = pl.DataFrame(
                {"device": list(loaded.names), "_name": list(loaded.names.values())},
                schema={"device": pl.String, "_name": pl.String},
            )
            rows = rows.join(names, on="device", how="left")
            match.append(pl.col("_name").fill_null("").str.to_lowercase().str.contains(needle, literal=True))
        rows = rows.filter(pl.any_horizontal(match))
        if "_name" in rows.columns:
            rows = rows.drop("_name")
    rows = sort_rows(rows, state, by)
    row_count = rows.height
    if row_count > ROW_LIMIT:
        rows = rows.head(ROW_LIMIT)
    since, until = query.bounds(today)
    daily: list[tuple[date, float | None, int]] = []
    if spec.chart:
        series = {d: (c, t) for d, c, t in results[2].iter_rows()}
        first = since or (min(series) if series else today)
        last = until or today
        day = first
        while day <= last:
            cost, tok = series.get(day, (None if not loaded.priced else 0.0, 0))
            daily.append((day, cost, int(tok or 0)))
            day += timedelta(days=1)
    year: list[tuple[date, float | None, int]] = []
    hours: list[list[tuple[float, int]]] = []
    if spec.calendar:
        at = 2 + spec.chart
        series = {d: (c, t) for d, c, t in results[at].iter_rows()}
        start = today - timedelta(days=YEAR_DAYS - 1)
        for i in range(YEAR_DAYS):
            day = start + timedelta(days=i)
            cost, tok = series.get(day, (None if not loaded.priced else 0.0, 0))
            year.append((day, cost, int(tok or 0)))
        hours = [[(0.0, 0)] * 24 for _ in range(7)]
        for weekday, hour, cost, tok in results[at + 1].iter_rows():
            hours[int(weekday) - 1][int(hour)] = (float(cost or 0.0), int(tok or 0))
    latest = None
    if rows.height == 0:
        anytime = replace(query, period="all", since=None, until=None)
        latest = filtered(events, anytime, today).select(pl.col("day").max()).collect().item()
    devices = device_rows(loaded, rows if spec.device_table and not state.group2 else None)
    cache_in = sum(int(totals.get(k) or 0) for k in ("input", "cache_read", "cache_write_5m", "cache_write_1h"))
    cache_hit = (int(totals.get("cache_read") or 0) / cache_in) if cache_in else None
    return View(
        state=state,
        by=by,
        rows=rows,
        totals=totals,
        sessions=sessions,
        top_model=top_model or "",
        cache_hit=cache_hit,
        since=since,
        until=until,
        daily=daily,
        devices=devices,
        generation=loaded.generation,
        row_count=row_count,
        year=year,
        hours=hours,
        latest=latest,
        energy=energy,
        plans=plan_values(events, loaded.plans, query, today) if loaded.plans and loaded.priced else [],
    )


def model_energy(models: Any) -> tuple[float, float] | None:
    """The energy range (Wh) of ``(model, output tokens)`` pairs; None when no model has a class."""
    from tokscope.energy import class_of

    low = high = 0.0
    known = False
    for model, output in models:
        found = class_of(model or "")
        if found is not None:
            known = True
            low += (output or 0) * found.low / 1000
            high += (output or 0) * found.high / 1000
    return (low, high) if known else None


def sort_rows(rows: pl.DataFrame, state: ViewState, by: list[str]) -> pl.DataFrame:
    """Rows in the order the state asks for (default: cost, then tokens; days newest first)."""
    column = state.sort
    if column == "key":
        column = by[0]
    if column is None:
        if by[0] == "day":
            return rows.sort(["day", *by[1:]], descending=[True, *[False] * (len(by) - 1)])
        return rows.sort(["cost", "total_tokens", *by], descending=[True, True, *[False] * len(by)], nulls_last=True)
    if column not in rows.columns:
        return rows
    return rows.sort([column, *by], descending=[state.descending, *[False] * len(by)], nulls_last=True)


def device_rows(loaded: Loaded, usage_rows: pl.DataFrame | None) -> list[dict[str, Any]]:
    """One dict per known device: its status entry plus its usage in the view (if given)."""
    by_id: dict[str, dict[str, Any]] = {}
    if usage_rows is not None and "device" in usage_rows.columns:
        by_id = {r["device"]: r for r in usage_rows.iter_rows(named=True)}
    from tokscope.sync.merge import DeviceState
    from tokscope.usage import duplicate_reasons

    merged = {str(e["id"]): e.get("rows") for e in loaded.devices if e.get("status") == DeviceState.MERGED}
    duplicates = duplicate_reasons(loaded.device_id, merged, set(loaded.device_ids), loaded.names)
    out = []
    seen = set()
    for entry in loaded.devices:
        did = str(entry["id"])
        seen.add(did)
        row = {**entry, "this": did == loaded.device_id, "usage": by_id.get(did)}
        if did in duplicates:  # merged, yet no turn of its own: say why instead of showing a silent 0
            row["reason"] = duplicates[did]
        out.append(row)
    for did in loaded.device_ids:
        if did not in seen:
            out.append(
                {
                    "id": did,
                    "name": loaded.names.get(did, did),
                    "fingerprint": None,
                    "trusted": None,
                    "last_export": None,
                    "rows": None,
                    "status": "",
                    "reason": None,
                    "this": False,
                    "usage": by_id.get(did),
                }
            )
    return out


def session_turns(loaded: Loaded, session_id: str, tz: str) -> pl.DataFrame:
    """The turns of one session, oldest first, with running totals of tokens and cost."""
    events = loaded.events.lazy().filter(pl.col("session_id").cast(pl.String) == session_id)
    cost = pl.col("cost") if loaded.priced else pl.lit(None, pl.Float64)
    return (
        events.sort("ts")
        .select(
            time=pl.col("ts").dt.convert_time_zone(tz),
            client=pl.col("client").cast(pl.String),
            model=pl.col("model").cast(pl.String),
            agent=pl.col("agent").cast(pl.String),
            input=pl.col("input"),
            output=pl.col("output"),
            cache_read=pl.col("cache_read"),
            cache_write=pl.col("cache_write_5m") + pl.col("cache_write_1h"),
            total=pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS]),
            cost=cost,
        )
        .with_columns(
            running_tokens=pl.col("total").cum_sum(),
            running_cost=pl.when(pl.col("cost").is_not_null().cum_sum() > 0).then(
                pl.col("cost").fill_null(0).cum_sum()
            ),
        )
        .collect()
    )


def next_in(options: list[Any] | tuple[Any, ...], current: Any) -> Any:
    """The option after ``current`` (wrapping; the first when ``current`` is unknown)."""
    options = list(options)
    if not options:
        return current
    try:
        return options[(options.index(current) + 1) % len(options)]
    except ValueError:
        return options[0]


def period_label(state: ViewState, today: date) -> str:
    """``30d 10-25→11-23``."""
    since, until = period_bounds(state.period, today)
    if since is None:
        return "all time"
    if since == until:
        return f"{state.period} {since:%m-%d}"
    return f"{state.period} {since:%m-%d}→{until:%m-%d}"
