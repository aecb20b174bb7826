"""The year calendar and the hour-of-day heatmap: shades by quartile, the grid by week, sums that add up."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from tokscope.widgets.calendar import calendar_grid, levels, month_labels
from tokscope.widgets.heatmap import hour_levels

from tests.tui_helpers import NOW, settle, write_fixture


def test_levels_are_quartiles_of_the_nonzero_values() -> None:
    assert levels([0, 0]) == [0, 0]
    shades = levels([0, 1, 2, 3, 4, 1000])
    assert shades == [0, 1, 2, 3, 4, 4]  # a small day still shows: one huge day does not blank the rest
    assert levels([7, 7]) == [4, 4]


def test_grid_puts_each_day_under_its_weekday_and_week() -> None:
    today = date(2026, 12, 2)  # a Wednesday
    days = [(today - timedelta(days=i), float(i == 0) + float(i == 7)) for i in range(30, -1, -1)]
    mondays, grid = calendar_grid(days, 5)
    assert mondays[-1] == date(2026, 11, 30) and all(m.weekday() == 0 for m in mondays)
    assert grid[2][-1] == 4 and grid[2][-2] == 4  # today and a week ago, both Wednesdays
    assert grid[3][-1] is None  # Thursday after today: not drawn
    assert grid[0][-1] == 0


def test_month_labels_stand_over_the_first_week_of_each_month() -> None:
    mondays = [date(2026, 10, 5) + timedelta(weeks=w) for w in range(10)]  # Nov 2 is week 4, Dec 7 week 9
    line = month_labels(mondays, 2)
    assert line.startswith("Oct") and line.index("Nov") == 8 and line.index("Dec") == 18
    assert "Nov" not in month_labels([date(2026, 10, 26), date(2026, 11, 2)], 2)  # no room: never overprinted


def test_hour_levels_keep_the_grid_shape() -> None:
    grid = [[0.0] * 24 for _ in range(7)]
    grid[0][9] = 5.0
    grid[6][23] = 1.0
    shaded = hour_levels(grid)
    assert len(shaded) == 7 and all(len(r) == 24 for r in shaded)
    assert shaded[0][9] == 4 and shaded[6][23] >= 1 and shaded[3][3] == 0


async def test_calendar_tab_sums_match_the_events(home: Path) -> None:
    from tokscope.config import Config
    from tokscope.tui.app import make_app

    write_fixture(home)  # 1365 tokens on 2026-11-20 (a Friday, 10:00 and 10:05 UTC), 10 on 11-10 (Tuesday 09:00)
    app = make_app(Config(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("7")
        await settle(app, pilot)
        view = app.view
        assert len(view.year) == 371 and view.year[-1][0] == NOW.date()
        assert sum(t for _d, _c, t in view.year) == 1375
        assert view.hours[4][10][1] == 1365 and view.hours[1][9][1] == 10
        assert sum(t for row in view.hours for _c, t in row) == view.totals["total_tokens"]
        assert not app.main.query_one("#table").display
