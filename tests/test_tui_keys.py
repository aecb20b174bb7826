"""Keys a person reaches for first: row movement, reverse sort, the group-by picker, q everywhere,
drill-downs that end with their tab, and a Daily tab that fits the pane and the period."""

from __future__ import annotations

from pathlib import Path

from tokscope.widgets.daily_chart import DailyChart
from tokscope.widgets.usage_table import UsageTable

from tests.tui_helpers import NOW, settle, table_rows, write_fixture
from tokscope.config import Config
from tokscope.tui.app import TokscopeApp, make_app
from tokscope.tui.screens import GroupScreen, SessionScreen, group_choices


def app_for() -> TokscopeApp:
    app = make_app(Config(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    return app


async def test_j_k_home_end_move_the_cursor(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")  # two workspaces
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)
        assert table.cursor_row == 0
        await pilot.press("j")
        assert table.cursor_row == 1
        await pilot.press("k")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1 == 1
        await pilot.press("home")
        assert table.cursor_row == 0


async def test_shift_s_reverses_the_sort(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        before = table_rows(app)
        await pilot.press("S")
        await settle(app, pilot)
        assert app.state.sort == "cost" and app.state.descending is False
        assert table_rows(app) == list(reversed(before))
        assert "▲" in str(app.main.query_one(UsageTable).columns[app.main.query_one(UsageTable).sort_key].label)
        await pilot.press("S")
        await settle(app, pilot)
        assert app.state.descending is True and table_rows(app) == before


async def test_g_opens_the_picker_and_a_preset_sets_tab_and_second_key(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        await settle(app, pilot)
        assert isinstance(app.screen, GroupScreen)
        labels = [label for label, _tab, _key in group_choices()]
        assert labels[:4] == ["client + model", "workspace + model", "session + model", "device + client"]
        assert "workspace + device" in labels  # any pair, not only presets
        await pilot.press("home", "down", "enter")  # workspace + model
        await settle(app, pilot)
        assert app.state.tab == "workspaces" and app.state.group2 == "model"
        assert sorted(table_rows(app)) == ["/w/alpha\x1fclaude-sonnet-4-5", "/w/beta\x1fclaude-opus-4-1"]
        await pilot.press("g", "escape")  # Esc keeps what was there
        await settle(app, pilot)
        assert app.state.tab == "workspaces" and app.state.group2 == "model"


async def test_leaving_the_drilled_tab_ends_the_drill_down(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "enter")  # sonnet's sessions
        await settle(app, pilot)
        assert app.state.drill == (("model", "claude-sonnet-4-5"),)
        await pilot.press("3")
        await settle(app, pilot)
        assert app.state.drill == ()
        assert len(table_rows(app)) == 2  # both workspaces again, not only sonnet's


async def test_q_quits_from_the_session_screen(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("4", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0  # set by App.exit: q quit the app instead of going back


async def test_daily_tab_fits_a_small_pane_and_grows_in_a_large_one(home: Path) -> None:
    write_fixture(home)
    sizes = {}
    for size in ((60, 15), (80, 24), (160, 45)):
        app = app_for()
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await pilot.press("6")
            await settle(app, pilot)
            chart = app.main.query_one(DailyChart)
            table = app.main.query_one(UsageTable)
            sizes[size] = (chart.size.height, table.size.height)
    assert sizes[(60, 15)][1] >= 3  # header + at least two rows
    assert sizes[(160, 45)][0] > sizes[(80, 24)][0] >= 6


async def test_session_turns_are_filtered_off_the_ui_thread(home: Path, monkeypatch) -> None:
    import threading

    from tokscope.tui import view

    write_fixture(home)
    threads: list[bool] = []
    real = view.session_turns

    def recording(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(view, "session_turns", recording)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("4", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SessionScreen)
        assert threads == [False]
        assert app.screen.query_one(UsageTable).row_count >= 1


async def test_a_failing_worker_is_said_not_swallowed(home: Path, monkeypatch) -> None:
    from tokscope.tui import view

    write_fixture(home)

    def broken(*args, **kwargs):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(view, "session_turns", broken)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("4", "enter")
        await settle(app, pilot)
        notes = [n.message for n in app._notifications]
        assert any("disk went away" in n for n in notes), notes


async def test_the_chosen_theme_is_kept_across_starts(home: Path) -> None:
    from tokscope.tui.prefs import load_prefs

    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.theme != "gruvbox"
        app.theme = "gruvbox"
        await settle(app, pilot)
        await app.workers.wait_for_complete()
    assert load_prefs().get("theme") == "gruvbox"
    again = app_for()
    assert again.theme == "gruvbox"


async def test_an_empty_period_names_the_latest_turn(home: Path) -> None:
    from tokscope.widgets.empty_state import EmptyState

    write_fixture(home)  # the last turn is on 2026-11-20, "today"; 11-10 before it
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.set_state(period="today", client="no-such-client")
        await settle(app, pilot)
        assert app.view.latest is None
        app.set_state(client=None, drill=(("model", "claude-opus-4-1"),))
        await settle(app, pilot)
        assert str(app.view.latest) == "2026-11-10"
        text = str(app.main.query_one(EmptyState).render())
        assert "latest turn with these filters is on 2026-11-10" in text


async def test_energy_estimate_shows_only_when_asked(home: Path) -> None:
    from tokscope.widgets.summary import Summary

    write_fixture(home)
    plain = app_for()
    async with plain.run_test(size=(120, 30)) as pilot:
        await settle(plain, pilot)
        assert plain.view.energy is None and "Energy" not in str(plain.main.query_one(Summary).render())
    app = make_app(Config(extra={"energy": True}), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        low, high = app.view.energy
        assert 0 < low < high
        text = str(app.main.query_one(Summary).render())
        assert "Energy ≈" in text and "order of magnitude" in text


async def test_y_copies_the_row_with_exact_figures(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "y")  # Models: sonnet first, 1,365 tokens
        await settle(app, pilot)
        copied = app.clipboard
        assert copied.startswith("Model: claude-sonnet-4-5\t")
        assert "Total: 1,365" in copied and "Reasoning: 0" in copied  # columns the pane drops are copied too


async def test_a_tab_key_followed_at_once_by_that_tabs_key_works(home: Path) -> None:
    write_fixture(home)
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.main.action_tab("calendar")  # what 7 does; the next key is handled before Tabs says it changed
        assert app.state.tab == "calendar" and app.main.check_action("metric", ())
        await settle(app, pilot)
        assert app.state.tab == "calendar"
