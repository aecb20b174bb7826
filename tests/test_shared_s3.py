"""``s3://bucket/prefix`` as the shared location, against a real S3 server (SeaweedFS): what only a
bucket has (conditional puts, ETags, being unreachable); the folder/bucket parity tests are in
``test_merge.py`` and ``test_devices_e2e.py`` (the ``side`` fixture)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.devices_helpers import Dev, make_devices
from tests.s3_server import BucketSide, S3Server
from tokscope.sync.location import S3Location, parse_shared
from tokscope.sync.snapshot import MANIFEST, SIGNATURE


def test_parse_shared() -> None:
    assert parse_shared("s3://team-usage/tokscope/devices/") == S3Location("team-usage", "tokscope/devices")
    assert parse_shared("s3://team-usage") == S3Location("team-usage", "")
    assert str(S3Location("team-usage", "a/b")) == "s3://team-usage/a/b"
    assert parse_shared("~/Sync/tokscope") == Path.home() / "Sync" / "tokscope"
    for bad in ("s3://", "s3://UPPER/x", "s3://ab/x", "s3://ok-bucket/a//b", "s3://ok-bucket/../x"):
        with pytest.raises(ValueError):
            parse_shared(bad)


def test_a_malformed_s3_location_is_reported_with_its_source(tmp_path: Path) -> None:
    (dev,) = make_devices(tmp_path, "a")
    config = dev.root / "config" / "tokscope" / "config.toml"
    config.write_text('shared_folder = "s3://No_Such/x"\n')
    with dev.active():
        import os

        from tokscope import config as config_mod

        os.environ.pop("TOKSCOPE_SHARED")
        settings = config_mod.load()
    assert settings.shared_folder is None
    assert any(f"{config}: shared_folder: " in e and "'No_Such' is not an S3 bucket name" in e for e in settings.errors)
    code, _, err = dev.cli("devices", "--shared", "s3://x")
    assert code == 2 and "is not an S3 bucket name" in err


def pair(tmp_path: Path, server: S3Server) -> tuple[Dev, Dev, BucketSide]:
    """a trusts b; b has 3 turns, a 2; both exported to one bucket prefix."""
    side = BucketSide(server)
    a, b = make_devices(tmp_path, "a", "b", side=side)
    a.turns("sa", 2)
    b.turns("sb", 3, month=2)
    a.ok("export")
    b.ok("export")
    a.ok("devices", "trust", "b")
    return a, b, side


def counted_scan(dev: Dev, side: BucketSide) -> tuple[int, int, int]:
    """One merge of the bucket as ``dev``: (listing pages, objects fetched, bytes fetched)."""
    from tokscope.sync.identity import load_device
    from tokscope.sync.merge import MERGED, scan_shared
    from tokscope.sync.store import S3Store

    with dev.active():
        store = S3Store(parse_shared(side.url))  # type: ignore[arg-type]
        snaps = scan_shared(store, load_device())
    assert [s.status.status for s in snaps if s.status.name == "b"] == [MERGED]
    return store.transfers.lists, store.transfers.gets, store.transfers.got_bytes


def test_a_refresh_with_nothing_new_lists_and_fetches_nothing(tmp_path: Path, s3_server: S3Server) -> None:
    a, b, side = pair(tmp_path, s3_server)
    assert a.by_device()["b"]["turns"] == 3  # the first merge fetched b's manifest, signature and month file
    lists, gets, _ = counted_scan(a, side)
    assert (lists, gets) == (1, 0)  # one listing page; every ETag unchanged: nothing fetched
    b.turns("sb", 1, month=2, start=3)
    b.ok("export")
    lists, gets, got = counted_scan(a, side)
    # the new manifest, its signature and the one month file that changed
    assert (lists, gets) == (1, 3)
    names = json.loads(side.read(b.id, MANIFEST))["files"]
    assert got == len(side.read(b.id, MANIFEST)) + len(side.read(b.id, SIGNATURE)) + names[0]["bytes"]
    assert a.by_device()["b"]["turns"] == 4


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_the_last_verified_copy_is_used_and_its_age_said(tmp_path: Path, s3_server: S3Server) -> None:
    a, _b, side = pair(tmp_path, s3_server)
    assert a.by_device() == a.by_device()  # merged (and cached) while the bucket answers
    turns = {k: v["turns"] for k, v in a.by_device().items()}
    side.server.endpoint, endpoint = f"http://127.0.0.1:{_closed_port()}", side.server.endpoint
    try:
        code, out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
        assert code == 0 and "Traceback" not in err
        assert {r["device_name"]: r["turns"] for r in json.loads(out)["rows"]} == turns == {"a": 2, "b": 3}
        assert f"shared location offline: {side.url}: listing failed" in err
        assert "showing the copy verified now (" in err
        code, _out, err = a.cli("devices")
        assert code == 0 and "shared location offline" in err and "showing the copy verified" in err
        # a device that never reached the bucket has nothing to fall back on, and says so
        (c,) = make_devices(tmp_path, "c", side=side)
        code, out, err = c.cli("report", "--by", "device", "--period", "all", "--format", "json")
        assert code == 0 and "no copy verified before: showing this device only" in err
        # an export needs the bucket: it fails with the reason, no traceback
        code, _out, err = a.cli("export", "--no-scan")
        assert code == 1 and "export failed" in err and "Traceback" not in err
    finally:
        side.server.endpoint = endpoint


def test_an_export_never_overwrites_another_writers_object(tmp_path: Path, s3_server: S3Server) -> None:
    side = BucketSide(s3_server)
    (a,) = make_devices(tmp_path, "a", side=side)
    a.turns("sa", 2)
    a.ok("export")
    first = json.loads(side.read(a.id, MANIFEST))["files"][0]["name"]
    a.turns("sa", 1, start=2)
    with a.active():  # the name the next export will give January's file
        from tokscope.ledger import Ledger
        from tokscope.sync.snapshot import events_for_export, month_files

        a.ok("scan", "-q")
        entry = month_files(events_for_export(Ledger(), a.id))["2026-01"][1]
    name = f"events-2026-01-{entry['sha256'][:12]}.parquet"
    assert name != first
    side.write(a.id, name, b"someone else's bytes")
    code, _, err = a.cli("export", "--no-scan")
    assert code == 1 and "exists with other bytes than its name says: not overwriting" in err
    assert side.read(a.id, name) == b"someone else's bytes"
    assert json.loads(side.read(a.id, MANIFEST))["files"][0]["name"] == first  # the old snapshot stands
    side.delete(a.id, name)
    a.ok("export", "--no-scan")
    assert json.loads(side.read(a.id, MANIFEST))["files"][0]["name"] == name
    assert first in side.names(a.id)  # the previous manifest lists it: a reader of that one still finds it
    a.turns("sa", 1, start=3)
    a.ok("export")
    assert first not in side.names(a.id)  # listed by neither manifest now: removed


def test_oversized_objects_are_refused_unfetched(tmp_path: Path, s3_server: S3Server) -> None:
    a, b, side = pair(tmp_path, s3_server)
    assert a.by_device()["b"]["turns"] == 3
    month = json.loads(side.read(b.id, MANIFEST))["files"][0]["name"]
    side.write(b.id, month, side.read(b.id, month) + b"\0" * (1 << 20))
    code, _out, err = a.cli("report", "--by", "device", "--period", "all", "--format", "json")
    assert f"tampered: {month} has " in err and "not the " in err
    _lists, gets, _ = _scan_gets(a, side)
    assert gets == 0  # the listing's size decided: the object was not fetched
    side.write(b.id, MANIFEST, b" " * (2 << 20))
    statuses = {d["name"]: d for d in a.json("devices")}
    assert "manifest.json is too large" in statuses["b"]["reason"]
    code, _, err = a.cli("devices", "trust", b.id, "--fingerprint", "x")
    assert code == 1 and "too large" in err


def _scan_gets(dev: Dev, side: BucketSide) -> tuple[int, int, int]:
    from tokscope.sync.identity import load_device
    from tokscope.sync.merge import scan_shared
    from tokscope.sync.store import S3Store

    with dev.active():
        store = S3Store(parse_shared(side.url))  # type: ignore[arg-type]
        scan_shared(store, load_device())
    return store.transfers.lists, store.transfers.gets, store.transfers.got_bytes
