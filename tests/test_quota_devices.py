"""Official limits across devices: exported in each device's signed snapshot, merged from trusted
devices, freshest reading per account window wins, never summed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tokscope.readers.base import QuotaSample

from tests.devices_helpers import make_devices
from tokscope import quota

MIN = 60_000_000


def reading(dev, window: str, used: float, ago_min: int, now_us: int) -> QuotaSample:
    return QuotaSample(
        "codex", str(dev.home / ".codex"), window, used, now_us - ago_min * MIN, now_us + 120 * MIN, "codex"
    )


def test_two_devices_freshest_wins_per_window(tmp_path: Path) -> None:
    laptop, server = make_devices(tmp_path, "laptop", "server")
    now_us = int(time.time() * 1_000_000)
    with laptop.active():
        quota.record([reading(laptop, "five_hour", 30.0, 10, now_us), reading(laptop, "weekly", 70.0, 1, now_us)])
    with server.active():
        quota.record([reading(server, "five_hour", 45.0, 2, now_us), reading(server, "weekly", 60.0, 30, now_us)])
    laptop.ok("export")
    server.ok("export")
    manifest = json.loads((server.folder / "manifest.json").read_text())
    assert [(e["window"], e["used_percent"]) for e in manifest["quota"]] == [("weekly", 60.0), ("five_hour", 45.0)]
    assert "device" not in manifest["quota"][0]  # named by the folder whose signature verified

    # untrusted: only its own readings
    alone = {r["window"]: r for r in laptop.json("limits", "--no-scan")["limits"]}
    assert (alone["five_hour"]["used_percent"], alone["five_hour"]["device_name"]) == (30.0, "laptop")

    laptop.ok("devices", "trust", server.id, "--fingerprint", server.json("devices", "show")["fingerprint"])
    merged = {r["window"]: r for r in laptop.json("limits", "--no-scan")["limits"]}
    assert len(laptop.json("limits", "--no-scan")["limits"]) == 2  # one row per account window, not per device
    assert (merged["five_hour"]["used_percent"], merged["five_hour"]["device_name"]) == (45.0, "server")
    assert (merged["weekly"]["used_percent"], merged["weekly"]["device_name"]) == (70.0, "laptop")
    assert merged["five_hour"]["account"] == "~/.codex"  # the same account on both machines


def test_an_edited_manifest_costs_that_devices_readings(tmp_path: Path) -> None:
    laptop, server = make_devices(tmp_path, "laptop", "server")
    now_us = int(time.time() * 1_000_000)
    with server.active():
        quota.record([reading(server, "five_hour", 45.0, 2, now_us)])
    server.ok("export")
    laptop.ok("devices", "trust", server.id, "--fingerprint", server.json("devices", "show")["fingerprint"])
    assert laptop.json("limits", "--no-scan")["limits"][0]["used_percent"] == 45.0
    path = server.folder / "manifest.json"
    path.write_text(path.read_text().replace('"used_percent": 45.0', '"used_percent": 5.0'))
    assert laptop.json("limits", "--no-scan")["limits"] == []  # the signature no longer verifies


def test_implausible_entries_from_another_device_are_left_out() -> None:
    now_us = int(time.time() * 1_000_000)
    good = {"client": "codex", "account": "~/.codex", "window": "weekly", "used_percent": 5.0, "observed_at": now_us}
    entries = [
        good,
        {**good, "used_percent": 5000.0},
        {**good, "observed_at": now_us + 10 * 86_400_000_000},
        {**good, "source": "estimated"},
        {**good, "window": ""},
        {**good, "used_percent": "lots"},
        "junk",
        {**good, "device": "someone-else"},
    ]
    got = quota.from_manifest(entries, "dev-b", now_us)
    assert [(s.used_percent, s.device) for s in got] == [(5.0, "dev-b"), (5.0, "dev-b")]
    assert quota.from_manifest({"not": "a list"}, "dev-b", now_us) == []
