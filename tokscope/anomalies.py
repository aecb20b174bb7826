"""Anomalies in priced usage: cache thrash, cost outliers, runaway loops and pricier-model switches.

Every finding carries the turns (or group figures) that prove it. Detection is pure Polars over the
merged, priced events; thresholds come from config.toml's ``[anomalies]`` table (see ``Thresholds``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from tokscope.format import iso_utc

if TYPE_CHECKING:  # polars is imported where used: building the CLI parser must stay light
    import polars as pl

    from tokscope.usage import Usage

KINDS = ("cache_thrash", "outlier", "runaway", "model_switch")

#: A session is one client's session on one device (ids may repeat across clients).
SESSION = ("device_id", "client", "session_id")
_KEYS = ("device_id", "client", "model", "workspace", "session_id")
_TOKENS = ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")

#: Turns kept as evidence per finding (``rows_total`` says how many there were).
MAX_ROWS = 50


@dataclass(frozen=True)
class Thresholds:
    """When a pattern counts as an anomaly; every field is a key of config.toml's ``[anomalies]``."""

    thrash_min_turns: int = 5
    """Consecutive thrash turns in one session before it is a cache thrash."""
    thrash_min_write: int = 20_000
    """Cache-write tokens (5 m + 1 h) a turn must write to be a thrash turn."""
    thrash_max_read_ratio: float = 0.05
    """… while reading at most this fraction of what it writes from the cache."""
    outlier_factor: float = 10.0
    """A group is an outlier at this multiple of its peers' median cost per turn or per day."""
    outlier_min_turns: int = 5
    """Priced turns a group needs to be judged (and to count as a peer)."""
    outlier_min_groups: int = 3
    """Groups of one kind (devices, workspaces, sessions) needed for a median to mean anything."""
    runaway_window_minutes: int = 5
    """Width of the windows whose turn counts are compared with the session's norm."""
    runaway_rate_factor: float = 5.0
    """A window is runaway at this multiple of the session's median turns per active window …"""
    runaway_min_window_turns: int = 20
    """… and with at least this many turns."""
    runaway_repeat_turns: int = 10
    """Consecutive near-identical turns (same model, input, output, cache write) that make a loop."""
    runaway_similarity: float = 0.05
    """Relative difference under which two turns' counters are near-identical (8 tokens of slack)."""
    switch_factor: float = 4.0
    """A switch is to a model whose list rate (input + output per token) is this many times higher …
    (above Haiku → Sonnet, 3×, which Claude Code pairs every day; Sonnet → Opus 4.1 is 5×)"""
    switch_min_turns: int = 3
    """… with at least this many consecutive turns on each side (a lone side call is no switch)."""


def thresholds_from(table: Any) -> tuple[Thresholds, list[str]]:
    """``Thresholds`` from config.toml's ``[anomalies]`` table, and a note per value left at its default."""
    base = Thresholds()
    if table is None:
        return base, []
    if not isinstance(table, dict):
        return base, [f"config.toml: [anomalies] must be a table, got {type(table).__name__}; defaults used"]
    notes: list[str] = []
    known = {f.name: type(getattr(base, f.name)) for f in fields(Thresholds)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = known.get(key)
        if kind is None:
            notes.append(f"config.toml: [anomalies] {key}: unknown setting (known: {', '.join(known)}); ignored")
            continue
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or not math.isfinite(value) or value < 0 or (kind is int and value != int(value)):
            wanted = "a whole number ≥ 0" if kind is int else "a number ≥ 0"
            notes.append(f"config.toml: [anomalies] {key} = {value!r}: expected {wanted}; default used")
            continue
        values[key] = kind(value)
    return replace(base, **values), notes


class Figure(NamedTuple):
    """One number behind a verdict (USD for costs, tokens for counters)."""

    name: str
    value: float | int | None


@dataclass(frozen=True)
class Turn:
    """One recorded turn, as evidence."""

    ts: datetime
    device_id: str
    client: str
    model: str
    workspace: str
    session_id: str
    input: int
    output: int
    cache_read: int
    cache_write: int
    cost: float | None


@dataclass(frozen=True)
class Anomaly:
    """One finding and what proves it."""

    kind: str
    """One of ``KINDS``."""
    summary: str
    dimension: str
    """What is anomalous: ``session``, ``workspace`` or ``device``."""
    key: str
    """That session's id, workspace path or device id."""
    start: datetime
    end: datetime
    figures: tuple[Figure, ...]
    rows: tuple[Turn, ...]
    """The turns that prove it (at most ``MAX_ROWS``: for outliers, the group's costliest)."""
    rows_total: int
    device_id: str = ""
    client: str = ""
    workspace: str = ""
    session_id: str = ""


@dataclass
class Findings:
    """Every anomaly found (by kind, costliest first), the thresholds used, and what the user should know."""

    anomalies: list[Anomaly] = field(default_factory=list)
    thresholds: Thresholds = field(default_factory=Thresholds)
    notes: list[str] = field(default_factory=list)
    tz: str = "UTC"
    """The zone of the period's days (and of the table's times)."""


# --- preparation -----------------------------------------------------------------------------


def prepare(events: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """The columns detection reads, keys as text, sorted by session (numbered ``sid``) then time, indexed."""
    import polars as pl

    frame = events.lazy()
    schema = frame.collect_schema()
    cost = pl.col("cost") if "cost" in schema else pl.lit(None)
    return (
        frame.select(
            *(pl.col(c).cast(pl.String).fill_null("") for c in _KEYS),
            pl.col("ts"),
            *(pl.col(c).fill_null(0).cast(pl.Int64) for c in _TOKENS),
            cost.cast(pl.Float64).alias("cost"),
        )
        .with_columns(cache_write=pl.col("cache_write_5m") + pl.col("cache_write_1h"))
        .sort([*SESSION, "ts"])
        .with_columns(sid=pl.struct(SESSION).rle_id())  # one number per session: cheaper windows than 3 keys
        .collect()
        .with_row_index("idx")
    )


def _turns(frame: pl.DataFrame) -> tuple[Turn, ...]:
    names = [f.name for f in fields(Turn)]
    return tuple(Turn(*row) for row in frame.head(MAX_ROWS).select(names).iter_rows())


def _session_anomaly(kind: str, summary: str, rows: pl.DataFrame, figures: list[Figure]) -> Anomaly:
    first = rows.row(0, named=True)
    return Anomaly(
        kind=kind,
        summary=summary,
        dimension="session",
        key=first["session_id"],
        start=rows["ts"].min(),  # type: ignore[arg-type]
        end=rows["ts"].max(),  # type: ignore[arg-type]
        figures=tuple(figures),
        rows=_turns(rows),
        rows_total=rows.height,
        device_id=first["device_id"],
        client=first["client"],
        workspace=first["workspace"],
        session_id=first["session_id"],
    )


def _cost(rows: pl.DataFrame) -> float | None:
    return rows["cost"].sum() if rows["cost"].is_not_null().any() else None


# --- cache thrash ------------------------------------------------------------------------------


def cache_thrash(frame: pl.DataFrame, t: Thresholds) -> list[Anomaly]:
    """Runs of ≥ ``thrash_min_turns`` turns in a session that write much to the cache and read ~nothing.

    Turns with no cache traffic at all (a side call on another model) neither extend nor break a run.
    """
    import polars as pl

    thrash = pl.col("cache_write") >= t.thrash_min_write
    thrash &= pl.col("cache_read") <= t.thrash_max_read_ratio * pl.col("cache_write")
    runs = (
        frame.filter((pl.col("cache_read") > 0) | (pl.col("cache_write") > 0))
        .with_columns(thrash=thrash)
        .with_columns(run=pl.col("thrash").rle_id().over("sid"))
        .filter(pl.col("thrash"))
        .filter(pl.len().over(["sid", "run"]) >= max(t.thrash_min_turns, 1))
    )
    found = []
    for rows in runs.partition_by(["sid", "run"], maintain_order=True):
        writes, reads = int(rows["cache_write"].sum()), int(rows["cache_read"].sum())
        figures = [
            Figure("turns", rows.height),
            Figure("cache_write", writes),
            Figure("cache_read", reads),
            Figure("cache_write_per_turn", writes // rows.height),
            Figure("cost", _cost(rows)),
        ]
        summary = f"{rows.height} turns in a row wrote {writes // rows.height:,} cache tokens each and read {reads:,}"
        found.append(_session_anomaly("cache_thrash", summary, rows, figures))
    return found


# --- runaway loops -------------------------------------------------------------------------------


def _near(column: str, tolerance: float) -> pl.Expr:
    import polars as pl

    now, before = pl.col(column), pl.col(column).shift(1).over("sid")
    return (now - before).abs() <= pl.max_horizontal(pl.max_horizontal(now, before) * tolerance, pl.lit(8))


def runaway(frame: pl.DataFrame, t: Thresholds) -> list[Anomaly]:
    """Sessions whose turn rate in some window, or whose run of near-identical turns, is far above its norm."""
    import polars as pl

    window = f"{max(t.runaway_window_minutes, 1)}m"
    counted = frame.with_columns(window=pl.col("ts").dt.truncate(window)).with_columns(
        in_window=pl.len().over(["sid", "window"]).cast(pl.Int64)
    )
    per_window = counted.unique(["sid", "window"]).group_by("sid").agg(norm=pl.col("in_window").median())
    same = pl.col("model") == pl.col("model").shift(1).over("sid")
    for column in ("input", "output", "cache_write"):
        same &= _near(column, t.runaway_similarity)
    marked = (
        counted.join(per_window, on="sid")
        .with_columns(
            fast=(pl.col("in_window") >= t.runaway_rate_factor * pl.col("norm"))
            & (pl.col("in_window") >= max(t.runaway_min_window_turns, 1)),
            same=same.fill_null(False),
        )
        .with_columns(run=pl.col("same").rle_id().over("sid"))
        .with_columns(run_len=pl.when("same").then(pl.len().over(["sid", "run"]) + 1).otherwise(0))
    )
    looping = pl.col("run_len") >= max(t.runaway_repeat_turns, 2)
    # a run of near-identical turns starts one row before its first "same" flag
    marked = marked.with_columns(repeat=looping | looping.shift(-1).over("sid").fill_null(False) & ~pl.col("same"))
    found = []
    for rows in marked.filter(pl.col("fast") | pl.col("repeat")).partition_by("sid", maintain_order=True):
        fast, repeat = rows.filter("fast"), rows.filter("repeat")
        figures = [Figure("turns", rows.height), Figure("cost", _cost(rows))]
        parts = []
        if fast.height:
            peak, norm = int(fast["in_window"].max()), float(fast["norm"][0])  # type: ignore[arg-type]
            figures += [
                Figure("window_minutes", t.runaway_window_minutes),
                Figure("peak_window_turns", peak),
                Figure("median_window_turns", norm),
            ]
            parts.append(f"{peak} turns in {t.runaway_window_minutes} min (session median {norm:g})")
        if repeat.height:
            longest = int(rows["run_len"].max())  # type: ignore[arg-type]
            figures.append(Figure("longest_repeat_run", longest))
            parts.append(f"{longest} near-identical turns in a row")
        found.append(_session_anomaly("runaway", "; ".join(parts), rows, figures))
    return found


# --- model switches -------------------------------------------------------------------------------


def model_rates(models: list[str]) -> dict[str, float]:
    """Each model's list rate, USD per token of input plus output (models without a price are left out)."""
    from tokscope.pricing import load_table

    table = load_table()
    rates = {}
    for model in models:
        entry = table.resolve(model).entry
        if entry is not None:
            base = entry.current.std.base
            rates[model] = (base[0] + base[1]) * entry.multiplier
    return rates


def model_switch(frame: pl.DataFrame, t: Thresholds, rates: dict[str, float]) -> list[Anomaly]:
    """Sessions that move, for ≥ ``switch_min_turns`` turns, to a model ``switch_factor``× pricier than before.

    Only a model's first such run in a session counts: going back to the main model after a stretch of
    side calls on a cheap one is no switch.
    """
    import polars as pl

    least = max(t.switch_min_turns, 1)
    frame = frame.drop("idx").with_row_index("idx")  # positions, so that evidence is a slice
    runs = (
        frame.with_columns(run=pl.col("model").rle_id().over("sid"))
        .group_by(["sid", "run"], maintain_order=True)
        .agg(pl.col("model").first(), first=pl.col("idx").first(), n=pl.len())
        .filter(pl.col("n") >= least)
        .with_columns(rate=pl.col("model").replace_strict(rates, default=None, return_dtype=pl.Float64))
        .filter(pl.col("rate").is_not_null())
        .with_columns(
            new=pl.col("model").is_first_distinct().over("sid"),
            before=pl.col("model").shift(1).over("sid"),
            before_rate=pl.col("rate").shift(1).over("sid"),
            before_end=(pl.col("first") + pl.col("n")).shift(1).over("sid"),
        )
        .filter(pl.col("new") & (pl.col("rate") >= t.switch_factor * pl.col("before_rate")))
    )
    found = []
    for run in runs.iter_rows(named=True):
        before = frame.slice(run["before_end"] - least, least)
        after = frame.slice(run["first"], run["n"])
        ratio = run["rate"] / run["before_rate"]
        figures = [
            Figure("from_rate_per_mtok", run["before_rate"] * 1e6),
            Figure("to_rate_per_mtok", run["rate"] * 1e6),
            Figure("ratio", ratio),
            Figure("turns_after", run["n"]),
            Figure("cost_after", _cost(after)),
        ]
        summary = f"switched from {run['before']} to {run['model']} ({ratio:.1f}× the list rate) for {run['n']} turns"
        found.append(_session_anomaly("model_switch", summary, pl.concat([before, after]), figures))
    return found


# --- outliers -----------------------------------------------------------------------------------------

#: Coarse to fine: a finer group whose turns all lie in flagged coarser groups is explained by them.
_DIMENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("device_id",)),
    ("workspace", ("workspace",)),
    ("session", SESSION),
)


def outliers(frame: pl.DataFrame, t: Thresholds) -> list[Anomaly]:
    """Devices, workspaces and sessions whose cost per turn or per day is ``outlier_factor``× their peers' median.

    Only priced turns count; the median is over every group of the kind with ≥ ``outlier_min_turns``.
    """
    import polars as pl

    priced = frame.filter(pl.col("cost").is_not_null()).with_columns(day=pl.col("ts").dt.date())
    flagged: dict[str, set[str]] = {}
    found: list[Anomaly] = []
    for dimension, keys in _DIMENSIONS:
        key_col = keys[-1] if dimension != "session" else "session_key"
        work = priced.with_columns(session_key=pl.concat_str(list(SESSION), separator="\x1f"))
        work = work.filter(pl.col(keys[-1]) != "")
        groups = (
            work.group_by(key_col)
            .agg(
                turns=pl.len(),
                cost=pl.col("cost").sum(),
                days=pl.col("day").n_unique(),
                parent_devices=pl.col("device_id").unique(),
                parent_workspaces=pl.col("workspace").unique(),
            )
            .filter(pl.col("turns") >= max(t.outlier_min_turns, 1))
            .with_columns(per_turn=pl.col("cost") / pl.col("turns"), per_day=pl.col("cost") / pl.col("days"))
        )
        flagged[dimension] = set()
        if groups.height < max(t.outlier_min_groups, 2):
            continue
        medians = {m: groups[m].median() for m in ("per_turn", "per_day")}
        for group in groups.sort("cost", descending=True).iter_rows(named=True):
            over = [m for m in ("per_turn", "per_day") if medians[m] and group[m] >= t.outlier_factor * medians[m]]
            if not over:
                continue
            flagged[dimension].add(group[key_col])
            explained = dimension != "device" and set(group["parent_devices"]) <= flagged["device"]
            explained |= dimension == "session" and set(group["parent_workspaces"]) <= flagged["workspace"]
            if explained:
                continue  # by its flagged device or workspace
            found.append(_outlier(dimension, key_col, group, medians, over, work, t))
    return found


def _outlier(
    dimension: str,
    key_col: str,
    group: dict[str, Any],
    medians: dict[str, Any],
    over: list[str],
    work: pl.DataFrame,
    t: Thresholds,
) -> Anomaly:
    import polars as pl

    rows = work.filter(pl.col(key_col) == group[key_col])
    costliest = rows.sort("cost", descending=True)
    first = rows.row(0, named=True)
    figures = [Figure("turns", group["turns"]), Figure("days", group["days"]), Figure("cost", group["cost"])]
    for m in ("per_turn", "per_day"):
        figures += [Figure(f"cost_{m}", group[m]), Figure(f"peer_median_cost_{m}", medians[m])]
    label = {"per_turn": "per turn", "per_day": "per day"}
    ratio = ", ".join(f"{group[m] / medians[m]:.1f}× the median cost {label[m]}" for m in over)
    key = first["session_id"] if dimension == "session" else group[key_col]
    return Anomaly(
        kind="outlier",
        summary=f"{dimension} {key}: {ratio} of {dimension}s (threshold {t.outlier_factor:g}×)",
        dimension=dimension,
        key=key,
        start=rows["ts"].min(),  # type: ignore[arg-type]
        end=rows["ts"].max(),  # type: ignore[arg-type]
        figures=tuple(figures),
        rows=_turns(costliest),
        rows_total=rows.height,
        device_id=first["device_id"] if dimension in ("device", "session") else "",
        client=first["client"] if dimension == "session" else "",
        workspace=first["workspace"] if dimension in ("workspace", "session") else "",
        session_id=first["session_id"] if dimension == "session" else "",
    )


# --- all together ------------------------------------------------------------------------------------


def detect(
    events: pl.LazyFrame | pl.DataFrame, thresholds: Thresholds | None = None, rates: dict[str, float] | None = None
) -> list[Anomaly]:
    """Every anomaly in ``events`` (priced events: ``cost`` may be null). ``rates``: model → USD per
    token (input + output), default from the price table."""
    t = thresholds or Thresholds()
    frame = prepare(events)
    if frame.is_empty():
        return []
    if rates is None:
        rates = model_rates(frame["model"].unique().to_list())
    # turns without a session id are no session: they can still be part of a device or workspace outlier
    sessions = frame.filter(frame["session_id"] != "")
    found = [
        *cache_thrash(sessions, t),
        *outliers(frame, t),
        *runaway(sessions, t),
        *model_switch(sessions, t, rates),
    ]
    return sorted(found, key=lambda a: (KINDS.index(a.kind), -_money(a)))


def _money(a: Anomaly) -> float:
    """What a finding cost (its ``cost``, or ``cost_after`` for a switch), for ordering; 0 when unpriced."""
    figures = dict(a.figures)
    return figures.get("cost", figures.get("cost_after")) or 0.0


def find(period: str = "30d", tz: str | None = None, usage: Usage | None = None) -> Findings:
    """Anomalies in the merged, priced ledger (``usage``, default: loaded) over ``period`` (a query period)."""
    from tokscope import config as config_mod
    from tokscope.query import Query, filtered, today_in
    from tokscope.timezone import local_tz
    from tokscope.usage import load_usage

    settings = config_mod.load()
    thresholds, notes = thresholds_from(settings.extra.get("anomalies"))
    tz = tz or settings.timezone or local_tz()
    usage = usage or load_usage(settings)
    events = filtered(usage.events, Query(by=[], period=period, tz=tz), today_in(tz))
    found = detect(events, thresholds)
    return Findings(anomalies=found, thresholds=thresholds, notes=[*usage.notes, *notes], tz=tz)


# --- output ------------------------------------------------------------------------------------------


def anomaly_json(a: Anomaly) -> dict[str, Any]:
    """One anomaly in the ``tokscope anomalies --format json`` contract."""
    return {
        "kind": a.kind,
        "summary": a.summary,
        "dimension": a.dimension,
        "key": a.key,
        "device_id": a.device_id,
        "client": a.client,
        "workspace": a.workspace,
        "session_id": a.session_id,
        "start": iso_utc(a.start),
        "end": iso_utc(a.end),
        "figures": {f.name: f.value for f in a.figures},
        "rows": [{**{f.name: getattr(r, f.name) for f in fields(Turn)}, "ts": iso_utc(r.ts)} for r in a.rows],
        "rows_total": a.rows_total,
    }


def findings_json(found: Findings, period: str) -> dict[str, Any]:
    """The whole ``--format json`` document."""
    return {
        "period": period,
        "tz": found.tz,
        "thresholds": {f.name: getattr(found.thresholds, f.name) for f in fields(Thresholds)},
        "counts": {k: sum(a.kind == k for a in found.anomalies) for k in KINDS},
        "anomalies": [anomaly_json(a) for a in found.anomalies],
    }


def _print_table(found: Findings, period: str) -> None:
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    if not found.anomalies:
        print(f"no anomalies in {period}")
        return
    zone = ZoneInfo(found.tz)
    table = Table(title=f"Anomalies ({period}, {found.tz})", title_justify="left")
    for name in ("kind", "what", "session / group", "when", "turns"):
        table.add_column(name, justify="right" if name == "turns" else "left", overflow="fold")
    for a in found.anomalies:
        start, end = a.start.astimezone(zone), a.end.astimezone(zone)
        same_day = start.date() == end.date()
        when = f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}" if same_day else f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"
        where = " ".join(x for x in (a.client, a.key, a.workspace if a.dimension == "session" else "") if x)
        table.add_row(a.kind, a.summary, where, when, f"{a.rows_total:,}")
    Console().print(table)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``anomalies`` to the CLI."""
    p = sub.add_parser("anomalies", help="cache thrash, cost outliers, runaway loops and pricier-model switches")
    # the periods of tokscope.query.PERIODS, spelt out so that building the parser imports no Polars
    p.add_argument("--period", choices=("today", "yesterday", "7d", "30d", "month", "all"), default="30d")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--tz", help="IANA timezone for the period's days (default: config, then local)")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.set_defaults(func=cmd_anomalies)


def cmd_anomalies(args: argparse.Namespace) -> int:
    """``tokscope anomalies``."""
    from tokscope.cli.common import print_errors, run_scan
    from tokscope.timezone import valid_tz

    if args.tz and not valid_tz(args.tz):
        print(f"tokscope: unknown IANA timezone {args.tz!r} (e.g. Europe/Berlin, UTC)", file=sys.stderr)
        return 2
    if not args.no_scan:
        print_errors(run_scan())
    found = find(args.period, args.tz)
    for note in found.notes:
        print(f"tokscope: {note}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(findings_json(found, args.period), indent=2))
    else:
        _print_table(found, args.period)
    return 0
