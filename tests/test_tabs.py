"""The tab registry: one table the screen, the view, the cache, help and palette read."""

from __future__ import annotations

import pytest

from tokscope.tui import tabs
from tokscope.tui.view import ViewState


def test_hotkeys_follow_the_registry_order() -> None:
    keys = [t.key for t in tabs.all_tabs()]
    assert keys[:6] == ["clients", "models", "workspaces", "sessions", "devices", "daily"]
    assert [tabs.hotkey(k) for k in keys] == [str(i) for i in range(1, len(keys) + 1)]


def test_a_tab_groups_by_its_declared_keys_and_the_second_key() -> None:
    assert ViewState(tab="sessions").by() == ["session", "client", "workspace"]
    assert ViewState(tab="models", group2="client").by() == ["model", "client"]
    assert ViewState(tab="models", group2="model").by() == ["model"]


def test_unknown_tab_falls_back_to_the_first() -> None:
    assert tabs.tab("no-such-tab").key == "clients"


def test_registering_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered already"):
        tabs.register(tabs.TabSpec("clients", "Clients", ("client",)))


def test_second_keys_leave_out_what_the_tab_groups_by() -> None:
    from tokscope.tui.screens import second_keys

    assert "model" not in second_keys("models")
    assert second_keys("sessions") == ["model", "device"]
    assert "day" not in second_keys("daily") and "client" in second_keys("daily")


def test_only_cacheable_tabs_are_cached() -> None:
    from tokscope.tui.loading import CACHEABLE

    assert set(CACHEABLE) == {t.key for t in tabs.all_tabs() if t.cacheable}
    assert "daily" not in CACHEABLE and "devices" not in CACHEABLE
