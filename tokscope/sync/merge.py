"""Merge: the trusted devices' snapshots in the shared folder, verified, joined to this device's ledger.

For every device folder ``<shared>/<uuid>/`` (anything else is ignored: sync
tools' hidden folders, conflict copies, stray files):

1. ``manifest.json`` and ``manifest.sig`` must exist and parse; the manifest
   must name the folder's device id;
2. the device must be trusted (``tokscope devices trust``), and the manifest's
   public key must be the pinned one (else: impersonation);
3. the signature must verify against the pinned key over the exact manifest
   bytes (else: tampered, or half-synced when the signature belongs to another
   export);
4. the sequence must not be lower than the last one accepted (else: rolled back);
5. every listed file must be present with its size (else: half-synced) and
   SHA-256 (else: tampered), and be readable Parquet.

Files are read once into memory and hashed there, so what was verified is
exactly what is parsed, whatever a sync tool or an export does meanwhile.
Only files the manifest lists are read: ``.syncthing.*.tmp``, ``*.sync-conflict-*``
and Dropbox "conflicted copy" files are never looked at. A refused device gets a
status and a reason (shown by ``tokscope devices`` and as a report footnote);
the other devices still merge. This device's own folder is not read back: its
live ledger stands for it. While a trusted device's newest snapshot is
half-synced (a sync tool delivers files in any order), the last snapshot merged
from it (manifest and signature kept in the data dir) is verified again and, if
its files are still there, stands in, with a footnote.

The device folders are read through ``store``: a shared folder, or an ``s3://`` bucket prefix
listed once per merge, whose objects are fetched only when their ETag changed (a bucket that
cannot be reached: the last listing and the cached copies, verified again, with a note).

Events are concatenated (this device first, then the others by id) and
duplicate ``(client, event_key)`` pairs are dropped, the first kept. Finding
duplicates among 10 M keys is the costly part, so the sorted key hashes of the
remote snapshots (which change only when a device exports) are cached in the
cache dir, keyed by the snapshot files' SHA-256s; hashes only select
candidates, equality is decided on the keys themselves.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl
from tokscope.readers.base import FileTooLarge, NotRegularFile, open_regular, read_regular

from tokscope import paths
from tokscope.events import EVENT_SCHEMA
from tokscope.fsutil import atomic_write, atomic_write_with
from tokscope.ledger import Ledger
from tokscope.limits import MAX_SEQUENCE
from tokscope.sync.identity import Device, decode_key, fingerprint, verify
from tokscope.sync.snapshot import FORMAT, MANIFEST, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, SIGNATURE, is_month_file
from tokscope.sync.snapshot_check import Checked, check_file
from tokscope.sync.store import FolderStore, S3Store, Shared, Store, open_store
from tokscope.sync.trust import (
    TrustedDevice,
    TrustError,
    accepted_path,
    accepted_sequences,
    last_sequence,
    record_accepted,
    trust_path,
    trusted_devices,
)


class DeviceState(StrEnum):
    """What became of a device's snapshot (equal to its text, which JSON and tables show)."""

    THIS_DEVICE = "this device"
    MERGED = "merged"
    UNTRUSTED = "untrusted"
    REFUSED = "refused"
    MISSING = "missing"


THIS_DEVICE, MERGED, UNTRUSTED, REFUSED, MISSING = (
    DeviceState.THIS_DEVICE,
    DeviceState.MERGED,
    DeviceState.UNTRUSTED,
    DeviceState.REFUSED,
    DeviceState.MISSING,
)

#: Seeds of the key hash (a candidate filter only; equal hashes are checked on the keys).
_SEED = 0x746F6B73636F7065
#: Changes when the cached index's meaning changes.
_INDEX_VERSION = 1
#: Attempts at a folder that looks half-written (an export or a sync in progress).
_ATTEMPTS = 3
_RETRY_DELAY = 0.05

KEY = ["client", "event_key"]


@dataclass
class DeviceStatus:
    """One device as ``tokscope devices`` shows it."""

    id: str
    name: str
    fingerprint: str | None
    trusted: bool
    last_export: str | None
    """``created_at`` of its manifest (ISO 8601, UTC)."""
    rows: int | None
    status: DeviceState
    """``this device``, ``merged``, ``untrusted``, ``refused`` or ``missing``."""
    reason: str | None
    """Why it is not merged (None when merged or this device)."""
    public_key: str | None = None
    sequence: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The ``tokscope devices --format json`` object (exactly these fields)."""
        return {
            "id": self.id,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "trusted": self.trusted,
            "last_export": self.last_export,
            "rows": self.rows,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass
class Blob:
    """One verified Parquet file: in memory, or (from a bucket) the verified copy in the local cache."""

    device_id: str
    name: str
    sha256: str
    data: bytes | None
    schema: dict[str, pl.DataType] = field(default_factory=dict)
    """The file's own Parquet schema (empty: not read yet)."""
    path: Path | None = None
    """The local copy standing for ``data`` when that is None (``store.S3Store``'s cache)."""


@dataclass
class Snapshot:
    """What was found in one device folder: its status and, if accepted, its files."""

    status: DeviceStatus
    blobs: list[Blob] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    raw: tuple[bytes, bytes] | None = None
    """The exact manifest.json and manifest.sig bytes that were verified."""
    fallback: bool = False
    """True when the newest snapshot was half-synced and the last good one was merged instead."""


@dataclass
class MergeResult:
    """Merged events and what to tell the user."""

    events: pl.LazyFrame
    devices: list[DeviceStatus]
    notes: list[str]


class SnapshotRefused(Exception):
    """A device folder that cannot be merged; ``reason`` says why."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.partial: DeviceStatus | None = None
        """What was learnt of the device before the refusal (name, key, …)."""


# --- the shared folder ---------------------------------------------------------


@dataclass
class Source:
    """One device's prefix in the shared location (a folder's ``<shared>/<id>``, or ``s3://…/<id>``)."""

    store: Store
    name: str
    """The device id the prefix is named by."""

    def read(self, file: str, limit: int) -> bytes:
        return self.store.get(self.name, file, limit)

    def exists(self, file: str) -> bool:
        return file in self.store.listing(self.name)


def device_sources(store: Store) -> list[Source]:
    """The device prefixes of the shared location, sorted by id (conflict copies, hidden folders skipped)."""
    return [Source(store, device_id) for device_id in store.device_ids()]


def device_folders(shared: Path) -> list[Path]:
    """Folders of the shared folder named by a device UUID, sorted (conflict copies, hidden folders skipped)."""
    return [shared / device_id for device_id in FolderStore(shared).device_ids()]


def _short(fp: str | None) -> str:
    return fp or "?"


def _read_bounded(folder: Source, name: str, limit: int) -> bytes:
    """A file of the shared folder: regular files only, never more than ``limit`` bytes; raises SnapshotRefused."""
    try:
        return folder.read(name, limit)
    except FileTooLarge:
        raise SnapshotRefused(f"{name} is too large (over {limit:,} bytes): not a tokscope {name}") from None
    except NotRegularFile:
        raise SnapshotRefused(f"{name} is not a regular file") from None


def _read_raw(folder: Source, cached: tuple[bytes, bytes] | None = None) -> tuple[bytes, bytes | None]:
    """The bytes of manifest.json and of manifest.sig (None when absent), size-bounded, unparsed
    (from ``cached`` instead of the folder when given); raises SnapshotRefused."""
    if cached is not None:
        return cached
    try:
        data = _read_bounded(folder, MANIFEST, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        if folder.exists(SIGNATURE):
            raise SnapshotRefused("half-synced: manifest.sig without manifest.json", transient=True) from None
        raise SnapshotRefused("no manifest.json (not a snapshot, or not synced yet)", transient=True) from None
    except OSError as exc:
        raise SnapshotRefused(f"cannot read manifest.json: {exc.strerror or exc}") from None
    try:
        return data, _read_bounded(folder, SIGNATURE, MAX_SIGNATURE_BYTES)
    except FileNotFoundError:
        return data, None
    except OSError as exc:
        raise SnapshotRefused(f"cannot read manifest.sig: {exc.strerror or exc}") from None


def _parse_manifest(data: bytes) -> dict[str, Any]:
    """manifest.json's content; raises SnapshotRefused."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        raise SnapshotRefused("unreadable manifest.json (not JSON; half-synced or damaged)", transient=True) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotRefused("manifest.json is not a tokscope snapshot manifest")
    return manifest


def _parse_signature(sig_data: bytes | None) -> tuple[dict[str, Any], bytes]:
    """manifest.sig's content and its raw 64-byte signature; raises SnapshotRefused."""
    if sig_data is None:
        raise SnapshotRefused("unsigned: no manifest.sig")
    try:
        sig = json.loads(sig_data)
        raw_sig = base64.b64decode(sig["signature"], validate=True)
        if not isinstance(sig, dict) or len(raw_sig) != 64:
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError):
        raise SnapshotRefused("unsigned: manifest.sig is not a signature", transient=True) from None
    return sig, raw_sig


def _read_manifest(
    folder: Source, cached: tuple[bytes, bytes] | None = None
) -> tuple[bytes, dict[str, Any], dict[str, Any], bytes, bytes]:
    """Manifest bytes and content, signature file content, raw signature and signature file bytes
    (from ``cached`` instead of the folder when given); raises SnapshotRefused."""
    data, sig_data = _read_raw(folder, cached)
    manifest = _parse_manifest(data)
    sig, raw_sig = _parse_signature(sig_data)
    assert sig_data is not None
    return data, manifest, sig, raw_sig, sig_data


def _manifest_status(folder: Source, manifest: dict[str, Any]) -> DeviceStatus:
    key = manifest.get("public_key")
    try:
        fp: str | None = fingerprint(decode_key(key))
    except ValueError:
        fp = None
    rows = manifest.get("rows")
    seq = manifest.get("sequence")
    return DeviceStatus(
        id=folder.name,
        name=str(manifest.get("name") or ""),
        fingerprint=fp,
        trusted=False,
        last_export=str(manifest.get("created_at")) if manifest.get("created_at") else None,
        rows=rows if isinstance(rows, int) else None,
        status=REFUSED,
        reason=None,
        public_key=key if isinstance(key, str) else None,
        sequence=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
    )


def _own_key(folder: Source, manifest: dict[str, Any]) -> bytes:
    """The public key a manifest carries, if it names its own folder's device (else refused)."""
    if manifest.get("device_id") != folder.name:
        raise SnapshotRefused(f"manifest names device {manifest.get('device_id')!r}, not its folder's")
    try:
        return decode_key(manifest.get("public_key"))
    except ValueError as exc:
        raise SnapshotRefused(f"manifest.json has no valid public key ({exc})") from None


def _check_signature(data: bytes, manifest: dict[str, Any], sig: dict[str, Any], raw_sig: bytes, key: bytes) -> None:
    if verify(key, raw_sig, data):
        return
    if (
        sig.get("sequence") != manifest.get("sequence")
        and sig.get("manifest_sha256") != hashlib.sha256(data).hexdigest()
    ):
        raise SnapshotRefused("half-synced: manifest.sig belongs to another export", transient=True)
    raise SnapshotRefused("tampered: the signature does not match manifest.json")


def read_signed_manifest(folder: Source) -> dict[str, Any]:
    """The manifest of ``folder``, checked against its own key (no trust involved); raises ``SnapshotRefused``.

    What ``devices trust`` pins: a snapshot that its own key signed, naming its own folder.
    """
    for attempt in range(_ATTEMPTS):
        try:
            data, manifest, sig, raw_sig, _ = _read_manifest(folder)
            key = _own_key(folder, manifest)
            _check_signature(data, manifest, sig, raw_sig, key)
            return manifest
        except SnapshotRefused as refusal:
            if not refusal.transient or attempt + 1 == _ATTEMPTS:
                raise
            time.sleep(_RETRY_DELAY)
    raise AssertionError("unreachable")


def _last_good_dir() -> Path:
    return paths.data_dir() / "last-good"


def _last_good_path(device_id: str) -> Path:
    return _last_good_dir() / f"{device_id}.json"


def _last_good(device_id: str) -> tuple[bytes, bytes] | None:
    """The manifest and signature bytes last merged from ``device_id`` (to bridge a half-synced folder)."""
    try:
        entry = json.loads(read_regular(_last_good_path(device_id), 4 * MAX_MANIFEST_BYTES))
        return base64.b64decode(entry["manifest"]), base64.b64decode(entry["signature"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember_good(snapshots: list[Snapshot]) -> None:
    """Keep the manifest and signature of each snapshot just merged (not of a fallback)."""
    for snap in snapshots:
        if snap.status.status != MERGED or snap.fallback or snap.raw is None:
            continue
        if _last_good(snap.status.id) == snap.raw:
            continue
        entry = {
            "manifest": base64.b64encode(snap.raw[0]).decode(),
            "signature": base64.b64encode(snap.raw[1]).decode(),
        }
        with contextlib.suppress(OSError):
            atomic_write(_last_good_path(snap.status.id), json.dumps(entry).encode())


#: How the notes about a lost or damaged trust or sequence store begin (the TUI header counts them).
STORE_NOTE = "trust store: "
#: How the note about a changed identity of this device begins.
IDENTITY_NOTE = "this device: "


@dataclass
class Stores:
    """The trust store, the accepted sequences and what is wrong with them."""

    trusted: dict[str, TrustedDevice]
    accepted: dict[str, tuple[str, int]]
    """Per device: the highest of accepted.json's sequence and the last merged snapshot's."""
    recovered: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Sequences accepted.json lacks that the last merged snapshots restored (to write back)."""
    warnings: list[str] = field(default_factory=list)
    trust_problem: str | None = None
    """Why trusted.json cannot be read (then no device is trusted)."""


def load_stores() -> Stores:
    """``trusted.json`` and ``accepted.json``, loudly when lost or unreadable.

    Rollback protection does not rest on accepted.json alone: the last snapshot merged
    from each device (``last-good/``, kept to bridge half-synced folders) is signed by the
    pinned key, so its sequence is a floor too. A lost or damaged accepted.json is said
    and restored from those; nothing older than what was merged before is accepted.
    """
    warnings: list[str] = []
    trust_problem: str | None = None
    try:
        trusted = trusted_devices()
    except TrustError as exc:
        trusted, trust_problem = {}, str(exc)
        warnings.append(f"{STORE_NOTE}{exc}: no device is trusted until then")
    accepted_lost = False
    try:
        accepted = accepted_sequences()
    except TrustError as exc:
        accepted, accepted_lost = {}, True
        warnings.append(f"{STORE_NOTE}{exc}: rollback protection falls back on the last merged snapshots")
    remembered = [p.stem for p in _last_good_dir().glob("*.json")] if _last_good_dir().is_dir() else []
    if not accepted_path().exists() and remembered:
        accepted_lost = True
        warnings.append(
            f"{STORE_NOTE}{accepted_path()} is missing: "
            "the sequences accepted before were restored from the last merged snapshots"
        )
    if not trust_path().exists() and trust_problem is None and (accepted or remembered):
        warnings.append(
            f"{STORE_NOTE}{trust_path()} is missing: devices merged before are no longer trusted; "
            "compare their fingerprints and trust them again (tokscope devices trust)"
        )
    recovered: dict[str, tuple[str, int]] = {}
    for device_id, pin in trusted.items():
        floor = _last_good_sequence(device_id, pin)
        current = last_sequence(accepted, device_id, pin.public_key)
        if floor is not None and (current is None or floor > current):
            accepted[device_id] = recovered[device_id] = (pin.public_key, floor)
    if not accepted_lost:
        recovered = {}  # only a lost store is written back from the last merged snapshots
    return Stores(trusted, accepted, recovered, warnings, trust_problem)


def _last_good_sequence(device_id: str, pin: TrustedDevice) -> int | None:
    """The sequence of the last snapshot merged from ``device_id``, if its pinned key signed it."""
    cached = _last_good(device_id)
    if cached is None:
        return None
    try:
        _sig, raw_sig = _parse_signature(cached[1])
        if not verify(decode_key(pin.public_key), raw_sig, cached[0]):
            return None
        manifest = _parse_manifest(cached[0])
    except SnapshotRefused:
        return None
    seq = manifest.get("sequence")
    if manifest.get("device_id") != device_id or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    return seq if 0 <= seq <= MAX_SEQUENCE else None


def _verified_path() -> Path:
    return paths.cache_dir() / "verified.json"


def _stat_key(st: os.stat_result) -> list[int]:
    # any write changes mtime and ctime; ctime cannot be set back without root
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads for reading and hashing snapshot files (file reads and hashlib release the GIL)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tokscope-merge")
    return _POOL


@dataclass
class _Read:
    """One listed file as read: its bytes (None when its size was wrong: it is not read at all; or
    when ``path``, a verified local copy, stands for them)."""

    size: int
    data: bytes | None = None
    stat_key: list[int] = field(default_factory=list)
    intact: bool = False
    path: Path | None = None


def _read_one(path: Path, cached: list[Any] | None, want_sha: str, want_size: int) -> _Read | OSError:
    """Read a regular file of the listed size; hash it unless the verified cache vouches for these
    exact bytes (same stat). A file of another size is not read."""
    try:
        with open_regular(path) as fh:
            st = os.fstat(fh.fileno())
            if st.st_size != want_size:
                return _Read(size=st.st_size)
            data = fh.read(want_size + 1)
    except OSError as exc:
        return exc
    stat_key = _stat_key(st)
    if len(data) != want_size:  # changed while read
        return _Read(size=len(data))
    if cached is not None and cached[:-1] == stat_key and cached[-1] == want_sha:
        return _Read(want_size, data, stat_key, True)
    return _Read(want_size, data, stat_key, hashlib.sha256(data).hexdigest() == want_sha)


class Verified:
    """Files already hashed, by path: (dev, inode, size, mtime, ctime, sha256). A file whose stat is
    unchanged has the same bytes (any write moves mtime and ctime; ctime cannot be set back), so its
    hash need not be recomputed. Only the entries used by the last merge are kept."""

    def __init__(self) -> None:
        try:
            data = json.loads(read_regular(_verified_path()))
        except (OSError, ValueError):
            data = {}
        self.old: dict[str, list[Any]] = data if isinstance(data, dict) else {}
        self.new: dict[str, list[Any]] = {}
        self.checked = Checked()
        """Files whose values passed the checks (``snapshot_check``)."""

    def get(self, key: str) -> list[Any] | None:
        return self.new.get(key) or self.old.get(key)

    def put(self, key: str, entry: list[Any]) -> None:
        self.new[key] = entry

    def save(self) -> None:
        self.checked.save()
        if self.new != self.old:
            with contextlib.suppress(OSError):  # a cache: losing it only costs a re-hash
                atomic_write(_verified_path(), json.dumps(self.new, sort_keys=True).encode())


#: The largest month file read (a month of heavy use is a few MB; a listed size above this is refused unread).
MAX_FILE_BYTES = 1 << 30


def _wanted_files(manifest: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(name, sha256, bytes) of every file the manifest lists; raises SnapshotRefused for a bad entry."""
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise SnapshotRefused("manifest.json lists no files")
    wanted: list[tuple[str, str, int]] = []
    for entry in entries:
        try:
            name, want_sha, want_size = entry["name"], entry["sha256"], entry["bytes"]
        except (KeyError, TypeError):
            raise SnapshotRefused("manifest.json has a malformed file entry") from None
        if not is_month_file(name):
            raise SnapshotRefused(f"manifest.json lists an unexpected file name {name!r}")
        if not isinstance(want_sha, str) or len(want_sha) != 64:
            raise SnapshotRefused(f"manifest.json gives {name} no SHA-256")
        if not isinstance(want_size, int) or isinstance(want_size, bool) or not 0 < want_size <= MAX_FILE_BYTES:
            raise SnapshotRefused(f"manifest.json gives {name} an impossible size {want_size!r}")
        wanted.append((name, want_sha, want_size))
    if len({w[0] for w in wanted}) != len(wanted):
        raise SnapshotRefused("manifest.json lists a file twice")
    return wanted


def _read_s3(folder: Source, name: str, cached: list[Any] | None, want_sha: str, want_size: int) -> _Read | OSError:
    """A listed object of the listed size. When the verified cache vouches for the local copy (same
    ETag as listed, same file since it was hashed) it is not read now (``path``); else it is read from
    the local copy (or fetched, when its ETag changed) and hashed."""
    store = folder.store
    assert isinstance(store, S3Store)
    info = store.listing(folder.name).get(name)
    if info is None:
        return FileNotFoundError(2, "not in the bucket", store.key(folder.name, name))
    if info.size != want_size:
        return _Read(size=info.size)
    local = store.cached_path(folder.name, name)
    if cached is not None and cached[-1] == want_sha and store.cached_etag(folder.name, name) == info.etag:
        with contextlib.suppress(OSError):
            st = local.stat()
            stat_key = [*_stat_key(st), info.etag]
            if st.st_size == want_size and cached[:-1] == stat_key:
                return _Read(want_size, None, stat_key, True, path=local)
    try:
        data = store.get(folder.name, name, want_size)
    except OSError as exc:
        return exc
    if len(data) != want_size:
        return _Read(size=len(data))
    try:
        stat_key = [*_stat_key(local.stat()), info.etag]
    except OSError:
        stat_key = []  # no local copy: hashed every time
    intact = hashlib.sha256(data).hexdigest() == want_sha
    return _Read(want_size, data, stat_key, intact, path=local if stat_key else None)


def _load_copy(path: Path, name: str, want_sha: str) -> bytes:
    """The bytes of a verified local copy, hashed again as they are read; raises SnapshotRefused."""
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise SnapshotRefused(f"cannot read the cached copy of {name}: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != want_sha:
        raise SnapshotRefused(f"the cached copy of {name} changed since it was verified", transient=True)
    return data


def _read_listed(folder: Source, name: str, verified: Verified, want_sha: str, want_size: int) -> _Read | OSError:
    key = folder.store.key(folder.name, name)
    if isinstance(folder.store, S3Store):
        return _read_s3(folder, name, verified.get(key), want_sha, want_size)
    return _read_one(Path(key), verified.get(key), want_sha, want_size)


def _read_files(folder: Source, manifest: dict[str, Any], verified: Verified) -> list[Blob]:
    wanted = _wanted_files(manifest)
    rows = {e["name"]: e.get("rows") for e in manifest["files"]}
    listed = sum(r for r in rows.values() if isinstance(r, int))
    if isinstance(manifest.get("rows"), int) and manifest["rows"] != listed:
        raise SnapshotRefused(f"invalid snapshot: manifest.json says {manifest['rows']:,} rows, its files {listed:,}")
    if isinstance(folder.store, S3Store):  # over the network: many at a time
        folder.store.prefetch([(folder.name, name, size) for name, _sha, size in wanted])
    results = list(_pool().map(lambda w: _read_listed(folder, w[0], verified, w[1], w[2]), wanted))
    blobs: list[Blob] = []
    now_us = int(time.time() * 1_000_000)
    for (name, want_sha, want_size), result in zip(wanted, results, strict=True):
        if isinstance(result, FileNotFoundError):
            raise SnapshotRefused(f"half-synced: {name} is missing", transient=True)
        if isinstance(result, NotRegularFile):
            raise SnapshotRefused(f"{name} is not a regular file")
        if isinstance(result, OSError):
            raise SnapshotRefused(f"cannot read {name}: {result.strerror or result}")
        if result.data is None and result.path is None and result.size < want_size:
            raise SnapshotRefused(f"half-synced: {name} has {result.size:,} of {want_size:,} bytes", transient=True)
        if result.data is None and result.path is None:
            raise SnapshotRefused(f"tampered: {name} has {result.size:,} bytes, not the {want_size:,} listed")
        if not result.intact:
            raise SnapshotRefused(f"tampered: {name} does not match its SHA-256 in the manifest")
        if result.stat_key:
            verified.put(folder.store.key(folder.name, name), [*result.stat_key, want_sha])
        data = result.data
        schema: dict[str, pl.DataType] = {}
        try:
            if not verified.checked.passed(want_sha):
                if data is None and result.path is not None:
                    data = _load_copy(result.path, name, want_sha)
                assert data is not None
                schema = dict(pl.read_parquet_schema(io.BytesIO(data)))
                problem = check_file(name, data, schema, rows.get(name), now_us)
                if problem is not None:
                    raise SnapshotRefused(f"invalid snapshot: {problem}")
                verified.checked.add(want_sha)
            elif data is not None and result.path is None:
                schema = dict(pl.read_parquet_schema(io.BytesIO(data)))
        except SnapshotRefused:
            raise
        except Exception as exc:  # polars raises several types for a bad file
            raise SnapshotRefused(f"unreadable {name}: {exc}") from None
        if result.path is not None:  # a bucket's object: its verified local copy stands in (not held in memory)
            data = None
        blobs.append(
            Blob(device_id=folder.name, name=name, sha256=want_sha, data=data, schema=schema, path=result.path)
        )
    return blobs


def inspect_folder(
    folder: Source,
    local: Device,
    local_key: str | None,
    trusted: dict[str, TrustedDevice],
    accepted: dict[str, tuple[str, int]],
    verified: Verified,
    read: bool = True,
) -> Snapshot:
    """Verify one device folder; the files are read (and returned) only for a trusted, valid snapshot."""
    status = DeviceStatus(
        id=folder.name, name="", fingerprint=None, trusted=folder.name in trusted, last_export=None, rows=None,
        status=REFUSED, reason=None,
    )  # fmt: skip
    pinned = trusted.get(folder.name)
    if pinned is not None:
        status.name, status.fingerprint = pinned.name, pinned.fingerprint
    for attempt in range(_ATTEMPTS):
        try:
            return _inspect(folder, local, local_key, pinned, accepted, verified, read)
        except SnapshotRefused as refusal:
            if refusal.transient and attempt + 1 < _ATTEMPTS:
                time.sleep(_RETRY_DELAY)
                continue
            last_good = _last_good(folder.name) if refusal.transient and pinned is not None and read else None
            if last_good is not None:  # half-synced: the last snapshot merged may still be whole
                with contextlib.suppress(SnapshotRefused):
                    snap = _inspect(folder, local, local_key, pinned, accepted, verified, read, cached=last_good)
                    snap.fallback = True
                    seq = snap.status.sequence
                    snap.status.reason = f"newest snapshot {refusal.reason}; merged the last good one (sequence {seq})"
                    return snap
            if refusal.partial is not None:
                status = refusal.partial
                status.status = REFUSED
                if pinned is None:
                    status.public_key = None  # never verified: nothing anyone should pin
            status.reason = refusal.reason
            return Snapshot(status=status)
    raise AssertionError("unreachable")


def _inspect(
    folder: Source,
    local: Device,
    local_key: str | None,
    pinned: TrustedDevice | None,
    accepted: dict[str, tuple[str, int]],
    verified: Verified,
    read: bool,
    cached: tuple[bytes, bytes] | None = None,
) -> Snapshot:
    partial: DeviceStatus | None = None
    try:
        data, sig_data = _read_raw(folder, cached)
        if pinned is not None and folder.name != local.id:
            # the pinned key is known: check the signature over the bytes before parsing them
            sig, raw_sig = _parse_signature(sig_data)
            if not verify(decode_key(pinned.public_key), raw_sig, data):
                manifest = _parse_manifest(data)  # only to say why (size-bounded: cheap)
                partial = _manifest_status(folder, manifest)
                partial.trusted = True
                partial.name = pinned.name  # not the unverified manifest's
                key = _own_key(folder, manifest)
                if manifest.get("public_key") != pinned.public_key:
                    partial.fingerprint = pinned.fingerprint
                    raise SnapshotRefused(
                        f"impersonation: signed with key {_short(fingerprint(key))}, "
                        f"but this device is trusted with key {pinned.fingerprint}"
                    )
                _check_signature(data, manifest, sig, raw_sig, decode_key(pinned.public_key))
        manifest = _parse_manifest(data)
        status = partial = _manifest_status(folder, manifest)
        status.trusted = pinned is not None or folder.name == local.id
        if pinned is not None and not status.name:
            status.name = pinned.name
        key = _own_key(folder, manifest)
        if folder.name == local.id:
            status.name = local.name
            if local_key is not None and manifest.get("public_key") != local_key:
                raise SnapshotRefused(
                    f"impersonation: a snapshot claims this device's id with another key ({_short(status.fingerprint)})"
                )
            status.status, status.trusted = THIS_DEVICE, True
            return Snapshot(status=status, manifest=manifest)
        if pinned is None:
            sig, raw_sig = _parse_signature(sig_data)
            _check_signature(data, manifest, sig, raw_sig, key)
            status.status = UNTRUSTED
            status.reason = (
                "not trusted: compare the fingerprint with `tokscope devices show` on that device, then run: "
                f"tokscope devices trust {folder.name} --fingerprint {fingerprint(key)}"
            )
            return Snapshot(status=status, manifest=manifest)
        if manifest.get("public_key") != pinned.public_key:
            status.fingerprint = pinned.fingerprint
            raise SnapshotRefused(
                f"impersonation: signed with key {_short(fingerprint(key))}, "
                f"but this device is trusted with key {pinned.fingerprint}"
            )
        sequence = status.sequence
        if sequence is None:
            raise SnapshotRefused("manifest.json has no sequence number")
        if not 0 <= sequence <= MAX_SEQUENCE:
            raise SnapshotRefused(f"invalid snapshot: sequence {sequence} is out of range (0..{MAX_SEQUENCE:,})")
        last = last_sequence(accepted, folder.name, pinned.public_key)
        if last is not None and sequence < last:
            raise SnapshotRefused(f"rolled back: sequence {sequence} is older than {last}, accepted before")
        blobs = _read_files(folder, manifest, verified) if read else []
        status.status = MERGED
        return Snapshot(status=status, blobs=blobs, manifest=manifest, raw=(data, sig_data))
    except SnapshotRefused as refusal:
        refusal.partial = partial
        raise


def store_notes(store: S3Store) -> list[str]:
    """What to say about a bucket that could not be listed: the copy used instead, and its age."""
    store.reachable()
    if store.offline is None:
        return []
    if store.listed_at is None:
        return [f"{OFFLINE_NOTE}{store.offline}; no copy verified before: showing this device only"]
    from datetime import UTC, datetime

    from tokscope.format import age, iso_utc

    when = iso_utc(datetime.fromtimestamp(store.listed_at, UTC))
    ago = age(max(0, int(time.time() - store.listed_at)))
    return [f"{OFFLINE_NOTE}{store.offline}; showing the copy verified {ago} ({when})"]


#: How the note about an unreachable bucket begins.
OFFLINE_NOTE = "shared location offline: "


def scan_shared(
    shared: Shared | Store | None,
    local: Device,
    *,
    read: bool = True,
    record: bool = True,
    warnings: list[str] | None = None,
) -> list[Snapshot]:
    """Inspect every device folder of ``shared`` (this device's first); one refusal never stops the others.

    With ``read`` the accepted snapshots' files are read and returned; with
    ``record`` their sequence numbers are remembered as accepted (and sequences
    recovered from the last merged snapshots written back). Problems with the
    trust and sequence stores are added to ``warnings``.
    """
    stores = load_stores()
    trusted, accepted = stores.trusted, stores.accepted
    if warnings is not None:
        warnings.extend(stores.warnings)
    verified = Verified()
    store = open_store(shared) if shared is not None else None
    folders = device_sources(store) if store is not None else []
    if isinstance(store, S3Store):
        if warnings is not None:
            warnings.extend(store_notes(store))
        # every changed manifest and signature at once, not one device after the other
        heads = ((MANIFEST, MAX_MANIFEST_BYTES), (SIGNATURE, MAX_SIGNATURE_BYTES))
        store.prefetch([(f.name, name, limit) for f in folders for name, limit in heads])
    local_key: str | None = None
    if any(f.name == local.id for f in folders):
        from tokscope.sync.identity import IdentityError, load_identity

        with contextlib.suppress(IdentityError):  # a broken key is reported by export and devices show
            local_key = load_identity().public_key_text
    snapshots: list[Snapshot] = []
    for folder in folders:
        try:
            snapshots.append(inspect_folder(folder, local, local_key, trusted, accepted, verified, read))
        except Exception as exc:  # never let one folder take the others down
            status = DeviceStatus(folder.name, "", None, folder.name in trusted, None, None, REFUSED, f"error: {exc}")
            snapshots.append(Snapshot(status=status))
    if read:
        verified.save()
    if isinstance(store, S3Store):
        if read:
            store.forget_unlisted()
        store.save()
    if stores.trust_problem is not None:
        for snap in snapshots:
            if snap.status.status == UNTRUSTED:
                snap.status.reason = f"not trusted: {stores.trust_problem}"
    if record:
        updates = dict(stores.recovered)
        updates |= {
            s.status.id: (s.status.public_key, s.status.sequence)
            for s in snapshots
            if s.status.status == MERGED and s.status.public_key and s.status.sequence is not None
        }
        with contextlib.suppress(OSError, TrustError):
            record_accepted(updates)  # type: ignore[arg-type]
        if read:
            _remember_good(snapshots)
    seen = {s.status.id for s in snapshots}
    for device_id, pin in sorted(trusted.items()):
        if shared is not None and device_id not in seen and device_id != local.id:
            reason = "no snapshot in the shared folder"
            snapshots.append(
                Snapshot(DeviceStatus(device_id, pin.name, pin.fingerprint, True, None, None, MISSING, reason))
            )
    return snapshots


def local_status(local: Device, rows: int | None, snapshots: Iterable[Snapshot]) -> DeviceStatus:
    """This device's row in the device list."""
    from tokscope.sync.identity import IdentityError, load_identity

    fp: str | None = None
    key: str | None = None
    reason: str | None = None
    try:
        ident = load_identity()
        fp, key, reason = ident.fingerprint, ident.public_key_text, ident.device.notice
    except IdentityError as exc:
        reason = str(exc)
    own = next((s for s in snapshots if s.status.id == local.id and s.status.status == THIS_DEVICE), None)
    return DeviceStatus(
        id=local.id,
        name=local.name,
        fingerprint=fp,
        trusted=True,
        last_export=own.status.last_export if own else None,
        rows=rows,
        status=THIS_DEVICE,
        reason=reason,
        public_key=key,
        sequence=own.status.sequence if own else None,
    )


def list_devices(
    shared: Shared | None = None,
    *,
    local: Device | None = None,
    rows: int | None = None,
    warnings: list[str] | None = None,
) -> list[DeviceStatus]:
    """Every device: this one first, then each device folder of ``shared``, then trusted devices not found.

    Verifies each snapshot fully (signature, sequence, file hashes) so the
    status says whether a merge would take it. ``shared`` defaults to the
    configured shared folder; ``rows`` is this device's event count (the
    ledger's when None). Problems with the trust stores are added to ``warnings``.
    """
    from tokscope import config
    from tokscope.ledger import Ledger
    from tokscope.sync.identity import load_device

    if shared is None:
        shared = config.load().shared_folder
    local = local or load_device()
    snapshots = scan_shared(shared, local, read=True, record=False, warnings=warnings)
    if rows is None:
        rows = Ledger().count()
    out = [local_status(local, rows, snapshots)]
    for snap in snapshots:
        if snap.status.id == local.id and snap.status.status == THIS_DEVICE:
            continue
        out.append(snap.status)
    return out


def notes_for(statuses: Iterable[DeviceStatus]) -> list[str]:
    """Report footnotes for the devices that were not merged."""
    notes = []
    for st in statuses:
        label = f"{st.name} ({st.id[:8]})" if st.name else st.id
        if st.status in (REFUSED, UNTRUSTED, MISSING):
            notes.append(f"device {label} not merged: {st.reason}")
        elif st.reason:
            notes.append(f"device {label}: {st.reason}")
    return notes


# --- reading and de-duplicating -----------------------------------------------


def _blob_frame(blob: Blob) -> pl.LazyFrame:
    """A verified file as a LazyFrame in the event schema (missing columns null, extra ones dropped)."""
    source: io.BytesIO | Path = io.BytesIO(blob.data) if blob.data is not None else blob.path  # type: ignore[assignment]
    schema = blob.schema or pl.read_parquet_schema(source)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    if dict(schema) == dict(EVENT_SCHEMA):
        frame = pl.scan_parquet(source, schema=EVENT_SCHEMA)
    else:
        frame = pl.scan_parquet(source).select(
            [
                pl.col(c).cast(t, strict=False) if c in schema else pl.lit(None, t).alias(c)
                for c, t in EVENT_SCHEMA.items()
            ]
        )
    # a snapshot speaks for its own device only
    return frame.with_columns(device_id=pl.lit(blob.device_id, pl.Categorical()))


def _hash_expr() -> pl.Expr:
    return pl.col("event_key").hash(_SEED).alias("_h")


def _index_dir() -> Path:
    return paths.cache_dir() / "merge-index"


def _cache_tag() -> str:
    """What cached hashes depend on besides the data: this code's index version, polars, the seed."""
    return hashlib.sha256(f"{_INDEX_VERSION}|{pl.__version__}|{_SEED}".encode()).hexdigest()[:8]


def _write_cache(path: Path, frame: pl.DataFrame) -> None:
    with contextlib.suppress(OSError):  # a cache: losing it only costs time
        atomic_write_with(path, lambda tmp: frame.write_ipc(tmp), durable=False)


def _read_cache(path: Path) -> pl.DataFrame | None:
    try:
        return pl.read_ipc(path) if path.exists() else None
    except (OSError, pl.exceptions.PolarsError):
        return None


def _clean_cache(keep: set[str], min_age: float) -> None:
    """Remove cache files not named in ``keep`` that are older than ``min_age`` seconds."""
    now = time.time()
    with contextlib.suppress(OSError):
        for old in _index_dir().iterdir():
            if old.name not in keep and now - old.stat().st_mtime > min_age:
                old.unlink(missing_ok=True)


def _blob_hashes(blobs: list[Blob], frames: list[pl.LazyFrame]) -> list[pl.Series]:
    """Each file's key hash per row; cached by the file's SHA-256 (a file never changes under its name)."""
    tag = _cache_tag()
    out: list[pl.Series | None] = []
    for blob in blobs:
        cached = _read_cache(_index_dir() / f"keys-{blob.sha256}-{tag}.arrow")
        out.append(cached["_h"] if cached is not None and "_h" in cached.columns else None)
    missing = [i for i, h in enumerate(out) if h is None]
    if missing:
        _index_dir().mkdir(parents=True, exist_ok=True)
        for i, frame in zip(missing, pl.collect_all([frames[i].select(_hash_expr()) for i in missing]), strict=True):
            out[i] = frame["_h"]
            _write_cache(_index_dir() / f"keys-{blobs[i].sha256}-{tag}.arrow", frame)
    return [h for h in out if h is not None]


#: Rows to leave out: ``_f`` the file's position in the blob list, ``_r`` the row in the file.
DROPS_SCHEMA = pl.Schema({"_f": pl.UInt32(), "_r": pl.UInt32()})


class _Hashes:
    """The files' key hashes, loaded (or computed) on first use only: a warm merge never needs them."""

    def __init__(self, blobs: list[Blob], frames: list[pl.LazyFrame]) -> None:
        self.blobs, self.frames = blobs, frames
        self._hashes: list[pl.Series] | None = None

    def get(self) -> list[pl.Series]:
        if self._hashes is None:
            self._hashes = _blob_hashes(self.blobs, self.frames)
        return self._hashes


def _remote_ident(blobs: list[Blob]) -> str:
    """An id of a set of remote files (their devices and SHA-256s, in order)."""
    return hashlib.sha256(
        f"{_cache_tag()}|".encode() + "|".join(f"{b.device_id}:{b.sha256}" for b in blobs).encode()
    ).hexdigest()[:32]


def _remote_index(
    ident: str, blobs: list[Blob], frames: list[pl.LazyFrame], hashes: _Hashes
) -> tuple[pl.Series, pl.DataFrame]:
    """The sorted key hashes of every remote row, and the rows to drop (keys an earlier file
    already has). Cached by the files' SHA-256s."""
    path = _index_dir() / f"index-{ident}.arrow"
    drops_path = _index_dir() / f"index-{ident}-drops.arrow"
    cached, cached_drops = _read_cache(path), _read_cache(drops_path)
    if cached is not None and cached_drops is not None:
        return cached["_h"], cached_drops
    per_file = hashes.get()
    # sort the bare hashes (4x cheaper than sorting hash + file + row), tag rows only for the few repeats
    sorted_h = pl.concat(per_file).sort() if per_file else pl.Series("_h", [], pl.UInt64)
    dup_hashes = sorted_h.filter(sorted_h == sorted_h.shift(1)).unique()
    if dup_hashes.len():
        wanted = pl.col("_h").is_in(dup_hashes.implode())
        tagged = pl.concat(
            [
                h.to_frame("_h")
                .with_columns(_f=pl.lit(i, pl.UInt32), _r=pl.int_range(h.len(), dtype=pl.UInt32))
                .filter(wanted)
                for i, h in enumerate(per_file)
            ]
        )
        drops = _exact_drops(frames, tagged)
    else:
        drops = DROPS_SCHEMA.to_frame()
    _index_dir().mkdir(parents=True, exist_ok=True)
    keep = {f"keys-{b.sha256}-{_cache_tag()}.arrow" for b in blobs} | {path.name, drops_path.name}
    keep.add(_remote_path(ident).name)
    _clean_cache(keep, min_age=60.0)
    _write_cache(path, sorted_h.to_frame())
    _write_cache(drops_path, drops)  # last: its presence says the index is complete
    return sorted_h, drops


def _exact_drops(frames: list[pl.LazyFrame], candidates: pl.DataFrame) -> pl.DataFrame:
    """Among candidate rows (``_f`` frame, ``_r`` row), the ones repeating an earlier frame's key."""
    parts = []
    for i, frame in enumerate(frames):
        rows = candidates.filter(pl.col("_f") == i)["_r"]
        if rows.len():
            parts.append(
                frame.with_row_index("_r")
                .filter(pl.col("_r").is_in(rows.implode()))
                .select(pl.lit(i, pl.UInt32).alias("_f"), pl.col("_r").cast(pl.UInt32), *KEY)
                .collect()
            )
    if not parts:
        return DROPS_SCHEMA.to_frame()
    found = pl.concat(parts).sort(["_f", "_r"])
    return found.filter(~pl.struct(KEY).is_first_distinct()).select(list(DROPS_SCHEMA))


def merge_events(
    local: pl.LazyFrame,
    blobs: list[Blob],
    *,
    local_token: str | None = None,
    local_keys: Callable[[], pl.LazyFrame | None] | None = None,
) -> pl.LazyFrame:
    """This device's events, then the verified files' events, without duplicate ``(client, event_key)``.

    The first occurrence wins: this device over the others, then devices by id.
    ``local_token`` identifies the content of ``local`` (e.g. the ledger's segment
    files); when given, which local keys also occur remotely is cached under it.
    ``local_keys`` may give ``local``'s (client, event_key) pairs more cheaply than
    ``local`` itself (None: not now). The remote rows, de-duplicated among themselves, are
    cached as one file under the files' SHA-256s: a warm merge reads that, not the files.
    """
    if not blobs:
        return local
    ident = _remote_ident(blobs)
    remote = _read_remote(ident)
    frames: list[pl.LazyFrame] | None = None
    hashes: _Hashes | None = None
    sorted_h: pl.Series | None = None
    if remote is None:
        frames = [_blob_frame(b) for b in blobs]
        hashes = _Hashes(blobs, frames)
        drops = _read_cache(_index_dir() / f"index-{ident}-drops.arrow")
        if drops is None:
            sorted_h, drops = _remote_index(ident, blobs, frames, hashes)
        remote = _write_remote(ident, frames, drops)
    token_path = _index_dir() / f"index-{ident}-ledger-{local_token}.arrow" if local_token else None
    cached = _read_cache(token_path) if token_path is not None else None
    if cached is not None:
        shared = cached["_h"]
    else:
        if sorted_h is None:
            sorted_h = _sorted_hashes(ident, blobs, frames, hashes)
        keys = _keys_of(local, local_keys)
        shared = _shared_keys(keys, sorted_h)
        if token_path is not None:
            _forget(f"index-{ident}-ledger-*.arrow")
            _write_cache(token_path, shared.to_frame("_h"))
    if shared.len():  # remote rows whose key this device's ledger holds: this device's copy wins
        wanted = shared.implode()
        local_hits = _keys_of(local, local_keys).filter(_hash_expr().is_in(wanted)).select(KEY).unique().collect()
        candidate = pl.col("_h").is_in(wanted)
        remote = pl.concat(
            [remote.filter(~candidate), remote.filter(candidate).join(local_hits.lazy(), on=KEY, how="anti")]
        )
    return pl.concat([local, remote.drop("_h")], how="vertical")


def _remote_path(ident: str) -> Path:
    return _index_dir() / f"remote-{ident}.arrow"


def _read_remote(ident: str) -> pl.LazyFrame | None:
    """The cached remote rows of this file set (event schema + ``_h``), if there."""
    path = _remote_path(ident)
    if not path.exists():
        return None
    try:
        frame = pl.scan_ipc(path)
        if list(frame.collect_schema()) != [*EVENT_SCHEMA, "_h"]:
            return None
    except (OSError, pl.exceptions.PolarsError):
        return None
    return frame


def _write_remote(ident: str, frames: list[pl.LazyFrame], drops: pl.DataFrame) -> pl.LazyFrame:
    """Every remote row but the repeats among remote files, with its key hash, written as one file."""
    by_file = (
        {int(f): part["_r"] for (f,), part in drops.partition_by("_f", as_dict=True).items()} if drops.height else {}
    )
    parts = []
    for i, frame in enumerate(frames):
        rows = by_file.get(i)
        if rows is not None:
            frame = frame.with_row_index("_r").filter(~pl.col("_r").is_in(rows.implode())).drop("_r")
        parts.append(frame.with_columns(_hash_expr()))
    remote = pl.concat(parts, how="vertical")
    _index_dir().mkdir(parents=True, exist_ok=True)
    _forget("remote-*.arrow")  # earlier file sets
    path = _remote_path(ident)
    with contextlib.suppress(OSError, pl.exceptions.PolarsError):  # streamed: never all rows in memory at once
        atomic_write_with(path, lambda tmp: remote.sink_ipc(tmp), durable=False)
    written = _read_remote(ident)
    return written if written is not None else remote


def _sorted_hashes(
    ident: str, blobs: list[Blob], frames: list[pl.LazyFrame] | None, hashes: _Hashes | None
) -> pl.Series:
    """The sorted key hashes of every remote row (cached with the remote index)."""
    cached = _read_cache(_index_dir() / f"index-{ident}.arrow")
    if cached is not None and "_h" in cached.columns:
        return cached["_h"]
    if frames is None or hashes is None:
        frames = [_blob_frame(b) for b in blobs]
        hashes = _Hashes(blobs, frames)
    return _remote_index(ident, blobs, frames, hashes)[0]


def _keys_of(local: pl.LazyFrame, local_keys: Callable[[], pl.LazyFrame | None] | None) -> pl.LazyFrame:
    found = local_keys() if local_keys is not None else None
    return found if found is not None else local.select(KEY)


def _shared_keys(keys: pl.LazyFrame, sorted_h: pl.Series) -> pl.Series:
    """The hashes of local keys that some remote row's key hash equals (sorted, unique)."""
    local_h = keys.select(_hash_expr()).collect()["_h"]
    if not local_h.len() or not sorted_h.len():
        return pl.Series("_h", [], pl.UInt64)
    local_h = local_h.sort()  # sorted queries: a cache-friendly binary search (5x faster)
    pos = sorted_h.search_sorted(local_h).clip(0, sorted_h.len() - 1)
    return local_h.filter(sorted_h.gather(pos) == local_h).unique().sort()


def _forget(pattern: str, min_age: float = 60.0) -> None:
    """Remove cache files matching ``pattern`` older than ``min_age`` seconds (earlier states)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for old in _index_dir().glob(pattern):
            if now - old.stat().st_mtime > min_age:
                old.unlink(missing_ok=True)


def merge_shared(
    local_events: pl.LazyFrame, local: Device, shared: Shared | None, *, ledger: Ledger | None = None
) -> MergeResult:
    """Merge ``shared``'s trusted snapshots into ``local_events``: the merge step of ``load_usage``.

    ``ledger``, the ledger ``local_events`` comes from, lets the merge cache work
    that depends on its content: the local events are then read from it afresh,
    after its state is noted. Never raises for a bad folder: each refused device
    becomes a status and a footnote.
    """
    if shared is None:
        return MergeResult(events=local_events, devices=[], notes=[])
    warnings: list[str] = []
    snapshots = scan_shared(shared, local, read=True, record=True, warnings=warnings)
    blobs = [b for s in snapshots if s.status.status == MERGED for b in s.blobs]
    devices = [s.status for s in snapshots]
    missing = isinstance(shared, Path) and not shared.is_dir()
    notes = [f"shared folder {shared} not found: showing this device only"] if missing else []
    notes += warnings
    if local.notice:
        notes.append(f"{IDENTITY_NOTE}{local.notice}")
    notes += notes_for(devices)
    try:
        token = None
        keys = None
        if ledger is not None and blobs:
            from tokscope.sync.snapshot import ledger_token
            from tokscope.usage import local_events as events_of

            token = ledger_token(ledger)
            local_events = events_of(ledger, local)  # no older than the token

            def keys() -> pl.LazyFrame | None:
                found = ledger.keys()  # the segments' keys: the same set, without the ledger's de-duplication
                return found.lazy() if ledger_token(ledger) == token else None

        events = merge_events(local_events, blobs, local_token=token, local_keys=keys)
    except Exception as exc:  # nothing crashes: fall back to this device alone, and say so
        notes.append(f"merge failed ({type(exc).__name__}: {exc}); showing this device only")
        events = local_events
    return MergeResult(events=events, devices=devices, notes=notes)
