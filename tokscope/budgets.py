"""Budgets: ``[[budget]]`` tables in config.toml, checked against the merged, priced usage.

A budget is an amount (USD of API-equivalent cost, or tokens) over a period (``day``, ``week`` from
Monday, ``month``, or each ``session``), within a scope (devices, clients, workspaces, models, accounts), with
thresholds in percent (default 50, 80, 100). ``evaluate`` gives, per budget, what was spent in the
current period, its share, a straight-line forecast to the period's end and the thresholds crossed.
Every figure is a sum of recorded usage fields (the provider's usage of each turn, priced from the
price table, or the client's logged cost where no price is known); an unpriced turn is never $0:
it is counted in ``unpriced_turns`` and the spend is a lower bound.

```toml
[[budget]]
name = "claude per day"
amount = 25.0            # USD; or: tokens = 50_000_000
period = "day"           # day | week | month | session
client = ["claude-code"] # also: device, workspace, model (a string or a list)
thresholds = [50, 80, 100]
```
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from tokscope.format import iso_utc

if TYPE_CHECKING:
    import polars as pl

    from tokscope.usage import Usage

Period = Literal["day", "week", "month", "session"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "session")
SCOPES: tuple[str, ...] = ("device", "client", "workspace", "model", "account")
DEFAULT_THRESHOLDS: tuple[float, ...] = (50.0, 80.0, 100.0)
#: The forecast's elapsed time is at least this much of the period (no x1000 after one minute).
MIN_ELAPSED = timedelta(hours=1)


@dataclass(frozen=True)
class Budget:
    """One ``[[budget]]`` table, checked."""

    name: str
    period: Period
    amount: float | None = None
    """USD of API-equivalent cost (exclusive with ``tokens``)."""
    tokens: int | None = None
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS

    @property
    def unit(self) -> str:
        return "tokens" if self.tokens is not None else "usd"

    @property
    def limit(self) -> float:
        return float(self.tokens if self.tokens is not None else self.amount or 0.0)


@dataclass(frozen=True)
class Status:
    """A budget's state now."""

    budget: Budget
    start: datetime
    """Start of the current period (for ``session``: of the costliest session's first turn)."""
    end: datetime | None
    """End of the current period (None for ``session``)."""
    spent: float
    turns: int
    unpriced_turns: int
    forecast: float | None
    """Spend at the period's end if the rate so far holds (None for ``session``)."""
    session_id: str | None = None
    """``session`` budgets: the costliest session in the last 7 days."""
    sessions_over: int = 0
    over_sessions: tuple[tuple[str, float], ...] = ()
    """``session`` budgets: each session of the last 7 days at or over the limit, with its spend."""

    @property
    def percent(self) -> float:
        limit = self.budget.limit
        return 100.0 * self.spent / limit if limit > 0 else 0.0

    @property
    def crossed(self) -> list[float]:
        return [t for t in self.budget.thresholds if self.percent >= t]

    @property
    def over(self) -> bool:
        return self.spent >= self.budget.limit > 0


def parse(tables: Any) -> tuple[list[Budget], list[str]]:
    """The ``budget`` array of config.toml as budgets; a bad entry is named and left out."""
    from tokscope.config import names_of, tables_of

    budgets: list[Budget] = []
    errors: list[str] = []
    for i, table in tables_of(tables, "budget", errors):
        where = f"config.toml: budget {i}"
        name = table.get("name") if isinstance(table.get("name"), str) else f"budget {i}"
        where = f"config.toml: budget {name!r}"
        period = table.get("period", "day")
        if period not in PERIODS:
            errors.append(f"{where}: period {period!r} is not one of {', '.join(PERIODS)}; ignored")
            continue
        amount, tokens = table.get("amount"), table.get("tokens")
        amount_ok = isinstance(amount, int | float) and not isinstance(amount, bool) and 0 < amount < math.inf
        tokens_ok = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0
        if amount_ok == tokens_ok:
            errors.append(f"{where}: give exactly one of amount (USD > 0) or tokens (> 0); ignored")
            continue
        cost = table.get("cost", "api_equivalent")
        if cost != "api_equivalent":
            errors.append(f"{where}: cost {cost!r}: only api_equivalent is recorded yet (plans: issue 15); ignored")
            continue
        scope: dict[str, tuple[str, ...]] = {}
        bad_scope = False
        for key in SCOPES:
            value = table.get(key)
            if value is None:
                continue
            values = names_of(value)
            if values is None:
                errors.append(f"{where}: {key} must be a name or a list of names; ignored")
                bad_scope = True
                break
            scope[key] = values
        if bad_scope:
            continue
        raw = table.get("thresholds", list(DEFAULT_THRESHOLDS))
        if (
            not isinstance(raw, list)
            or not raw
            or not all(isinstance(t, int | float) and not isinstance(t, bool) and 0 < t <= 1000 for t in raw)
        ):
            errors.append(f"{where}: thresholds must be a list of percents in (0, 1000]; defaults used")
            raw = list(DEFAULT_THRESHOLDS)
        budgets.append(
            Budget(
                name=name,
                period=period,
                amount=float(amount) if amount_ok else None,
                tokens=int(tokens) if tokens_ok else None,
                scope=scope,
                thresholds=tuple(sorted(float(t) for t in raw)),
            )
        )
    return budgets, errors


def period_bounds(period: Period, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The current ``period`` (day, week from Monday, month) around ``now``, in ``tz``, as UTC instants."""
    local = now.astimezone(ZoneInfo(tz))
    day = local.date()
    if period == "day":
        first, after = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        after = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(after, time(), zone).astimezone(UTC)
    return start, end


def _in_scope(events: pl.LazyFrame, budget: Budget, device_ids: dict[str, list[str]]) -> pl.LazyFrame:
    import polars as pl

    frame = events
    for key, values in budget.scope.items():
        if key == "device":
            ids = [i for v in values for i in device_ids.get(v, [v])]
            frame = frame.filter(pl.col("device_id").cast(pl.String).is_in(ids))
        else:
            frame = frame.filter(pl.col(key).cast(pl.String).is_in(list(values)))
    return frame


def _spend(budget: Budget) -> pl.Expr:
    import polars as pl

    from tokscope.events import TOTAL_FIELDS

    if budget.tokens is not None:
        return pl.sum_horizontal(*[pl.col(c) for c in TOTAL_FIELDS]).sum().cast(pl.Float64)
    return pl.col("cost").sum().fill_null(0.0)


def evaluate(
    events: pl.LazyFrame,
    budgets: Sequence[Budget],
    now: datetime,
    tz: str,
    device_ids: dict[str, list[str]] | None = None,
) -> list[Status]:
    """Each budget's state at ``now``: ``events`` are the merged, priced events (``cost``, null when
    unknown); ``device_ids`` maps device names to ids for ``device`` scopes."""
    import polars as pl

    found: list[Status] = []
    for budget in budgets:
        scoped = _in_scope(events, budget, device_ids or {})
        unpriced = pl.col("cost").is_null().sum() if budget.tokens is None else pl.lit(0)
        figures = [_spend(budget).alias("spent"), pl.len().alias("turns"), unpriced.alias("unpriced")]
        if budget.period == "session":
            recent = scoped.filter(pl.col("ts") >= now - timedelta(days=7), pl.col("ts") <= now)
            per = (
                recent.group_by("session_id")
                .agg(*figures, pl.col("ts").min().alias("first"))
                .sort("spent", descending=True)
                .collect()
            )
            if per.height == 0:
                found.append(Status(budget, now, None, 0.0, 0, 0, None))
                continue
            top = per.row(0, named=True)
            over_rows = per.filter(pl.col("spent") >= budget.limit).select("session_id", "spent")
            over = over_rows.height
            found.append(
                Status(
                    budget,
                    top["first"],
                    None,
                    float(top["spent"] or 0.0),
                    int(top["turns"]),
                    int(top["unpriced"]),
                    None,
                    session_id=str(top["session_id"]),
                    sessions_over=over,
                    over_sessions=tuple((str(sid), float(spent)) for sid, spent in over_rows.iter_rows()),
                )
            )
            continue
        start, end = period_bounds(budget.period, now, tz)
        row = scoped.filter(pl.col("ts") >= start, pl.col("ts") < end).select(*figures).collect().row(0, named=True)
        spent = float(row["spent"] or 0.0)
        elapsed = max(now - start, MIN_ELAPSED)
        forecast = spent * ((end - start) / elapsed) if now < end else spent
        found.append(Status(budget, start, end, spent, int(row["turns"]), int(row["unpriced"]), forecast))
    return found


# --- output ------------------------------------------------------------------------------------


def status_json(s: Status) -> dict[str, Any]:
    """One budget in the ``tokscope budgets --format json`` contract."""
    b = s.budget
    return {
        "name": b.name,
        "period": b.period,
        "unit": b.unit,
        "limit": b.limit,
        "scope": {k: list(v) for k, v in b.scope.items()},
        "thresholds": list(b.thresholds),
        "start": iso_utc(s.start),
        "end": iso_utc(s.end) if s.end is not None else None,
        "spent": round(s.spent, 6),
        "percent": round(s.percent, 2),
        "forecast": round(s.forecast, 6) if s.forecast is not None else None,
        "crossed": s.crossed,
        "over": s.over,
        "turns": s.turns,
        "unpriced_turns": s.unpriced_turns,
        "session_id": s.session_id,
        "sessions_over": s.sessions_over,
    }


def _figure(value: float, unit: str) -> str:
    from tokscope.format import money, short

    return money(value) if unit == "usd" else short(value)


def _print_table(statuses: list[Status], tz: str) -> None:
    from rich.console import Console
    from rich.table import Table

    if not statuses:
        print("no budgets: add [[budget]] tables to config.toml (tokscope doctor shows where it is)")
        return
    table = Table(title=f"Budgets ({tz})", title_justify="left")
    for name, justify in (("budget", "left"), ("period", "left"), ("spent", "right"), ("limit", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("used", "forecast", "state"):
        table.add_column(name, justify="right" if name != "state" else "left")
    for s in statuses:
        unit = s.budget.unit
        spent = _figure(s.spent, unit) + ("+" if s.unpriced_turns else "")
        forecast = _figure(s.forecast, unit) if s.forecast is not None else "—"
        if s.over:
            state = "[bold red]over[/]"
        elif s.crossed:
            state = f"[yellow]past {s.crossed[-1]:g}%[/]"
        else:
            state = "ok"
        period = s.budget.period if s.session_id is None else f"session {s.session_id[:8]}"
        table.add_row(s.budget.name, period, spent, _figure(s.budget.limit, unit), f"{s.percent:.0f}%", forecast, state)
    Console().print(table)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``budgets`` to the CLI."""
    p = sub.add_parser("budgets", help="each [[budget]] of config.toml: spent, share, forecast; --check for scripts")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--check", action="store_true", help="exit 1 when any budget is over (for scripts and hooks)")
    p.add_argument("--tz", help="IANA timezone for days, weeks and months (default: config, then local)")
    p.add_argument("--no-scan", action="store_true", help="do not scan first")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="scan, evaluate and keep the figures `tokscope guard` decides from; print nothing (cron, hooks)",
    )
    p.set_defaults(func=cmd_budgets)


def load(
    now: datetime | None = None,
    tz: str | None = None,
    usage: Usage | None = None,
    ledger_mark: list[Any] | None = None,
) -> tuple[list[Status], list[str], str]:
    """Every configured budget's state, the notes (bad config entries, merge and price notes), the zone.

    The states are kept for ``tokscope guard`` (``tokscope.budget_state``) when they are of the real
    now and their provenance is known: ``ledger_mark`` (``statusline.ledger_mark()`` taken before
    ``usage`` was loaded), or taken here when this loads the usage itself."""
    from tokscope import config as config_mod
    from tokscope import statusline
    from tokscope.timezone import local_tz
    from tokscope.usage import load_usage

    settings = config_mod.load()
    budgets, errors = parse(settings.extra.get("budget"))
    tz = tz or settings.timezone or local_tz()
    if not budgets:  # the guard passes every call then, without reading figures
        return [], errors, tz
    if usage is None and now is None:
        ledger_mark = statusline.ledger_mark()
    when = now or datetime.now(UTC)
    usage = usage or load_usage(settings)
    ids: dict[str, list[str]] = {}
    for device_id, name in usage.device_names().items():
        ids.setdefault(name, []).append(device_id)
    statuses = evaluate(usage.events, budgets, when, tz, ids)
    if ledger_mark is not None and now is None:
        _keep(statuses, ids, usage.device.id, ledger_mark, settings.shared_folder, when)
    return statuses, [*errors, *usage.notes], tz


def _keep(
    statuses: list[Status],
    ids: dict[str, list[str]],
    device_id: str,
    ledger_mark: list[Any],
    shared: Any,
    when: datetime,
) -> None:
    """Store the figures for the guard with the fingerprint of now (taken after: computing them may
    write trust or cache files), or with none when a scan wrote meanwhile (then the guard sees them
    as stale and asks for a refresh)."""
    from tokscope import budget_state, statusline

    after = statusline.fingerprint(shared)
    fingerprint = after if after[1:3] == ledger_mark else []
    stored = budget_state.from_statuses(statuses, ids)
    budget_state.store(stored, fingerprint, device_id, int(when.timestamp() * 1_000_000))


def cmd_budgets(args: argparse.Namespace) -> int:
    """``tokscope budgets``: 0, or 1 with ``--check`` when any budget is over."""
    from tokscope.cli.common import print_errors, run_scan
    from tokscope.timezone import valid_tz

    if args.tz and not valid_tz(args.tz):
        print(f"tokscope: unknown IANA timezone {args.tz!r} (e.g. Europe/Berlin, UTC)", file=sys.stderr)
        return 2
    if args.refresh:
        if not args.no_scan:
            run_scan()
        load(tz=args.tz)
        return 0
    if not args.no_scan:
        print_errors(run_scan())
    statuses, notes, tz = load(tz=args.tz)
    for note in notes:
        print(f"tokscope: {note}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"tz": tz, "budgets": [status_json(s) for s in statuses]}, indent=2))
    else:
        _print_table(statuses, tz)
    return 1 if args.check and any(s.over for s in statuses) else 0
