"""The Textual app: live usage tables by client, model, workspace, session, device and day.

Coordination only: the App owns the data pipeline (scan -> ``load_usage`` ->
view) run in thread workers, the file watcher and the auto-export timer; the
``MainScreen`` (``tokscope/screens.py``) renders. The view computation
(``compute_view``) is plain Polars so tests and the benchmark call it directly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import polars as pl
from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from tokscope.commands import TokscopeProvider
from tokscope.config import Config
from tokscope.events import TOTAL_FIELDS
from tokscope.ledger import Ledger
from tokscope.messages import ExportFinished, SourcesChanged, UsageLoaded, ViewReady
from tokscope.query import GROUP_KEYS, Query, aggregate, cost_sum, filtered, period_bounds, today_in

#: The tabs, in order (keys ``1``-``6``), and the group-by key of each.
TABS: dict[str, str] = {
    "clients": "client",
    "models": "model",
    "workspaces": "workspace",
    "sessions": "session",
    "devices": "device",
    "daily": "day",
}
TAB_TITLES: dict[str, str] = {
    "clients": "Clients",
    "models": "Models",
    "workspaces": "Workspaces",
    "sessions": "Sessions",
    "devices": "Devices",
    "daily": "Daily",
}
#: Periods ``p`` cycles through.
PERIOD_CYCLE: tuple[str, ...] = ("today", "7d", "30d", "month", "all")
#: Second group-by keys ``g`` cycles through (those equal to the tab's own key are skipped).
SECOND_KEYS: tuple[str, ...] = ("model", "client", "workspace", "device", "provider")
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
        keys = ["session", "client", "workspace"] if self.tab == "sessions" else [TABS[self.tab]]
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
    row_count: int = 0
    """Rows before the ``ROW_LIMIT`` cut."""


def _entry_dict(entry: Any) -> dict[str, Any]:
    """A device status entry (dataclass, object or dict) as a dict of the agreed fields."""
    names = ("id", "name", "fingerprint", "trusted", "last_export", "rows", "status", "reason", "public_key")
    if isinstance(entry, dict):
        return {k: entry.get(k) for k in names}
    return {k: getattr(entry, k, None) for k in names}


def load(
    settings: Config,
    *,
    ledger: Ledger | None = None,
    shared: Path | None = None,
    clock: Clock = utc_now,
    generation: int = 0,
) -> Loaded:
    """Load the merged, priced events (``load_usage``) into memory (the columns the views use)."""
    from tokscope.usage import load_usage

    ledger = ledger or Ledger()
    segments = ledger_segments(ledger)
    usage = load_usage(settings, ledger=ledger, shared=shared)
    schema = usage.events.collect_schema()
    events = usage.events.select([c for c in VIEW_COLUMNS if c in schema]).collect()
    devices = [_entry_dict(d) for d in (usage.devices or [])]
    notes = list(usage.notes or [])
    me = usage.device
    if not any(d["id"] == me.id for d in devices):
        devices.insert(
            0,
            {
                "id": me.id,
                "name": me.name,
                "fingerprint": None,
                "trusted": True,
                "last_export": None,
                "rows": None,
                "status": "this device",
                "reason": None,
            },
        )
    names = {str(d["id"]): str(d["name"] or d["id"]) for d in devices if d["id"]}
    # unique first: casting a million categorical values to strings costs more than the rest of load()
    clients = sorted(str(c) for c in events.get_column("client").unique().drop_nulls().to_list())
    device_ids = sorted(str(d) for d in events.get_column("device_id").unique().drop_nulls().to_list())
    device_ids.sort(key=lambda d: (d != me.id, names.get(d, d)))
    return Loaded(
        events=events,
        device_id=me.id,
        device_name=me.name,
        devices=devices,
        notes=notes,
        names=names,
        clients=clients,
        device_ids=device_ids,
        priced="cost" in events.columns,
        updated=clock(),
        generation=generation,
        segments=segments,
    )


def ledger_segments(ledger: Ledger) -> tuple[str, ...]:
    """The names of the ledger's segment files now (``base-N`` / ``delta-N``, see ``tokscope.ledger``)."""
    try:
        return tuple(sorted(p.name for p in ledger.events_dir.iterdir() if p.suffix == ".parquet"))
    except OSError:
        return ()


def apply_new_segments(loaded: Loaded, ledger: Ledger, clock: Clock, generation: int) -> Loaded | None:
    """``loaded`` updated with the ledger's deltas written since it was read, or None if a full reload is needed.

    A scan appends a delta segment; re-reading, merging and pricing a million events for one new
    turn would take a second. Instead the keys in the new deltas are looked up in the ledger (its
    own de-duplication decides which copy wins), priced, and replace those keys in memory; this
    device's rows win over other devices' copies, as in the merge. A new base (a compaction), a
    missing file or anything unexpected asks for a full reload.
    """
    from tokscope.events import EVENT_SCHEMA
    from tokscope.ledger import KEY

    segments = ledger_segments(ledger)
    old = set(loaded.segments)
    if not loaded.segments or "event_key" not in loaded.events.columns:
        return None
    if any(name.startswith("base-") and name not in old for name in segments):
        return None
    new = [name for name in segments if name not in old]
    if not new:
        return replace(loaded, segments=segments)
    touched = pl.concat([pl.read_parquet(ledger.events_dir / name, columns=KEY) for name in new]).unique()
    fresh = (
        _rows_for_keys(ledger, segments, touched)
        .with_columns(device_id=pl.lit(loaded.device_id, pl.Categorical()))
        .select(list(EVENT_SCHEMA))
    )
    if loaded.priced:
        from tokscope.pricing import apply_pricing

        fresh, _notes = apply_pricing(fresh)
    schema = fresh.collect_schema()
    fresh_frame = fresh.select([c for c in VIEW_COLUMNS if c in schema]).collect()
    kept = loaded.events.join(touched, on=KEY, how="anti")
    events = pl.concat([kept, fresh_frame.select(kept.columns)], how="vertical_relaxed")
    clients = sorted(str(c) for c in events.get_column("client").unique().drop_nulls().to_list())
    device_ids = sorted(str(d) for d in events.get_column("device_id").unique().drop_nulls().to_list())
    device_ids.sort(key=lambda d: (d != loaded.device_id, loaded.names.get(d, d)))
    return replace(
        loaded,
        events=events,
        clients=clients,
        device_ids=device_ids,
        updated=clock(),
        generation=generation,
        segments=segments,
        scan_errors=[],
    )


def _rows_for_keys(ledger: Ledger, segments: tuple[str, ...], keys: pl.DataFrame) -> pl.LazyFrame:
    """The ledger's winning row for each of ``keys``: the rows of the current base and its deltas
    with those keys, in write order, de-duplicated as the ledger does (``Ledger.lazy`` would re-join
    the whole base)."""
    from tokscope.events import LEDGER_SCHEMA
    from tokscope.ledger import KEY, dedupe

    def seq(name: str) -> int:
        return int(name.split("-", 1)[1].split(".", 1)[0])

    bases = sorted((n for n in segments if n.startswith("base-")), key=seq)
    floor = seq(bases[-1]) if bases else -1
    deltas = sorted((n for n in segments if n.startswith("delta-") and seq(n) > floor), key=seq)
    wanted = keys.get_column("event_key").unique()
    parts = [
        pl.scan_parquet(ledger.events_dir / name, schema=LEDGER_SCHEMA)
        .filter(pl.col("event_key").is_in(wanted.implode()))
        .join(keys.lazy(), on=KEY, how="semi")
        for name in ([bases[-1]] if bases else []) + deltas
    ]
    if not parts:
        return LEDGER_SCHEMA.to_frame().lazy()
    return dedupe(pl.concat(parts))


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
    top = (
        frame.group_by("model")
        .agg(_cost_sum(loaded.priced), tokens.sum().alias("tokens"))
        .sort(["cost", "tokens"], descending=[True, True], nulls_last=True)
        .head(1)
        .select(pl.col("model").cast(pl.String))
    )
    plans = [stats, top]
    if state.tab == "daily":
        plans.append(frame.group_by("day").agg(_cost_sum(loaded.priced), tokens.sum().alias("tokens")).sort("day"))
    if state.tab == "sessions":
        plans.append(
            frame.group_by(pl.col("session_id").cast(pl.String).fill_null("").alias("session")).agg(
                last=pl.col("ts").max().dt.convert_time_zone(tz)
            )
        )
    results = pl.collect_all(plans)
    sessions = int(results[0].item()) if results[0].height else 0
    top_model = results[1].item() if results[1].height else ""
    rows = rows.with_columns(cache_write=pl.col("cache_write_5m") + pl.col("cache_write_1h"))
    if state.tab == "sessions":
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
    if state.tab == "daily":
        series = {d: (c, t) for d, c, t in results[2].iter_rows()}
        first = since or (min(series) if series else today)
        last = until or today
        day = first
        while day <= last:
            cost, tok = series.get(day, (None if not loaded.priced else 0.0, 0))
            daily.append((day, cost, int(tok or 0)))
            day += timedelta(days=1)
    devices = device_rows(loaded, rows if state.tab == "devices" and not state.group2 else None)
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
    )


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
    out = []
    seen = set()
    for entry in loaded.devices:
        did = str(entry["id"])
        seen.add(did)
        out.append({**entry, "this": did == loaded.device_id, "usage": by_id.get(did)})
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


# --- first-paint cache -------------------------------------------------------------

CACHE_VERSION = 1
#: Tabs whose view the cache keeps (plain rows, no chart or device table).
_CACHEABLE = ("clients", "models", "workspaces")


def view_cache_path() -> Path:
    """Where the last start-up view is kept (rebuildable; the cache dir)."""
    from tokscope import paths

    return paths.cache_dir() / "tui-view.json"


def data_key(ledger: Ledger, shared: Path | None, state: ViewState, today: date, tz: str) -> str:
    """What the start-up view depends on: the ledger's segments, the shared folder's manifests,
    the view state, the day and the timezone (and the price overrides file)."""
    import hashlib

    from tokscope import paths

    parts: list[Any] = [CACHE_VERSION, repr(state), today.isoformat(), tz]
    for name in ledger_segments(ledger):
        try:
            st = (ledger.events_dir / name).stat()
            parts.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append((name, None))
    # what else changes the numbers: price overrides and tables, pinned keys, device names
    watched = [
        paths.config_dir() / "prices.toml",
        paths.config_dir() / "trusted.json",
        paths.config_dir() / "device.toml",
        paths.config_dir() / "config.toml",
        paths.data_dir() / "accepted.json",
    ]
    try:
        from tokscope.pricing import table_path, user_overrides_path

        watched += [table_path(), user_overrides_path()]
    except Exception:  # pricing not installed or its files unreadable: the key just misses more often
        parts.append("pricing unknown")
    if shared is not None and shared.is_dir():
        try:
            watched += sorted(d / "manifest.json" for d in shared.iterdir() if d.is_dir())
        except OSError:
            parts.append("shared unreadable")
    for path in watched:
        try:
            st = path.stat()
            parts.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append((str(path), None))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def save_view_cache(key: str, loaded: Loaded, view: View) -> None:
    """Keep ``view`` so the next start can paint it at once (best effort, never raises)."""
    import json

    from tokscope.fsutil import atomic_write

    if view.state.tab not in _CACHEABLE:
        return
    try:
        data = {
            "version": CACHE_VERSION,
            "key": key,
            "device_id": loaded.device_id,
            "device_name": loaded.device_name,
            "names": loaded.names,
            "clients": loaded.clients,
            "device_ids": loaded.device_ids,
            "priced": loaded.priced,
            "events": loaded.size(),
            "updated": loaded.updated.isoformat(),
            "devices": [{k: v for k, v in d.items() if k != "public_key"} for d in loaded.devices],
            "notes": loaded.notes,
            "by": view.by,
            "rows": view.rows.to_dicts(),
            "row_count": view.row_count,
            "totals": view.totals,
            "sessions": view.sessions,
            "top_model": view.top_model,
            "cache_hit": view.cache_hit,
            "since": view.since.isoformat() if view.since else None,
            "until": view.until.isoformat() if view.until else None,
        }
        atomic_write(view_cache_path(), json.dumps(data, default=str).encode())
    except Exception:  # a cache must never break the app
        return


def load_view_cache(key: str, state: ViewState) -> tuple[Loaded, View] | None:
    """The cached start-up view if it was made from exactly the data there is now."""
    import json

    try:
        data = json.loads(view_cache_path().read_bytes())
        if data.get("version") != CACHE_VERSION or data.get("key") != key:
            return None
        loaded = Loaded(
            events=pl.DataFrame(),
            device_id=data["device_id"],
            device_name=data["device_name"],
            devices=data["devices"],
            notes=data["notes"],
            names=data["names"],
            clients=data["clients"],
            device_ids=data["device_ids"],
            priced=data["priced"],
            updated=datetime.fromisoformat(data["updated"]),
            cached=True,
            event_count=int(data["events"]),
        )
        view = View(
            state=state,
            by=data["by"],
            rows=pl.DataFrame(data["rows"], infer_schema_length=None) if data["rows"] else pl.DataFrame(),
            totals=data["totals"],
            sessions=int(data["sessions"]),
            top_model=data["top_model"],
            cache_hit=data["cache_hit"],
            since=date.fromisoformat(data["since"]) if data["since"] else None,
            until=date.fromisoformat(data["until"]) if data["until"] else None,
            daily=[],
            devices=[],
            row_count=int(data["row_count"]),
        )
        return loaded, view
    except Exception:  # missing, stale or damaged: compute instead
        return None


# --- export / trust hooks (devices feature) ----------------------------------------


def export_function() -> Callable[..., Any] | None:
    """The devices feature's ``snapshot.export(shared, *, ledger)``, if it is installed."""
    try:
        from tokscope.snapshot import export
    except ImportError:
        return None
    return export


def trust_function() -> Callable[[str, str, str], Any] | None:
    """The devices feature's ``pin(device_id, name, public_key)``, if it is installed in this tree."""
    try:
        from tokscope import trust  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(trust, "pin", None)
    return fn if callable(fn) else None


# --- the app -------------------------------------------------------------------------


class TokscopeApp(App):
    """tokscope's terminal UI."""

    CSS_PATH = Path(__file__).parent / "tokscope.tcss"
    TITLE = "tokscope"
    COMMANDS = App.COMMANDS | {TokscopeProvider}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit tokscope"),
        Binding("question_mark", "keys", "Keys", key_display="?", id="keys", tooltip="Show every key"),
        Binding("r", "rescan", "Scan", id="rescan", tooltip="Scan the agent logs now"),
        Binding("e", "export", "Export", id="export", tooltip="Export this device's snapshot now"),
    ]

    def __init__(
        self,
        settings: Config | None = None,
        *,
        ledger: Ledger | None = None,
        shared: Path | None = None,
        readers: list[Any] | None = None,
        clock: Clock = utc_now,
        tz: str | None = None,
        live: bool = True,
        scan_on_start: bool = True,
        tick: Callable[[], Any] | None = None,
        tick_interval: float = 4.0,
        state: ViewState | None = None,
        banner: str = "",
        prefetch: bool = True,
        use_cache: bool = True,
    ) -> None:
        super().__init__()
        from tokscope import config as config_mod
        from tokscope.timezone import local_tz

        self.settings = settings or config_mod.load()
        self.ledger = ledger or Ledger()
        self.shared = shared if shared is not None else self.settings.shared_folder
        self.readers = readers
        self.clock = clock
        self.tz = tz or self.settings.timezone or local_tz()
        self.live = live
        self.scan_on_start = scan_on_start
        self.tick = tick
        self.tick_interval = tick_interval
        self.banner = banner
        """Shown in the header (``demo``)."""
        self.state = state or ViewState()
        """What the user chose to see."""
        self.loaded: Loaded | None = None
        """The data, once loaded."""
        self.view: View | None = None
        """What the screen shows."""
        self.watcher: Any = None
        self.busy = False
        """A scan/load is running."""
        self.announce_busy = True
        """Say "scanning…" in the header (the first load, ``r``; not every live update: no flicker)."""
        self._pending_scan: bool | None = None
        """A refresh asked for while one ran (True: with a scan)."""
        self._pending_full = False
        self._base: Loaded | None = None
        """The newest data a load worker produced (workers run one at a time)."""
        self._generation = 0
        self._export_timer: Timer | None = None
        self.export_busy = False
        self._export_announce = False
        self.last_export: str | None = None
        self.timings: dict[str, float] = {"start": time.perf_counter()}
        """perf_counter marks (start, loaded, shown …) for the benchmark."""
        self._initial_state = self.state
        self.use_cache = use_cache
        """Paint the last start-up view at once when the data has not changed since."""
        self._cache_key: str | None = None
        self._prefetch: Future[Loaded] | None = None
        if use_cache and self.state.tab in _CACHEABLE:
            self._cache_key = data_key(self.ledger, self.shared, self.state, self.today(), self.tz)
        if prefetch:
            # start reading the ledger now, in parallel with Textual's start-up (first paint sooner)
            executor = ThreadPoolExecutor(1, thread_name_prefix="tokscope-prefetch")
            self._prefetch = executor.submit(self._load, 1, [])
            executor.shutdown(wait=False)
        keys = self.settings.extra.get("keys") if isinstance(self.settings.extra, dict) else None
        if isinstance(keys, dict):
            self.set_keymap({str(k): str(v) for k, v in keys.items()})

    # --- screens ---------------------------------------------------------------------

    def get_default_screen(self) -> Any:
        """The main screen."""
        from tokscope.screens import MainScreen

        return MainScreen()

    @property
    def main(self) -> Any:
        """The main screen."""
        from tokscope.screens import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("no main screen")

    def on_ready(self) -> None:
        """Paint the cached start-up view, start the first load, then the watcher."""
        self.timings["ready"] = time.perf_counter()
        if self._cache_key is not None:
            hit = load_view_cache(self._cache_key, self.state)
            if hit is not None:
                self.loaded, view = hit
                self._show(view)
                self.timings["cached"] = time.perf_counter()
        self.request_refresh(scan=self.scan_on_start)
        if self.live:
            self.start_watcher()
        if self.tick is not None:
            self.set_interval(self.tick_interval, self._tick)

    def on_unmount(self) -> None:
        """Stop the watcher thread."""
        if self.watcher is not None:
            self.watcher.stop()

    # --- live ------------------------------------------------------------------------

    def start_watcher(self) -> None:
        """Watch every reader's roots and the shared folder."""
        from tokscope.readers import all_readers
        from tokscope.watch import SourceWatcher

        roots: list[Path] = []
        for reader in self.readers if self.readers is not None else all_readers():
            roots.extend(reader.roots())
        from tokscope.identity import load_device

        # our own exports land in <shared>/<our id>: not news to us
        ignore = [self.shared / load_device().id] if self.shared else []
        self.watcher = SourceWatcher(roots, self.shared, self._notify_change, ignore=ignore)
        self.watcher.start()

    @property
    def device_id(self) -> str | None:
        """This device's id (known once loaded)."""
        return self.loaded.device_id if self.loaded else None

    def _notify_change(self, path: str, shared: bool) -> None:
        """Called in the watchdog thread: post a coalescing message."""
        self.post_message(SourcesChanged(path, shared))

    @on(SourcesChanged)
    def _sources_changed(self, message: SourcesChanged) -> None:
        # another device's snapshot: merge again; an agent's log: scan, then apply the new deltas
        self.request_refresh(scan=not message.shared, full=message.shared)

    def _tick(self) -> None:
        if self.tick is not None:
            self.tick()

    # --- loading -----------------------------------------------------------------------

    def request_refresh(self, scan: bool = True, full: bool = False) -> None:
        """Scan (optionally) and reload (``full``: re-merge everything); while one runs, queue one more."""
        if self.busy:
            self._pending_scan = bool(self._pending_scan) or scan
            self._pending_full = self._pending_full or full
            return
        self.busy = True
        self._generation += 1
        self._refresh_status()
        self._load_worker(scan, self.loaded is None or self.loaded.cached, self._generation, full)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="scan and load")
    def _load_worker(self, scan: bool, first: bool, generation: int, full: bool = False) -> None:
        """Scan, load (or apply the new ledger deltas), compute the view; post each stage's result."""
        worker = get_current_worker()
        errors: list[str] = []
        if first:
            # paint what the ledger holds before scanning anything (loaded while Textual started)
            key = self._cache_key
            self._base = self._prefetched(generation, errors)
            if worker.is_cancelled:
                return
            view = self._compute(self._base)
            self.post_message(UsageLoaded((self._base, view, 0)))
            if self.use_cache and key is not None and view.state == self._initial_state:
                save_view_cache(key, self._base, view)
        new_events = 0
        if scan:
            from tokscope.scan import scan as run_scan

            summary = run_scan(ledger=self.ledger, readers=self.readers)
            errors = summary.errors
            new_events = summary.new_events
        loaded: Loaded | None = None
        key = self._data_key()
        if not full and self._base is not None:
            try:
                loaded = apply_new_segments(self._base, self.ledger, self.clock, generation)
            except Exception:  # a compaction raced us, a file vanished …: read everything again
                loaded = None
            if loaded is not None and loaded.segments == self._base.segments and not errors:
                self._base = loaded
                return  # nothing changed: nothing to repaint
        if loaded is None:
            loaded = self._load(generation, errors)
        loaded.scan_errors = errors
        self._base = loaded
        if worker.is_cancelled:
            return
        view = self._compute(loaded)
        self.post_message(UsageLoaded((loaded, view, new_events)))
        if key is not None and view.state == self._initial_state:
            save_view_cache(key, loaded, view)

    def _data_key(self) -> str | None:
        """The cache key of the data as it is now (None: no caching)."""
        if not self.use_cache or self._initial_state.tab not in _CACHEABLE:
            return None
        return data_key(self.ledger, self.shared, self._initial_state, self.today(), self.tz)

    def _prefetched(self, generation: int, errors: list[str]) -> Loaded:
        """The load started in ``__init__`` if it is for this generation, else a fresh one."""
        future, self._prefetch = self._prefetch, None
        if future is not None and generation == 1:
            try:
                return future.result()
            except Exception:  # the worker's own load will report it
                pass
        return self._load(generation, errors)

    def _load(self, generation: int, errors: list[str]) -> Loaded:
        loaded = load(
            self.settings,
            ledger=self.ledger,
            shared=self.shared,
            clock=self.clock,
            generation=generation,
        )
        loaded.scan_errors = errors
        return loaded

    def today(self) -> date:
        """Today in the app's timezone (from the injected clock)."""
        return today_in(self.tz, self.clock())

    def _compute(self, loaded: Loaded, state: ViewState | None = None) -> View:
        return compute_view(loaded, state or self.state, self.today(), self.tz)

    @on(UsageLoaded)
    def _usage_loaded(self, message: UsageLoaded) -> None:
        loaded, view, new_events = message.data
        first = self.loaded is None or self.loaded.cached
        if new_events:
            self.schedule_export()
        self.loaded = loaded
        if first:
            self.timings["loaded"] = time.perf_counter()
        if view.state == self.state:
            self._show(view)
        else:
            self.recompute()
        if loaded.scan_errors:
            self.notify("\n".join(loaded.scan_errors[:3]), title="Scan problems", severity="warning")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "load" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self.busy = False
            if event.state == WorkerState.ERROR:
                self.notify(f"{type(worker.error).__name__}: {worker.error}", title="Loading failed", severity="error")
            pending, self._pending_scan = self._pending_scan, None
            full, self._pending_full = self._pending_full, False
            if pending is not None:
                self.request_refresh(scan=pending, full=full)
            else:
                self.announce_busy = False
                self._refresh_status()
        elif worker.group == "view" and event.state == WorkerState.ERROR:
            self.notify(f"{type(worker.error).__name__}: {worker.error}", title="View failed", severity="error")
        elif worker.group == "export" and event.state == WorkerState.ERROR:
            self.export_busy = False
            self.notify(f"{type(worker.error).__name__}: {worker.error}", title="Export failed", severity="error")

    # --- view ----------------------------------------------------------------------------

    def set_state(self, **changes: Any) -> None:
        """Change what is shown and recompute the view in a worker."""
        new = replace(self.state, **changes)
        if new == self.state:
            return
        self.state = new
        self.recompute()

    def recompute(self) -> None:
        """Recompute the view for the current state (no rescan; waits for real data)."""
        if self.loaded is not None and not self.loaded.cached:
            self._view_worker(self.loaded, self.state)

    @work(thread=True, exclusive=True, exit_on_error=False, group="view", description="compute view")
    def _view_worker(self, loaded: Loaded, state: ViewState) -> None:
        view = self._compute(loaded, state)
        if not get_current_worker().is_cancelled:
            self.post_message(ViewReady(view))

    @on(ViewReady)
    def _view_ready(self, message: ViewReady) -> None:
        view = message.view
        if view.state == self.state and self.loaded is not None and view.generation == self.loaded.generation:
            self._show(view)

    def _show(self, view: View) -> None:
        self.view = view
        self.main.show_view(view)
        self.timings.setdefault("shown", time.perf_counter())
        self.timings["updated"] = time.perf_counter()

    def _refresh_status(self) -> None:
        with contextlib.suppress(LookupError):
            self.main.refresh_status()

    # --- actions -----------------------------------------------------------------------

    def action_rescan(self) -> None:
        """Scan the agent logs now."""
        self.announce_busy = True
        self.request_refresh(scan=True, full=True)

    def action_keys(self) -> None:
        """Show the keys help."""
        from tokscope.screens import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.active_bindings))

    def action_export(self) -> None:
        """Export this device's snapshot to the shared folder now."""
        self.export_now()

    def export_now(self, quiet: bool = False) -> bool:
        """Start an export; False (and a notice) when it cannot run."""
        if self._export_timer is not None:
            self._export_timer.stop()
            self._export_timer = None
        fn = export_function()
        if fn is None:
            if not quiet:
                self.notify("Exporting needs the devices feature (tokscope.snapshot).", severity="warning")
            return False
        if self.shared is None:
            if not quiet:
                self.notify("No shared folder configured (shared_folder in config.toml).", severity="warning")
            return False
        if not self.shared.is_dir():
            if not quiet:
                self.notify(f"The shared folder {self.shared} does not exist.", severity="warning")
            return False
        if self.export_busy:
            return True
        self.export_busy = True
        self._export_announce = not quiet
        self._export_worker(fn)
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", description="export snapshot")
    def _export_worker(self, fn: Callable[..., Any]) -> None:
        result = call_export(fn, self.settings, self.ledger, self.shared)
        if getattr(result, "unchanged", False):
            detail = "Nothing new to export: the snapshot is up to date."
        else:
            detail = f"Exported {getattr(result, 'rows', 0):,} events to {getattr(result, 'folder', self.shared)}."
        self.post_message(ExportFinished(True, detail))

    @on(ExportFinished)
    def _export_finished(self, message: ExportFinished) -> None:
        self.export_busy = False
        if self._export_announce:
            self.notify(message.detail, timeout=4)
        now = self.clock()
        self.last_export = now.astimezone(ZoneInfo(self.tz)).strftime("%H:%M:%S")
        if self.loaded is not None:  # the Devices tab shows this device's last export
            for entry in self.loaded.devices:
                if entry.get("id") == self.loaded.device_id:
                    entry["last_export"] = now.isoformat(timespec="seconds")
            if self.state.tab == "devices":
                self.recompute()
        self._refresh_status()

    def schedule_export(self) -> None:
        """Export after ``export_debounce`` seconds without further changes."""
        if self.shared is None or export_function() is None:
            return
        if self._export_timer is not None:
            self._export_timer.stop()
        self._export_timer = self.set_timer(self.settings.export_debounce, lambda: self.export_now(quiet=True))


def call_export(fn: Callable[..., Any], settings: Config, ledger: Ledger, shared: Path | None) -> Any:
    """Export this device's ledger to ``shared`` (``settings`` is for exporters that want it)."""
    return fn(shared, ledger=ledger)


def make_app(
    settings: Config | None = None,
    *,
    ledger: Ledger | None = None,
    shared: Path | None = None,
    clock: Clock = utc_now,
    tz: str | None = None,
    live: bool = True,
    scan_on_start: bool = True,
    readers: list[Any] | None = None,
    tick: Callable[[], Any] | None = None,
    tick_interval: float = 4.0,
    state: ViewState | None = None,
    banner: str = "",
) -> TokscopeApp:
    """Build the app (the CLI, the demo, the tests and the screenshot script share this)."""
    return TokscopeApp(
        settings,
        ledger=ledger,
        shared=shared,
        clock=clock,
        tz=tz,
        live=live,
        scan_on_start=scan_on_start,
        readers=readers,
        tick=tick,
        tick_interval=tick_interval,
        state=state,
        banner=banner,
    )


def run_app() -> int:
    """``tokscope`` without a command: run the TUI; the exit status."""
    make_app().run()
    _exit_if_threads_linger()
    return 0


def _exit_if_threads_linger() -> None:
    """Quit now even if a scan thread is still reading (a first scan of gigabytes can take a minute).

    Python would wait for the thread at exit (textual#3966). Leaving is safe: the ledger and
    the snapshot are written as temp file + rename, and the file locks die with the process.
    """
    import os
    import sys
    import threading

    lingering = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if any(not t.daemon for t in lingering):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
