"""A hostile or broken shared folder: FIFOs, huge files, out-of-range values in a trusted device's
snapshot, lost trust and sequence stores, planted symlinks. Each costs only the snapshot it is in,
with a reason; the other devices still merge."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.devices_helpers import Dev, make_devices, month_frame, publish
from tokscope.limits import MAX_SEQUENCE, MAX_TURN_TOKENS
from tokscope.sync.snapshot import MANIFEST, SIGNATURE

INT64_MAX = 2**63 - 1


def trio(tmp_path: Path) -> tuple[Dev, Dev, Dev]:
    """a trusts b and c; a has 1 turn, b 2, c 3; all exported."""
    a, b, c = make_devices(tmp_path, "a", "b", "c")
    a.turns("sa", 1)
    b.turns("sb", 2)
    c.turns("sc", 3, month=2)
    for dev in (a, b, c):
        dev.ok("export")
    a.ok("devices", "trust", "b")
    a.ok("devices", "trust", "c")
    return a, b, c


def report(dev: Dev) -> tuple[dict[str, int], str]:
    """``report --by device`` as {name: turns}, and its stderr (the footnotes)."""
    code, out, err = dev.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert code == 0, err
    return {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]}, err


def b_status(a: Dev, b: Dev) -> dict[str, Any]:
    return {d["id"]: d for d in a.json("devices")}[b.id]


def first_file(dev: Dev) -> Path:
    return dev.folder / json.loads((dev.folder / MANIFEST).read_bytes())["files"][0]["name"]


# --- #4: FIFOs ----------------------------------------------------------------------


@pytest.mark.parametrize("target", [MANIFEST, SIGNATURE, "month file"])
def test_a_fifo_in_the_shared_folder_blocks_nothing(tmp_path: Path, target: str) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 2)
    b.ok("export")
    if target == "month file":
        a.ok("devices", "trust", "b")
    path = first_file(b) if target == "month file" else b.folder / target
    path.unlink()
    os.mkfifo(path)
    for args in (("devices", "--format", "json"), ("report", "--period", "all"), ("devices", "trust", b.id)):
        done = a.subprocess(*args, timeout=60)  # a blocking open would never return
        assert "Traceback" not in done.stderr, done.stderr
        if args[-1] != b.id or target != "month file":  # trusting reads only the manifest and its signature
            assert "not a regular file" in done.stdout + done.stderr, (args, done.stdout, done.stderr)


# --- #10: sizes before reading, signatures before parsing ------------------------------------


def test_a_manifest_that_is_dev_zero_or_huge_is_not_read(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 2)
    b.ok("export")
    (b.folder / MANIFEST).unlink()
    (b.folder / MANIFEST).symlink_to("/dev/zero")
    assert "not a regular file" in b_status(a, b)["reason"]
    (b.folder / MANIFEST).unlink()
    with (b.folder / MANIFEST).open("wb") as fh:
        fh.truncate(2 << 30)  # sparse: 2 GiB that cost no disk
    assert "manifest.json is too large" in b_status(a, b)["reason"]
    code, _, err = a.cli("devices", "trust", b.id)
    assert code == 1 and "too large" in err


def test_a_huge_signature_is_not_read(tmp_path: Path) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 2)
    b.ok("export")
    a.ok("devices", "trust", "b")
    with (b.folder / SIGNATURE).open("wb") as fh:
        fh.truncate(1 << 30)
    assert "manifest.sig is too large" in b_status(a, b)["reason"]


def test_a_month_file_larger_than_listed_is_refused_unread(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    path = first_file(b)
    with path.open("r+b") as fh:
        fh.truncate(2 << 30)
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3}
    assert f"{path.name} has 2,147,483,648 bytes, not the " in err, err


def test_a_manifest_listing_too_many_files_is_refused(tmp_path: Path) -> None:
    """A validly signed manifest with a million entries (here: just past the size bound) is not parsed."""
    from tokscope.sync.merge import MAX_MANIFEST_BYTES

    a, b, _c = trio(tmp_path)
    entry = {"name": "events-2026-01-000000000000.parquet", "month": "2026-01", "sha256": "0" * 64, "bytes": 1}
    many = [dict(entry, name=f"events-2026-01-{i:012x}.parquet") for i in range(MAX_MANIFEST_BYTES // 100)]
    publish(b, [], edit=lambda m: m.update(files=many))
    assert (b.folder / MANIFEST).stat().st_size > MAX_MANIFEST_BYTES
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "manifest.json is too large" in err


def test_a_trusted_devices_signature_is_checked_before_its_manifest_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = make_devices(tmp_path, "a", "b")
    b.turns("sb", 2)
    b.ok("export")
    a.ok("devices", "trust", "b")
    from tokscope.sync import merge

    calls: list[str] = []
    real_parse, real_verify = merge._parse_manifest, merge.verify
    monkeypatch.setattr(merge, "_parse_manifest", lambda data: calls.append("parse") or real_parse(data))
    monkeypatch.setattr(merge, "verify", lambda *args: calls.append("verify") or real_verify(*args))
    with a.active():
        status = {d.id: d for d in merge.list_devices()}[b.id]
    assert status.status == "merged"
    assert calls[:2] == ["verify", "parse"], calls


# --- #9: a trusted device's values ----------------------------------------------------------


def _last(name: str, value: Any, dtype: pl.DataType) -> Any:
    """Set ``name`` of the last row only (the column takes ``dtype``)."""
    last = pl.int_range(pl.len()) == pl.len() - 1
    changed = pl.when(last).then(pl.lit(value, dtype)).otherwise(pl.col(name).cast(dtype))
    return lambda f: f.with_columns(changed.alias(name))


UTC_DT = pl.Datetime("us", "UTC")
BAD_ROWS = {
    "negative input": (_last("input", -1_000_000, pl.Int64()), "input"),
    "int64-max input": (_last("input", INT64_MAX, pl.Int64()), "input"),
    "uint64 output": (_last("output", 2**64 - 1, pl.UInt64()), "output"),
    "one turn over the limit": (_last("cache_read", MAX_TURN_TOKENS + 1, pl.Int64()), "cache_read"),
    "float tokens": (_last("input", 1e30, pl.Float64()), "input"),
    "year 9999": (_last("ts", datetime(9999, 1, 1, tzinfo=UTC), UTC_DT), "ts"),
    "year 1970": (_last("ts", datetime(1970, 1, 2, tzinfo=UTC), UTC_DT), "ts"),
    "no event_key column": (lambda f: f.drop("event_key"), "event_key"),
    "null event_key": (_last("event_key", None, pl.String()), "event_key"),
    "NaN cost": (_last("source_cost", float("nan"), pl.Float64()), "source_cost"),
    "negative cost": (_last("source_cost", -5.0, pl.Float64()), "source_cost"),
    "no ts column": (lambda f: f.drop("ts"), "ts"),
    # found by the fuzz test: this failed the whole merge
    "a number for a model": (lambda f: f.with_columns(model=pl.lit(5, pl.Int64())), "model"),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_trusted_snapshot_with_bad_values_is_refused_whole(tmp_path: Path, case: str) -> None:
    a, b, _c = trio(tmp_path)
    change, column = BAD_ROWS[case]
    publish(b, [change(month_frame(b))])
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3}, case
    status = b_status(a, b)
    assert status["status"] == "refused" and column in status["reason"], status["reason"]
    assert f"device b ({b.id[:8]}) not merged: invalid snapshot" in err, err


def test_a_huge_sequence_is_refused_and_does_not_lock_the_device_out(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    publish(b, [month_frame(b)], sequence=10**30)
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and f"sequence 10{'0' * 29} is out of range" in err, err
    # b's real export afterwards is merged, not refused as rolled back; b's own export is not poisoned either
    b.turns("sb", 1, start=2)
    b.ok("export")
    assert json.loads((b.folder / MANIFEST).read_bytes())["sequence"] <= MAX_SEQUENCE
    rows, err = report(a)
    assert rows == {"a": 1, "b": 3, "c": 3} and err == "", err


def test_file_rows_must_match_the_manifest(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)

    def lie(manifest: dict[str, Any]) -> None:
        manifest["files"][0]["rows"] = manifest["rows"] = 1

    publish(b, [month_frame(b)], edit=lie)
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "holds 2 rows, the manifest says 1" in err, err


def test_the_manifest_rows_must_add_up(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    publish(b, [month_frame(b)], edit=lambda m: m.update(files=[]))  # says 2 rows, lists no file
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "manifest.json says 2 rows, its files 0" in err, err


def test_valid_snapshots_with_every_counter_at_the_limit_still_merge(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    frame = month_frame(b).with_columns(input=pl.lit(MAX_TURN_TOKENS, pl.Int64()), source_cost=pl.lit(0.0))
    publish(b, [frame])
    rows, err = report(a)
    assert rows == {"a": 1, "b": 2, "c": 3} and err == "", err
    assert a.by_device()["b"]["input"] == 2 * MAX_TURN_TOKENS


# --- #11: lost or unreadable trust and sequence stores ---------------------------------------


def _replay(a: Dev, b: Dev) -> None:
    """b exports a newer snapshot, a merges it, then b's older validly signed snapshot reappears."""
    old = {p.name: p.read_bytes() for p in b.folder.iterdir()}
    b.turns("sb", 1, start=2)
    b.ok("export")
    assert report(a)[0]["b"] == 3
    for name, data in old.items():
        (b.folder / name).write_bytes(data)


def test_a_lost_accepted_store_still_refuses_an_older_snapshot_and_says_so(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    _replay(a, b)
    (a.root / "data" / "tokscope" / "accepted.json").unlink()
    code, out, err = a.cli("devices")
    assert code == 0 and "accepted.json is missing" in err, out + err
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "rolled back: sequence" in err, err
    assert "accepted.json is missing" in err, err
    # written back whole: said once, still refused
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "rolled back: sequence" in err and "accepted.json" not in err, err


def test_an_unreadable_accepted_store_is_loud(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    _replay(a, b)
    (a.root / "data" / "tokscope" / "accepted.json").write_text("{broken")
    rows, err = report(a)
    assert rows == {"a": 1, "c": 3} and "rolled back: sequence" in err
    assert "accepted.json is unreadable" in err, err


def test_a_corrupt_trust_store_says_so(tmp_path: Path) -> None:
    a, b, _c = trio(tmp_path)
    (a.root / "config" / "tokscope" / "trusted.json").write_text("{broken")
    status = b_status(a, b)
    assert status["status"] == "untrusted" and "trusted.json is unreadable" in status["reason"]
    code, out, err = a.cli("devices")
    assert code == 0 and "trusted.json is unreadable" in out + err
    rows, err = report(a)
    assert rows == {"a": 1} and "trusted.json is unreadable" in err
    code, _, err = a.cli("devices", "trust", "b")
    assert code == 1 and "trusted.json is unreadable" in err and "Traceback" not in err


def test_a_lost_trust_store_says_so(tmp_path: Path) -> None:
    a, _b, _c = trio(tmp_path)
    report(a)  # accepts b and c
    (a.root / "config" / "tokscope" / "trusted.json").unlink()
    rows, err = report(a)
    assert rows == {"a": 1} and "trusted.json is missing" in err, err


# --- #12: the own folder -------------------------------------------------------------------


def test_export_refuses_a_symlinked_own_folder(tmp_path: Path) -> None:
    (a,) = make_devices(tmp_path, "a")
    a.turns("sa", 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bait = elsewhere / "events-2026-01-000000000000.parquet"
    bait.write_bytes(b"someone else's")
    a.folder.symlink_to(elsewhere)
    code, _, err = a.cli("export")
    assert code == 1 and "is a symlink" in err, err
    assert sorted(p.name for p in elsewhere.iterdir()) == [bait.name] and bait.read_bytes() == b"someone else's"


def test_export_never_deletes_a_file_it_did_not_write(tmp_path: Path) -> None:
    (a,) = make_devices(tmp_path, "a")
    a.turns("sa", 1)
    a.ok("export")
    foreign = a.folder / "events-2025-01-000000000000.parquet"
    foreign.write_bytes(b"not ours")
    first = first_file(a)
    for i in range(3):  # each export changes January: the file two exports back is ours to remove
        a.turns("sa", 1, start=1 + i)
        a.ok("export")
    assert foreign.read_bytes() == b"not ours"
    assert not first.exists()


async def test_the_tui_header_says_a_trust_store_is_damaged(tmp_path: Path) -> None:
    from tokscope.widgets.status_line import StatusLine

    from tests.tui_helpers import NOW, settle
    from tokscope.config import Config
    from tokscope.tui.app import make_app

    a, _b, _c = trio(tmp_path)
    (a.root / "config" / "tokscope" / "trusted.json").write_text("{broken")
    with a.active():
        app = make_app(Config(shared_folder=a.shared), clock=lambda: NOW, tz="UTC", live=False)
        app.animation_level = "none"
        async with app.run_test(size=(160, 24)) as pilot:
            await settle(app, pilot)
            assert any("trusted.json is unreadable" in n for n in app.loaded.notes), app.loaded.notes
            header = str(app.screen.query_one(StatusLine).render())
    assert "trust: see Devices" in header, header


def test_export_over_a_fifo_in_its_own_folder_does_not_block(tmp_path: Path) -> None:
    (a,) = make_devices(tmp_path, "a")
    a.turns("sa", 1)
    a.ok("export")
    (a.folder / MANIFEST).unlink()
    os.mkfifo(a.folder / MANIFEST)
    a.turns("sa", 1, start=1)
    done = a.subprocess("export", timeout=60)  # a blocking open would never return
    assert done.returncode == 0, done.stderr
    assert (a.folder / MANIFEST).is_file() and json.loads((a.folder / MANIFEST).read_bytes())["rows"] == 2


def test_fifos_in_place_of_the_trust_stores_block_nothing(tmp_path: Path) -> None:
    a, _b, _c = trio(tmp_path)
    report(a)
    for path in (a.root / "config" / "tokscope" / "trusted.json", a.root / "data" / "tokscope" / "accepted.json"):
        path.unlink()
        os.mkfifo(path)
    done = a.subprocess("report", "--period", "all", timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "trusted.json is unreadable" in done.stderr and "accepted.json is unreadable" in done.stderr, done.stderr
