"""Export: month files, manifest and signature, only changed months rewritten, nothing new writes nothing,
redaction, and a process killed mid-export."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl

from tests.devices_helpers import TURN_INPUT, Dev, make_devices
from tokscope.events import EVENT_SCHEMA
from tokscope.sync.identity import decode_key, verify
from tokscope.sync.snapshot import FILE_RE, MANIFEST, SIGNATURE, redact_workspace


def listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder`` with (inode, size, mtime_ns)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def manifest_of(dev: Dev) -> dict:
    return json.loads((dev.folder / MANIFEST).read_bytes())


def test_export_layout_manifest_and_signature(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    dev.turns("s1", 3, month=1)
    dev.turns("s2", 2, month=2)
    dev.turns("s3", 1, month=3, cwd="/srv/other")
    out = dev.ok("export")
    assert "Exported 6 events in 3 month files" in out
    folder = dev.folder
    names = sorted(p.name for p in folder.iterdir())
    months = [n for n in names if FILE_RE.match(n)]
    assert [FILE_RE.match(n).group(1) for n in months] == ["2026-01", "2026-02", "2026-03"]  # type: ignore[union-attr]
    assert set(names) == {*months, MANIFEST, SIGNATURE}
    data = (folder / MANIFEST).read_bytes()
    manifest = json.loads(data)
    shown = dev.json("devices", "show")
    assert manifest["device_id"] == shown["id"] and manifest["name"] == "laptop"
    assert manifest["public_key"] == shown["public_key"]
    assert manifest["schema_version"] == 1 and manifest["rows"] == 6 and manifest["sequence"] > 0
    assert manifest["created_at"].endswith("+00:00")
    assert [f["rows"] for f in manifest["files"]] == [3, 2, 1]
    for entry in manifest["files"]:
        blob = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(blob).hexdigest() and entry["bytes"] == len(blob)
        assert entry["name"] == f"events-{entry['month']}-{entry['sha256'][:12]}.parquet"
    assert manifest["files"][0]["first_ts"] == "2026-01-15T10:00:00+00:00"
    assert manifest["files"][0]["last_ts"] == "2026-01-15T10:00:02+00:00"
    sig = json.loads((folder / SIGNATURE).read_bytes())
    assert sig["sequence"] == manifest["sequence"]
    assert sig["manifest_sha256"] == hashlib.sha256(data).hexdigest()
    key = decode_key(manifest["public_key"])
    assert verify(key, base64.b64decode(sig["signature"]), data)
    assert not verify(key, base64.b64decode(sig["signature"]), data.replace(b'"rows": 6', b'"rows": 7'))
    # the files hold the event schema with this device's id
    frame = pl.read_parquet(folder / months[0])
    assert frame.schema == EVENT_SCHEMA
    assert frame["device_id"].cast(pl.String).unique().to_list() == [shown["id"]]
    assert frame["input"].sum() == 3 * TURN_INPUT  # 3 turns × 10
    assert frame["workspace"].cast(pl.String).unique().to_list() == ["/home/u/proj"]


def test_nothing_new_writes_no_file(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    dev.turns("s1", 3)
    dev.ok("export")
    before = {**listing(dev.shared), **{f"data/{k}": v for k, v in listing(dev.root / "data").items()}}
    out = dev.ok("export", "--no-scan")
    assert out.startswith("Nothing new")
    out = dev.ok("export")  # a scan that finds nothing new changes nothing either
    assert out.startswith("Nothing new")
    after = {**listing(dev.shared), **{f"data/{k}": v for k, v in listing(dev.root / "data").items()}}
    assert after == before


def test_only_changed_months_are_rewritten(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    dev.turns("s1", 2, month=1)
    dev.turns("s2", 2, month=2)
    dev.ok("export")
    first = manifest_of(dev)
    jan, feb = (f["name"] for f in first["files"])
    jan_stat = (dev.folder / jan).stat()
    dev.turns("s2", 1, month=2, start=2)
    dev.ok("export")
    second = manifest_of(dev)
    assert second["sequence"] > first["sequence"]
    jan2, feb2 = (f["name"] for f in second["files"])
    assert jan2 == jan and (dev.folder / jan).stat().st_mtime_ns == jan_stat.st_mtime_ns
    assert feb2 != feb and second["files"][1]["rows"] == 3
    # the previous manifest's February stays for a merge that read it a moment ago …
    assert (dev.folder / feb).exists()
    dev.turns("s1", 1, month=1, start=2)
    dev.ok("export")
    # … and goes once no manifest in reach lists it
    assert not (dev.folder / feb).exists() and (dev.folder / feb2).exists()
    # a rename rewrites the manifest, not the months
    names = {f["name"] for f in manifest_of(dev)["files"]}
    dev.ok("devices", "rename", "desk")
    dev.ok("export")
    assert manifest_of(dev)["name"] == "desk" and {f["name"] for f in manifest_of(dev)["files"]} == names


def test_redact_workspaces(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    dev.turns("s1", 1, cwd="/home/me/src/secret-client")
    dev.ok("export", "--redact-workspaces")
    manifest = manifest_of(dev)
    assert manifest["redacted_workspaces"] is True
    frame = pl.read_parquet(dev.folder / manifest["files"][0]["name"])
    assert frame["workspace"].cast(pl.String).to_list() == ["secret-client"]
    assert b"/home/me" not in (dev.folder / manifest["files"][0]["name"]).read_bytes()
    # dropping the flag is a change: the full path comes back
    dev.ok("export")
    frame = pl.read_parquet(dev.folder / manifest_of(dev)["files"][0]["name"])
    assert frame["workspace"].cast(pl.String).to_list() == ["/home/me/src/secret-client"]


def test_redact_expression() -> None:
    paths = ["/home/u/app", "/home/u/app/", "C:\\Users\\me\\proj", "", "single", "/"]
    out = pl.Series(paths).to_frame("w").select(redact_workspace(pl.col("w")))["w"].to_list()
    assert out == ["app", "app", "proj", "", "single", ""]


def test_export_needs_a_shared_folder(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    code, _, err = dev.cli("export", "--shared", str(tmp_path / "nowhere"))
    assert code == 1 and "does not exist" in err
    env_dev = Dev(tmp_path, tmp_path / "shared", "x")
    with env_dev.active():
        os.environ.pop("TOKSCOPE_SHARED")
        from tokscope.cli import main

        assert main(["export"]) == 1


KILLER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from tokscope.sync import store
    real = store._publish
    def dying(path, data):
        if path.name.startswith("events-"):
            tmp = path.with_name("." + path.name + ".dying.tmp")
            tmp.write_bytes(data[: len(data) // 2])  # half a file, then the process dies
            os._exit(9)
        real(path, data)
    store._publish = dying
    from tokscope.cli import main
    main(["export", "--no-scan"])
    """
)


def test_killed_export_leaves_the_previous_snapshot_readable(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("s1", 2, month=1)
    b.ok("export")
    a.ok("devices", "trust", "b")
    assert a.by_device("--no-scan")["b"]["turns"] == 2
    before = manifest_of(b)
    b.turns("s1", 3, month=1, start=2)
    b.turns("s2", 1, month=4)
    b.ok("scan", "-q")
    proc = subprocess.run([sys.executable, "-c", KILLER], env={**os.environ, **b.env}, capture_output=True)
    assert proc.returncode == 9, proc.stderr
    assert any(p.name.endswith(".dying.tmp") for p in b.folder.iterdir())  # the export really died mid-way
    assert manifest_of(b) == before
    rows = a.by_device("--no-scan")
    assert rows["b"]["turns"] == 2  # still the previous snapshot, whole
    # the next export completes the job
    b.ok("export", "--no-scan")
    assert a.by_device("--no-scan")["b"]["turns"] == 6  # 2 + 3 + 1


def test_redact_workspaces_from_config(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "laptop")
    dev.turns("s1", 1, cwd="/home/me/src/secret-client")
    (dev.root / "config" / "tokscope" / "config.toml").write_text("redact_workspaces = true\n")
    dev.ok("export")
    manifest = manifest_of(dev)
    assert manifest["redacted_workspaces"] is True
    frame = pl.read_parquet(dev.folder / manifest["files"][0]["name"])
    assert frame["workspace"].cast(pl.String).to_list() == ["secret-client"]
