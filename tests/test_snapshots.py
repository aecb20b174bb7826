"""SVG snapshots of every tab on the demo data, at a tmux-sized 80×24 and at 120×36.

Deterministic: the demo's seeded data and fixed device keys, a fixed clock
(2026-11-20 15:30 UTC, shown as the "updated" time), no watcher, no live turns,
no animations. Update after an intended change with
``pytest tests/test_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui_helpers import settle
from tokscope.demo import FIXED_NOW, build_demo, demo_app
from tokscope.tui.tabs import all_tabs, hotkey

TABS = [t.key for t in all_tabs()]
SIZES = [(80, 24), (120, 36)]


def _app(home: Path, tmp_path: Path):
    demo = build_demo(home, tmp_path / "shared", FIXED_NOW.date(), days=60)
    app = demo_app(demo, clock=lambda: FIXED_NOW, live=False, tick=False)
    app.animation_level = "none"
    return app


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("tab", TABS)
def test_tab(tab: str, size: tuple[int, int], home: Path, tmp_path: Path, snap_compare) -> None:
    app = _app(home, tmp_path)
    number = str(TABS.index(tab) + 1)

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        await pilot.press(number)
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_empty_home(home: Path, snap_compare) -> None:
    from tests.tui_helpers import NOW
    from tokscope.config import Config
    from tokscope.tui.app import make_app

    app = make_app(Config(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "keys",
    [("7",), ("7", "m"), ("g",), (hotkey("limits"),), (hotkey("alerts"),), (hotkey("alerts"), "down", "a")],
    ids=["calendar", "calendar-tokens", "group-picker", "limits", "alerts", "alerts-acknowledged"],
)
def test_new_screens(keys: tuple[str, ...], size: tuple[int, int], home: Path, tmp_path: Path, snap_compare) -> None:
    app = _app(home, tmp_path)

    async def run_before(pilot) -> None:
        await settle(app, pilot)
        await pilot.press(*keys)
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
