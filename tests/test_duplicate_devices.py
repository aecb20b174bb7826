"""A trusted device whose turns are all duplicates of another device's (a synced ~/.claude) does not
vanish silently: ``report --by device`` and the Devices tab say that its turns are counted on the other."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.devices_helpers import make_devices
from tests.tui_helpers import NOW
from tokscope.sync.merge import DeviceState
from tokscope.tui.view import Loaded, device_rows
from tokscope.usage import duplicate_reasons


def test_reasons_name_the_devices_merged_before() -> None:
    names = {"a": "laptop", "b": "studio", "c": "build"}
    merged = {"b": 4, "c": 7, "d": None}
    # c has no turn of its own: its rows went to this device (a) or b, both merged before it
    assert duplicate_reasons("a", merged, {"a", "b"}, names) == {"c": "all 7 turns also on laptop, studio"}
    # b's went to this device; a device with no rows (d) or with turns (c) is not listed
    assert duplicate_reasons("a", merged, {"a", "c"}, names) == {"b": "all 4 turns also on laptop"}


def test_report_by_device_says_why_a_device_is_missing(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    for dev in (a, b):
        dev.turns("shared-session", 4)
        dev.ok("export")
    a.ok("devices", "trust", "b")
    code, _out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 4}
    assert "device b: no turns of its own here: all 4 turns also on a" in err
    _code, _out, err = a.cli("report", "--by", "client", "--period", "all")
    assert "no turns of its own" not in err  # only where devices are the rows


def test_devices_tab_rows_carry_the_reason() -> None:
    entry = {"fingerprint": None, "trusted": True, "last_export": None, "reason": None}
    loaded = Loaded(
        events=pl.DataFrame(),
        device_id="a",
        device_name="laptop",
        devices=[
            {**entry, "id": "a", "name": "laptop", "rows": None, "status": DeviceState.THIS_DEVICE},
            {**entry, "id": "b", "name": "studio", "rows": 12, "status": DeviceState.MERGED},
        ],
        notes=[],
        names={"a": "laptop", "b": "studio"},
        clients=["claude-code"],
        device_ids=["a"],
        priced=False,
        updated=NOW,
    )
    rows = {r["id"]: r for r in device_rows(loaded, None)}
    assert rows["b"]["reason"] == "all 12 turns also on laptop" and rows["a"]["reason"] is None
