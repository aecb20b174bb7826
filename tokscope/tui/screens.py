"""Screens: the main tabs, a session's turns, the keys help and the trust dialog."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, OptionList, Static, Tab, Tabs

from tokscope.energy import energy_text
from tokscope.format import short
from tokscope.readers import fidelity_of
from tokscope.sync.merge import DeviceState
from tokscope.tui.tabs import all_tabs, hotkey, tab_labels
from tokscope.tui.tabs import tab as tab_spec
from tokscope.widgets.alerts import COLUMNS as ALERT_COLUMNS
from tokscope.widgets.alerts import AlertDetail, alert_cells
from tokscope.widgets.calendar import YearCalendar
from tokscope.widgets.daily_chart import DailyChart
from tokscope.widgets.empty_state import EmptyState
from tokscope.widgets.heatmap import HourHeatmap
from tokscope.widgets.limits import LimitsPanel
from tokscope.widgets.status_line import StatusLine
from tokscope.widgets.summary import Summary, SummaryData
from tokscope.widgets.usage_table import Column, Figure, UsageTable

if TYPE_CHECKING:
    from tokscope.tui.app import TokscopeApp
    from tokscope.tui.view import View

_DATE_SUFFIX = re.compile(r"-(20\d{6}|20\d\d-\d\d-\d\d)$")

SEP = "\x1f"
"""Joins the key values of a row into its row key."""

ESTIMATED_MARK = "≈"
"""After a client whose reader's fidelity is ``estimated`` (``tokscope sources`` says why)."""

LABELS = {
    "client": "Client",
    "model": "Model",
    "workspace": "Workspace",
    "session": "Session",
    "device": "Device",
    "day": "Day",
    "provider": "Provider",
}

#: The counter columns of every usage table: (key, label, priority, width).
NUMBERS: tuple[tuple[str, str, int, int], ...] = (
    ("turns", "Turns", 3, 6),
    ("input", "Input", 4, 6),
    ("output", "Output", 4, 6),
    ("cache_read", "Cache rd", 5, 8),
    ("cache_write", "Cache wr", 6, 8),
    ("reasoning", "Reasoning", 7, 9),
    ("total_tokens", "Total", 1, 6),
    ("cost", "Cost", 1, 9),
    ("share", "Share", 2, 6),
)


def money_short(cost: float | None, unpriced: int = 0) -> str:
    """``$4.56``, ``$12.3K`` above $10,000, ``—`` when unpriced; ``≥`` when partly unpriced."""
    if cost is None:
        return "—"
    text = f"${short(cost)}" if cost >= 10_000 else (f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else "<$0.01")
    return f"≥{text}" if unpriced else text


def short_model(model: str) -> str:
    """A model id without its date suffix (``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``)."""
    return _DATE_SUFFIX.sub("", model)


def percent(value: float | None) -> str:
    """``93.1%`` (``—`` when unknown)."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _shorten_workspace(path: str) -> str:
    """The last two components of a workspace path (``~/src/tokscope`` -> ``src/tokscope``)."""
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:]) if len(parts) > 2 else path


def home_path(path: str) -> str:
    """``path`` with the user's home written ``~`` (``/home/dev/src/app`` -> ``~/src/app``)."""
    import os

    home = os.environ.get("HOME", "").rstrip("/")
    if home and (path == home or path.startswith(home + "/")):
        return "~" + path[len(home) :]
    return path


def figure(n: int | None) -> Figure:
    """A count as ``7.9K`` and, where the column has room, ``7,912``."""
    return Figure(short(n), "—" if n is None else f"{n:,}")


class MainScreen(Screen):
    """Header line, summary, tabs and the table (plus the Daily chart)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "app.keys", "Keys", key_display="?", id="keys", tooltip="Show every key"),
        Binding("q", "app.quit", "Quit", id="quit", tooltip="Quit tokscope"),
        *[Binding(hotkey(t.key), f"tab('{t.key}')", t.title, show=False, id=f"tab.{t.key}") for t in all_tabs()],
        Binding("g", "group", "Group", id="group", tooltip="Pick what the rows are grouped by"),
        Binding("p", "period", "Period", id="period", tooltip="today · 7d · 30d · month · all"),
        Binding("d", "device", "Device", id="device", tooltip="All devices or one"),
        Binding("c", "client", "Client", id="client", tooltip="All clients or one"),
        Binding("s", "sort", "Sort", id="sort", tooltip="Next sort column"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="reverse", tooltip="Reverse the sort order"),
        Binding("y", "copy_row", "Copy", show=False, id="copy", tooltip="Copy the row under the cursor"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter", tooltip="Filter rows by text"),
        Binding("escape", "back", "Back", id="back", show=False, tooltip="Close the filter, undo a drill-down"),
        Binding("m", "metric", "Cost/tokens", id="metric", tooltip="Daily chart: cost or tokens"),
        Binding("t", "trust", "Trust", id="trust", tooltip="Trust the selected device (shows its fingerprint)"),
        Binding("a", "ack", "Acknowledge", id="ack", tooltip="Alerts: acknowledge the selected alert"),
        Binding("A", "ack_all", "Ack all", show=False, id="ack_all", tooltip="Alerts: acknowledge every alert"),
    ]

    app: TokscopeApp

    def compose(self) -> ComposeResult:
        """The layout, top to bottom."""
        yield StatusLine(id="status")
        yield Summary(id="summary")
        labels, compact = tab_labels(self.app.size.width)
        tabs = Tabs(*[Tab(label, id=t.key) for label, t in zip(labels, all_tabs(), strict=True)], id="tabs")
        tabs.set_class(compact, "-compact")
        yield tabs
        yield Input(placeholder="filter rows (Enter keeps, Esc clears)", id="filter", compact=True)
        yield DailyChart(id="chart", classes="-hidden")
        with VerticalScroll(id="when", classes="-hidden"):
            yield YearCalendar(id="calendar")
            yield HourHeatmap(id="hours")
        yield LimitsPanel(id="limits", classes="-hidden")
        yield UsageTable(id="table")
        yield AlertDetail(id="alert-detail", classes="-hidden")
        yield EmptyState(id="empty")
        yield Static(id="notes")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        """Start on the state's tab, focus the table, say we are loading."""
        tabs = self.query_one(Tabs)
        tabs.can_focus = False
        tabs.active = self.app.state.tab
        self.query_one("#filter", Input).display = False
        self.query_one(UsageTable).focus()
        self.query_one(UsageTable).display = False
        self.query_one(EmptyState).update("Loading…")
        self.refresh_status()

    # --- rendering -------------------------------------------------------------------

    def on_resize(self) -> None:
        """The header's and the tab bar's compact forms depend on the width."""
        self._fit_tabs()
        if self.app.loaded is not None:
            self.refresh_status()

    def _fit_tabs(self) -> None:
        """Full tab titles where they fit, else the short ones (every tab stays visible)."""
        bar = self.query_one(Tabs)
        labels, compact = tab_labels(self.app.size.width)
        bar.set_class(compact, "-compact")
        for label, spec in zip(labels, all_tabs(), strict=True):
            tab = bar.query_one(f"#{spec.key}", Tab)
            if tab.label_text != label:
                tab.label = label

    def refresh_status(self) -> None:
        """Redraw the header line."""
        app = self.app
        today = app.today()
        from tokscope.tui.view import period_label

        state = app.state
        loaded = app.loaded
        parts: list[str] = []
        if app.banner:
            parts.append(app.banner)
        parts.append(period_label(state, today))
        parts.append(app.tz)
        names = loaded.names if loaded else {}
        parts.append(f"device {names.get(state.device, state.device)}" if state.device else "all devices")
        if state.client:
            parts.append(f"client {state.client}")
        for key, value in state.drill:
            parts.append(f"{key}={self._display(key, value)}")
        if state.text:
            parts.append(f"/{state.text}")
        if loaded is None:
            parts.append("loading…")
        else:
            label = "↻" if app.size.width < 100 else "updated"
            parts.append(f"{label} {loaded.updated.astimezone(ZoneInfo(app.tz)):%H:%M:%S}")
        warnings = []
        if app.settings.errors:
            n = len(app.settings.errors)
            warnings.append(f"config: {n} problem{'s' if n > 1 else ''}")
        if loaded is not None:
            refused = [d for d in loaded.devices if d.get("status") == DeviceState.REFUSED]
            if refused:
                warnings.append(f"{len(refused)} device{'s' if len(refused) > 1 else ''} refused")
            from tokscope.sync.merge import IDENTITY_NOTE, STORE_NOTE

            if any(n.startswith((STORE_NOTE, IDENTITY_NOTE)) for n in loaded.notes):
                warnings.append("trust: see Devices")
        fresh = [d for d in app.alerts or [] if d.acknowledged is None]
        if fresh:  # the badge: alerts nobody acknowledged yet (the Alerts tab lists them, a acknowledges)
            warnings.append(f"{len(fresh)} alert{'s' if len(fresh) > 1 else ''} ({hotkey('alerts')})")
        view = app.view
        if view is not None and view.totals.get("turns") and loaded is not None and loaded.priced:
            unpriced = int(view.totals.get("unpriced_turns") or 0)
            if unpriced:
                warnings.append(f"{short(unpriced)} unpriced")
        self.query_one(StatusLine).show(parts, warnings, busy=app.busy and app.announce_busy and loaded is not None)

    def _display(self, key: str, value: str) -> str:
        if key == "device" and self.app.loaded is not None:
            return self.app.loaded.names.get(value, value[:8])
        if key == "session":
            return value[:8]
        if key == "workspace":
            return _shorten_workspace(value) or "(none)"
        if key == "model":
            return short_model(value) or "(none)"
        if key == "client" and value and fidelity_of(value) == "estimated":
            return f"{value} {ESTIMATED_MARK}"  # counts the client guesses (its own tokenizer), not billed usage
        return value or "(none)"

    def show_view(self, view: View) -> None:
        """Render a computed view."""
        app = self.app
        loaded = app.loaded
        assert loaded is not None
        state = view.state
        spec = tab_spec(state.tab)
        tabs = self.query_one(Tabs)
        if tabs.active != state.tab:
            tabs.active = state.tab
        self.refresh_status()
        self._show_summary(view)
        chart = self.query_one(DailyChart)
        chart.set_class(not spec.chart, "-hidden")
        if spec.chart:
            self._show_chart(view)
        when = self.query_one("#when", VerticalScroll)
        when.set_class(not spec.calendar, "-hidden")
        if spec.calendar:
            self._show_when(view)
        table = self.query_one(UsageTable)
        empty = self.query_one(EmptyState)
        notes = self.query_one("#notes", Static)
        panel = self.query_one(LimitsPanel)
        panel.set_class(not spec.limits, "-hidden")
        self.query_one(AlertDetail).set_class(not spec.alerts, "-hidden")
        if spec.limits:
            table.display = empty.display = notes.display = False
            self._show_limits()
            return
        if spec.alerts:
            notes.display = False
            self.show_alerts()
            return
        lines = [f"• {n}" for n in loaded.notes] if spec.device_table else []
        if view.row_count > view.rows.height:
            lines.append(
                f"showing the first {view.rows.height:,} of {view.row_count:,} rows: "
                "filter with /, or sort with s to see others"
            )
        notes.display = bool(lines)
        notes.update(Text("\n".join(lines), style="yellow"))
        if loaded.size() == 0 and not spec.device_table:
            table.display = False
            empty.display = True
            empty.update(self._empty_text())
            return
        if view.rows.height == 0 and not spec.device_table:
            table.display = False
            empty.display = True
            since = f"The latest turn with these filters is on {view.latest}. " if view.latest else ""
            empty.update(
                Text.assemble(
                    ("No usage here.\n\n", "bold"),
                    f"Nothing in this period with these filters. {since}Press ",
                    ("p", "bold"),
                    " for another period, ",
                    ("Esc", "bold"),
                    " to undo a drill-down, ",
                    ("d", "bold"),
                    "/",
                    ("c", "bold"),
                    " to change the device or client.",
                )
            )
            return
        empty.display = False
        table.display = not spec.calendar
        if spec.calendar:
            return
        if spec.device_table and not state.group2:
            self._show_devices(view)
        else:
            self._show_rows(view)

    def show_alerts(self) -> None:
        """The Alerts tab (when it is shown) and the header's badge, from the app's current alerts."""
        self.refresh_status()
        if not tab_spec(self.app.state.tab).alerts or self.app.loaded is None:
            return
        table = self.query_one(UsageTable)
        empty = self.query_one(EmptyState)
        detail = self.query_one(AlertDetail)
        deliveries = self.app.alerts
        if not deliveries:
            table.display = detail.display = False
            empty.display = True
            empty.update(_no_alerts_text(deliveries is None))
            return
        empty.display = False
        table.display = detail.display = True
        names = self.app.loaded.names
        rows = [(d.alert.key, alert_cells(d, self.app.tz, names)) for d in deliveries]
        table.show(ALERT_COLUMNS, rows, None)
        self._show_alert_detail()

    def _cursor_alert(self) -> Any:
        key = self.query_one(UsageTable).cursor_key()
        return next((d for d in self.app.alerts or [] if d.alert.key == key), None)

    def _show_alert_detail(self) -> None:
        loaded = self.app.loaded
        self.query_one(AlertDetail).show(self._cursor_alert(), self.app.tz, loaded.names if loaded else {})

    @on(DataTable.RowHighlighted, "#table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if tab_spec(self.app.state.tab).alerts:
            self._show_alert_detail()

    def action_ack(self) -> None:
        """Acknowledge the alert under the cursor."""
        d = self._cursor_alert()
        if d is not None and d.acknowledged is None:
            self.app.acknowledge([d.alert.key])

    def action_ack_all(self) -> None:
        """Acknowledge every alert shown."""
        self.app.acknowledge([d.alert.key for d in self.app.alerts or [] if d.acknowledged is None])

    def open_alert(self, key: str) -> None:
        """Enter on an alert: a session's turns (an anomaly in a session, a per-session budget), else the
        sessions of what it is about (an outlier device or workspace, a budget's scope)."""
        d = next((d for d in self.app.alerts or [] if d.alert.key == key), None)
        if d is None:
            return
        detail = d.alert.detail
        session = detail.get("session_id")
        if session:
            self.app.push_screen(SessionScreen(str(session)))
            return
        filters: list[tuple[str, str]] = []
        if d.alert.kind == "budget":
            ids = {name: i for i, name in (self.app.loaded.names if self.app.loaded else {}).items()}
            for key_name, values in (detail.get("scope") or {}).items():
                if isinstance(values, list) and len(values) == 1:
                    value = str(values[0])
                    filters.append((key_name, ids.get(value, value) if key_name == "device" else value))
        elif detail.get("dimension") in ("device", "workspace"):
            filters.append((str(detail["dimension"]), str(detail.get("key") or "")))
        if filters:
            self._drill(filters)
        elif d.alert.kind == "budget":  # a budget over everything: the sessions behind it
            self.query_one(Tabs).active = "sessions"
        else:
            self.app.notify(d.alert.title)

    def _show_limits(self) -> None:
        from tokscope import quota

        loaded = self.app.loaded
        assert loaded is not None
        now_us = int(self.app.clock().timestamp() * 1_000_000)
        readings = loaded.readings
        if self.app.state.client:
            readings = [r for r in readings if r.client == self.app.state.client]
        if self.app.state.device:
            readings = [r for r in readings if (r.device or loaded.device_id) == self.app.state.device]
        rows = quota.limit_rows(readings, now_us, loaded.device_id, loaded.names, loaded.account_rules)
        self.query_one(LimitsPanel).show(rows, self.size.width)

    def _empty_text(self) -> Text:
        import os

        home = os.environ.get("HOME") or ""
        readers = self.app.scan_readers().readers
        roots = []
        for reader in readers:
            for root in reader.roots()[:1]:
                text = str(root)
                roots.append("~" + text[len(home) :] if home and text.startswith(home + "/") else text)
        text = Text()
        text.append("No usage recorded yet.\n\n", style="bold")
        text.append("tokscope reads the logs of your coding agents and found none in\n")
        shown = roots[:3]
        text.append(", ".join(shown), style="dim")
        if len(roots) > len(shown):
            text.append(f" and {len(roots) - len(shown)} more", style="dim")
        text.append(" (tokscope sources lists them).\n\n")
        text.append("Run an agent and this screen updates by itself,\nor try ")
        text.append("tokscope demo", style="bold")
        text.append(". Press q to quit.")
        return text

    def _show_summary(self, view: View) -> None:
        t = view.totals
        loaded = self.app.loaded
        priced = loaded is not None and loaded.priced
        unpriced = int(t.get("unpriced_turns") or 0)
        turns = int(t.get("turns") or 0)
        self.query_one(Summary).show(
            SummaryData(
                cost=money_short(t.get("cost"), unpriced) if priced else "—",
                unpriced=f"+{short(unpriced)} unpriced" if priced and unpriced and turns else "",
                total=short(t.get("total_tokens") or 0),
                input=short(t.get("input") or 0),
                output=short(t.get("output") or 0),
                cache_read=short(t.get("cache_read") or 0),
                cache_write=short(int(t.get("cache_write_5m") or 0) + int(t.get("cache_write_1h") or 0)),
                cache_hit=percent(view.cache_hit),
                turns=f"{turns:,}",
                sessions=f"{view.sessions:,}",
                top_model=short_model(view.top_model) or "—",
                energy=energy_text(*view.energy) if view.energy else "",
                paid=_paid(t) if priced and loaded is not None and (loaded.plans or view.plans) else "",
                plans=" · ".join(_plan_text(p) for p in view.plans),
            )
        )

    def _show_chart(self, view: View) -> None:
        metric = view.state.metric
        if metric == "cost" and self.app.loaded is not None and self.app.loaded.priced:
            days = [(d, float(c or 0.0)) for d, c, _t in view.daily]
            fmt = money_short
            title = "Cost per day"
        else:
            days = [(d, float(t)) for d, _c, t in view.daily]
            fmt = short
            title = "Tokens per day" + (" (no prices yet)" if metric == "cost" else "")
        self.query_one(DailyChart).show(days, fmt, f"{title}  (m: cost/tokens)")

    def _show_when(self, view: View) -> None:
        cost = view.state.metric == "cost" and self.app.loaded is not None and self.app.loaded.priced
        what = "Cost" if cost else "Tokens"
        year = [(d, float((c or 0.0) if cost else t)) for d, c, t in view.year]
        fmt = money_short if cost else short
        self.query_one(YearCalendar).show(year, f"{what} per day  (m: cost/tokens)", fmt)
        grid = [[c if cost else float(t) for c, t in row] for row in view.hours]
        self.query_one(HourHeatmap).show(grid, f"{what} by weekday and hour ({self.app.tz}), this period")

    def _key_columns(self, view: View) -> list[Column]:
        sessions = tab_spec(view.state.tab).turns_on_enter
        cols = []
        for i, key in enumerate(view.by):
            if key == "day":
                cols.append(Column("day", "Day", 0, 10, numeric=False))
            elif key == "session":
                cols.append(Column("session", "Session", 0, 8, numeric=False))
            elif key == "client" and sessions:
                cols.append(Column("client", "Client", 3, 11, numeric=False))
            elif key == "workspace" and sessions:
                cols.append(Column("workspace", "Workspace", 4, 12, numeric=False, flex=True, min_width=12))
            else:
                cols.append(
                    Column(
                        key,
                        LABELS.get(key, key),
                        0,
                        12,
                        numeric=False,
                        flex=True,
                        min_width=12 if i == 0 else 10,
                        keep_end=key == "workspace",
                    )
                )
        if sessions:
            cols.append(Column("last", "Last", 5, 11, numeric=False))
        return cols

    def _show_rows(self, view: View) -> None:
        cols = self._key_columns(view)
        for key, label, prio, width in NUMBERS:
            cols.append(Column(key, label, prio, width))
        rows = []
        priced = self.app.loaded is not None and self.app.loaded.priced
        for r in view.rows.iter_rows(named=True):
            cells: dict[str, Any] = {}
            for key in view.by:
                cells[key] = self._display(key, r[key])
                if key == "workspace" and not tab_spec(view.state.tab).turns_on_enter:
                    cells[key] = home_path(r[key]) or "(none)"
            if "last" in r and r["last"] is not None:
                cells["last"] = f"{r['last']:%m-%d %H:%M}"
            for key, _label, _p, _w in NUMBERS[:7]:
                cells[key] = figure(r[key])
            cells["cost"] = money_short(r["cost"], int(r["unpriced_turns"] or 0)) if priced else "—"
            # a row with no priced turn has no share of the cost (not 0.0%)
            cells["share"] = "—" if priced and r["cost"] is None else percent(r["share"])
            rows.append((SEP.join(str(r[k]) for k in view.by), cells))
        sort = view.state.sort
        if sort == "key":
            sort = view.by[0]
        if sort is None:
            sort = "day" if view.by[0] == "day" else "cost" if priced else "total_tokens"
        self.query_one(UsageTable).show(cols, rows, sort, view.state.descending if view.state.sort else sort != "key")

    def _show_devices(self, view: View) -> None:
        priced = self.app.loaded is not None and self.app.loaded.priced
        cols = [
            Column("name", "Device", 0, 14, numeric=False, flex=True, min_width=14),
            Column("id", "Id", 7, 8, numeric=False),
            Column("fingerprint", "Fingerprint", 4, 24, numeric=False),
            Column("trusted", "Trusted", 4, 7, numeric=False),
            Column("last_export", "Last export", 5, 11, numeric=False),
            Column("rows", "Rows", 6, 6),
            Column("status", "Status", 1, 11, numeric=False),
            Column("turns", "Turns", 6, 6),
            Column("total_tokens", "Total", 2, 6),
            Column("cost", "Cost", 2, 9),
            Column("reason", "Why", 3, 16, numeric=False, flex=True, min_width=16),
        ]
        rows = []
        for d in view.devices:
            usage = d.get("usage") or {}
            status = str(d.get("status") or "")
            last = d.get("last_export")
            if isinstance(last, str):
                with contextlib.suppress(ValueError):
                    last = datetime.fromisoformat(last)
            if hasattr(last, "strftime"):
                last = f"{last.astimezone(ZoneInfo(self.app.tz)):%m-%d %H:%M}"
            cells = {
                "name": (d.get("name") or "") + (" (this)" if d.get("this") else ""),
                "id": str(d.get("id") or "")[:8],
                "fingerprint": str(d.get("fingerprint") or "—"),
                "trusted": "yes" if d.get("trusted") else ("no" if d.get("trusted") is False else "—"),
                "last_export": str(last or "—"),
                "rows": short(d["rows"]) if isinstance(d.get("rows"), int) else "—",
                "status": Text(status, style="bold red") if status == DeviceState.REFUSED else status,
                "reason": str(d.get("reason") or ""),
                "turns": short(usage.get("turns")) if usage else "0",
                "total_tokens": short(usage.get("total_tokens")) if usage else "0",
                "cost": money_short(usage.get("cost"), int(usage.get("unpriced_turns") or 0))
                if usage and priced
                else "—",
            }
            rows.append((str(d.get("id")), cells))
        self.query_one(UsageTable).show(cols, rows, None)

    # --- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A tab's own actions (``m`` on Daily, ``t`` on Devices) only on that tab."""
        if action in TAB_ACTIONS:
            return action in tab_spec(self.app.state.tab).actions
        return True

    def action_tab(self, tab: str) -> None:
        """Switch to ``tab`` now (a key typed right after, like ``m``, already sees the new tab)."""
        self.switch_tab(tab)
        self.query_one(Tabs).active = tab

    @on(Tabs.TabActivated, "#tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is not None and event.tab.id:
            self.switch_tab(event.tab.id)
        self.query_one(UsageTable).focus()

    def switch_tab(self, tab: str) -> None:
        """Show ``tab``; a drill-down belongs to the tab it led to, so leaving that tab ends it."""
        state = self.app.state
        if tab == state.tab:
            return
        if state.drill:
            shown = ", ".join(f"{k}={self._display(k, v)}" for k, v in state.drill)
            self.app.notify(f"Drill-down cleared ({shown}).", timeout=3)
        self.app.set_state(
            tab=tab,
            sort=None,
            group2=None if state.group2 == _tab_key(tab) else state.group2,
            drill=(),
            back_tabs=(),
        )
        self.refresh_bindings()

    def action_group(self) -> None:
        """Pick the grouping: a preset, or any tab key with any second key."""

        def chosen(choice: tuple[str, str | None] | None) -> None:
            if choice is not None:
                self.group_by(*choice)

        self.app.push_screen(GroupScreen(self.app.state.tab, self.app.state.group2), chosen)

    def group_by(self, tab: str, group2: str | None) -> None:
        """Show tab ``tab`` split by ``group2`` (None: by the tab's own key only)."""
        if tab != self.app.state.tab:
            self.query_one(Tabs).active = tab  # clears drill-downs, as a tab key does
        self.app.set_state(tab=tab, group2=group2, sort=None)

    def action_period(self) -> None:
        """Cycle the period."""
        from tokscope.tui.view import PERIOD_CYCLE, next_in

        self.app.set_state(period=next_in(PERIOD_CYCLE, self.app.state.period))

    def action_device(self) -> None:
        """Cycle all devices / each device."""
        from tokscope.tui.view import next_in

        loaded = self.app.loaded
        options = [None, *(loaded.device_ids if loaded else [])]
        self.app.set_state(device=next_in(options, self.app.state.device))

    def action_client(self) -> None:
        """Cycle all clients / each client."""
        from tokscope.tui.view import next_in

        loaded = self.app.loaded
        options = [None, *(loaded.clients if loaded else [])]
        self.app.set_state(client=next_in(options, self.app.state.client))

    def action_sort(self) -> None:
        """Sort by the next column."""
        from tokscope.tui.view import SORT_CYCLE, next_in

        state = self.app.state
        current = state.sort or ("key" if tab_spec(state.tab).key_sort_descending else "cost")
        # only the columns the pane shows: sorting by a dropped column would look like nothing happened
        shown = set(self.query_one(UsageTable).shown_columns)
        key_column = state.by()[0]
        options = [c for c in SORT_CYCLE if (key_column if c == "key" else c) in shown]
        self.sort_by(next_in(options or SORT_CYCLE, current))

    def action_copy_row(self) -> None:
        """Copy the row under the cursor (every column, exact figures) to the clipboard (OSC 52)."""
        text = self.query_one(UsageTable).cursor_text()
        if text is None:
            return
        self.app.copy_to_clipboard(text)
        self.app.notify("Copied the row.", timeout=2)

    def action_reverse_sort(self) -> None:
        """Reverse the order of the current sort column."""
        state = self.app.state
        spec = tab_spec(state.tab)
        column = state.sort or ("key" if spec.key_sort_descending else "cost")
        descending = state.descending if state.sort else (column != "key" or spec.key_sort_descending)
        self.sort_by(column, not descending)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort by ``column`` (numbers descending, names ascending unless told)."""
        if descending is None:
            descending = column != "key" or tab_spec(self.app.state.tab).key_sort_descending
        self.app.set_state(sort=column, descending=descending)

    @on(DataTable.HeaderSelected, "#table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        view = self.app.view
        if view is None or tab_spec(self.app.state.tab).device_table:
            return
        column = "key" if key == view.by[0] else key
        if key in view.by[1:] or key == "last":
            return
        state = self.app.state
        if state.sort == column:
            self.sort_by(column, not state.descending)
        else:
            self.sort_by(column)

    def action_filter(self) -> None:
        """Show the filter input."""
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.app.state.text
        field.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.app.set_state(text=event.value.strip())

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        field = self.query_one("#filter", Input)
        if not field.value.strip():
            field.display = False
        self.query_one(UsageTable).focus()

    def action_back(self) -> None:
        """Close the filter (clearing it), else undo the last drill-down."""
        field = self.query_one("#filter", Input)
        state = self.app.state
        if field.display or state.text:
            field.value = ""
            field.display = False
            self.app.set_state(text="")
            self.query_one(UsageTable).focus()
            return
        if state.drill:
            back = state.back_tabs[-1] if state.back_tabs else state.tab
            self.app.set_state(drill=state.drill[:-1], back_tabs=state.back_tabs[:-1], tab=back, sort=None)

    def action_drill(self) -> None:
        """Drill into the row under the cursor (Enter when the table is not focused)."""
        table = self.query_one(UsageTable)
        if table.display and table.row_count:
            table.action_select_cursor()

    def action_metric(self) -> None:
        """Daily chart: switch between cost and tokens."""
        self.app.set_state(metric="tokens" if self.app.state.metric == "cost" else "cost")

    def action_trust(self) -> None:
        """Trust the device under the cursor (after showing its fingerprint)."""
        key = self.query_one(UsageTable).cursor_key()
        if key:
            self.ask_trust(key)

    def ask_trust(self, device_id: str) -> None:
        """Show a device's fingerprint and trust it if the user confirms."""
        loaded = self.app.loaded
        entry = next((d for d in (loaded.devices if loaded else []) if str(d.get("id")) == device_id), None)
        if entry is None:
            return
        if device_id == loaded.device_id:
            self.app.notify("This device is always trusted.")
            return
        if entry.get("trusted"):
            self.app.notify(f"{entry.get('name')} is already trusted.")
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.trust(entry)

        self.app.push_screen(TrustScreen(entry), done)

    def trust(self, entry: Mapping[str, Any]) -> None:
        """Trust a device through the devices feature (the write runs in a worker), then reload."""
        from tokscope.tui.app import trust_function

        fn = trust_function()
        if fn is None:
            self.app.notify("Trusting needs the devices feature (tokscope.sync.trust).", severity="warning")
            return
        self.app.run_worker(
            partial(self._trust_worker, fn, dict(entry)),
            thread=True,
            exit_on_error=False,
            group="trust",
            description="trust device",
        )

    def _trust_worker(self, fn: Any, entry: dict[str, Any]) -> None:
        try:
            call_trust(fn, entry)
        except Exception as exc:  # a refusal (or an unwritable trust store) is a message, not a crash
            self.app.call_from_thread(
                self.app.notify, f"{type(exc).__name__}: {exc}", title="Not trusted", severity="error"
            )
            return
        self.app.call_from_thread(self._trusted, entry)

    def _trusted(self, entry: dict[str, Any]) -> None:
        self.app.notify(f"Trusted {entry.get('name') or entry.get('id')}.")
        self.app.request_refresh(scan=False, full=True)

    @on(DataTable.RowSelected, "#table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value)
        state = self.app.state
        view = self.app.view
        if view is None:
            return
        if tab_spec(state.tab).device_table and not state.group2:
            entry = next((d for d in view.devices if str(d.get("id")) == key), None)
            if entry is not None and not entry.get("trusted"):
                self.ask_trust(key)
                return
            if entry is not None and entry.get("status") not in (DeviceState.MERGED, DeviceState.THIS_DEVICE):
                self.app.notify(str(entry.get("reason") or entry.get("status")), title=str(entry.get("name") or key))
                return
            self._drill([("device", key)])
            return
        if tab_spec(state.tab).alerts:
            self.open_alert(key)
            return
        values = key.split(SEP)
        if tab_spec(state.tab).turns_on_enter:
            self.app.push_screen(SessionScreen(values[0]))
            return
        self._drill([(k, v) for k, v in zip(view.by, values, strict=False)])

    def _drill(self, filters: list[tuple[str, str]]) -> None:
        state = self.app.state
        pairs = [(k, v) for k, v in filters if (k, v) not in state.drill]
        if not pairs:
            return
        self.app.set_state(
            drill=state.drill + tuple(pairs),
            back_tabs=state.back_tabs + (state.tab,) + (state.tab,) * (len(pairs) - 1),
            tab="sessions",
            group2=None,
            sort=None,
        )


def _no_alerts_text(checking: bool) -> Text:
    """The Alerts tab without alerts: checking, or none and how to set budgets."""
    if checking:
        return Text("Checking budgets and anomalies…")
    return Text.assemble(
        ("No alerts.\n\n", "bold"),
        "A budget crossing a threshold, or an anomaly of the last 7 days (cache thrash, an outlier,\n"
        "a runaway session, a switch to a pricier model), shows here and in the header.\n"
        "Budgets are ",
        ("[[budget]]", "bold"),
        " tables in config.toml; webhooks and desktop notices are ",
        ("[alerts]", "bold"),
        "\n(README: tokscope budgets, tokscope alerts).",
    )


def _tab_key(tab: str) -> str:
    return tab_spec(tab).own_key


#: Actions that belong to one tab (see ``TabSpec.actions``).
TAB_ACTIONS = frozenset(a for t in all_tabs() for a in t.actions)


def second_keys(tab: str) -> list[str]:
    """The second group-by keys tab ``tab`` offers."""
    from tokscope.tui.view import SECOND_KEYS

    spec = tab_spec(tab)
    if spec.second_keys is not None:
        return list(spec.second_keys)
    return [k for k in SECOND_KEYS if k not in spec.group_by]


def call_trust(fn: Any, entry: Mapping[str, Any]) -> Any:
    """Pin the device's public key as trusted (``tokscope.sync.trust.pin``)."""
    if not entry.get("public_key"):
        raise ValueError("its snapshot shows no public key yet; wait for it to sync")
    return fn(str(entry.get("id")), str(entry.get("name") or ""), str(entry["public_key"]))


class TurnsTable(UsageTable):
    """A session's turns: nothing to open below a turn."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "noop", "", show=False)]

    def action_noop(self) -> None:
        """Enter does nothing here."""


class SessionScreen(Screen):
    """The turns of one session: time, model, tokens, cost, running total."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="session.back"),
        Binding("q", "app.quit", "Quit", id="session.quit"),
    ]

    app: TokscopeApp

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        """Title line, the turns, the footer."""
        yield StatusLine(id="session-title")
        yield TurnsTable(id="turns")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Say what is loading, then filter the session's turns in a worker (a scan of every event)."""
        self.query_one(StatusLine).show([f"session {self.session_id[:8]}", "loading…"])
        # an app worker, so a failure reaches the app's worker handler (Worker.StateChanged does not bubble)
        self.app.run_worker(
            self._load_turns, thread=True, exclusive=True, exit_on_error=False, group="session", description="turns"
        )

    def _load_turns(self) -> None:
        from tokscope.tui.view import session_turns

        loaded = self.app.loaded
        if loaded is None:
            return
        turns = session_turns(loaded, self.session_id, self.app.tz)
        workspace = self._workspace()
        self.app.call_from_thread(self.show_turns, turns, workspace)

    def show_turns(self, turns: Any, workspace: str) -> None:
        """Render the session's turns (a frame from ``view.session_turns``)."""
        loaded = self.app.loaded
        if loaded is None or not self.is_attached:
            return
        priced = loaded.priced
        first = turns.row(0, named=True) if turns.height else {}
        cost_total = turns.get_column("running_cost")[-1] if turns.height else None
        tokens_total = turns.get_column("running_tokens")[-1] if turns.height else 0
        self.query_one(StatusLine).show(
            [
                f"session {self.session_id[:8]}",
                str(first.get("client") or ""),
                _shorten_workspace(workspace),
                f"{turns.height} turns",
                f"{short(tokens_total)} tokens",
                money_short(cost_total) if priced else "cost —",
            ]
        )
        cols = [
            Column("time", "Time", 0, 14, numeric=False),
            Column("model", "Model", 1, 12, numeric=False, flex=True, min_width=10),
            Column("agent", "Agent", 6, 8, numeric=False),
            Column("input", "Input", 4, 6),
            Column("output", "Output", 3, 6),
            Column("cache_read", "Cache rd", 5, 8),
            Column("cache_write", "Cache wr", 5, 8),
            Column("total", "Total", 2, 6),
            Column("cost", "Cost", 1, 7),
            Column("running", "Running", 1, 8),
        ]
        rows = []
        for i, r in enumerate(turns.iter_rows(named=True)):
            cells = {
                "time": f"{r['time']:%m-%d %H:%M:%S}",
                "model": short_model(r["model"] or ""),
                "agent": r["agent"] or "",
                "input": short(r["input"]),
                "output": short(r["output"]),
                "cache_read": short(r["cache_read"]),
                "cache_write": short(r["cache_write"]),
                "total": short(r["total"]),
                "cost": money_short(r["cost"]) if priced else "—",
                "running": money_short(r["running_cost"])
                if priced and r["running_cost"] is not None
                else short(r["running_tokens"]),
            }
            rows.append((str(i), cells))
        table = self.query_one(UsageTable)
        table.show(cols, rows, "time", False)
        table.focus()
        if rows:
            table.move_cursor(row=len(rows) - 1)

    def _workspace(self) -> str:
        loaded = self.app.loaded
        if loaded is None:
            return ""
        import polars as pl

        hit = (
            loaded.events.lazy()
            .filter(pl.col("session_id").cast(pl.String) == self.session_id)
            .select(pl.col("workspace").cast(pl.String).first())
            .collect()
        )
        return str(hit.item() or "") if hit.height else ""


class HelpScreen(ModalScreen):
    """Every key and what it does (remapped keys shown as they are now)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close2"),
        Binding("q", "app.quit", "Quit", show=False, id="help.quit"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, bindings: Mapping[str, Any]) -> None:
        super().__init__()
        self.bindings_now = bindings

    def compose(self) -> ComposeResult:
        """A two-column table of tokscope's keys, as they are bound now (after any remapping)."""
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        by_id: dict[str, list[str]] = {}
        for key, active in self.bindings_now.items():
            binding = active.binding
            if binding.id:
                by_id.setdefault(binding.id, []).append(binding.key_display or key)
        tabs = [by_id.get(f"tab.{t.key}", ["?"])[0] for t in all_tabs()]
        table.add_row(" ".join(tabs), "tabs")
        for binding_id, default, text in HELP_ROWS:
            keys = by_id.get(binding_id, [default])
            shown = dict.fromkeys("⏎" if k == "enter" else "Esc" if k == "escape" else k for k in keys)
            table.add_row("/".join(shown), text)
        table.add_row("ctrl+p", "command palette: every action, and pickers")
        with VerticalScroll():
            yield Static(table)
            yield Label(Text('Remap by binding id: config.toml [keys] period = "P"', style="dim"))


#: The help screen's rows: (binding id, default key, what it does), in reading order.
HELP_ROWS: tuple[tuple[str, str, str], ...] = (
    ("group", "g", "group by: presets (client+model …) or any pair"),
    ("period", "p", "period: today · 7d · 30d · month · all"),
    ("device", "d", "device: all, or one at a time"),
    ("client", "c", "client: all, or one at a time"),
    ("sort", "s", "next sort column (or click a column header)"),
    ("reverse", "S", "reverse the sort order"),
    ("copy", "y", "copy the row under the cursor (exact figures)"),
    ("filter", "/", "filter rows by text (Enter keeps, Esc clears)"),
    ("drill", "enter", "drill down: a row's sessions, a session's turns"),
    ("row.down", "j", "next row (also ↓; Home/End: first/last row)"),
    ("row.up", "k", "previous row (also ↑)"),
    ("back", "escape", "back: clear filter, undo drill-down, close"),
    ("metric", "m", "Daily and Calendar tabs: cost or tokens"),
    ("trust", "t", "Devices tab: trust a device (shows fingerprint)"),
    ("rescan", "r", "rescan the logs now (also automatic)"),
    ("export", "e", "export this device's snapshot now"),
    ("keys", "?", "this help"),
    ("quit", "q", "quit"),
)


class TrustScreen(ModalScreen[bool]):
    """Show a device's fingerprint; trust it on confirmation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Trust", id="trust.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="trust.no"),
    ]

    DEFAULT_CSS = """
    TrustScreen { align: center middle; }
    TrustScreen > Vertical {
        width: 64; max-width: 95%; height: auto;
        border: round $warning; background: $surface; padding: 0 1;
    }
    TrustScreen Horizontal { height: auto; align-horizontal: right; }
    TrustScreen Button { margin: 0 0 0 1; }
    """

    def __init__(self, entry: Mapping[str, Any]) -> None:
        super().__init__()
        self.entry = dict(entry)

    def compose(self) -> ComposeResult:
        """Name, id, fingerprint, status and the two buttons."""
        e = self.entry
        text = Text()
        text.append(f"Trust device {e.get('name') or ''}?\n\n", style="bold")
        text.append(f"id           {e.get('id')}\n")
        text.append("fingerprint  ")
        text.append(f"{e.get('fingerprint') or 'unknown'}\n", style="bold")
        if e.get("status") and e.get("status") != "untrusted":  # an untrusted device's reason is this dialog
            text.append(f"status       {e.get('status')}{': ' + str(e['reason']) if e.get('reason') else ''}\n")
        if e.get("last_export"):
            text.append(f"last export  {e.get('last_export')}\n")
        text.append(
            "\nCompare the fingerprint with the one `tokscope devices` shows on that device. Trust only if they match.",
            style="dim",
        )
        with Vertical():
            yield Static(text)
            with Horizontal():
                yield Button("Trust (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def action_answer(self, ok: bool) -> None:
        """Close with the answer."""
        self.dismiss(ok)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


#: The groupings people ask for most: (label, tab, second key).
GROUP_PRESETS: tuple[tuple[str, str, str | None], ...] = (
    ("client + model", "clients", "model"),
    ("workspace + model", "workspaces", "model"),
    ("session + model", "sessions", "model"),
    ("device + client", "devices", "client"),
    ("model + client", "models", "client"),
    ("day + model", "daily", "model"),
    ("client + account", "clients", "account"),
)


def group_choices() -> list[tuple[str, str, str | None]]:
    """Every grouping the picker offers: the presets, then each tab alone and with each second key."""
    from tokscope.tui.tabs import all_tabs

    seen = {(tab, key) for _label, tab, key in GROUP_PRESETS}
    choices = list(GROUP_PRESETS)
    for spec in all_tabs():
        for key in (None, *second_keys(spec.key)):
            if (spec.key, key) not in seen:
                seen.add((spec.key, key))
                choices.append((f"{spec.own_key} + {key}" if key else f"{spec.own_key} only", spec.key, key))
    return choices


class GroupScreen(ModalScreen[tuple[str, str | None] | None]):
    """The ``g`` picker: a list of groupings (presets first); Enter picks, Esc keeps the current one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="group.cancel"),
        Binding("q", "app.quit", "Quit", show=False, id="group.quit"),
    ]

    DEFAULT_CSS = """
    GroupScreen { align: center middle; }
    GroupScreen > Vertical {
        width: 44; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    GroupScreen OptionList { height: auto; max-height: 20; border: none; padding: 0; }
    GroupScreen OptionList:focus { border: none; }
    """

    def __init__(self, tab: str, group2: str | None) -> None:
        super().__init__()
        self.current = (tab, group2)
        self.choices = group_choices()

    def compose(self) -> ComposeResult:
        """A title and the option list, the current grouping highlighted."""
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        options = []
        for i, (label, tab, key) in enumerate(self.choices):
            if i == len(GROUP_PRESETS):
                options.append(None)  # a separator between the presets and every pair
            options.append(Option(label, id=f"{tab}:{key or ''}"))
        with Vertical():
            yield Label(Text("Group by", style="bold"))
            yield OptionList(*options, id="groups")

    def on_mount(self) -> None:
        """Highlight the grouping shown now."""
        from textual.widgets import OptionList

        groups = self.query_one(OptionList)
        wanted = f"{self.current[0]}:{self.current[1] or ''}"
        with contextlib.suppress(Exception):
            groups.highlighted = groups.get_option_index(wanted)
        groups.focus()

    @on(OptionList.OptionSelected, "#groups")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        tab, _sep, key = str(event.option.id).partition(":")
        self.dismiss((tab, key or None))


def _paid(totals: dict[str, Any]) -> str:
    """Paid per token in the summary: metered plus estimated (``≈`` when some is estimated)."""
    metered, estimated = float(totals.get("metered") or 0.0), float(totals.get("estimated") or 0.0)
    return ("≈ " if estimated else "") + money_short(metered + estimated)


def _plan_text(plan: dict[str, Any]) -> str:
    """``Claude Max 20x: $200 paid, $1.4K at API prices, 7.2×``."""
    ratio = f", {plan['value_ratio']:.1f}×" if plan.get("value_ratio") is not None else ""
    value = money_short(plan["api_equivalent"])
    return f"{plan['name']}: {money_short(plan['paid'])} paid, {value} at API prices{ratio}"
