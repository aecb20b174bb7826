"""The TUI: every hotkey, the live path and the empty state, driven with Textual's Pilot.

Fixture (tests/tui_helpers.py ``write_fixture``), clock 2026-11-20 15:30 UTC:
s1 /w/alpha sonnet: 1350 + 15 tokens on 11-20; s2 /w/beta opus: 10 tokens on 11-10.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from textual.widgets import Input
from tokscope.readers.base import Row
from tokscope.widgets.empty_state import EmptyState
from tokscope.widgets.usage_table import UsageTable

from tests.tui_helpers import DEVICE_ID, NOW, claude_line, settle, table_rows, transcript, write_fixture
from tokscope.config import Config
from tokscope.tui.app import TokscopeApp, make_app
from tokscope.tui.screens import HelpScreen, MainScreen, SessionScreen
from tokscope.tui.view import ViewState

SIZE = (80, 24)


def app_for(live: bool = False, settings: Config | None = None, **kwargs) -> TokscopeApp:
    """The app on the test HOME with the fixed clock."""
    app = make_app(settings or Config(), clock=lambda: NOW, tz="UTC", live=live, **kwargs)
    app.animation_level = "none"  # Pilot waits for animations after every key
    return app


async def test_empty_home_shows_help_not_an_error(home: Path) -> None:
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        empty = app.main.query_one(EmptyState)
        assert empty.display
        text = str(empty.render())
        assert "No usage recorded yet" in text
        assert ".claude/projects" in text
        assert "tokscope demo" in text
        assert not app.main.query_one(UsageTable).display
        await pilot.press("5")  # the Devices tab still lists this device
        await settle(app, pilot)
        assert app.main.query_one(UsageTable).display
        assert len(table_rows(app)) == 1


async def test_tabs_and_totals(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        # 1350 + 15 + 10 = 1375 tokens, 3 turns, 2 sessions
        assert app.view.totals["total_tokens"] == 1375
        assert app.view.totals["turns"] == 3
        assert app.view.sessions == 2
        assert table_rows(app) == ["claude-code"]
        expected = {
            "2": ("models", {"claude-sonnet-4-5", "claude-opus-4-1"}),
            "3": ("workspaces", {"/w/alpha", "/w/beta"}),
            "4": ("sessions", {"s1", "s2"}),
            "5": ("devices", {DEVICE_ID}),
            "1": ("clients", {"claude-code"}),
        }
        for key, (tab, rows) in expected.items():
            await pilot.press(key)
            await settle(app, pilot)
            assert app.state.tab == tab
            assert {r.split("\x1f")[0] for r in table_rows(app)} == rows
        await pilot.press("6")
        await settle(app, pilot)
        assert app.state.tab == "daily"
        # 30 days 10-22..11-20; 11-20: 1365 tokens, 11-10: 10
        daily = {d.isoformat(): t for d, _c, t in app.view.daily}
        assert len(daily) == 30
        assert daily["2026-11-20"] == 1365
        assert daily["2026-11-10"] == 10
        assert sum(daily.values()) == 1375
        assert table_rows(app)[0] == "2026-11-20"  # newest first


async def test_period_device_client_group_sort_keys(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("p")  # 30d -> month
        await settle(app, pilot)
        assert app.state.period == "month"
        await pilot.press("p", "p")  # -> all -> today
        await settle(app, pilot)
        assert app.state.period == "today"
        assert app.view.totals["total_tokens"] == 1365  # only s1's two turns
        await pilot.press("p")  # -> 7d (11-14..11-20): still only s1
        await settle(app, pilot)
        assert app.state.period == "7d"
        assert app.view.totals["turns"] == 2

        await pilot.press("d")
        await settle(app, pilot)
        assert app.state.device == DEVICE_ID
        await pilot.press("d")
        await settle(app, pilot)
        assert app.state.device is None

        await pilot.press("c")
        await settle(app, pilot)
        assert app.state.client == "claude-code"
        await pilot.press("c")
        await settle(app, pilot)
        assert app.state.client is None

        await pilot.press("p", "p", "p")  # 7d -> 30d -> month -> all
        await settle(app, pilot)
        await pilot.press("g", "home", "enter")  # the picker's first preset: client + model
        await settle(app, pilot)
        assert app.state.group2 == "model"
        # sonnet 1365 tokens sorts before opus 10
        assert table_rows(app) == ["claude-code\x1fclaude-sonnet-4-5", "claude-code\x1fclaude-opus-4-1"]

        await pilot.press("s")  # cost -> total tokens
        await settle(app, pilot)
        assert app.state.sort == "total_tokens"
        await pilot.press("s", "s")  # -> turns -> input
        await settle(app, pilot)
        assert app.state.sort == "input"
        assert app.main.query_one(UsageTable).sort_key == "input"


async def test_filter_and_escape(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3", "slash")
        await settle(app, pilot)
        field = app.main.query_one("#filter", Input)
        assert field.display and field.has_focus
        await pilot.press("b", "e", "t", "a")  # typed letters go to the input, not to bindings
        await settle(app, pilot)
        assert app.state.text == "beta"
        assert app.state.tab == "workspaces"
        assert table_rows(app) == ["/w/beta"]
        assert app.view.totals["total_tokens"] == 1375  # the filter narrows rows, not totals
        await pilot.press("enter")  # keep the filter, back to the table
        await settle(app, pilot)
        assert app.main.query_one(UsageTable).has_focus
        assert app.state.text == "beta"
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.state.text == ""
        assert not field.display
        assert len(table_rows(app)) == 2


async def test_enter_drills_down_and_escape_goes_back(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        # cursor on the first row (sonnet); Enter shows its sessions
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.state.tab == "sessions"
        assert app.state.drill == (("model", "claude-sonnet-4-5"),)
        assert [r.split("\x1f")[0] for r in table_rows(app)] == ["s1"]
        # Enter on a session lists its turns with running totals: 1350, then 1350 + 15
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        turns = app.screen.query_one(UsageTable)
        assert turns.row_count == 2
        from tokscope.tui.view import session_turns

        frame = session_turns(app.loaded, "s1", "UTC")
        assert frame.get_column("running_tokens").to_list() == [1350, 1365]
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape")  # undo the drill-down: back on Models
        await settle(app, pilot)
        assert app.state.drill == ()
        assert app.state.tab == "models"
        assert len(table_rows(app)) == 2


async def test_rescan_key_reads_new_turns(home: Path) -> None:
    paths = write_fixture(home)
    app = app_for(live=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.view.totals["turns"] == 3
        with paths["s2"].open("a") as fh:
            fh.write(claude_line("2026-11-20T11:00:00Z", "claude-opus-4-1", "m4", "s2", "/w/beta", 5, 5, 0, 0) + "\n")
        await pilot.press("r")
        await settle(app, pilot)
        # 1375 + 10
        assert app.view.totals["turns"] == 4
        assert app.view.totals["total_tokens"] == 1385


async def test_live_append_shows_without_a_key(home: Path) -> None:
    paths = write_fixture(home)
    app = app_for(live=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.watcher is not None
        assert app.view.totals["turns"] == 3
        with paths["s1"].open("a") as fh:
            fh.write(
                claude_line("2026-11-20T12:00:00Z", "claude-sonnet-4-5", "m5", "s1", "/w/alpha", 20, 30, 0, 0) + "\n"
            )
        # a brand-new transcript in a new project folder is seen too
        new = transcript(home, "/w/gamma", "s3")
        new.write_text(
            claude_line("2026-11-20T12:01:00Z", "claude-haiku-4-5", "m6", "s3", "/w/gamma", 1, 1, 0, 0) + "\n"
        )
        for _ in range(100):  # up to 5 s, normally well under 1 s
            await pilot.pause(0.05)
            if app.view.totals["turns"] == 5 and not app.busy:
                break
        # 1375 + 50 + 2
        assert app.view.totals["turns"] == 5
        assert app.view.totals["total_tokens"] == 1427
        assert app.view.sessions == 3
        table = app.main.query_one(UsageTable)  # and the table on screen says so
        cells = table.get_row("claude-code")
        assert cells[table.shown_columns.index("turns")].plain == "5"
        assert cells[table.shown_columns.index("total_tokens")].plain == "1,427"  # exact: the column has room


async def test_help_quit_and_palette(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "Period: all":
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.state.period == "all"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_keys_remap_by_binding_id(home: Path) -> None:
    write_fixture(home)
    app = app_for(settings=Config(extra={"keys": {"period": "P"}}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("P")
        await settle(app, pilot)
        assert app.state.period == "month"


async def test_daily_metric_key_and_export_without_shared_folder(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("m")  # not on the Daily tab: disabled
        assert app.state.metric == "cost"
        await pilot.press("6", "m")
        await settle(app, pilot)
        assert app.state.metric == "tokens"
        chart = app.main.query_one("#chart")
        assert max(v for _d, v in chart.days) == 1365
        await pilot.press("e")
        await pilot.pause()
        assert not app.export_busy  # nowhere to export to: a notice, no crash


async def test_export_key_writes_a_snapshot(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("tokscope.sync.snapshot")
    write_fixture(home)
    shared = tmp_path / "shared"
    shared.mkdir()
    app = app_for(settings=Config(shared_folder=shared))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert (shared / DEVICE_ID / "manifest.json").exists()
        assert app.last_export is not None


async def test_trust_a_device_from_the_devices_tab(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("tokscope.sync.merge")
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tokscope.ledger import Ledger
    from tokscope.sync.identity import Device, Identity
    from tokscope.sync.snapshot import export
    from tokscope.sync.trust import trusted_devices

    write_fixture(home)
    shared = tmp_path / "shared"
    other_id = "11111111-2222-4333-8444-555555555555"
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())
    other = Identity(device=Device(id=other_id, name="other"), private_key=key)
    export(shared, ledger=Ledger(tmp_path / "other-ledger"), identity=other)
    app = app_for(settings=Config(shared_folder=shared))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5")
        await settle(app, pilot)
        assert set(table_rows(app)) == {DEVICE_ID, other_id}
        table = app.main.query_one(UsageTable)
        table.move_cursor(row=table_rows(app).index(other_id))
        await pilot.press("t")
        await pilot.pause()
        text = str(app.screen.query_one("Static").render())
        assert other.fingerprint in text  # shown before anything is trusted
        await pilot.press("y")
        await settle(app, pilot)
        assert other_id in trusted_devices()
        entry = next(d for d in app.loaded.devices if d["id"] == other_id)
        assert entry["trusted"]


def test_view_state_keys() -> None:
    assert ViewState(tab="sessions").by() == ["session", "client", "workspace"]
    assert ViewState(tab="clients", group2="model").by() == ["client", "model"]
    assert ViewState(tab="models", group2="model").by() == ["model"]


async def test_auto_export_after_new_turns_is_debounced(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("tokscope.sync.snapshot")
    paths = write_fixture(home)
    shared = tmp_path / "shared"
    shared.mkdir()
    # settle must return within the debounce of the first scan's new turns: 1.5 s (0.3 s was often
    # shorter than a settle on a loaded machine, with the alerts worker beside the load)
    app = app_for(live=True, settings=Config(shared_folder=shared, export_debounce=1.5))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        manifest = shared / DEVICE_ID / "manifest.json"
        assert not manifest.exists()  # nothing new since start: no export
        for i in range(3):  # a burst: one export after the last change
            with paths["s1"].open("a") as fh:
                line = claude_line("2026-11-20T12:00:00Z", "claude-sonnet-4-5", f"a{i}", "s1", "/w/alpha", 1, 1, 0, 0)
                fh.write(line + "\n")
            await pilot.pause(0.05)
        for _ in range(800):  # bounded poll (40 s): a loaded machine delays the watcher, never the result
            await pilot.pause(0.05)
            if manifest.exists() and not app.export_busy and app.view.totals["turns"] == 6:
                break
        state = f"turns={app.view.totals['turns']} busy={app.busy} export_busy={app.export_busy}"
        assert manifest.exists(), state
        assert app.view.totals["turns"] == 6, state  # 3 + 3 appended


async def test_many_rows_are_capped_with_a_notice(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tokscope.tui.view as view_module

    write_fixture(home)
    monkeypatch.setattr(view_module, "ROW_LIMIT", 1)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot)
        assert len(table_rows(app)) == 1
        assert app.view.row_count == 2
        assert "first 1 of 2 rows" in str(app.main.query_one("#notes").render())


def test_new_ledger_deltas_apply_like_a_full_reload(home: Path) -> None:
    from tokscope.ledger import Ledger
    from tokscope.scan import scan
    from tokscope.tui.loading import apply_new_segments, load

    paths = write_fixture(home)
    # 60 one-token turns, so that the ledger's base is big enough for two new rows to stay a delta
    filler = transcript(home, "/w/filler", "s9")
    filler.write_text(
        "".join(
            claude_line(f"2026-11-19T10:{i:02d}:00Z", "claude-haiku-4-5", f"f{i}", "s9", "/w/filler", 1, 0, 0, 0) + "\n"
            for i in range(60)
        )
    )
    ledger = Ledger()
    scan(ledger=ledger)
    before = load(Config(), ledger=ledger, clock=lambda: NOW)
    with paths["s1"].open("a") as fh:
        # a later, more complete streaming copy of m1 (output 50 -> 80) and a new turn m7
        fh.write(claude_line("2026-11-20T10:00:00Z", "claude-sonnet-4-5", "m1", "s1", "/w/alpha", 100, 80, 1000, 200))
        fh.write("\n" + claude_line("2026-11-20T13:00:00Z", "claude-opus-4-1", "m7", "s1", "/w/alpha", 7, 7, 7, 7))
        fh.write("\n")
    scan(ledger=ledger)
    incremental = apply_new_segments(before, ledger, lambda: NOW, 2)
    assert incremental is not None
    full = load(Config(), ledger=ledger, clock=lambda: NOW)
    columns = ["event_key", "input", "output", "cache_read", "cache_write_5m"]
    assert incremental.events.select(columns).sort("event_key").equals(full.events.select(columns).sort("event_key"))
    # m1 now 100 + 80 + 1000 + 200 = 1380; m7 28; with m2 15, m3 10 and the filler 60: 1493 in 64 events
    totals = incremental.events.select(pl.sum_horizontal("input", "output", "cache_read", "cache_write_5m").sum())
    assert totals.item() == 1493
    assert incremental.events.height == 64
    assert any(name.startswith("delta-") for name in incremental.segments)  # the incremental path ran
    # nothing new: the same data, no reload needed
    again = apply_new_segments(incremental, ledger, lambda: NOW, 3)
    assert again is not None and again.segments == incremental.segments


async def test_second_start_paints_the_cached_view_then_live_data(home: Path) -> None:
    paths = write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "cached" not in app.timings
    again = app_for()
    async with again.run_test(size=SIZE) as pilot:
        assert "cached" in again.timings  # painted in on_ready, before any load finished
        await settle(again, pilot)
        assert again.view.totals["total_tokens"] == 1375
        assert not again.loaded.cached
    with paths["s2"].open("a") as fh:  # the ledger changes: the cache no longer applies
        fh.write(claude_line("2026-11-20T11:00:00Z", "claude-opus-4-1", "m8", "s2", "/w/beta", 1, 1, 0, 0) + "\n")
    from tokscope.scan import scan

    scan()
    third = app_for()
    async with third.run_test(size=SIZE) as pilot:
        assert "cached" not in third.timings
        await settle(third, pilot)
        assert third.view.totals["total_tokens"] == 1377  # 1375 + 2


async def test_another_devices_snapshot_shows_without_a_key(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("tokscope.sync.merge")
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tokscope.events import frame_from_rows
    from tokscope.ledger import Ledger
    from tokscope.sync.identity import Device, Identity
    from tokscope.sync.snapshot import export
    from tokscope.sync.trust import pin

    write_fixture(home)
    shared = tmp_path / "shared"
    shared.mkdir()
    other_id = "11111111-2222-4333-8444-555555555555"
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())
    other = Identity(device=Device(id=other_id, name="other"), private_key=key)
    pin(other_id, "other", other.public_key_text)
    their = Ledger(tmp_path / "other-ledger")
    ts = int(NOW.timestamp() * 1_000_000) - 3_600_000_000
    row = Row("codex", "openai", "gpt-5", "/w/x", "t1", None, "k1", ts, 100, 200, 0, 300, 0, 0, None, None, 1)
    with their.lock():
        state = their.load_state()
        their.append(frame_from_rows([row]), state)
        their.save_state(state)
    app = app_for(live=True, settings=Config(shared_folder=shared))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.view.totals["turns"] == 3
        export(shared, ledger=their, identity=other)  # the snapshot "arrives" (a sync tool writes it)
        for _ in range(100):
            await pilot.pause(0.05)
            if app.view.totals["turns"] == 4 and not app.busy:
                break
        # 1375 + 100 + 200 + 300
        assert app.view.totals["turns"] == 4
        assert app.view.totals["total_tokens"] == 1975
        assert other_id in app.loaded.device_ids


async def test_clicking_a_header_sorts_and_again_reverses(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)

        def header_x(key: str) -> int:
            x = 0
            for column in table.ordered_columns:
                if column.key.value == key:
                    return x + 1
                x += column.get_render_width(table)
            raise AssertionError(key)

        await pilot.click(UsageTable, offset=(header_x("turns"), 0))
        await settle(app, pilot)
        assert (app.state.sort, app.state.descending) == ("turns", True)
        # sonnet has 2 turns, opus 1
        assert table_rows(app) == ["claude-sonnet-4-5", "claude-opus-4-1"]
        await pilot.click(UsageTable, offset=(header_x("turns"), 0))
        await settle(app, pilot)
        assert (app.state.sort, app.state.descending) == ("turns", False)
        assert table_rows(app) == ["claude-opus-4-1", "claude-sonnet-4-5"]


async def test_the_cli_start_up_load_is_taken_by_the_default_app(home: Path) -> None:
    from tokscope.scan import scan
    from tokscope.tui import loading

    write_fixture(home)
    scan()
    loading.start_prefetch()  # what ``tokscope`` does before importing Textual
    early = loading._early
    assert early is not None
    explicit = app_for()  # other settings: not the same data, so not taken
    assert loading._early is early and explicit._prefetch is not early
    app = make_app(scan_on_start=False)
    assert app._prefetch is early and loading.take_prefetch() is None
    assert app.settings is early.settings
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.loaded is not None and app.loaded.size() == 3
        assert app.view is not None and app.view.state == app.state


async def test_the_sorted_column_shows_its_arrow_even_when_narrow(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)
        widths = {}
        for _ in range(9):  # every sort column once
            columns = {str(k.value): c for k, c in table.columns.items()}
            column = columns[table.sort_key or ""]  # `s` skips columns the pane dropped
            widths[table.sort_key] = column.width
            assert column.label.plain.endswith(("▼", "▲")), column.label.plain
            await pilot.press("s")
            await settle(app, pilot)
        assert {"cost", "input", "turns", "client"} <= set(widths)
        assert "reasoning" not in widths  # dropped at 80 columns
        assert min(widths.values()) <= len("Cache rd"), widths  # a column narrower than label + arrow
