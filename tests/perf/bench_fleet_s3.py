"""Fleet benchmark: 500 devices × one year of snapshots in an S3 bucket (SeaweedFS on loopback).

Builds the fleet without 500 processes: each device gets its own Ed25519 key and signs its own
manifest (``snapshot.build_manifest`` / ``build_signature``), with 12 month files made by
``snapshot.month_files``, uploaded to ``s3://<bucket>/fleet/<device_id>/``. This device holds a
ledger of its own and trusts every one of them. Then, each in a fresh process (as ``tokscope
report`` runs), with the requests counted by the store:

* cold: the first merge + group by device (lists the bucket, fetches every manifest, signature and
  month file into the cache, verifies, checks and indexes them);
* warm: the same again (nothing changed: one listing, no fetch);
* no-change refresh: which requests a refresh with nothing new makes (listing pages only);
* one device exports again: the refresh fetches just that device's manifest, signature and month;
* peak RSS of each run (``ru_maxrss``).

    python tests/perf/bench_fleet_s3.py                       # 500 devices × 12 months × 20,000 events
    python tests/perf/bench_fleet_s3.py --devices 50 --events 5000

Targets (issue 17): warm merge + group ≤ 2 s, cold ≤ 15 s, peak RSS ≤ 1 GB, no-change refresh
transfers only manifests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.s3_server import S3Server, run_server  # noqa: E402

PREFIX = "fleet"


def env_for(world: Path, server: S3Server) -> dict[str, str]:
    """Environment making tokscope run as this benchmark's own device, sharing the bucket prefix."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **server.env,
        "HOME": str(world / "home"),
        "XDG_CONFIG_HOME": str(world / "config"),
        "XDG_DATA_HOME": str(world / "data"),
        "XDG_CACHE_HOME": str(world / "cache"),
        "TOKSCOPE_SHARED": f"s3://{server.bucket}/{PREFIX}",
        "TZ": "UTC",
    }


def build_fleet(server: S3Server, devices: int, n: int) -> tuple[list[dict[str, str]], int, int, tuple]:
    """Sign and upload ``devices`` snapshots of ``n`` events each; (pins, objects, bytes, the first
    device's identity and events)."""
    import obstore
    import polars as pl
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.perf.bench_merge import events
    from tokscope.events import EVENT_SCHEMA
    from tokscope.sync.identity import Device, Identity
    from tokscope.sync.snapshot import MANIFEST, SIGNATURE, build_manifest, build_signature, month_files

    store = server.client(PREFIX)
    pins: list[dict[str, str]] = []
    uploads: list[tuple[str, bytes]] = []
    import uuid

    for d in range(devices):
        ident = Identity(Device(str(uuid.UUID(int=d + 1, version=4)), f"dev{d:03d}"), Ed25519PrivateKey.generate())
        frame = (
            events(n, f"d{d}", d + 7)
            .with_columns(device_id=pl.lit(ident.device.id), ts=pl.col("ts").dt.offset_by("-1y"))  # all of 2025
            .select([pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items()])
            .sort(["ts", "client", "event_key"])
        )
        entries = []
        for month, (data, entry) in sorted(month_files(frame).items()):
            name = f"events-{month}-{entry['sha256'][:12]}.parquet"
            entries.append({"name": name, **entry})
            uploads.append((f"{ident.device.id}/{name}", data))
        manifest = build_manifest(ident, 1000 + d, entries, False, "2026-12-31T00:00:00+00:00")
        uploads.append((f"{ident.device.id}/{SIGNATURE}", build_signature(ident, manifest, 1000 + d)))
        uploads.append((f"{ident.device.id}/{MANIFEST}", manifest))
        pins.append({"id": ident.device.id, "name": ident.device.name, "public_key": ident.public_key_text})
        if d == 0:
            first = (ident, frame)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda u: obstore.put(store, u[0], u[1]), uploads))
    return pins, len(uploads), sum(len(u[1]) for u in uploads), first


SETUP = """
import json, sys
import polars as pl
sys.path.insert(0, {root!r})
from tests.perf.bench_merge import events
from tokscope.ledger import Ledger
from tokscope.sync.identity import rename_device, load_identity
from tokscope.sync.trust import pin
import tokscope.sync.trust as trust
rename_device("this")
ledger = Ledger()
with ledger.lock():
    state = ledger.load_state()
    ledger.append(events({n}, "this", 1).with_columns(ts=pl.col("ts").dt.offset_by("-1y")), state)
    ledger.maybe_compact(state, force=True)
    ledger.save_state(state)
pins = json.load(open({pins!r}))
first, rest = pins[0], pins[1:]
pin(first["id"], first["name"], first["public_key"])  # one through the API, the rest in one write
from tokscope.sync.trust import _read, _write, trust_path, fingerprint, decode_key, _now
devices = _read(trust_path())
for p in rest:
    devices[p["id"]] = {{"name": p["name"], "public_key": p["public_key"],
                        "fingerprint": fingerprint(decode_key(p["public_key"])), "trusted_at": _now()}}
_write(trust_path(), devices)
print(json.dumps({{"id": load_identity().device.id}}))
"""

MERGE = """
import json, resource, sys, time
from datetime import date
t0 = time.perf_counter()
from tokscope import config
from tokscope.ledger import Ledger
from tokscope.query import Query, aggregate
from tokscope.sync.identity import load_device
from tokscope.sync.merge import MERGED, merge_shared
from tokscope.sync.store import S3Store
from tokscope.usage import local_events
t1 = time.perf_counter()
store = S3Store(config.load().shared_folder)
device = load_device()
ledger = Ledger()
merged = merge_shared(local_events(ledger, device), device, store, ledger=ledger)
t2 = time.perf_counter()
rows, totals = aggregate(merged.events, Query(by=["device"], period="all", tz="UTC"), date(2026, 12, 31))
t3 = time.perf_counter()
t = store.transfers
print(json.dumps({{"imports": t1 - t0, "merge": t2 - t1, "total": t3 - t1, "devices": rows.height,
                  "merged": sum(d.status == MERGED for d in merged.devices), "turns": totals["turns"],
                  "notes": merged.notes[:3], "lists": t.lists, "gets": t.gets, "got_bytes": t.got_bytes,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run(code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        sys.exit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def reexport_one(server: S3Server, first: tuple[object, object]) -> None:
    """Device 0 exports again with 10 new December events: one new month file, a new manifest."""
    import obstore
    import polars as pl

    from tokscope.sync.snapshot import MANIFEST, SIGNATURE, build_manifest, build_signature, month_files

    ident, frame = first
    extra = frame.tail(10).with_columns(  # type: ignore[attr-defined]
        event_key=pl.format("{}-again", "event_key"), ts=pl.col("ts").dt.offset_by("-1h")
    )
    frame = pl.concat([frame, extra]).sort(["ts", "client", "event_key"])  # type: ignore[list-item]
    store = server.client(PREFIX)
    entries = []
    device_id = ident.device.id  # type: ignore[attr-defined]
    for month, (data, entry) in sorted(month_files(frame).items()):
        name = f"events-{month}-{entry['sha256'][:12]}.parquet"
        entries.append({"name": name, **entry})
        obstore.put(store, f"{device_id}/{name}", data, mode="overwrite")
    manifest = build_manifest(ident, 5000, entries, False, "2026-12-31T01:00:00+00:00")  # type: ignore[arg-type]
    obstore.put(store, f"{device_id}/{SIGNATURE}", build_signature(ident, manifest, 5000))  # type: ignore[arg-type]
    obstore.put(store, f"{device_id}/{MANIFEST}", manifest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--events", type=int, default=20_000, help="events per device per year")
    ap.add_argument("--warm-runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokscope-fleet-") as tmp, run_server(
        Path(tmp) / "seaweedfs", volume_mb=1024
    ) as server:
        world = Path(tmp) / "world"
        env = env_for(world, server)
        t = time.perf_counter()
        pins, objects, size, first = build_fleet(server, args.devices - 1, args.events)
        built = time.perf_counter() - t
        pins_file = Path(tmp) / "pins.json"
        pins_file.write_text(json.dumps(pins))
        run(SETUP.format(root=str(ROOT), n=args.events, pins=str(pins_file)), env)
        print(
            f"fleet: {args.devices} devices × {args.events:,} events/year = {args.devices * args.events:,} events; "
            f"{objects:,} objects, {size / 1e6:.1f} MB in the bucket (built and uploaded in {built:.1f} s)",
            flush=True,
        )
        results: list[tuple[str, dict]] = []

        def measure(label: str) -> None:
            results.append((label, run(MERGE.format(), env)))
            print(f"  {label}: merge + group {results[-1][1]['total']:.2f} s", flush=True)

        measure("cold")
        for i in range(args.warm_runs):
            measure(f"warm {i + 1}")
        reexport_one(server, first)
        measure("1 new")
        measure("warm")
        print()
        head = f"{'run':<8} {'merge s':>8} {'merge+group s':>14} {'imports s':>10} {'rss MB':>8} "
        head += f"{'lists':>6} {'gets':>6} {'MB fetched':>11} {'devices':>8} {'turns':>12}"
        print(head)
        print("-" * len(head))
        for label, r in results:
            print(
                f"{label:<8} {r['merge']:>8.2f} {r['total']:>14.2f} {r['imports']:>10.2f} {r['rss_mb']:>8.0f} "
                f"{r['lists']:>6} {r['gets']:>6} {r['got_bytes'] / 1e6:>11.1f} {r['devices']:>8} {r['turns']:>12,}"
            )
            if r["notes"]:
                print(f"         notes: {r['notes']}")
        cold = results[0][1]
        warm = min((r for label, r in results if label.startswith("warm")), key=lambda r: r["total"])
        no_change = results[args.warm_runs][1]
        for label, r in results:
            if r["merged"] != args.devices - 1:
                sys.exit(f"{label}: {r['merged']} devices merged, not {args.devices - 1}")
        print()
        print(f"cold merge + group {cold['total']:.2f} s (target ≤ 15 s): {'ok' if cold['total'] <= 15 else 'MISSED'}")
        print(f"warm merge + group {warm['total']:.2f} s (target ≤ 2 s): {'ok' if warm['total'] <= 2 else 'MISSED'}")
        rss = max(r["rss_mb"] for _, r in results)
        print(f"peak RSS {rss:.0f} MB (target ≤ 1024 MB): {'ok' if rss <= 1024 else 'MISSED'}")
        only_lists = no_change["gets"] == 0
        print(
            f"no-change refresh: {no_change['lists']} listing page(s), {no_change['gets']} objects fetched "
            f"(target: manifests at most): {'ok' if only_lists else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
