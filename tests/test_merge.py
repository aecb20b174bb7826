"""Merge across devices end to end through the CLI: totals, duplicates, every refusal one by one
(the other devices still merged), sync-tool debris ignored, schema drift tolerated."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import polars as pl
import pytest

from tests.devices_helpers import TURN_CACHE_READ, TURN_INPUT, TURN_OUTPUT, TURN_TOTAL, Dev, make_devices
from tests.s3_server import Side
from tokscope.sync.snapshot import MANIFEST, SIGNATURE


def trio(tmp_path: Path, side: Side | None = None) -> tuple[Dev, Dev, Dev]:
    """a trusts b and c; b has 2 turns, c 3, a 1; all exported (to a folder, or to ``side``)."""
    a, b, c = make_devices(tmp_path, "a", "b", "c", side=side)
    a.turns("sa", 1)
    b.turns("sb", 2, month=1)
    c.turns("sc", 3, month=2)
    for dev in (a, b, c):
        dev.ok("export")
    a.ok("devices", "trust", "b")
    a.ok("devices", "trust", "c")
    return a, b, c


def test_two_devices_merge_both_ways(tmp_path: Path, side: Side) -> None:
    a, b = make_devices(tmp_path, "a", "b", side=side)
    a.turns("sa", 4, month=1)
    b.turns("sb", 3, month=2)
    a.ok("export")
    b.ok("export")
    a.ok("devices", "trust", "b")
    b.ok("devices", "trust", "a", "--fingerprint", a.json("devices", "show")["fingerprint"])
    for dev in (a, b):
        data = dev.json("report", "--by", "device", "--period", "all")
        rows = {r["device_name"]: r for r in data["rows"]}
        assert rows["a"]["turns"] == 4 and rows["b"]["turns"] == 3
        assert rows["a"]["device"] == a.id and rows["b"]["device"] == b.id
        # 7 turns × (10 input + 5 output + 100 cache read) = 805 tokens
        assert data["totals"]["turns"] == 7 and data["totals"]["total_tokens"] == 7 * TURN_TOTAL == 805
        assert data["totals"]["input"] == 7 * TURN_INPUT and data["totals"]["output"] == 7 * TURN_OUTPUT
        assert data["totals"]["cache_read"] == 7 * TURN_CACHE_READ
        assert list(data) == ["period", "by", "rows", "totals", "plans"]
    # grouping by something else still counts every device's turns
    months = {r["day"]: r["turns"] for r in a.json("report", "--by", "day", "--period", "all")["rows"]}
    assert months == {"2026-01-15": 4, "2026-02-15": 3}


def test_three_devices_and_the_local_ledger_is_live(tmp_path: Path, side: Side) -> None:
    a, b, _c = trio(tmp_path, side)
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 1, "b": 2, "c": 3}
    # a's own new turns count at once (its live ledger), without an export
    a.turns("sa", 2, start=1)
    assert a.by_device()["a"]["turns"] == 3
    # b's new turns count once b exports
    b.turns("sb", 5, month=1, start=2)
    assert a.by_device()["b"]["turns"] == 2
    b.ok("export")
    assert a.by_device()["b"]["turns"] == 7
    statuses = a.status()
    assert [statuses[n]["status"] for n in "abc"] == ["this device", "merged", "merged"]


def test_duplicate_events_count_once(tmp_path: Path, side: Side) -> None:
    """The same transcript on two devices (a synced ~/.claude): its turns are counted once, for this device."""
    a, b, c = make_devices(tmp_path, "a", "b", "c", side=side)
    for dev in (a, b, c):
        dev.turns("shared-session", 4)
    b.turns("only-b", 1)
    c.turns("only-c", 2)
    for dev in (a, b, c):
        dev.ok("export")
    a.ok("devices", "trust", "b")
    a.ok("devices", "trust", "c")
    # 4 shared + 1 only-b + 2 only-c = 7 distinct turns; the shared ones go to a (this device first)
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 4, "b": 1, "c": 2}
    # on b: b's own copy wins, c's duplicates drop out (b trusts only c)
    b.ok("devices", "trust", "c")
    assert {k: v["turns"] for k, v in b.by_device().items()} == {"b": 5, "c": 2}
    # among remote devices only: the first by id keeps the shared turns
    d = Dev(tmp_path, tmp_path / "shared", "d", side)
    d.ok("devices", "trust", "b")
    d.ok("devices", "trust", "c")
    rows = {k: v["turns"] for k, v in d.by_device().items()}
    first, second = sorted([(b.id, "b", 1), (c.id, "c", 2)])
    assert rows == {first[1]: first[2] + 4, second[1]: second[2]}
    # and again from the cached index
    assert {k: v["turns"] for k, v in d.by_device().items()} == rows


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def flip_object(dev: Dev, name: str) -> None:
    """One bit of ``name`` in ``dev``'s folder or prefix flipped, behind tokscope's back."""
    data = bytearray(dev.side.read(dev.id, name))
    data[len(data) // 2] ^= 0x01
    dev.side.write(dev.id, name, bytes(data))


def month_file(dev: Dev) -> Path:
    return dev.folder / month_name(dev)


def month_name(dev: Dev) -> str:
    """The first month file ``dev``'s manifest lists."""
    return json.loads(dev.side.read(dev.id, MANIFEST))["files"][0]["name"]


def edit_manifest(dev: Dev) -> None:
    data = dev.side.read(dev.id, MANIFEST)
    dev.side.write(dev.id, MANIFEST, data.replace(b'"rows": 2', b'"rows": 20'))


def swap_key(dev: Dev) -> None:
    """b makes a new key pair (same id) and exports with it: it could be anyone."""
    (dev.root / "config" / "tokscope" / "device.key").unlink()
    dev.ok("export")


def replay_older(dev: Dev, a: Dev) -> None:
    """a has accepted b's newer snapshot; then b's older (validly signed) manifest reappears."""
    old = {name: dev.side.read(dev.id, name) for name in dev.side.names(dev.id)}
    dev.turns("sb", 1, month=1, start=2)
    dev.ok("export")
    assert a.by_device()["b"]["turns"] == 3  # accepted the newer one
    for name, data in old.items():
        dev.side.write(dev.id, name, data)


def truncate_under_older_manifest(dev: Dev, a: Dev) -> None:
    """b exports again, but the folder ends up with the older (validly signed, last accepted here) manifest
    and that manifest's file cut short, as a sync tool that stopped half-way leaves it."""
    old = {name: dev.side.read(dev.id, name) for name in (MANIFEST, SIGNATURE)}
    name = month_name(dev)
    dev.turns("sb", 1, month=1, start=2)
    dev.ok("export")
    assert month_name(dev) != name and name in dev.side.names(dev.id)  # the newer snapshot has its own file
    for manifest_name, data in old.items():
        dev.side.write(dev.id, manifest_name, data)
    dev.side.write(dev.id, name, dev.side.read(dev.id, name)[:100])


def drop_signature(dev: Dev) -> None:
    dev.side.delete(dev.id, SIGNATURE)


def mismatched_signature(dev: Dev) -> None:
    """manifest.sig of the next export arrived, manifest.json not yet."""
    old_manifest = dev.side.read(dev.id, MANIFEST)
    dev.turns("sb", 1, month=1, start=2)
    dev.ok("export")
    dev.side.write(dev.id, MANIFEST, old_manifest)


def missing_file(dev: Dev) -> None:
    dev.side.delete(dev.id, month_name(dev))


REFUSALS = {
    "flipped byte": (lambda b, a: flip_object(b, month_name(b)), "tampered: events-"),
    "edited manifest": (lambda b, a: edit_manifest(b), "tampered: the signature does not match"),
    "swapped key": (lambda b, a: swap_key(b), "impersonation: signed with key"),
    "older manifest replayed": (replay_older, "rolled back: sequence"),
    "truncated file": (truncate_under_older_manifest, "half-synced: events-"),
    "unsigned": (lambda b, a: drop_signature(b), "unsigned: no manifest.sig"),
    "missing file": (lambda b, a: missing_file(b), "is missing"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_keeps_the_other_devices(tmp_path: Path, case: str, side: Side) -> None:
    a, b, c = trio(tmp_path, side)
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 1, "b": 2, "c": 3}
    damage, reason = REFUSALS[case]
    damage(b, a)
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0
    rows = {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]}
    assert rows == {"a": 1, "c": 3}, case  # b refused, c still merged
    assert f"device b ({b.id[:8]}) not merged: " in err and reason in err, err
    status = {d["id"]: d for d in a.json("devices")}[b.id]
    assert status["status"] == "refused" and reason in status["reason"]
    assert status["trusted"] is True
    assert {d["id"]: d for d in a.json("devices")}[c.id]["status"] == "merged"


def test_impersonating_this_device_is_refused(tmp_path: Path, side: Side) -> None:
    a, b, _c = trio(tmp_path, side)
    # someone writes a snapshot into a's folder with another key
    side.remove_device(a.id)
    side.copy_device(b.id, a.id)
    manifest = json.loads(side.read(a.id, MANIFEST))
    manifest["device_id"] = a.id
    side.write(a.id, MANIFEST, json.dumps(manifest).encode())
    listing = a.json("devices")
    assert listing[0]["status"] == "this device" and listing[0]["id"] == a.id
    refused = [d for d in listing if d["status"] == "refused"]
    assert len(refused) == 1 and refused[0]["id"] == a.id
    assert "impersonation: a snapshot claims this device's id" in refused[0]["reason"]
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 1, "b": 2, "c": 3}


def test_manifest_in_a_foreign_folder_is_refused(tmp_path: Path, side: Side) -> None:
    a, b, _c = trio(tmp_path, side)
    stranger = str(uuid.uuid4())
    side.copy_device(b.id, stranger)
    statuses = {d["id"]: d for d in a.json("devices")}
    assert statuses[stranger]["status"] == "refused"
    assert "manifest names device" in statuses[stranger]["reason"]
    code, _, err = a.cli("devices", "trust", stranger)
    assert code == 1 and "manifest names device" in err
    assert {k: v["turns"] for k, v in a.by_device().items()} == {"a": 1, "b": 2, "c": 3}


def test_untrusted_device_is_listed_not_merged(tmp_path: Path, side: Side) -> None:
    a, b, c = make_devices(tmp_path, "a", "b", "c", side=side)
    b.turns("sb", 2)
    c.turns("sc", 3)
    b.ok("export")
    c.ok("export")
    a.ok("devices", "trust", "c")
    _code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"c": 3}
    assert "device b" in err and "not trusted" in err


def test_sync_debris_is_ignored(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    name = month_file(b).name
    junk = {
        f".syncthing.{name}.tmp": b"partial",
        "events-2026-01-000000000000.sync-conflict-20260115-101010-ABCDEFG.parquet": b"junk",
        "manifest.sync-conflict-20260115-101010-ABCDEFG.json": b"{not json",
        "manifest (laptop's conflicted copy 2026-01-15).json": b"{}",
        f"{name} (conflicted copy)": b"junk",
        "desktop.ini": b"",
    }
    for junk_name, data in junk.items():
        (b.folder / junk_name).write_bytes(data)
    (tmp_path / "shared" / f"{b.id}.sync-conflict-20260115-101010-ABCDEFG").mkdir()
    (tmp_path / "shared" / ".stfolder").mkdir()
    (tmp_path / "shared" / ".stversions" / b.id).mkdir(parents=True)
    (tmp_path / "shared" / "notes.txt").write_text("hello")
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0 and "not merged" not in err
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"a": 1, "b": 2, "c": 3}
    assert len(a.json("devices")) == 3


def test_other_versions_columns_are_adapted(tmp_path: Path) -> None:
    """A newer device writes an extra column and lacks one; a file claims another device id."""
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 2)
    b.ok("export")
    a.ok("devices", "trust", "b")
    path = month_file(b)
    frame = pl.read_parquet(path)
    frame = frame.drop("service_tier", "reasoning").with_columns(
        future_column=pl.lit(7), device_id=pl.lit(str(uuid.uuid4())), input=pl.col("input").cast(pl.Int32)
    )
    # re-sign a snapshot holding this file, as b (a newer tokscope would)
    from tokscope.sync import snapshot

    with b.active():
        frame.write_parquet(path)
        data = path.read_bytes()
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        new = path.with_name(f"events-2026-01-{sha[:12]}.parquet")
        path.rename(new)
        ident = snapshot.load_identity()
        entry = {"name": new.name, "month": "2026-01", "sha256": sha, "bytes": len(data), "rows": 2}
        entry |= {"first_ts": None, "last_ts": None}
        manifest = snapshot.build_manifest(ident, 10**13, [entry], False, "2026-11-23T00:00:00+00:00")
        (b.folder / SIGNATURE).write_bytes(snapshot.build_signature(ident, manifest, 10**13))
        (b.folder / MANIFEST).write_bytes(manifest)
    data = a.json("report", "--by", "device", "--period", "all")
    row = {r["device_name"]: r for r in data["rows"]}["b"]
    assert row["device"] == b.id  # the folder's device, whatever the file says
    assert row["turns"] == 2 and row["input"] == 2 * TURN_INPUT and row["reasoning"] == 0


def test_untrusted_device_with_a_bad_signature_offers_no_key_to_pin(tmp_path: Path, side: Side) -> None:
    a, b = make_devices(tmp_path, "a", "b", side=side)
    b.turns("sb", 2)
    b.ok("export")
    edit_manifest(b)
    with a.active():
        from tokscope.sync.merge import list_devices

        entry = {d.id: d for d in list_devices()}[b.id]
    assert entry.status == "refused" and "tampered" in (entry.reason or "")
    assert entry.public_key is None and entry.trusted is False
    code, _, err = a.cli("devices", "trust", "b")
    assert code == 1 and "tampered" in err


def test_a_byte_flipped_behind_the_hash_cache_is_still_caught(tmp_path: Path) -> None:
    """The merge skips re-hashing files whose stat is unchanged; putting the old mtime back does not fool it."""
    import os

    a, b, _c = trio(tmp_path)
    assert a.by_device()["b"]["turns"] == 2  # b's files are hashed and remembered
    path = month_file(b)
    st = path.stat()
    flip_byte(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0 and "tampered: events-" in err
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"a": 1, "c": 3}


def test_half_synced_newest_snapshot_falls_back_to_the_last_good_one(tmp_path: Path, side: Side) -> None:
    """A sync tool delivers files in any order: until the newest snapshot is whole, the last one merged stands in."""
    a, b, _c = trio(tmp_path, side)
    assert a.by_device()["b"]["turns"] == 2  # a has merged b's first snapshot
    first = json.loads(side.read(b.id, MANIFEST))["sequence"]
    # the new manifest arrived, its new month file not yet
    b.turns("sb", 4, month=3, start=2)
    b.ok("export")
    new_month = json.loads(side.read(b.id, MANIFEST))["files"][-1]["name"]
    parked = side.read(b.id, new_month)
    side.delete(b.id, new_month)
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"a": 1, "b": 2, "c": 3}
    assert (
        f"newest snapshot half-synced: {new_month} is missing; merged the last good one (sequence {first})" in err
    )
    status = {d["name"]: d for d in a.json("devices")}["b"]
    assert status["status"] == "merged" and "last good" in status["reason"]
    # the file arrives: the newest snapshot is merged, no footnote
    side.write(b.id, new_month, parked)
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"a": 1, "b": 6, "c": 3}  # 2 + 4
    assert err == ""
    # a signature from yet another export arrives before its manifest: the snapshot just merged stands in
    mismatched_signature(b)
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == {"a": 1, "b": 6, "c": 3}
    assert "half-synced: manifest.sig belongs to another export; merged the last good one" in err


def test_no_fallback_without_a_good_snapshot_or_for_tampering(tmp_path: Path, side: Side) -> None:
    a, b = make_devices(tmp_path, "a", "b", side=side)
    b.turns("sb", 2)
    b.ok("export")
    a.ok("devices", "trust", "b")
    missing_file(b)  # never merged here: nothing to fall back on
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert "not merged: half-synced" in err and json.loads(out)["rows"] == []
    b.ok("export")  # b restores its snapshot (its ledger still has the events)
    assert a.by_device()["b"]["turns"] == 2
    flip_object(b, month_name(b))  # tampering is refused even though a good snapshot was merged before
    code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0 and "not merged: tampered" in err and json.loads(out)["rows"] == []
