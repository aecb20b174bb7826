"""Getting the events into memory for the TUI: the full load (``load_usage`` -> the view
columns), the cheap live update (``apply_new_segments``), the first-paint view cache and
the start-up prefetch.

The prefetch exists because a cold start is mostly waiting: importing Textual and
building the screen take about as long as reading a million-event ledger, so the CLI
starts the load in a thread first (``start_prefetch``) and the app picks it up
(``take_prefetch``). Nothing here imports Textual.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tokscope.config import Config
from tokscope.ledger import Ledger
from tokscope.sync.location import S3Location, s3_cache_dir
from tokscope.tui.tabs import all_tabs
from tokscope.tui.view import VIEW_COLUMNS, Clock, Loaded, View, ViewState, utc_now


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
    shared: Path | S3Location | None = None,
    clock: Clock = utc_now,
    generation: int = 0,
) -> Loaded:
    """Load the merged, priced events (``load_usage``) into memory (the columns the views use)."""
    from tokscope.sync.merge import DeviceState
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
                "status": DeviceState.THIS_DEVICE,
                "reason": None,
            },
        )
    names = {str(d["id"]): str(d["name"] or d["id"]) for d in devices if d["id"]}
    readings, reading_names = _readings(ledger, shared if shared is not None else settings.shared_folder)
    names = {**reading_names, **names}
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
        energy=settings.extra.get("energy") is True,
        readings=readings,
        plans=usage.plans,
        account_rules=usage.account_rules,
    )


def _readings(ledger: Ledger, shared: Path | S3Location | None) -> tuple[list[Any], dict[str, str]]:
    """The official limit readings (``tokscope.quota``); a damaged store or folder costs only them."""
    from tokscope import quota

    try:
        return quota.gather(shared, root=ledger.root, from_config=False)
    except Exception:
        return [], {}


def _fresh_readings(loaded: Loaded, ledger: Ledger) -> list[Any]:
    """``loaded``'s readings with this device's re-read (a scan may have added some)."""
    from tokscope import quota

    try:
        return [*quota.load(ledger.root), *(r for r in loaded.readings if r.device)]
    except Exception:
        return loaded.readings


def ledger_segments(ledger: Ledger, verify: bool = True) -> tuple[str, ...]:
    """The names of the ledger's live, intact segment files now (see ``tokscope.ledger``);
    ``verify=False`` skips their digests (for a cache key: nothing is read)."""
    return tuple(sorted(p.name for p in ledger.segments(verify)))


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
        return replace(loaded, segments=segments, readings=_fresh_readings(loaded, ledger))
    touched = pl.concat([ledger.scan_segment(ledger.events_dir / name).select(KEY) for name in new]).unique().collect()
    fresh = (
        _rows_for_keys(ledger, segments, touched)
        .with_columns(device_id=pl.lit(loaded.device_id, pl.Categorical()))
        .select(list(EVENT_SCHEMA))
    )
    if loaded.priced:
        from tokscope.pricing import apply_pricing
        from tokscope.usage import accounts_and_kinds

        fresh, _notes = apply_pricing(fresh)
        fresh = accounts_and_kinds(fresh, loaded.account_rules, loaded.plans, loaded.names)
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
        readings=_fresh_readings(loaded, ledger),
    )


def _rows_for_keys(ledger: Ledger, segments: tuple[str, ...], keys: pl.DataFrame) -> pl.LazyFrame:
    """The ledger's winning row for each of ``keys``: the rows of the current base and its deltas
    with those keys, in write order, de-duplicated as the ledger does (``Ledger.lazy`` would re-join
    the whole base)."""
    from tokscope.events import LEDGER_SCHEMA
    from tokscope.ledger import KEY, current, dedupe

    wanted = keys.get_column("event_key").unique()
    parts = [
        ledger.scan_segment(ledger.events_dir / name)
        .filter(pl.col("event_key").is_in(wanted.implode()))
        .join(keys.lazy(), on=KEY, how="semi")
        for name in current(segments)
    ]
    if not parts:
        return LEDGER_SCHEMA.to_frame().lazy()
    return dedupe(pl.concat(parts))


# --- first-paint cache -------------------------------------------------------------

CACHE_VERSION = 1
#: Tabs whose view the cache keeps (plain rows, no chart or device table).
CACHEABLE = tuple(t.key for t in all_tabs() if t.cacheable)


def view_cache_path() -> Path:
    """Where the last start-up view is kept (rebuildable; the cache dir)."""
    from tokscope import paths

    return paths.cache_dir() / "tui-view.json"


def data_key(ledger: Ledger, shared: Path | S3Location | None, state: ViewState, today: date, tz: str) -> str:
    """What the start-up view depends on: the ledger's segments, the shared folder's manifests,
    the view state, the day and the timezone (and the price overrides file)."""
    import hashlib

    from tokscope import paths

    parts: list[Any] = [CACHE_VERSION, repr(state), today.isoformat(), tz]
    for name in ledger_segments(ledger, verify=False):
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
    except (ImportError, OSError):  # pricing not installed or its files unreadable: the key just misses more often
        parts.append("pricing unknown")
    if isinstance(shared, S3Location):  # what the last listing of the bucket saw
        watched.append(s3_cache_dir(shared) / "index.json")
    elif shared is not None and shared.is_dir():
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

    if view.state.tab not in CACHEABLE:
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
            "plans": view.plans,
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
            plans=list(data.get("plans") or []),
        )
        return loaded, view
    except Exception:  # missing, stale or damaged: compute instead
        return None


# --- start-up prefetch ---------------------------------------------------------------


@dataclass
class First:
    """The first load and the view of the start-up state, computed off the UI thread."""

    loaded: Loaded
    view: View
    tz: str
    today: date


@dataclass
class Prefetch:
    """A first load running in a thread, and what it was started with."""

    settings: Config
    future: Future[First]


_early: Prefetch | None = None
"""The prefetch the CLI started before importing Textual, until the app takes it."""


def prefetch_first(
    settings: Config,
    *,
    ledger: Ledger | None = None,
    shared: Path | S3Location | None = None,
    clock: Clock = utc_now,
    tz: str | None = None,
    state: ViewState | None = None,
) -> Prefetch:
    """Start loading the data and computing the view of ``state`` in a daemon thread, now.

    Daemon: quitting must not wait for a load nobody will see. Errors land in the future.
    """
    future: Future[First] = Future()

    def run() -> None:
        try:
            from tokscope.query import today_in
            from tokscope.timezone import local_tz
            from tokscope.tui.view import compute_view

            zone = tz or settings.timezone or local_tz()
            loaded = load(settings, ledger=ledger, shared=shared, clock=clock, generation=1)
            today = today_in(zone, clock())
            future.set_result(First(loaded, compute_view(loaded, state or ViewState(), today, zone), zone, today))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="tokscope-prefetch", daemon=True).start()
    return Prefetch(settings, future)


def start_prefetch() -> None:
    """Start the default first load (the user's config, ledger and shared folder) before the app exists.

    The CLI calls this before importing Textual so reading the ledger overlaps the import and
    the screen set-up; ``take_prefetch`` hands it to the app. A config that does not load is
    left to the app to report.
    """
    global _early
    from tokscope import config as config_mod

    try:
        settings = config_mod.load()
    except Exception:
        return
    _early = prefetch_first(settings, shared=settings.shared_folder)


def take_prefetch() -> Prefetch | None:
    """The prefetch ``start_prefetch`` started, once (None if there is none)."""
    global _early
    early, _early = _early, None
    return early
