"""The Alerts tab and the header badge: registered through the tab registry, filled by a worker after
every load, live when the ledger changes, acknowledged with a / A (kept across restarts), Enter opens
the session an anomaly is about; and every tab label fits the tab bar at 80 columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tokscope.widgets.alerts import AlertDetail, alert_cells, detail_text
from tokscope.widgets.status_line import StatusLine
from tokscope.widgets.usage_table import UsageTable

from tests.cli_helpers import cli
from tests.test_anomalies import write_claude_session
from tests.tui_helpers import NOW, claude_line, settle, transcript, write_fixture
from tokscope import alerts
from tokscope.config import Config
from tokscope.tui import tabs
from tokscope.tui.app import make_app
from tokscope.tui.messages import SourcesChanged
from tokscope.tui.screens import SessionScreen

#: 1,365 tokens on 2026-11-20 in the fixture: 68 % of 2,000 (the 50 % threshold is crossed).
BUDGET = {"name": "tokens today", "tokens": 2000, "period": "day"}
THRASH = [  # six turns on 2026-11-19 writing 74,000 cache tokens and reading none: a cache thrash
    {"ts": f"2026-11-19T10:0{i}:00Z", "input": 10, "output": 100, "cache_read": 0, "cache_write": 74_000}
    for i in range(6)
]


def _app(**kw):
    app = make_app(Config(extra={"budget": [BUDGET], **kw}), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    return app


def _header(app) -> str:
    return str(app.main.query_one(StatusLine).render())


def test_the_tab_is_registered_with_the_next_key() -> None:
    assert tabs.hotkey("alerts") == "9" and tabs.tab("alerts").alerts
    assert set(tabs.tab("alerts").actions) == {"ack", "ack_all"}


def test_every_tab_label_fits_80_columns() -> None:
    labels, compact = tabs.tab_labels(80)
    assert compact and len(labels) == len(tabs.all_tabs())
    assert sum(len(label) + 1 for label in labels) <= 80  # one cell of padding each in the compact bar
    assert labels[2] == "3 Wksp" and labels[-1] == "9 Alerts"
    full, compact = tabs.tab_labels(120)
    assert not compact and full[2] == "3 Workspaces"


def test_cells_and_detail_of_a_budget_and_an_anomaly() -> None:
    budget = alerts.Delivery(
        alerts.Alert(
            "budget:tokens today:2026-11-20T00:00:00Z:50",
            "budget",
            "budget 'tokens today' past 50%: 68% of its day",
            {
                "name": "tokens today",
                "period": "day",
                "unit": "tokens",
                "limit": 2000.0,
                "scope": {"client": ["claude-code"]},
                "start": "2026-11-20T00:00:00Z",
                "end": "2026-11-21T00:00:00Z",
                "spent": 1365.0,
                "percent": 68.25,
                "forecast": 2120.0,
                "turns": 2,
                "threshold": 50.0,
            },
        ),
        "2026-11-20T15:30:00Z",
        {"http://h/x": {"state": "failed", "attempts": 3, "error": "HTTP 500"}, "desktop": {"state": "sent"}},
    )
    cells = alert_cells(budget, "Europe/Berlin", {})
    assert (cells["created"], cells["rule"], cells["scope"], cells["period"]) == (
        "11-20 16:30",
        "tokens today",
        "client=claude-code",
        "day 11-20",
    )
    assert (cells["threshold"], cells["figure"], cells["delivery"].plain, cells["ack"].plain) == (
        "50%",
        "1.4K",
        "hook ✗ desktop ✓",
        "new",
    )
    text = detail_text(budget, "UTC", {}).plain
    assert "spent 1.4K of 2.0K (68%) · 2 turns · forecast 2.1K by 11-21 00:00" in text
    assert "http://h/x: failed (HTTP 500, 3 attempts)" in text
    anomaly = alerts.Delivery(
        alerts.Alert(
            "anomaly:outlier:dev-b:2026-11-19T00:00:00Z",
            "outlier",
            "device b costs 12x its peers per turn",
            {"dimension": "device", "key": "dev-b", "start": "2026-11-19T10:00:00Z", "figures": {"cost": 4.5}},
        ),
        "2026-11-20T15:30:00Z",
        {},
        acknowledged="2026-11-20T15:31:00Z",
    )
    cells = alert_cells(anomaly, "UTC", {"dev-b": "studio"})
    assert (cells["rule"], cells["scope"], cells["threshold"], cells["figure"], cells["ack"].plain) == (
        "outlier",
        "device studio",
        "—",
        "$4.50",
        "ack",
    )
    assert cells["delivery"].plain == "shown"


async def test_tab_badge_acknowledge_and_restart(home: Path) -> None:
    write_fixture(home)
    app = _app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        assert "1 alert (9)" in _header(app)  # the badge on every tab
        await pilot.press("9")
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)
        assert app.state.tab == "alerts" and table.display
        assert table.row_keys == ["budget:tokens today:2026-11-20T00:00:00Z:50"]
        detail = str(app.main.query_one(AlertDetail).render())
        assert "budget 'tokens today' past 50%: 68% of its day" in detail
        assert "spent 1.4K of 2.0K (68%) · 2 turns" in detail
        await pilot.press("a")
        await settle(app, pilot)
        assert "alert" not in _header(app)
        assert table.cursor_text().endswith("Ack: ack")
    log = json.loads(alerts.log_path().read_text())["alerts"]
    assert log["budget:tokens today:2026-11-20T00:00:00Z:50"]["acknowledged"] == "2026-11-20T15:30:00Z"
    again = _app()
    async with again.run_test(size=(120, 30)) as pilot:
        await settle(again, pilot)
        assert again.alerts is not None and [d.acknowledged for d in again.alerts] == ["2026-11-20T15:30:00Z"]
        assert "alert" not in _header(again)


async def test_a_new_crossing_shows_live_and_A_acknowledges_all(home: Path) -> None:
    paths = write_fixture(home)
    app = _app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("9")
        await settle(app, pilot)
        # 300 more tokens: 1,665 of 2,000 is 83 %, past the 80 % threshold too
        with paths["s1"].open("a") as f:
            f.write(claude_line("2026-11-20T11:00:00Z", "claude-sonnet-4-5", "m9", "s1", "/w/alpha", 300, 0, 0, 0))
            f.write("\n")
        app.post_message(SourcesChanged(str(paths["s1"]), False))  # what the watcher posts
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)
        assert sorted(table.row_keys) == [
            "budget:tokens today:2026-11-20T00:00:00Z:50",
            "budget:tokens today:2026-11-20T00:00:00Z:80",
        ]
        assert "2 alerts (9)" in _header(app)
        await pilot.press("A")
        await settle(app, pilot)
        assert "alert" not in _header(app) and all(d.acknowledged for d in app.alerts)


async def test_an_anomaly_shows_its_proof_and_enter_opens_its_session(home: Path) -> None:
    write_fixture(home)
    write_claude_session(home, "thrashy", THRASH, workspace="/w/app")
    app = _app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        await pilot.press("9")
        await settle(app, pilot)
        table = app.main.query_one(UsageTable)
        key = next(k for k in table.row_keys if k.startswith("anomaly:cache_thrash:thrashy:"))
        table.move_cursor(row=table.row_keys.index(key))
        await settle(app, pilot)
        detail = str(app.main.query_one(AlertDetail).render())
        proof = [line for line in detail.splitlines() if line.startswith("  11-19 10:0")]
        assert len(proof) == 5 and "… 6 turns in all" in detail  # five proof rows of six
        assert proof[0].split() == ["11-19", "10:00", "claude-sonnet-4-5-20250929", "10", "100", "0", "74.0K", "$0.28"]
        assert "turns 6 · cache_write 444K · cache_read 0" in detail
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SessionScreen) and app.screen.session_id == "thrashy"


async def test_no_alerts_says_how_to_get_some(home: Path) -> None:
    write_fixture(home)
    app = make_app(Config(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("9")
        await settle(app, pilot)
        assert app.alerts == [] and not app.main.query_one(UsageTable).display
        assert "No alerts." in str(app.main.query_one("#empty").render())
        assert "[[budget]]" in str(app.main.query_one("#empty").render())


async def test_the_open_tui_delivers_each_alert_once_across_restarts_and_the_cli(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real local webhook that fails three times: the open TUI retries on its timer until it takes
    the alert, delivers a crossing that happens while it is open, and neither a restart nor
    ``tokscope alerts`` sends anything again."""
    from tests.test_alerts import Receiver
    from tokscope import config as config_mod
    from tokscope import paths
    from tokscope.tui import app as app_mod

    monkeypatch.setattr(alerts, "TIMEOUT", 0.3)
    monkeypatch.setattr(alerts, "RETRY", (0.05, 0.05, 0.05))
    monkeypatch.setattr(app_mod, "ALERT_RETRY", 0.2)
    receiver = Receiver(["500", "500", "500"])
    try:
        now = datetime.now(UTC) - timedelta(seconds=30)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        log = transcript(home, "/w/alpha", "s1")
        log.write_text(claude_line(stamp, "claude-sonnet-4-5", "m1", "s1", "/w/alpha", 500, 200, 0, 0) + "\n")
        config = paths.config_dir() / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            '[[budget]]\nname = "tok"\ntokens = 1000\nthresholds = [50, 100]\n\n'
            f'[alerts]\nwebhooks = ["{receiver.url}"]\nanomalies = false\n'
        )
        day = now.strftime("%Y-%m-%dT00:00:00Z")
        app = make_app(config_mod.load(), tz="UTC", live=False)
        app.animation_level = "none"
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot)  # 700 of 1,000 tokens: the 50 % alert, refused three times
            assert [d.state for d in app.alerts] == ["failed"]
            for _ in range(50):  # the retry timer (0.2 s here, ALERT_RETRY) tries again
                await pilot.pause(0.05)
                await settle(app, pilot)
                if app.alerts and app.alerts[0].state == "sent":
                    break
            assert [d.state for d in app.alerts] == ["sent"]
            with log.open("a") as f:  # 400 more: 1,100 of 1,000, the 100 % alert, while the TUI is open
                f.write(claude_line(stamp, "claude-sonnet-4-5", "m2", "s1", "/w/alpha", 400, 0, 0, 0) + "\n")
            app.post_message(SourcesChanged(str(log), False))
            await settle(app, pilot)
            assert {d.alert.key: d.state for d in app.alerts} == {
                f"budget:tok:{day}:50": "sent",
                f"budget:tok:{day}:100": "sent",
            }
        again = make_app(config_mod.load(), tz="UTC", live=False)
        async with again.run_test(size=(120, 30)) as pilot:
            await settle(again, pilot)
            assert [d.state for d in again.alerts] == ["sent", "sent"]
        code, out, _err = cli("alerts", "--format", "json", "--no-scan")
        assert code == 0 and {a["state"] for a in json.loads(out)["alerts"]} == {"sent"}
        assert [answer for answer, _b, _k in receiver.requests] == ["500", "500", "500", "ok", "ok"]
        assert sorted(receiver.taken) == sorted([f"budget:tok:{day}:100", f"budget:tok:{day}:50"])
    finally:
        receiver.server.shutdown()
