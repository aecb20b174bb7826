"""Two devices driven through the installed entry point (``python -m tokscope``), one process per command,
sharing a folder or an S3 bucket prefix."""

from __future__ import annotations

import json
from pathlib import Path

from tests.devices_helpers import TURN_TOTAL, make_devices
from tests.s3_server import Side


def test_two_devices_through_the_entry_point(tmp_path: Path, side: Side) -> None:
    a, b = make_devices(tmp_path, "laptop", "server", side=side)
    a.turns("sa", 2)
    b.turns("sb", 3, month=2)
    for dev in (a, b):
        proc = dev.subprocess("export")
        assert proc.returncode == 0 and "Exported" in proc.stdout, proc.stderr
    shown = json.loads(b.subprocess("devices", "show", "--format", "json").stdout)
    proc = a.subprocess("devices", "trust", "server", "--fingerprint", shown["fingerprint"])
    assert proc.returncode == 0 and shown["fingerprint"] in proc.stdout, proc.stderr
    proc = a.subprocess("report", "--by", "device", "--period", "all", "--format", "json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["device_name"]: r for r in data["rows"]}
    assert {k: v["turns"] for k, v in rows.items()} == {"laptop": 2, "server": 3}
    assert rows["server"]["device"] == shown["id"]
    assert data["totals"]["total_tokens"] == 5 * TURN_TOTAL  # (2 + 3) turns × 115 tokens = 575
    # b has not trusted a: its report says so on stderr, and counts only itself
    proc = b.subprocess("report", "--by", "device", "--period", "all", "--format", "json")
    assert "device laptop" in proc.stderr and "not trusted" in proc.stderr
    assert [r["device_name"] for r in json.loads(proc.stdout)["rows"]] == ["server"]
