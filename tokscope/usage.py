"""The events every view starts from: this device's ledger (later merged and priced)."""

from __future__ import annotations

import polars as pl

from tokscope.events import EVENT_SCHEMA
from tokscope.identity import Device
from tokscope.ledger import Ledger


def local_events(ledger: Ledger, device: Device) -> pl.LazyFrame:
    """This device's ledger in the event schema (device_id filled in, rank dropped)."""
    return ledger.lazy().with_columns(device_id=pl.lit(device.id, pl.Categorical())).select(list(EVENT_SCHEMA))
