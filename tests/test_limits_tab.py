"""The Limits tab: registered through the tab registry, opened by its key, bars per account and window."""

from __future__ import annotations

from pathlib import Path

from tokscope.readers.base import QuotaSample
from tokscope.widgets.limits import LimitsPanel, bar, render
from tokscope.widgets.usage_table import UsageTable

from tests.tui_helpers import NOW, settle, write_fixture
from tokscope import quota
from tokscope.config import Config
from tokscope.tui import tabs
from tokscope.tui.app import make_app

NOW_US = int(NOW.timestamp() * 1_000_000)
MIN = 60_000_000


def test_the_tab_is_registered_after_calendar_with_its_hotkey() -> None:
    keys = [t.key for t in tabs.all_tabs()]
    assert keys[keys.index("calendar") + 1] == "limits"
    assert tabs.tab("limits").limits and tabs.hotkey("limits") == "8"


def test_bars_round_to_cells_and_clip() -> None:
    assert bar(62.0, 10) == "██████░░░░"
    assert bar(140.0, 4) == "████" and bar(-3, 4) == "░░░░"


def test_render_groups_by_account_with_countdown_burn_and_source() -> None:
    readings = [
        QuotaSample("codex", "~/.codex", "five_hour", 31.0, NOW_US - 60 * MIN, NOW_US + 145 * MIN, "codex", 300),
        QuotaSample("codex", "~/.codex", "five_hour", 61.0, NOW_US - 10 * MIN, NOW_US + 145 * MIN, "codex", 300),
        QuotaSample("claude-code", "~/.claude", "weekly", 71.0, NOW_US - 6 * MIN, NOW_US - MIN),
    ]
    rows = quota.limit_rows(readings, NOW_US, "dev-1", {"dev-1": "laptop"})
    wide = render(rows, 160).plain.splitlines()
    assert wide[0].startswith("~/.claude  claude-code")
    assert "reset since seen" in wide[1] and "official · 6m ago · laptop" in wide[1]
    assert wide[3].startswith("~/.codex  codex")
    assert " 61%  ↻  2h25m  burn 36.0%/h  out 16:25 UTC  official · 10m ago · laptop" in wide[4]
    narrow = render(rows, 80).plain.splitlines()
    assert "burn" not in narrow[4] and narrow[4].endswith("official · 10m ago")
    assert "No official limits recorded yet" in render([], 80).plain


async def test_its_key_opens_it_and_shows_the_stored_readings(home: Path) -> None:
    write_fixture(home)
    quota.record([QuotaSample("codex", str(home / ".codex"), "weekly", 40.0, NOW_US - MIN, NOW_US + 86_400_000_000)])
    app = make_app(Config(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press(tabs.hotkey("limits"))
        await settle(app, pilot)
        assert app.state.tab == "limits"
        panel = app.main.query_one(LimitsPanel)
        assert panel.display and not app.main.query_one(UsageTable).display
        text = str(panel.render())
        assert "~/.codex" in text and "weekly" in text and "40%" in text and "1d0h" in text
        await pilot.press("1")
        await settle(app, pilot)
        assert not panel.display and app.main.query_one(UsageTable).display
