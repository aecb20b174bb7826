"""Export: this device's ledger as a signed snapshot in the shared folder.

Layout of ``<shared>/<device_id>/``::

    events-YYYY-MM-<sha12>.parquet   one file per month of events (UTC), event schema, lz4
    manifest.json                    what the snapshot holds (see ``build_manifest``)
    manifest.sig                     Ed25519 signature over the exact bytes of manifest.json

The manifest also carries this device's official limit readings (``quota``, ``tokscope.quota``):
signed with the rest, merged by other devices as the freshest reading per account window.

A month's file name carries the first 12 hex digits of its SHA-256, so a file
is never changed in place: an export writes the months whose content changed
as new files, then ``manifest.sig``, then ``manifest.json`` (the manifest
last), and only then removes files that neither the new nor the previous
manifest lists. A merge that read the previous manifest a moment ago still
finds its files, and a sync tool moves only the changed months. Every file is
written as temp file + fsync + rename; a process killed mid-export leaves the
previous snapshot whole.

The shared folder is writable by others (and by the sync tool): an export never
writes through a symlink (``<shared>/<own id>`` a symlink is refused), reads
nothing there that is not a regular file, and deletes only month files that it
wrote itself (remembered in the export state) and no manifest still lists.

The shared location may also be ``s3://bucket/prefix`` (``store.S3Store``): the same objects under
``<prefix>/<device_id>/``, month files created with a conditional put (an object already there
under a content-addressed name is never overwritten), the manifest put last.

``manifest.sig`` is a small JSON object: the signature (base64) plus the
manifest's sequence and SHA-256, so a reader can tell a half-synced pair (the
signature of another export) from an edited manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers.base import read_regular
from tokscope.readers.coerce import count

from tokscope import paths, quota
from tokscope.events import EVENT_SCHEMA
from tokscope.fsutil import atomic_write, locked
from tokscope.ledger import Ledger
from tokscope.ledger_listing import parse_name
from tokscope.limits import MAX_SEQUENCE
from tokscope.sync.identity import Identity, load_identity, verify
from tokscope.sync.store import ObjectInfo, Shared, Store, open_store

FORMAT = "tokscope-snapshot"
SIGNATURE_FORMAT = "tokscope-signature"
#: Version of the snapshot layout and event schema written; readers accept any and adapt columns.
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
#: Names of the month files an export writes (use with ``fullmatch``: ``$`` would allow a trailing newline).
FILE_RE = re.compile(r"events-(\d{4}-\d{2})-([0-9a-f]{12})\.parquet")
#: The largest manifest.json and manifest.sig read (checked before reading: a manifest lists one
#: entry of ~250 bytes per month, so 1 MiB holds centuries; a signature is ~300 bytes).
MAX_MANIFEST_BYTES = 1 << 20
MAX_SIGNATURE_BYTES = 4096
#: Our own temp files (see ``fsutil.atomic_write``) older than this are leftovers of a killed export.
STALE_TEMP_SECONDS = 3600.0


def is_month_file(name: object) -> bool:
    """Whether ``name`` is the name of a month file (exactly; no path, no trailing newline)."""
    return isinstance(name, str) and FILE_RE.fullmatch(name) is not None


class ExportRefused(OSError):
    """The shared folder is not safe to write to (the message says why)."""


@dataclass
class ExportResult:
    """What an export did."""

    folder: Path | str
    """``<shared>/<device_id>`` (``s3://bucket/prefix/<device_id>`` on S3)."""
    sequence: int
    """The manifest's sequence number after the export."""
    rows: int
    """Events in the snapshot."""
    months: int
    """Month files in the snapshot."""
    written: list[str] = field(default_factory=list)
    """Month files written by this export (empty when nothing changed)."""
    removed: list[str] = field(default_factory=list)
    """Month files no manifest needs any more, deleted."""
    unchanged: bool = False
    """True when nothing had changed and no file was written."""
    files: list[str] = field(default_factory=list)
    """Month files of ours still in the folder (this and the previous manifest's): the only ones a
    later export may delete."""


def device_folder(shared: Path, device_id: str) -> Path:
    """The folder of ``device_id`` in the shared folder."""
    return shared / device_id


def export_state_path() -> Path:
    """This device's memory of its last export (lets an export with nothing new skip all work)."""
    return paths.data_dir() / "export-state.json"


def redact_workspace(expr: pl.Expr) -> pl.Expr:
    """A workspace path reduced to its last component (``/home/me/src/app/`` -> ``app``)."""
    return expr.cast(pl.String).str.replace(r"[/\\]+$", "").str.extract(r"([^/\\]*)$", 1).fill_null("")


def _ledger_signature(ledger: Ledger) -> list[list[Any]]:
    """Name, size and mtime of every ledger segment: equal signatures mean equal content."""
    out = []
    try:
        entries = sorted(ledger.events_dir.iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        if parse_name(path.name) is not None:  # Parquet and journal segments alike
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            out.append([path.name, st.st_size, st.st_mtime_ns, st.st_ino])
    return out


def ledger_token(ledger: Ledger) -> str:
    """A short digest of the ledger's segment files: it changes whenever the ledger's content can have."""
    return hashlib.sha256(json.dumps(_ledger_signature(ledger)).encode()).hexdigest()[:16]


def events_for_export(ledger: Ledger, device_id: str, redact_workspaces: bool = False) -> pl.DataFrame:
    """The ledger in the event schema with ``device_id`` filled, sorted for byte-stable files."""
    frame = ledger.lazy().with_columns(device_id=pl.lit(device_id, pl.Categorical()))
    if redact_workspaces:
        frame = frame.with_columns(workspace=redact_workspace(pl.col("workspace")).cast(pl.Categorical()))
    return frame.select(list(EVENT_SCHEMA)).sort(["ts", "client", "event_key"]).collect()


def month_files(events: pl.DataFrame) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Each month's Parquet bytes and manifest entry (without the file name)."""
    out: dict[str, tuple[bytes, dict[str, Any]]] = {}
    if events.is_empty():
        return out
    months = events.with_columns(_month=pl.col("ts").dt.strftime("%Y-%m"))
    for (month,), part in months.partition_by("_month", as_dict=True, maintain_order=True).items():
        part = part.drop("_month")
        buf = io.BytesIO()
        part.write_parquet(buf, compression="lz4", statistics=True)
        data = buf.getvalue()
        first, last = part["ts"].min(), part["ts"].max()
        out[str(month)] = (
            data,
            {
                "month": str(month),
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "rows": part.height,
                "first_ts": first.isoformat() if first is not None else None,  # type: ignore[union-attr]
                "last_ts": last.isoformat() if last is not None else None,  # type: ignore[union-attr]
            },
        )
    return out


def build_manifest(
    identity: Identity,
    sequence: int,
    files: list[dict[str, Any]],
    redacted: bool,
    created_at: str,
    readings: list[dict[str, Any]] | None = None,
) -> bytes:
    """The exact manifest bytes that get signed; ``readings``: this device's official limit readings
    (``tokscope.quota.export_entries``), signed with the rest, left out when there are none."""
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "device_id": identity.device.id,
        "name": identity.device.name,
        "public_key": identity.public_key_text,
        "sequence": sequence,
        "created_at": created_at,
        "redacted_workspaces": redacted,
        "rows": sum(int(f["rows"]) for f in files),
        "files": sorted(files, key=lambda f: f["name"]),
    }
    if readings:
        manifest["quota"] = readings
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


def build_signature(identity: Identity, manifest: bytes, sequence: int) -> bytes:
    """``manifest.sig``: the Ed25519 signature of ``manifest`` plus what identifies the pair."""
    import base64

    sig = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "ed25519",
        "sequence": sequence,
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(identity.sign(manifest)).decode("ascii"),
    }
    return (json.dumps(sig, indent=1, sort_keys=True) + "\n").encode()


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _own_manifest(store: Store, device_id: str, identity: Identity) -> tuple[bytes | None, dict[str, Any]]:
    """The manifest now in our prefix (bytes, parsed) if our key signed it, else (None, {}).

    Anyone can write to the shared folder: a manifest we did not sign must not set our
    next sequence (one near ``MAX_SEQUENCE`` would lock this device out) or what we delete.
    """
    import base64

    try:
        data = store.get(device_id, MANIFEST, MAX_MANIFEST_BYTES)
        sig = json.loads(store.get(device_id, SIGNATURE, MAX_SIGNATURE_BYTES))
        manifest = json.loads(data)
        raw_sig = base64.b64decode(sig["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None, {}
    if not isinstance(manifest, dict) or not verify(identity.public_key, raw_sig, data):
        return None, {}
    if manifest.get("device_id") != identity.device.id or count(manifest.get("sequence")) > MAX_SEQUENCE:
        return None, {}
    return data, manifest


def _files_intact(listing: dict[str, ObjectInfo], manifest: dict[str, Any]) -> bool:
    for entry in manifest.get("files") or []:
        try:
            info = listing.get(entry["name"])
        except (KeyError, TypeError):
            return False
        if info is None or info.size != entry.get("bytes"):
            return False
    return True


def export(
    shared: Shared,
    *,
    ledger: Ledger | None = None,
    identity: Identity | None = None,
    redact_workspaces: bool | None = None,
) -> ExportResult:
    """Write this device's ledger to ``<shared>/<device_id>/`` (a folder or an ``s3://`` prefix) as a
    signed snapshot.

    Only months whose content changed are written; when nothing changed
    (same ledger segments, same name, same redaction, our manifest and files
    still in place) no file is written at all. ``redact_workspaces`` None
    means ``redact_workspaces`` of config.toml (default false). Returns what was done.
    """
    if redact_workspaces is None:
        from tokscope import config

        redact_workspaces = config.load().extra.get("redact_workspaces") is True
    ledger = ledger or Ledger()
    ledger.require_intact()  # a damaged ledger would export as if whole, and other devices count it so
    identity = identity or load_identity()
    device_id = identity.device.id
    store = open_store(shared, offline_ok=False)
    folder: Path | str = (
        device_folder(shared, device_id) if isinstance(shared, Path) else f"{shared}/{device_id}"
    )
    state_path = export_state_path()
    with locked(state_path.with_name(".export.lock")):
        store.prepare(device_id)
        states = _load_json(state_path)
        key = str(folder.absolute()) if isinstance(folder, Path) else folder
        state = states.get(key) if isinstance(states.get(key), dict) else {}
        signature = _ledger_signature(ledger)
        current, manifest = _own_manifest(store, device_id, identity)
        wanted = {
            "ledger": signature,
            "redact": redact_workspaces,
            "name": identity.device.name,
            "public_key": identity.public_key_text,
        }
        readings = quota.export_entries(ledger.root)
        if readings:  # new readings alone are reason enough to export
            wanted["quota"] = hashlib.sha256(json.dumps(readings, sort_keys=True).encode()).hexdigest()
        if (
            current is not None
            and all(state.get(k) == v for k, v in wanted.items())
            and state.get("manifest_sha256") == hashlib.sha256(current).hexdigest()
            and _files_intact(store.listing(device_id), manifest)
        ):
            return ExportResult(
                folder=folder,
                sequence=int(manifest["sequence"]),
                rows=int(manifest.get("rows") or 0),
                months=len(manifest.get("files") or []),
                unchanged=True,
            )

        def remember(**changes: Any) -> None:
            states[key] = {**state, **changes}
            atomic_write(state_path, (json.dumps(states, indent=1, sort_keys=True) + "\n").encode())

        result, written_manifest = _write_snapshot(
            store, device_id, ledger, identity, redact_workspaces, manifest, state, remember, readings
        )
        result.folder = folder
        remember(
            **wanted,
            sequence=result.sequence,
            manifest_sha256=hashlib.sha256(written_manifest).hexdigest(),
            files=result.files,
        )
        return result


def _put_month(store: Store, device_id: str, name: str, data: bytes) -> bool:
    """Create a month file; True when written. An object already under its content-addressed name
    is left alone when it holds these bytes, and refused when it does not (never overwritten)."""
    if store.put_new(device_id, name, data):
        return True
    try:
        there = store.get(device_id, name, len(data))
    except FileNotFoundError:  # deleted between the two requests: create it again
        return store.put_new(device_id, name, data)
    except OSError:
        there = b""
    if hashlib.sha256(there).digest() != hashlib.sha256(data).digest():
        raise ExportRefused(
            f"{store.key(device_id, name)} exists with other bytes than its name says: not overwriting "
            "another writer's object (remove it, then export again)"
        )
    return False


def _write_snapshot(
    store: Store,
    device_id: str,
    ledger: Ledger,
    identity: Identity,
    redact: bool,
    previous: dict[str, Any],
    state: dict[str, Any],
    remember: Any,
    readings: list[dict[str, Any]] | None = None,
) -> tuple[ExportResult, bytes]:
    """Write the months that changed, then manifest.sig, then manifest.json, then remove what no
    manifest in reach lists; the result and the manifest bytes written."""
    events = events_for_export(ledger, device_id, redact)
    months = month_files(events)
    listing = store.listing(device_id)
    old_by_sha = {e.get("sha256"): e for e in previous.get("files") or [] if isinstance(e, dict)}
    files: list[dict[str, Any]] = []
    for month, (_data, entry) in sorted(months.items()):
        files.append({"name": f"events-{month}-{entry['sha256'][:12]}.parquet", **entry})
    previous_names = {e.get("name") for e in previous.get("files") or [] if isinstance(e, dict)}
    ours = {n for n in _names(state.get("files")) | previous_names if is_month_file(n)}
    # before writing: a killed export's month files are ours to clean up later
    remember(files=sorted(ours | {f["name"] for f in files}))
    written: list[str] = []
    for entry in files:
        name = entry["name"]
        old = old_by_sha.get(entry["sha256"])
        info = listing.get(name)
        intact = old is not None and old.get("name") == name and info is not None and info.size == entry["bytes"]
        if not intact and _put_month(store, device_id, name, months[entry["month"]][0]):
            written.append(name)
    # a sequence that only grows, even if this device lost its state or the folder its manifest
    last = max(min(count(state.get("sequence")), MAX_SEQUENCE - 1), count(previous.get("sequence")))
    sequence = min(max(last + 1, int(time.time() * 1000)), MAX_SEQUENCE)
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = build_manifest(identity, sequence, files, redact, created_at, readings)
    store.put(device_id, SIGNATURE, build_signature(identity, manifest, sequence))
    store.put(device_id, MANIFEST, manifest)  # last: it makes the new snapshot visible
    keep = {f["name"] for f in files} | previous_names
    removed = _clean(store, device_id, listing, keep, ours | set(written))
    result = ExportResult(
        folder=device_id,
        sequence=sequence,
        rows=events.height,
        months=len(files),
        written=written,
        removed=removed,
        files=sorted(n for n in keep if is_month_file(n)),
    )
    return result, manifest


def _names(value: object) -> set[str]:
    return {n for n in value if isinstance(n, str)} if isinstance(value, list) else set()


def _clean(
    store: Store, device_id: str, listing: dict[str, ObjectInfo], keep: set[Any], ours: set[str]
) -> list[str]:
    """Remove month files of ours no manifest in reach lists, and our temp files a killed export left."""
    removed: list[str] = []
    for name in sorted(listing):
        if name in ours and name not in keep and is_month_file(name):
            try:
                store.delete(device_id, name)
            except OSError:
                continue
            removed.append(name)
    store.sweep(device_id, STALE_TEMP_SECONDS)
    return removed
