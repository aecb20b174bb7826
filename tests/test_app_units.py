"""The TUI's plain parts: the view computation, column fitting, the chart, watching, coalescing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers.base import Row
from tokscope.widgets.daily_chart import chart_lines
from tokscope.widgets.usage_table import Column, fit_columns

from tokscope.events import EVENT_SCHEMA, frame_from_rows
from tokscope.tui.messages import SourcesChanged
from tokscope.tui.screens import money_short, short_model
from tokscope.tui.view import Loaded, ViewState, compute_view, next_in, session_turns
from tokscope.watch import SourceWatcher, plan_watches

TODAY = date(2026, 11, 20)
US = 1_000_000


def _ts(day: int, hour: int = 12) -> int:
    return int(datetime(2026, 11, day, hour, tzinfo=UTC).timestamp() * US)


def _loaded(priced: bool = True) -> Loaded:
    """Four events on two devices:

    a: laptop claude-code sonnet s1 11-20  in 10 out 20 cr 70            = 100 tokens  cost 1.00
    b: laptop claude-code opus   s1 11-20  in 100 out 100 w5m 50 w1h 50  = 300 tokens  cost 3.00
    c: studio codex       gpt-5  s2 11-15  in 400 out 100 cr 500         = 1000 tokens cost None (unpriced)
    d: studio codex       gpt-5  s3 10-01  in 1 out 1                    = 2 tokens    cost 0.50 (outside 30d)
    """
    rows = [
        ("claude-code", "anthropic", "sonnet", "/w/a", "s1", None, "a", _ts(20, 9), 10, 20, 0, 70, 0, 0, None, None, 1),
        ("claude-code", "anthropic", "opus", "/w/a", "s1", None, "b", _ts(20, 10), 100, 100, 0, 0, 50, 50, None, None,
         1),
        ("codex", "openai", "gpt-5", "/w/b", "s2", None, "c", _ts(15), 400, 100, 30, 500, 0, 0, None, None, 1),
        ("codex", "openai", "gpt-5", "/w/b", "s3", None, "d", int(datetime(2026, 10, 1, tzinfo=UTC).timestamp() * US),
         1, 1, 0, 0, 0, 0, None, None, 1),
    ]  # fmt: skip
    frame = frame_from_rows([Row(*r) for r in rows]).drop("rank")
    frame = frame.with_columns(
        device_id=pl.Series(["laptop", "laptop", "studio", "studio"], dtype=pl.Categorical())
    ).select(list(EVENT_SCHEMA))
    if priced:
        frame = frame.with_columns(cost=pl.Series([1.0, 3.0, None, 0.5]))
    return Loaded(
        events=frame,
        device_id="laptop",
        device_name="laptop",
        devices=[],
        notes=[],
        names={"laptop": "laptop", "studio": "studio"},
        clients=["claude-code", "codex"],
        device_ids=["laptop", "studio"],
        priced=priced,
        updated=datetime(2026, 11, 20, 15, tzinfo=UTC),
    )


def test_clients_rows_totals_share_and_summary() -> None:
    view = compute_view(_loaded(), ViewState(), TODAY, "UTC")
    rows = {r["client"]: r for r in view.rows.iter_rows(named=True)}
    # 30d = 10-22..11-20: a, b, c (d is older)
    assert view.totals["turns"] == 3
    assert view.totals["total_tokens"] == 100 + 300 + 1000
    assert view.totals["cost"] == 4.0  # 1 + 3; c unpriced
    assert view.totals["unpriced_turns"] == 1
    assert rows["claude-code"]["total_tokens"] == 400
    assert rows["claude-code"]["cache_write"] == 100  # 50 + 50
    assert rows["claude-code"]["share"] == 1.0  # all of the priced $4
    assert rows["codex"]["cost"] is None
    assert view.sessions == 2
    assert view.top_model == "opus"  # $3
    # cache hit = cache read / (input + cache read + writes) = 570 / (510 + 570 + 100)
    assert abs(view.cache_hit - 570 / 1180) < 1e-9
    assert list(view.rows.get_column("client")) == ["claude-code", "codex"]  # cost desc, nulls last


def test_unpriced_share_uses_tokens_and_filters_apply() -> None:
    loaded = _loaded(priced=False)
    view = compute_view(loaded, ViewState(tab="models"), TODAY, "UTC")
    shares = {r["model"]: r["share"] for r in view.rows.iter_rows(named=True)}
    assert shares == {"gpt-5": 1000 / 1400, "opus": 300 / 1400, "sonnet": 100 / 1400}
    only_studio = compute_view(loaded, ViewState(device="studio", period="all"), TODAY, "UTC")
    assert only_studio.totals["total_tokens"] == 1002
    drilled = compute_view(loaded, ViewState(tab="sessions", drill=(("model", "opus"),)), TODAY, "UTC")
    assert list(drilled.rows.get_column("session")) == ["s1"]
    assert drilled.totals["total_tokens"] == 300
    text = compute_view(loaded, ViewState(tab="workspaces", text="/W/B"), TODAY, "UTC")
    assert list(text.rows.get_column("workspace")) == ["/w/b"]
    today = compute_view(loaded, ViewState(period="today", sort="key", descending=False), TODAY, "UTC")
    assert today.totals["total_tokens"] == 400


def test_daily_series_fills_empty_days_and_devices_by_name() -> None:
    view = compute_view(_loaded(), ViewState(tab="daily", period="7d"), TODAY, "UTC")
    assert [d for d, _c, _t in view.daily] == [date(2026, 11, d) for d in range(14, 21)]
    series = {d.day: (c, t) for d, c, t in view.daily}
    assert series[20] == (4.0, 400)
    assert series[15] == (None, 1000)  # an unpriced day is unknown, not $0
    assert series[16] == (0.0, 0)
    devices = compute_view(_loaded(), ViewState(tab="devices", text="stud"), TODAY, "UTC")
    assert list(devices.rows.get_column("device")) == ["studio"]  # the filter matches names


def test_session_turns_running_totals() -> None:
    turns = session_turns(_loaded(), "s1", "UTC")
    assert turns.get_column("total").to_list() == [100, 300]
    assert turns.get_column("running_tokens").to_list() == [100, 400]
    assert turns.get_column("running_cost").to_list() == [1.0, 4.0]


def test_fit_columns_drops_by_priority_and_flexes_the_key() -> None:
    cols = [
        Column("key", "Key", 0, 10, numeric=False, flex=True, min_width=10),
        Column("cost", "Cost", 1, 9),
        Column("turns", "Turns", 3, 6),
        Column("reasoning", "Reason", 7, 6),
    ]
    # everything: (10+2) + (9+2) + (6+2) + (6+2) = 39 cells
    assert [c.key for c, _w in fit_columns(cols, 39, {"key": 10})] == ["key", "cost", "turns", "reasoning"]
    # 38: reasoning (priority 7) goes first
    assert [c.key for c, _w in fit_columns(cols, 38, {"key": 10})] == ["key", "cost", "turns"]
    # wide: the key column grows to its content (30), no further
    widths = dict((c.key, w) for c, w in fit_columns(cols, 100, {"key": 30}))
    assert widths["key"] == 30
    # among equal priorities the right-most goes first: 12 + 32 + 6 + 6 = 56 > 50, without "b" 50 fits
    cols2 = [
        Column("k", "K", 0, 10, numeric=False),
        Column("wide", "W", 2, 30),
        Column("a", "A", 5, 4),
        Column("b", "B", 5, 4),
    ]
    assert [c.key for c, _w in fit_columns(cols2, 50, {})] == ["k", "wide", "a"]
    # but never a less important column where a more important one did not fit
    cols3 = [Column("k", "K", 0, 10, numeric=False), Column("wide", "W", 2, 30), Column("narrow", "N", 5, 4)]
    assert [c.key for c, _w in fit_columns(cols3, 20, {})] == ["k"]


def test_chart_lines_scale_to_the_peak() -> None:
    days = [(date(2026, 11, d), v) for d, v in ((18, 0.0), (19, 5.0), (20, 10.0))]
    lines = chart_lines(days, width=30, height=6, fmt=lambda v: f"{v:.0f}", title="t")
    assert len(lines) == 6 and all(len(line) == 30 for line in lines)
    plot = lines[1:-1]
    label = plot[0].index("│") + 1
    bars = [line[label:] for line in plot]
    assert bars[0].strip() == "█"  # only the 10 reaches the top row
    assert bars[-1].split() == ["█", "█"]  # 5 and 10 on the bottom row, 0 empty
    assert "11-18" in lines[-1] and "11-20" in lines[-1]


def test_formatting_helpers() -> None:
    assert money_short(None) == "—"
    assert money_short(4.5) == "$4.50"
    assert money_short(12_345.0) == "$12.3K"
    assert money_short(1.0, unpriced=2) == "≥$1.00"
    assert short_model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert short_model("gpt-5") == "gpt-5"
    assert next_in([None, "a", "b"], "b") is None
    assert next_in(["x"], "unknown") == "x"


def test_sources_changed_coalesces_per_kind() -> None:
    logs, shared = SourcesChanged("/a"), SourcesChanged("/s", shared=True)
    assert SourcesChanged("/b").can_replace(logs)
    assert not SourcesChanged("/b").can_replace(shared)  # a log change must not swallow a snapshot arrival
    assert SourcesChanged("/t", shared=True).can_replace(shared)


def test_plan_watches(tmp_path: Path) -> None:
    existing = tmp_path / "claude" / "projects"
    existing.mkdir(parents=True)
    missing = tmp_path / "codex" / "sessions"  # neither codex/ nor sessions/ exist
    shared = tmp_path / "shared"
    shared.mkdir()
    plan = plan_watches([existing, missing, existing / "sub"], shared)
    assert plan[existing] == (True, False)
    assert plan[tmp_path] == (False, False)  # the nearest existing ancestor of the missing root
    assert plan[shared] == (True, True)
    assert existing / "sub" not in plan  # covered by the recursive watch above it


def test_watcher_filters_and_notifies(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    root.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    seen: list[tuple[str, bool]] = []
    watcher = SourceWatcher([root], shared, lambda p, s: seen.append((p, s)), ignore=[shared / "me"])
    watcher.changed(str(root / "x.jsonl"), False)
    watcher.changed(str(shared / "other" / "manifest.json"), False)
    watcher.changed(str(shared / "me" / "manifest.json"), False)  # our own export: ignored
    watcher.changed(str(tmp_path / "unrelated.txt"), False)  # beside the roots: ignored
    assert seen == [(str(root / "x.jsonl"), False), (str(shared / "other" / "manifest.json"), True)]


def test_demo_data_three_devices_one_refused(home: Path, tmp_path: Path) -> None:
    from tokscope.config import Config
    from tokscope.demo import BUILD_BOX, FIXED_NOW, LAPTOP, STUDIO, build_demo
    from tokscope.ledger import Ledger
    from tokscope.scan import scan
    from tokscope.tui.loading import load

    shared = tmp_path / "shared"
    demo = build_demo(home, shared, FIXED_NOW.date(), days=60)
    loaded = load(Config(shared_folder=shared), ledger=Ledger(demo.ledger_root), shared=shared)
    status = {d["id"]: d["status"] for d in loaded.devices}
    assert status[LAPTOP[0]] == "this device"
    assert status[STUDIO[0]] == "merged"
    assert status[BUILD_BOX[0]] == "refused"
    assert set(loaded.device_ids) == {LAPTOP[0], STUDIO[0]}  # the refused device's events stay out
    assert {"claude-code", "codex", "gemini-cli", "opencode"} <= set(loaded.clients)
    assert loaded.events.get_column("model").n_unique() >= 5
    days = loaded.events.get_column("ts").dt.date()
    assert (FIXED_NOW.date() - days.min()).days == 59
    before = loaded.size()
    demo.append_turn(FIXED_NOW)  # what the live demo does every few seconds
    scan(ledger=Ledger(demo.ledger_root))
    after = load(Config(shared_folder=shared), ledger=Ledger(demo.ledger_root), shared=shared)
    assert after.size() == before + 1


def test_the_live_demo_has_nothing_after_now(home: Path, tmp_path: Path) -> None:
    from datetime import datetime

    from tokscope.config import Config
    from tokscope.demo import FIXED_NOW, build_demo
    from tokscope.ledger import Ledger
    from tokscope.tui.loading import load

    early = FIXED_NOW.replace(hour=9, minute=5)  # before most of the day's generated sessions
    shared = tmp_path / "shared"
    demo = build_demo(home, shared, early.date(), days=10, until=early)
    loaded = load(Config(shared_folder=shared), ledger=Ledger(demo.ledger_root), shared=shared)
    assert loaded.events.get_column("ts").max() <= early
    exports = [datetime.fromisoformat(d["last_export"]) for d in loaded.devices if d.get("last_export")]
    assert exports and max(exports) <= early


def test_demo_env_moves_home_and_xdg(tmp_path: Path, monkeypatch) -> None:
    import os

    from tokscope.demo import demo_env

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "/somewhere/of/the/user")
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, os.environ.get(name, "/x"))  # restored after the test
    demo_env(tmp_path)
    assert os.environ["HOME"] == str(tmp_path / "home")
    assert all(os.environ[n].startswith(str(tmp_path)) for n in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"))
    assert "CLAUDE_CONFIG_DIR" not in os.environ


def test_chart_shows_the_whole_period_in_runs_of_days_with_the_year() -> None:
    from datetime import timedelta

    from tokscope.widgets.daily_chart import buckets

    start = date(2025, 1, 1)
    days = [(start + timedelta(days=i), 1.0 if i < 60 else 0.0) for i in range(700)]  # usage only in the first 60
    bars, span = buckets(days, 60)
    assert len(bars) <= 60 and span == 12
    assert sum(v for _a, _b, v in bars) == 60.0  # nothing dropped
    assert bars[0][0] == start and bars[-1][1] == days[-1][0]
    lines = chart_lines(days, width=70, height=6, fmt=lambda v: f"{v:.0f}", title="Cost per day")
    assert "11 days a bar" in lines[0]  # 66 columns for 700 days
    assert "2025-01-01" in lines[-1] and "2026-12-01" in lines[-1]
    label = lines[1].index("│") + 1
    assert lines[-2][label:].strip()  # the old usage is on screen, at the left
    assert lines[-2][label] != " "


def test_chart_axis_keeps_the_year_when_narrow() -> None:
    days = [(date(2026, 1, d), 1.0) for d in range(1, 11)]
    axis = chart_lines(days, width=22, height=4, fmt=lambda v: f"{v:.0f}")[-1]
    assert "26" in axis


def test_paths_lose_their_start_at_a_separator_and_figures_go_exact_where_room_allows() -> None:
    from tokscope.widgets.usage_table import _ellipsize, fit_exact

    assert _ellipsize("/home/dev/webshop", 16, keep_end=True) == "…/dev/webshop"
    assert _ellipsize("/home/dev/webshop", 16) == "/home/dev/websh…"
    cols = [Column("k", "K", 0, 10, numeric=False, flex=True, min_width=10), Column("turns", "T", 3, 6)]
    natural = {"k": 10}
    wide, exact = fit_exact(cols, 40, natural, {"turns": 9})
    assert exact == {"turns"} and dict((c.key, w) for c, w in wide)["turns"] == 9
    # no room: the short form stays, and nothing else gives up width for the exact one
    narrow, exact = fit_exact(cols, 20, {"k": 20}, {"turns": 9})
    assert exact == set() and dict((c.key, w) for c, w in narrow)["turns"] == 6


def test_plan_watches_skips_a_root_it_may_not_look_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good"
    good.mkdir()
    locked = tmp_path / "locked" / "projects"
    real_is_file = Path.is_file

    def is_file(self: Path) -> bool:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert plan_watches([locked, good], None) == {good: (True, False)}


def test_estimated_clients_are_marked_in_the_tables() -> None:
    """A client whose reader only estimates (Continue counts with its own tokenizer) carries the mark;
    exact and unknown clients (another device's newer reader) do not."""
    from tokscope.readers import fidelity_of

    from tokscope.tui.screens import ESTIMATED_MARK, MainScreen

    screen = MainScreen.__new__(MainScreen)  # _display reads the app only for device names
    assert fidelity_of("continue") == "estimated"
    assert screen._display("client", "continue") == f"continue {ESTIMATED_MARK}"
    assert screen._display("client", "claude-code") == "claude-code"
    assert screen._display("client", "some-future-client") == "some-future-client"
