"""An export in one process while another merges: never an exception, never a partial snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.devices_helpers import make_devices

ROUNDS = 12

EXPORTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.devices_helpers import Dev
    from tokscope.cli import main
    dev = Dev(Path({tmp!r}), Path({shared!r}), "b")
    for i in range({rounds}):
        # two more turns each round; every third round opens a new month (a new file)
        dev.turns("sb", 2, month=1 + (i + 1) // 3, start=1 + 2 * i)
        assert main(["export", "-q"]) == 0
    print("done")
    """
)


def test_export_while_another_process_merges(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    a.turns("sa", 1)
    b.turns("sb", 1)
    a.ok("scan", "-q")
    b.ok("export")
    a.ok("devices", "trust", "b")
    assert a.by_device("--no-scan")["b"]["turns"] == 1
    script = EXPORTER.format(
        root=str(Path(__file__).resolve().parent.parent), tmp=str(tmp_path), shared=str(b.shared), rounds=ROUNDS
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, **b.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    seen: list[int] = []
    try:
        while child.poll() is None or not seen:
            code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json", "--no-scan")
            assert code == 0, err
            assert "not merged" not in err, err  # never a refusal: old or new snapshot, each whole
            rows = {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]}
            assert rows["a"] == 1
            seen.append(rows["b"])
    finally:
        _stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 0, stderr
    valid = {1 + 2 * k for k in range(ROUNDS + 1)}  # b's turns after k exports
    assert set(seen) <= valid, seen
    assert seen == sorted(seen)  # snapshots only move forward
    assert a.by_device("--no-scan")["b"]["turns"] == 1 + 2 * ROUNDS
    assert len(seen) >= 3, seen  # the merges really ran during the exports
