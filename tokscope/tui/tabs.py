"""The tab registry: every tab of the main screen, what it groups by and what it shows.

The screen, the view computation, the view cache, the help and the command palette all read
this one table; a new tab (Limits, Alerts …) is one ``register`` call, not a dozen ``tab ==``
checks. Textual-free (the start-up prefetch uses it before Textual is imported).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TabSpec:
    """One tab of the main screen."""

    key: str
    """Its id (``"clients"``), kept in ``ViewState.tab``."""
    title: str
    group_by: tuple[str, ...]
    """The key columns of its table before any second key (``g``)."""
    second_keys: tuple[str, ...] | None = None
    """The second keys ``g`` offers; None: every ``SECOND_KEYS`` entry not already grouped by."""
    cacheable: bool = False
    """Its start-up view may be painted from the view cache (plain rows only)."""
    chart: bool = False
    """A per-day chart above the table (and the daily series computed for it)."""
    device_table: bool = False
    """Without a second key, the table is the device roster (status, fingerprint, trust)."""
    turns_on_enter: bool = False
    """Enter on a row opens that session's turns (and the table shows when it was last used)."""
    calendar: bool = False
    """A year calendar and an hour-of-day × weekday heatmap instead of the table."""
    limits: bool = False
    """The official usage limits of every account (``tokscope.quota``) instead of the table."""
    key_sort_descending: bool = False
    """Sorting by the key column starts descending (days: newest first)."""
    actions: tuple[str, ...] = ()
    """Screen actions that only make sense on this tab (``metric``, ``trust``)."""
    short: str = ""
    """The title in the compact tab bar (narrow terminals); empty: ``title``."""
    alerts: bool = False
    """The current alerts (``tokscope.alerts``: budget thresholds, anomalies) instead of the usage table."""

    @property
    def own_key(self) -> str:
        """The group key the tab is named after."""
        return self.group_by[0]


_REGISTRY: dict[str, TabSpec] = {}


def register(spec: TabSpec) -> TabSpec:
    """Add a tab at the end (its hotkey is its position, 1-9)."""
    if spec.key in _REGISTRY:
        raise ValueError(f"tab {spec.key!r} is registered already")
    _REGISTRY[spec.key] = spec
    return spec


def all_tabs() -> tuple[TabSpec, ...]:
    """Every tab, in display (and hotkey) order."""
    return tuple(_REGISTRY.values())


def tab(key: str) -> TabSpec:
    """The tab named ``key``; an unknown name (an old view cache, a typo in a test) is the first tab."""
    return _REGISTRY.get(key) or next(iter(_REGISTRY.values()))


def hotkey(key: str) -> str:
    """The digit that opens tab ``key``."""
    return str(list(_REGISTRY).index(key) + 1)


def tab_labels(width: int) -> tuple[list[str], bool]:
    """The tab bar's labels (``1 Clients`` …) for a bar ``width`` cells wide, and whether they are the
    compact ones: the titles with a cell of padding each side when they fit, else the short titles
    with one cell between them (the bar's compact form), so every tab stays visible at 80 columns."""
    tabs = all_tabs()
    full = [f"{i} {t.title}" for i, t in enumerate(tabs, 1)]
    if sum(len(label) + 2 for label in full) <= width:
        return full, False
    return [f"{i} {t.short or t.title}" for i, t in enumerate(tabs, 1)], True


register(TabSpec("clients", "Clients", ("client",), cacheable=True))
register(TabSpec("models", "Models", ("model",), cacheable=True))
register(TabSpec("workspaces", "Workspaces", ("workspace",), cacheable=True, short="Wksp"))
register(
    TabSpec(
        "sessions",
        "Sessions",
        ("session", "client", "workspace"),
        second_keys=("model", "device"),
        turns_on_enter=True,
    )
)
register(TabSpec("devices", "Devices", ("device",), device_table=True, actions=("trust",)))
register(TabSpec("daily", "Daily", ("day",), chart=True, key_sort_descending=True, actions=("metric",)))
register(
    TabSpec(
        "calendar", "Calendar", ("day",), calendar=True, key_sort_descending=True, actions=("metric",), short="Year"
    )
)
register(TabSpec("limits", "Limits", ("client",), limits=True))
register(TabSpec("alerts", "Alerts", ("client",), alerts=True, actions=("ack", "ack_all")))
