"""Command palette provider: every hotkey's action, plus pickers for period, device, client and group."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider


class TokscopeProvider(Provider):
    """tokscope's commands; the list follows the current data and view."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: Any = self.app
        commands: list[tuple[str, Callable[[], Any], str]] = []
        try:
            screen = app.main
        except (LookupError, AttributeError):
            return commands
        from tokscope.tui.screens import second_keys
        from tokscope.tui.tabs import all_tabs, hotkey
        from tokscope.tui.view import PERIOD_CYCLE, SORT_CYCLE

        for spec in all_tabs():
            commands.append((f"Tab: {spec.title}", partial(screen.action_tab, spec.key), f"key {hotkey(spec.key)}"))
        for period in PERIOD_CYCLE:
            commands.append((f"Period: {period}", partial(app.set_state, period=period), "key p cycles"))
        state = app.state
        loaded = app.loaded
        commands.append(("Device: all", partial(app.set_state, device=None), "key d cycles"))
        commands.append(("Client: all", partial(app.set_state, client=None), "key c cycles"))
        if loaded is not None:
            for did in loaded.device_ids:
                name = loaded.names.get(did, did)
                commands.append((f"Device: {name}", partial(app.set_state, device=did), did))
            for client in loaded.clients:
                commands.append((f"Client: {client}", partial(app.set_state, client=client), "key c cycles"))
        commands.append(("Group by: nothing more", partial(app.set_state, group2=None), "key g picks"))
        for key in second_keys(state.tab):
            commands.append((f"Group by: {key} too", partial(app.set_state, group2=key), "key g picks"))
        for column in SORT_CYCLE:
            label = "name" if column == "key" else column.replace("_", " ")
            commands.append((f"Sort by {label}", partial(screen.sort_by, column), "key s cycles"))
        commands.append(("Filter rows…", screen.action_filter, "key /"))
        commands.append(("Chart: cost / tokens", screen.action_metric, "key m on the Daily tab"))
        commands.append(("Rescan agent logs", app.action_rescan, "key r"))
        commands.append(("Export this device's snapshot now", app.action_export, "key e"))
        commands.append(("Show keys", app.action_keys, "key ?"))
        if loaded is not None:
            for entry in loaded.devices:
                if not entry.get("trusted") and entry.get("id") != loaded.device_id:
                    name = entry.get("name") or entry.get("id")
                    commands.append(
                        (f"Trust device {name}…", partial(screen.ask_trust, str(entry["id"])), "shows its fingerprint")
                    )
        return commands

    async def discover(self) -> Hits:
        """The commands, before anything is typed."""
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Commands matching ``query``."""
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
