"""The TUI with a [[plan]]: accounts as a second key, paid beside API equivalent, the plan's value."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokscope.widgets.summary import Summary

from tests.test_app import app_for
from tests.tui_helpers import settle, table_rows, write_fixture
from tokscope.config import load


async def test_summary_shows_paid_api_equivalent_and_the_plans_value(home: Path) -> None:
    write_fixture(home)
    config = home / ".config" / "tokscope" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[[plan]]\nname = "Claude Max 20x"\naccounts = ["~/.claude"]\n')
    app = app_for(settings=load())
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        totals = app.view.totals
        assert totals["turns"] == 3
        assert totals["subscription"] == pytest.approx(totals["cost"]) and totals["metered"] == 0
        (plan,) = app.view.plans
        # 30d ending 2026-11-20 at billing day 1: Oct 22-31 = 10/31 of $200, Nov 1-20 = 20/30 of $200
        assert plan["paid"] == round(200 * 10 / 31 + 200 * 20 / 30, 2) == 197.85
        assert plan["turns"] == 3
        text = str(app.main.query_one(Summary).render())
        assert "API equiv." in text and "Paid $0.00" in text
        assert "Claude Max 20x: $197.85 paid" in text
        await pilot.press("g", "home", *["down"] * 6, "enter")  # the picker's seventh preset: client + account
        await settle(app, pilot)
        assert app.state.group2 == "account"
        assert {r.split("\x1f")[-1] for r in table_rows(app)} == {"~/.claude"}
