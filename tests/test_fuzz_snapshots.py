"""Property: whatever is done to one trusted device's snapshot, the merge raises nothing, counts
nothing outside the limits, and still counts every untouched device exactly.

Device a trusts b and c. Each example restores b's pristine snapshot and a's state, damages b's
folder (manifest fields, file entries, month file bytes, signature, sizes, sequence, file kinds;
signed again with b's key or not), then merges on a in process.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.devices_helpers import Dev, make_devices, month_frame, publish
from tokscope.events import TOKEN_FIELDS
from tokscope.limits import MAX_TURN_TOKENS, MIN_TS_US, max_ts_us
from tokscope.sync.snapshot import MANIFEST, SIGNATURE


class World:
    """a (trusts b, c), b and c with exported snapshots, and the pristine bytes to restore."""

    def __init__(self, root: Path) -> None:
        self.a, self.b, self.c = make_devices(root, "a", "b", "c")
        self.a.turns("sa", 1)
        self.b.turns("sb", 2)
        self.c.turns("sc", 3, month=2)
        for dev in (self.a, self.b, self.c):
            dev.ok("export")
        self.a.ok("devices", "trust", "b")
        self.a.ok("devices", "trust", "c")
        self.b_folder = {p.name: p.read_bytes() for p in self.b.folder.iterdir()}
        self.b_frame = month_frame(self.b)
        self.a_state = root / "a-state"
        for part in ("config", "data", "cache"):
            if (self.a.root / part).exists():
                shutil.copytree(self.a.root / part, self.a_state / part)

    def reset(self) -> None:
        shutil.rmtree(self.b.folder)
        self.b.folder.mkdir()
        for name, data in self.b_folder.items():
            (self.b.folder / name).write_bytes(data)
        for part in ("config", "data", "cache"):
            shutil.rmtree(self.a.root / part, ignore_errors=True)
            if (self.a_state / part).exists():
                shutil.copytree(self.a_state / part, self.a.root / part)

    def merged(self) -> tuple[pl.DataFrame, list[str]]:
        from tokscope.ledger import Ledger
        from tokscope.sync.identity import load_device
        from tokscope.sync.merge import merge_shared
        from tokscope.usage import local_events

        with self.a.active():
            ledger = Ledger()
            device = load_device()
            result = merge_shared(local_events(ledger, device), device, self.a.shared, ledger=ledger)
            return result.events.collect(), result.notes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("fuzz"))


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, 10**30, 1 << 45, (1 << 45) + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["events-2026-01-000000000000.parquet", "../x.parquet", "events-2026-01-0.parquet\n", "/dev/zero"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
MANIFEST_KEYS = ["sequence", "device_id", "public_key", "files", "rows", "format", "name", "created_at"]
MANIFEST_KEYS += ["schema_version", "redacted_workspaces"]
ENTRY_KEYS = ["name", "sha256", "bytes", "rows", "month", "first_ts", "last_ts"]

COLUMN_VALUES = st.sampled_from(
    [
        ("input", pl.lit(-1, pl.Int64())),
        ("input", pl.lit(2**63 - 1, pl.Int64())),
        ("output", pl.lit(2**64 - 1, pl.UInt64())),
        ("cache_read", pl.lit(MAX_TURN_TOKENS + 1, pl.Int64())),
        ("cache_read", pl.lit(MAX_TURN_TOKENS, pl.Int64())),
        ("reasoning", pl.lit(None, pl.Int64())),
        ("input", pl.lit(1.5, pl.Float64())),
        ("input", pl.lit("10", pl.String())),
        ("event_key", pl.lit(None, pl.String())),
        ("event_key", pl.lit("", pl.String())),
        ("event_key", pl.lit("same", pl.String())),
        ("client", pl.lit("no-such-client", pl.String())),
        ("ts", pl.lit(None, pl.Datetime("us", "UTC"))),
        ("ts", pl.datetime(9999, 12, 31, time_zone="UTC")),
        ("ts", pl.datetime(1971, 1, 1, time_zone="UTC")),
        ("ts", pl.lit(5, pl.Int64())),
        ("source_cost", pl.lit(float("inf"), pl.Float64())),
        ("source_cost", pl.lit(-0.5, pl.Float64())),
        ("source_cost", pl.lit(1e300, pl.Float64())),
        ("source_cost", pl.lit(0.25, pl.Float64())),
        ("device_id", pl.lit("someone-else", pl.String())),
        ("model", pl.lit(5, pl.Int64())),
        ("workspace", pl.lit([1, 2], pl.List(pl.Int64()))),
        ("service_tier", pl.lit(1.5, pl.Float64())),
        ("agent", pl.lit(True, pl.Boolean())),
        ("session_id", pl.lit(b"\xff", pl.Binary())),
    ]
)

NONE = st.none()
KINDS = ["fifo", "dir", "zero", "gone"]
MUTATIONS = st.one_of(
    st.tuples(st.just("manifest"), st.sampled_from(MANIFEST_KEYS), HOSTILE, st.booleans()),
    st.tuples(st.just("entry"), st.sampled_from(ENTRY_KEYS), HOSTILE, st.booleans()),
    st.tuples(st.just("bytes"), st.sampled_from([MANIFEST, SIGNATURE, "month"]), st.integers(0, 10_000), st.binary()),
    st.tuples(st.just("column"), COLUMN_VALUES, st.booleans(), st.just(None)),
    st.tuples(st.just("drop"), st.sampled_from(["event_key", "ts", "client", "input", "source_cost"]), st.none(), NONE),
    st.tuples(st.just("kind"), st.sampled_from([MANIFEST, SIGNATURE, "month"]), st.sampled_from(KINDS), NONE),
    st.tuples(st.just("parquet"), st.binary(max_size=200), st.none(), st.none()),
)


def _target(dev: Dev, which: str) -> Path:
    if which == "month":
        return dev.folder / json.loads((dev.folder / MANIFEST).read_bytes())["files"][0]["name"]
    return dev.folder / which


def _resign(dev: Dev, manifest: dict[str, Any]) -> None:
    """Sign ``manifest`` (as edited) with ``dev``'s key; sequence as the manifest now says, if an int."""
    from tokscope.sync import snapshot

    raw = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    seq = manifest.get("sequence") if isinstance(manifest.get("sequence"), int) else 0
    with dev.active():
        (dev.folder / SIGNATURE).write_bytes(snapshot.build_signature(snapshot.load_identity(), raw, seq))
    (dev.folder / MANIFEST).write_bytes(raw)


def damage(world: World, mutation: tuple[Any, ...]) -> bool:
    """Apply ``mutation`` to b's folder; True when b's key signed the result (b itself is hostile)."""
    b = world.b
    kind = mutation[0]
    if kind in ("manifest", "entry"):
        _, key, value, sign = mutation
        manifest = json.loads((b.folder / MANIFEST).read_bytes())
        (manifest if kind == "manifest" else manifest["files"][0])[key] = value
        if sign:
            _resign(b, manifest)
        else:
            (b.folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        return bool(sign)
    if kind == "bytes":
        _, which, at, extra = mutation
        path = _target(b, which)
        data = path.read_bytes()
        at %= len(data) + 1
        path.write_bytes(data[:at] + extra + data[at + len(extra) :] if extra else data[:at])
        return False
    if kind == "column":
        _, (column, value), whole, _ = mutation
        frame = world.b_frame
        expr = value if whole else pl.when(pl.int_range(pl.len()) == 0).then(value).otherwise(pl.col(column))
        try:
            frame = frame.with_columns(expr.alias(column))
        except pl.exceptions.PolarsError:
            frame = frame.with_columns(value.alias(column))
        publish(b, [frame])
        return True
    if kind == "drop":
        publish(b, [world.b_frame.drop(mutation[1])])
        return True
    if kind == "kind":
        _, which, how, _ = mutation
        path = _target(b, which)
        path.unlink()
        if how == "fifo":
            os.mkfifo(path)
        elif how == "dir":
            path.mkdir()
        elif how == "zero":
            path.symlink_to("/dev/zero")
        return False
    if kind == "parquet":  # b signs bytes that are not Parquet at all
        publish_raw(b, b"PAR1" + mutation[1] + b"PAR1")
        return True
    raise AssertionError(kind)


def publish_raw(dev: Dev, data: bytes) -> None:
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    name = f"events-2026-01-{sha[:12]}.parquet"
    (dev.folder / name).write_bytes(data)
    manifest = json.loads((dev.folder / MANIFEST).read_bytes())
    manifest["files"] = [{"name": name, "month": "2026-01", "sha256": sha, "bytes": len(data), "rows": 2}]
    manifest["sequence"] += 1
    _resign(dev, manifest)


def _counts(events: pl.DataFrame, device_id: str) -> int:
    return events.filter(pl.col("device_id").cast(pl.String) == device_id).height


@settings(
    max_examples=int(os.environ.get("TOKSCOPE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutation=MUTATIONS)
def test_no_damage_to_one_snapshot_escapes_it(world: World, mutation: tuple[Any, ...]) -> None:
    world.reset()
    signed = damage(world, mutation)
    events, notes = world.merged()
    assert not any("merge failed" in n for n in notes), notes
    # untouched devices count exactly
    assert _counts(events, world.a.id) == 1 and _counts(events, world.c.id) == 3, notes
    # nothing outside the limits counts
    now = int(time.time() * 1_000_000)
    ts = events["ts"].dt.epoch("us")
    assert ts.null_count() == 0 and ts.min() >= MIN_TS_US and ts.max() <= max_ts_us(now)
    assert events["event_key"].null_count() == 0 and events["client"].null_count() == 0
    for column in TOKEN_FIELDS:
        values = events[column].fill_null(0)
        assert values.min() >= 0 and values.max() <= MAX_TURN_TOKENS, column
    costs = events["source_cost"].drop_nulls()
    assert costs.is_finite().all() and (costs >= 0).all()
    b_rows = events.filter(pl.col("device_id").cast(pl.String) == world.b.id)
    if not signed:  # b's key did not sign the damage: b counts as exported, or not at all
        assert b_rows.height in (0, 2), notes
        if b_rows.height:
            assert sorted(b_rows["event_key"]) == sorted(world.b_frame["event_key"])
            assert b_rows["input"].sum() == world.b_frame["input"].sum()
    else:
        assert b_rows.height <= 2
    if b_rows.height == 0 and not signed:  # b may sign an empty snapshot
        assert any(f"device b ({world.b.id[:8]}) not merged" in n for n in notes), notes


def test_the_fuzz_world_merges_whole_when_undamaged(world: World) -> None:
    """The property's baseline: with nothing damaged all three devices count."""
    world.reset()
    events, notes = world.merged()
    assert notes == [] and [_counts(events, d.id) for d in (world.a, world.b, world.c)] == [1, 2, 3]
