"""The events every view starts from: this device's ledger, merged with the trusted
devices of the shared folder, then priced.

``load_usage`` is the one entry point the CLI report and the TUI share.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tokscope.config import Config
from tokscope.events import EVENT_SCHEMA
from tokscope.ledger import Ledger
from tokscope.sync.identity import Device, load_device
from tokscope.sync.location import S3Location


@dataclass
class Usage:
    """Events ready to aggregate, and what the user should know about them."""

    events: pl.LazyFrame
    """Event schema, plus ``cost`` / ``price_state`` once priced."""
    device: Device
    """This device."""
    devices: list[Any] = field(default_factory=list)
    """Status of every device seen in the shared folder (filled by the merge)."""
    notes: list[str] = field(default_factory=list)
    """Footnotes for every report: refused devices, unreadable files …"""
    plans: list[Any] = field(default_factory=list)
    """The ``[[plan]]`` entries of config.toml (``tokscope.plans.Plan``)."""
    account_rules: list[Any] = field(default_factory=list)
    """The ``[[account]]`` rules of config.toml (``tokscope.accounts.AccountRule``)."""

    def device_names(self) -> dict[str, str]:
        """Device id -> name: this device and every device the merge saw."""
        names = {d.id: d.name for d in self.devices if d.name}
        names[self.device.id] = self.device.name
        return names


def local_events(ledger: Ledger, device: Device) -> pl.LazyFrame:
    """This device's ledger in the event schema (device_id filled in, rank dropped)."""
    return ledger.lazy().with_columns(device_id=pl.lit(device.id, pl.Categorical())).select(list(EVENT_SCHEMA))


def load_usage(
    settings: Config,
    *,
    ledger: Ledger | None = None,
    shared: Path | S3Location | None = None,
    prices: Path | None = None,
) -> Usage:
    """This device's events, merged with trusted devices' snapshots, priced.

    ``shared`` overrides the configured shared folder; ``prices`` is an extra
    price override file (``--prices``).
    """
    device = load_device()
    usage = Usage(events=local_events(ledger or Ledger(), device), device=device)
    from tokscope.sync.merge import merge_shared  # merge step (devices): trusted snapshots + this ledger

    merged = merge_shared(usage.events, device, shared or settings.shared_folder, ledger=ledger or Ledger())
    usage.events, usage.devices, usage.notes = merged.events, merged.devices, [*usage.notes, *merged.notes]
    from tokscope.pricing import apply_pricing  # pricing step: adds cost / price_state columns

    usage.events, price_notes = apply_pricing(usage.events, prices)
    usage.notes.extend(price_notes)
    return with_accounts_and_kinds(usage, settings)


def with_accounts_and_kinds(usage: Usage, settings: Config) -> Usage:
    """``usage`` with each event's account as shown (``[[account]]`` rules) and its five cost kinds
    (``[[plan]]``; ``tokscope.pricing.kinds``); bad config entries become notes."""
    from tokscope import accounts, plans
    from tokscope.config import config_path

    where = str(config_path())
    usage.account_rules, errors = accounts.parse_rules(settings.extra.get("account"), where)
    usage.plans, plan_errors = plans.parse(settings.extra.get("plan"), where)
    usage.notes.extend([*errors, *plan_errors])
    usage.events = accounts_and_kinds(usage.events, usage.account_rules, usage.plans, usage.device_names())
    return usage


def duplicate_reasons(
    this_id: str, merged: Mapping[str, int | None], present: Collection[str], names: Mapping[str, str]
) -> dict[str, str]:
    """Why a merged device shows no turn: every row of its snapshot is a duplicate of a row merged
    before it (this device first, then the others by id; the first copy is kept).

    ``merged``: each merged device's id and its snapshot's row count; ``present``: the device ids
    that have turns in the merged events. Returns device id -> ``all 1,234 turns also on laptop``.
    """
    out: dict[str, str] = {}
    for device_id, rows in merged.items():
        if not rows or device_id in present:
            continue
        winners = [d for d in (this_id, *sorted(merged)) if d in present and (d == this_id or d < device_id)]
        where = ", ".join(names.get(d, d[:8]) for d in dict.fromkeys(winners)) or "devices merged before it"
        out[device_id] = f"all {rows:,} turns also on {where}"
    return out


def accounts_and_kinds(
    events: pl.LazyFrame, rules: list[Any], plans: list[Any], device_names: dict[str, str]
) -> pl.LazyFrame:
    """Priced ``events`` with ``account`` as shown and the five cost kinds (``with_accounts_and_kinds``)."""
    from tokscope.accounts import with_accounts
    from tokscope.events import CLIENTS
    from tokscope.pricing.kinds import estimated_clients, with_cost_kinds

    return with_cost_kinds(with_accounts(events, rules, device_names), plans, estimated_clients(CLIENTS))
