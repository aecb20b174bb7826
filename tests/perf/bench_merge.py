"""Merge benchmark: N devices × M events in one shared folder, merged and grouped by device;
plus an export with nothing new.

Builds a temporary world: this device's ledger holds M events; N-1 other devices
each export M events (12 month files) to the shared folder and are trusted.
Then, each in a fresh process (as ``tokscope report`` would run):

* merge + group: ``merge_shared`` (verify signatures, sequences, file hashes,
  read, concatenate, drop duplicate keys) + ``aggregate(by=device)``; the first
  run after the other devices exported (cold: file hashes and the key index
  are computed) and the runs after it (warm: both cached);
* the same through ``load_usage`` (merge + pricing), for information;
* ``export`` with nothing new: time, and whether any file changed.

    python tests/perf/bench_merge.py                 # 10 devices × 1 M events
    python tests/perf/bench_merge.py --devices 3 --events 200000 --overlap 1000

Targets (issue 4): merge + group 10 × 1 M ≤ 1 s; export with nothing new ≤ 0.1 s, no file written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env_for(world: Path, name: str, shared: Path) -> dict[str, str]:
    """Environment making tokscope run as device ``name`` of ``world``."""
    base = world / name
    return {
        **os.environ,
        "HOME": str(base / "home"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_DATA_HOME": str(base / "data"),
        "XDG_CACHE_HOME": str(base / "cache"),
        "TOKSCOPE_SHARED": str(shared),
        "TZ": "UTC",
    }


def events(n: int, tag: str, seed: int, shared_keys: int = 0):
    """``n`` ledger-schema events spread over 12 months of 2026; the first ``shared_keys`` keys are common to all."""
    import polars as pl

    from tokscope.events import LEDGER_SCHEMA

    i = pl.int_range(n, dtype=pl.Int64)

    def r(s: int, k: int) -> pl.Expr:
        return (i.hash(seed * 100 + s) % k).cast(pl.Int64)

    frame = pl.select(
        # the client depends on the row only: a common key is the same (client, event_key) everywhere
        client=pl.when(i.hash(1) % 3 == 0).then(pl.lit("codex")).otherwise(pl.lit("claude-code")),
        provider=pl.lit("anthropic"),
        model=pl.format("claude-model-{}", r(2, 12)),
        workspace=pl.format("/home/u/src/project{}", r(3, 60)),
        session_id=pl.format("{}-{}", pl.lit(tag), r(4, 3000)),
        agent=pl.lit(None, pl.String),
        event_key=pl.format("msg_{}_{}:req_{}", pl.lit(tag), i, r(5, 10**12)),
        ts=pl.lit(1_767_225_600_000_000) + i * (365 * 86_400_000_000 // n),
        input=r(6, 5000),
        output=r(7, 3000),
        reasoning=r(8, 100),
        cache_read=r(9, 100_000),
        cache_write_5m=r(10, 5000),
        cache_write_1h=r(11, 100),
        source_cost=pl.lit(None, pl.Float64),
        service_tier=pl.lit(None, pl.String),
        rank=pl.lit(1, pl.Int64),
    )
    if shared_keys:  # common keys must be the same event on every device
        frame = frame.with_columns(
            event_key=pl.when(i < shared_keys).then(pl.format("msg_common_{}", i)).otherwise("event_key")
        )
    return frame.with_columns(
        pl.col("ts").cast(pl.Datetime("us", "UTC")), *[pl.col(c).cast(t) for c, t in LEDGER_SCHEMA.items() if c != "ts"]
    ).select(list(LEDGER_SCHEMA))


BUILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.perf.bench_merge import events
from tokscope.ledger import Ledger
from tokscope.sync.identity import rename_device, load_identity
from tokscope.sync.snapshot import export
rename_device({name!r})
ledger = Ledger()
with ledger.lock():
    state = ledger.load_state()
    ledger.append(events({n}, {name!r}, {seed}, {overlap}), state)
    ledger.maybe_compact(state, force=True)
    ledger.save_state(state)
if {export}:
    export(Path({shared!r}))
print(json.dumps({{"id": load_identity().device.id}}))
"""

MERGE = """
import json, sys, time
from datetime import date
from pathlib import Path
t0 = time.perf_counter()
from tokscope import config
from tokscope.sync.identity import load_device
from tokscope.ledger import Ledger
from tokscope.sync.merge import merge_shared
from tokscope.query import Query, aggregate
from tokscope.usage import load_usage, local_events
t1 = time.perf_counter()
query = Query(by=["device"], period="all", tz="UTC")
if {full}:
    usage = load_usage(config.load())
    rows, totals = aggregate(usage.events, query, date(2026, 12, 31))
    notes = usage.notes
else:
    device = load_device()
    ledger = Ledger()
    merged = merge_shared(local_events(ledger, device), device, Path({shared!r}), ledger=ledger)
    t2 = time.perf_counter()
    rows, totals = aggregate(merged.events, query, date(2026, 12, 31))
    notes = merged.notes
t3 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "total": t3 - t1, "merge": (t2 - t1) if not {full} else None,
                  "devices": rows.height, "turns": totals["turns"], "notes": notes}}))
"""

TRUST = """
from pathlib import Path
from tokscope.sync.identity import load_device
from tokscope.sync.merge import device_folders
from tokscope.sync.trust import trust
shared = Path({shared!r})
for folder in device_folders(shared):
    if folder.name != load_device().id:
        trust(folder.name, shared=shared)
print("{{}}")
"""

APPEND = """
import sys
import polars as pl
sys.path.insert(0, {root!r})
from tests.perf.bench_merge import events
from tokscope.ledger import Ledger
ledger = Ledger()
with ledger.lock():
    state = ledger.load_state()
    # 10 keys the ledger knows, with new numbers: a new delta segment, the same event count
    ledger.append(events(10, {name!r}, {seed}).with_columns(input=pl.lit(10**6, pl.Int64)), state)
    ledger.save_state(state)
print("{{}}")
"""

COMPACT = """
from tokscope.ledger import Ledger
ledger = Ledger()
with ledger.lock():
    state = ledger.load_state()
    ledger.maybe_compact(state, force=True)
    ledger.save_state(state)
print("{}")
"""

EXPORT = """
import json, sys, time
from pathlib import Path
from tokscope.sync.snapshot import export
t = time.perf_counter()
result = export(Path({shared!r}))
print(json.dumps({{"seconds": time.perf_counter() - t, "unchanged": result.unchanged, "written": result.written}}))
"""


def run(code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        sys.exit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def listing(*folders: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                st = path.stat()
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per device")
    parser.add_argument("--overlap", type=int, default=0, help="events every device shares with the others")
    parser.add_argument("--runs", type=int, default=3, help="warm merge runs")
    parser.add_argument("--world", type=Path, help="build the world here and keep it; reuse it if it exists")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokscope-bench-merge-") as tmp:
        world = args.world or Path(tmp)
        shared = world / "shared"
        reuse = shared.is_dir()
        shared.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        ids = {}
        for k in range(0 if reuse else args.devices):
            name = f"dev{k:02d}"
            code = BUILD.format(
                root=str(ROOT), name=name, n=args.events, seed=k, overlap=args.overlap, shared=str(shared), export=k > 0
            )
            ids[name] = run(code, env_for(world, name, shared))["id"]
        built = time.perf_counter() - start
        local = env_for(world, "dev00", shared)
        run(TRUST.format(shared=str(shared)), local)
        size = sum(p.stat().st_size for p in shared.rglob("*.parquet")) / 1e6
        print(
            f"world: {args.devices} devices × {args.events:,} events ({args.overlap:,} shared), "
            f"{size:,.0f} MB of snapshots, built in {built:.0f}s"
        )
        merge = MERGE.format(shared=str(shared), full=False)
        shutil.rmtree(world / "dev00" / "cache", ignore_errors=True)  # cold: no verified hashes, no key index
        cold = run(merge, local)
        expected = args.devices * args.events - (args.devices - 1) * args.overlap
        assert cold["turns"] == expected and cold["devices"] == args.devices, cold
        assert not cold["notes"], cold["notes"]
        print(
            f"merge + group, cold (hashes and key index computed): {cold['total']:.3f}s "
            f"(merge {cold['merge']:.3f}s), {cold['turns']:,} events, imports {cold['imports']:.2f}s"
        )
        warm = [run(merge, local) for _ in range(args.runs)]
        best = min(w["total"] for w in warm)
        print(
            f"merge + group, warm: best {best:.3f}s of {[round(w['total'], 3) for w in warm]} "
            f"(merge {min(w['merge'] for w in warm):.3f}s)"
        )
        full = run(MERGE.format(shared=str(shared), full=True), local)
        print(f"load_usage (merge + pricing) + group, warm: {full['total']:.3f}s")
        run(EXPORT.format(shared=str(shared)), local)  # this device's first export
        before = listing(shared, world / "dev00" / "data")
        again = [run(EXPORT.format(shared=str(shared)), local) for _ in range(args.runs)]
        after = listing(shared, world / "dev00" / "data")
        assert all(a["unchanged"] and not a["written"] for a in again)
        changed = len(set(after.items()) ^ set(before.items()))
        print(
            f"export with nothing new: best {min(a['seconds'] for a in again) * 1000:.1f} ms of "
            f"{[round(a['seconds'] * 1000, 1) for a in again]} ms; files changed: {changed}"
        )
        run(APPEND.format(root=str(ROOT), name="dev00", seed=0), local)
        after_scan = run(merge, local)
        print(
            f"merge + group, this device's ledger just changed (a delta segment): {after_scan['total']:.3f}s "
            f"(merge {after_scan['merge']:.3f}s)"
        )
        run(COMPACT, local)  # leave the world as it was (a reused --world stays comparable)
        # the usual case in a live TUI: another device exported a few new turns (one month file changed)
        other = env_for(world, "dev01", shared)
        run(APPEND.format(root=str(ROOT), name="dev01", seed=1), other)
        run(EXPORT.format(shared=str(shared)), other)
        after_remote = run(merge, local)
        print(
            f"merge + group, another device just exported a change: {after_remote['total']:.3f}s "
            f"(merge {after_remote['merge']:.3f}s)"
        )
        run(COMPACT, other)


if __name__ == "__main__":
    main()
