"""The Textual app: live usage tables by client, model, workspace, session, device and day.

Coordination only: the App runs the data pipeline (scan -> ``tokscope.tui.loading`` ->
``tokscope.tui.view``) in thread workers, owns the file watcher and the auto-export
timer; the ``MainScreen`` (``tokscope/screens.py``) renders. Loading and views are
Textual-free, so the CLI starts the first load before Textual is imported.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

import polars as pl
from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from tokscope.config import Config
from tokscope.ledger import Ledger
from tokscope.query import today_in
from tokscope.sync.location import S3Location
from tokscope.tui.commands import TokscopeProvider
from tokscope.tui.loading import (
    CACHEABLE,
    First,
    Prefetch,
    apply_new_segments,
    data_key,
    load,
    load_view_cache,
    prefetch_first,
    save_view_cache,
    take_prefetch,
)
from tokscope.tui.messages import AlertsReady, ExportFinished, SourcesChanged, UsageLoaded, ViewReady
from tokscope.tui.prefs import load_prefs, save_pref
from tokscope.tui.tabs import tab as tab_spec
from tokscope.tui.view import Clock, Loaded, View, ViewState, compute_view, utc_now

if TYPE_CHECKING:
    from tokscope.alerts import Delivery
    from tokscope.readers import ReaderChoice

#: Seconds before a failing or pending alert delivery is tried again while the TUI is open.
ALERT_RETRY = 30.0

# --- export / trust hooks (devices feature) ----------------------------------------


def export_function() -> Callable[..., Any] | None:
    """The devices feature's ``snapshot.export(shared, *, ledger)``, if it is installed."""
    try:
        from tokscope.sync.snapshot import export
    except ImportError:
        return None
    return export


def trust_function() -> Callable[[str, str, str], Any] | None:
    """The devices feature's ``pin(device_id, name, public_key)``, if it is installed in this tree."""
    try:
        from tokscope.sync import trust  # type: ignore[attr-defined]
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
        shared: Path | S3Location | None = None,
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
        deliver: bool = True,
    ) -> None:
        super().__init__()
        from tokscope import config as config_mod
        from tokscope.timezone import local_tz

        early = None
        if prefetch and settings is None and ledger is None and shared is None and clock is utc_now:
            early = take_prefetch()  # the CLI's (see ``tokscope.tui.loading``): same data, already reading
        self.settings = early.settings if early else settings or config_mod.load()
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
        self._unmounted = False
        self.timings: dict[str, float] = {"start": time.perf_counter()}
        """perf_counter marks (start, loaded, shown …) for the benchmark."""
        self._initial_state = self.state
        self.deliver = deliver
        """Deliver alerts (webhooks, desktop) when this device is the sender; False: record and show only."""
        self.alerts: list[Delivery] | None = None
        """The current and undelivered alerts (None until the first evaluation)."""
        self.alerts_sender = False
        self._alert_timer: Timer | None = None
        self.use_cache = use_cache
        """Paint the last start-up view at once when the data has not changed since."""
        self._cache_key: str | None = None
        self._prefetch: Prefetch | None = early
        if use_cache and self.state.tab in CACHEABLE:
            self._cache_key = data_key(self.ledger, self.shared, self.state, self.today(), self.tz)
        if prefetch and early is None:
            # start reading the ledger now, in parallel with Textual's start-up (first paint sooner)
            self._prefetch = prefetch_first(
                self.settings, ledger=self.ledger, shared=self.shared, clock=clock, tz=self.tz, state=self.state
            )
        saved_theme = load_prefs().get("theme")
        if saved_theme and saved_theme in self.available_themes:
            self.theme = saved_theme
        self._theme_ready = True
        keys = self.settings.extra.get("keys")
        if isinstance(keys, dict):
            self.set_keymap({str(k): str(v) for k, v in keys.items()})

    def watch_theme(self, theme: str) -> None:
        """Remember a theme the user picks (ctrl+p → theme) for the next start, off the UI thread."""
        if getattr(self, "_theme_ready", False) and self.is_running:
            self.run_worker(partial(save_pref, "theme", theme), thread=True, group="prefs", description="save theme")

    # --- screens ---------------------------------------------------------------------

    def get_default_screen(self) -> Any:
        """The main screen."""
        from tokscope.tui.screens import MainScreen

        return MainScreen()

    @property
    def main(self) -> Any:
        """The main screen."""
        from tokscope.tui.screens import MainScreen

        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("no main screen")

    def on_ready(self) -> None:
        """Paint the cached start-up view, start the first load (which starts the watcher)."""
        self.timings["ready"] = time.perf_counter()
        if self.settings.errors:
            self.notify("\n".join(self.settings.errors[:3]), title="Config problems", severity="warning", timeout=10)
        if self._cache_key is not None:
            hit = load_view_cache(self._cache_key, self.state)
            if hit is not None:
                self.loaded, view = hit
                self._show(view)
                self.timings["cached"] = time.perf_counter()
        self.request_refresh(scan=self.scan_on_start)
        if self.tick is not None:
            self.set_interval(self.tick_interval, self._tick)

    def on_unmount(self) -> None:
        """Stop the watcher thread."""
        self._unmounted = True
        if self.watcher is not None:
            self.watcher.stop()

    # --- live ------------------------------------------------------------------------

    def scan_readers(self) -> ReaderChoice:
        """The readers this app scans and watches: those it was given, else the ``readers`` setting's."""
        from tokscope.readers import ReaderChoice, choose_readers

        if self.readers is not None:
            return ReaderChoice(tuple(self.readers))
        return choose_readers(self.settings.readers)

    def start_watcher(self) -> None:
        """Watch every reader's roots and the shared folder (in the first load worker: importing
        every reader and watchdog takes 0.1 s the screen should not wait for)."""
        from tokscope.watch import SourceWatcher

        roots: list[Path] = []
        for reader in self.scan_readers().readers:
            roots.extend(reader.roots())
        from tokscope.sync.identity import load_device

        # our own exports land in <shared>/<our id>: not news to us
        # a bucket is not watched: it is listed on a full refresh (r)
        folder = self.shared if isinstance(self.shared, Path) else None
        ignore = [folder / load_device().id] if folder else []
        watcher = SourceWatcher(roots, folder, self._notify_change, ignore=ignore)
        watcher.start()
        self.watcher = watcher
        if self._unmounted:  # the app quit while we set up
            watcher.stop()

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
            try:
                # paint what the ledger holds before scanning anything (loaded while Textual started)
                key = self._cache_key
                self._base, view = self._prefetched(generation, errors)
                if worker.is_cancelled:
                    return
                self.post_message(UsageLoaded(self._base, view))
                if self.use_cache and key is not None and view.state == self._initial_state:
                    save_view_cache(key, self._base, view)
            finally:
                if self.live and self.watcher is None:
                    self.start_watcher()  # before the scan: no append is missed between the two
        new_events = 0
        if scan:
            from tokscope.scan import scan as run_scan

            choice = self.scan_readers()
            summary = run_scan(ledger=self.ledger, readers=choice.readers)
            errors = [*choice.problems, *summary.errors]
            new_events = summary.new_events
        loaded: Loaded | None = None
        key = self._data_key()
        if not full and self._base is not None:
            try:
                loaded = apply_new_segments(self._base, self.ledger, self.clock, generation)
            except (OSError, pl.exceptions.PolarsError):  # a compaction raced us, a file vanished: read all again
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
        self.post_message(UsageLoaded(loaded, view, new_events))
        if key is not None and view.state == self._initial_state:
            save_view_cache(key, loaded, view)

    def _data_key(self) -> str | None:
        """The cache key of the data as it is now (None: no caching)."""
        if not self.use_cache or self._initial_state.tab not in CACHEABLE:
            return None
        return data_key(self.ledger, self.shared, self._initial_state, self.today(), self.tz)

    def _prefetched(self, generation: int, errors: list[str]) -> tuple[Loaded, View]:
        """The prefetched load and view if they are for this generation and state, else fresh ones."""
        started, self._prefetch = self._prefetch, None
        first: First | None = None
        if started is not None and generation == 1:
            with contextlib.suppress(Exception):  # the load below reports it
                first = started.future.result()
        if first is None:
            loaded = self._load(generation, errors)
            return loaded, self._compute(loaded)
        first.loaded.scan_errors = errors
        if first.view.state == self.state and first.tz == self.tz and first.today == self.today():
            return first.loaded, first.view
        return first.loaded, self._compute(first.loaded)

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
        loaded, view, new_events = message.loaded, message.view, message.new_events
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
        if not loaded.cached:
            self._alerts_worker(loaded)
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
        elif event.state == WorkerState.ERROR:  # any other worker (view, export, session turns, trust)
            if worker.group == "export":
                self.export_busy = False
            title = f"{(worker.description or worker.group).capitalize()} failed"
            self.notify(f"{type(worker.error).__name__}: {worker.error}", title=title, severity="error")

    # --- alerts ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="alerts", description="check alerts")
    def _alerts_worker(self, loaded: Loaded) -> None:
        """Evaluate the budgets and anomalies of ``loaded``, record them in the delivery log and, if
        this device is the sender, deliver what is due (``tokscope.alerts``: its lock makes each
        delivery happen once across processes)."""
        import polars as pl

        from tokscope import alerts
        from tokscope.sync.merge import DeviceState

        now = self.clock()
        events = loaded.events.lazy()
        if "cost" not in loaded.events.columns:  # no price table: USD budgets see nothing priced
            events = events.with_columns(cost=pl.lit(None, pl.Float64))
        found = alerts.evaluate(self.settings, events, loaded.names, now, self.tz)
        merged = [
            alerts.Candidate(str(d["id"]), d["last_export"] if isinstance(d.get("last_export"), str) else None)
            for d in loaded.devices
            if d.get("status") == DeviceState.MERGED and d.get("id")
        ]
        sends = self.deliver and alerts.choose_sender(loaded.device_id, merged, now) == loaded.device_id
        deliveries = alerts.process(
            found.alerts, found.settings, loaded.device_id, sends, clock=lambda: self.clock().timestamp()
        )
        if not get_current_worker().is_cancelled:
            self.post_message(AlertsReady(deliveries, found.notes, sends))

    @on(AlertsReady)
    def _alerts_ready(self, message: AlertsReady) -> None:
        before = self.alerts
        self.alerts = message.deliveries
        self.alerts_sender = message.sends
        if before is not None:  # not at start: the badge says how many there are
            seen = {d.alert.key for d in before}
            for d in message.deliveries:
                if d.alert.key not in seen and d.acknowledged is None:
                    self.notify(d.alert.title, title="New alert", severity="warning", timeout=8)
        if self._alert_timer is not None:
            self._alert_timer.stop()
            self._alert_timer = None
        if message.sends and any(d.state in ("failed", "pending") for d in message.deliveries):
            self._alert_timer = self.set_timer(ALERT_RETRY, self._retry_alerts)
        with contextlib.suppress(LookupError, NoMatches):
            self.main.show_alerts()

    def _retry_alerts(self) -> None:
        self._alert_timer = None
        if self.loaded is not None and not self.loaded.cached:
            self._alerts_worker(self.loaded)

    def acknowledge(self, keys: list[str]) -> None:
        """Mark ``keys`` acknowledged (the log is written in a worker); the badge counts the others."""
        if keys:
            self.run_worker(
                partial(self._ack_worker, keys),
                thread=True,
                exit_on_error=False,
                group="ack",
                description="acknowledge",
            )

    def _ack_worker(self, keys: list[str]) -> None:
        from tokscope import alerts
        from tokscope.format import iso_utc

        alerts.acknowledge(keys, clock=lambda: self.clock().timestamp())
        self.call_from_thread(self._acknowledged, set(keys), iso_utc(self.clock().replace(microsecond=0)))

    def _acknowledged(self, keys: set[str], when: str) -> None:
        if self.alerts is not None:
            self.alerts = [
                replace(d, acknowledged=d.acknowledged or when) if d.alert.key in keys else d for d in self.alerts
            ]
        n = len(keys)
        self.notify(f"Acknowledged {n} alert{'s' if n > 1 else ''}.", timeout=3)
        with contextlib.suppress(LookupError, NoMatches):
            self.main.show_alerts()

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
        try:
            self.main.show_view(view)
        except (LookupError, NoMatches):  # shutting down, see _refresh_status
            return
        self.timings.setdefault("shown", time.perf_counter())
        self.timings["updated"] = time.perf_counter()

    def _refresh_status(self) -> None:
        # a worker may finish while the app shuts down and the widgets are already gone
        with contextlib.suppress(LookupError, NoMatches):
            self.main.refresh_status()

    # --- actions -----------------------------------------------------------------------

    def action_rescan(self) -> None:
        """Scan the agent logs now."""
        self.announce_busy = True
        self.request_refresh(scan=True, full=True)

    def action_keys(self) -> None:
        """Show the keys help."""
        from tokscope.tui.screens import HelpScreen

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
                self.notify("Exporting needs the devices feature (tokscope.sync.snapshot).", severity="warning")
            return False
        if self.shared is None:
            if not quiet:
                self.notify("No shared folder configured (shared_folder in config.toml).", severity="warning")
            return False
        if isinstance(self.shared, Path) and not self.shared.is_dir():
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
            if tab_spec(self.state.tab).device_table:
                self.recompute()
        self._refresh_status()

    def schedule_export(self) -> None:
        """Export after ``export_debounce`` seconds without further changes."""
        if self.shared is None or export_function() is None:
            return
        if self._export_timer is not None:
            self._export_timer.stop()
        self._export_timer = self.set_timer(self.settings.export_debounce, lambda: self.export_now(quiet=True))


def call_export(fn: Callable[..., Any], settings: Config, ledger: Ledger, shared: Path | S3Location | None) -> Any:
    """Export this device's ledger to ``shared`` (``settings`` is for exporters that want it)."""
    return fn(shared, ledger=ledger)


def make_app(
    settings: Config | None = None,
    *,
    ledger: Ledger | None = None,
    shared: Path | S3Location | None = None,
    clock: Clock = utc_now,
    tz: str | None = None,
    live: bool = True,
    scan_on_start: bool = True,
    readers: list[Any] | None = None,
    tick: Callable[[], Any] | None = None,
    tick_interval: float = 4.0,
    state: ViewState | None = None,
    banner: str = "",
    deliver: bool = True,
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
        deliver=deliver,
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
