"""Which devices this one trusts (pinned public keys), and the last snapshot accepted from each.

Like SSH ``known_hosts``: a device's snapshots are merged only once its key is
pinned here. Two small JSON files:

* ``<config dir>/trusted.json``: ``{"devices": {id: {name, public_key, fingerprint, trusted_at}}}``
  (a user decision, so it lives with the configuration);
* ``<data dir>/accepted.json``: ``{"devices": {id: {public_key, sequence, accepted_at}}}``, the
  highest manifest sequence merged per device and key (rollback protection; state, not settings).

Writes are atomic and made under a lock, read-modify-write, so concurrent
processes never lose each other's updates.

Neither file is trusted to be there: a lost or unreadable one is said in every
report, in ``devices`` and in the TUI's notes (``merge.load_stores``). An
unreadable trusted.json trusts no device (and says so) rather than guessing; the
accepted sequences are kept twice, here and as the last snapshot merged from each
device (signed by its pinned key), so losing accepted.json never lets an older
snapshot back in. A damaged accepted.json is kept as ``accepted.json.corrupt``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokscope.readers.base import read_regular

from tokscope import paths
from tokscope.fsutil import atomic_write, locked
from tokscope.limits import MAX_SEQUENCE
from tokscope.sync.identity import decode_key, fingerprint, load_device, normalize_fingerprint
from tokscope.sync.location import Shared

fingerprint_of = fingerprint  # ``trust`` has a parameter of that name

VERSION = 1
#: The largest trust or sequence store read (an entry is ~200 bytes).
MAX_STORE_BYTES = 1 << 24


@dataclass(frozen=True)
class TrustedDevice:
    """A device whose snapshots are merged: its id, the name it had when trusted, its pinned key."""

    id: str
    name: str
    public_key: str
    """Base64 raw Ed25519 public key."""
    fingerprint: str
    trusted_at: str


def trust_path() -> Path:
    """Where the pinned keys live."""
    return paths.config_dir() / "trusted.json"


def accepted_path() -> Path:
    """Where the last accepted sequence per device lives."""
    return paths.data_dir() / "accepted.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_regular(path, MAX_STORE_BYTES))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:
        raise TrustError(f"{path} is unreadable ({exc}); fix or remove it") from exc
    devices = data.get("devices") if isinstance(data, dict) else None
    return devices if isinstance(devices, dict) else {}


def _write(path: Path, devices: dict[str, Any]) -> None:
    text = json.dumps({"version": VERSION, "devices": devices}, indent=2, sort_keys=True) + "\n"
    atomic_write(path, text.encode())


class TrustError(Exception):
    """The trust store cannot be read."""


def trusted_devices() -> dict[str, TrustedDevice]:
    """Every pinned device by id (entries that do not parse are left out)."""
    out: dict[str, TrustedDevice] = {}
    for device_id, entry in _read(trust_path()).items():
        try:
            key = entry["public_key"]
            decode_key(key)
            out[device_id] = TrustedDevice(
                id=device_id,
                name=str(entry.get("name") or ""),
                public_key=key,
                fingerprint=fingerprint(decode_key(key)),
                trusted_at=str(entry.get("trusted_at") or ""),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def pin(device_id: str, name: str, public_key: str) -> TrustedDevice:
    """Trust ``device_id`` with ``public_key`` (base64); replaces an earlier pin of that id."""
    raw = decode_key(public_key)
    entry = TrustedDevice(
        id=device_id, name=name, public_key=public_key, fingerprint=fingerprint(raw), trusted_at=_now()
    )
    path = trust_path()
    with locked(path.with_name(".trusted.lock")):
        devices = _read(path)
        devices[device_id] = {k: v for k, v in asdict(entry).items() if k != "id"}
        _write(path, devices)
    return entry


def unpin(device_id: str) -> bool:
    """Stop trusting ``device_id``; False when it was not trusted."""
    path = trust_path()
    with locked(path.with_name(".trusted.lock")):
        devices = _read(path)
        if device_id not in devices:
            return False
        del devices[device_id]
        _write(path, devices)
    return True


def accepted_sequences() -> dict[str, tuple[str, int]]:
    """The last accepted ``(public_key, sequence)`` per device id."""
    out: dict[str, tuple[str, int]] = {}
    for device_id, entry in _read(accepted_path()).items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("sequence"), int)
            and 0 <= entry["sequence"] <= MAX_SEQUENCE
            and isinstance(entry.get("public_key"), str)
        ):
            out[device_id] = (entry["public_key"], entry["sequence"])
    return out


def last_sequence(accepted: dict[str, tuple[str, int]], device_id: str, public_key: str) -> int | None:
    """The highest sequence accepted from ``device_id`` under ``public_key`` (None: none yet).

    A sequence accepted under another key does not count: re-trusting a device
    that made a new key starts its count afresh.
    """
    entry = accepted.get(device_id)
    if entry is None or entry[0] != public_key:
        return None
    return entry[1]


def record_accepted(updates: dict[str, tuple[str, int]]) -> None:
    """Remember accepted ``(public_key, sequence)`` per device id; a sequence never goes down."""
    if not updates:
        return
    path = accepted_path()
    with locked(path.with_name(".accepted.lock")):
        try:
            devices = _read(path)
        except TrustError:
            # state, not settings: rebuild (the merge restored the floors it had) but keep the damaged copy
            with contextlib.suppress(OSError):
                path.replace(path.with_name(f"{path.name}.corrupt"))
            devices = {}
        changed = False
        for device_id, (key, sequence) in updates.items():
            if not 0 <= sequence <= MAX_SEQUENCE:
                continue
            old = devices.get(device_id)
            if (
                isinstance(old, dict)
                and old.get("public_key") == key
                and isinstance(old.get("sequence"), int)
                and old["sequence"] >= sequence
            ):
                continue
            devices[device_id] = {"public_key": key, "sequence": sequence, "accepted_at": _now()}
            changed = True
        if changed:
            _write(path, devices)


# --- trusting and untrusting (CLI and TUI) ----------------------------------------

NO_SHARED = "no shared folder: set shared_folder in config.toml, the TOKSCOPE_SHARED variable, or pass --shared DIR"


class TrustRefused(Exception):
    """A trust or untrust request that cannot be carried out (the message says why)."""


def match_devices(query: str, candidates: list[tuple[str, str]]) -> list[str]:
    """Device ids matching ``query``: an exact id, else an id prefix (4+ chars), else a name (any case)."""
    q = query.strip().lower()
    exact = [i for i, _ in candidates if i.lower() == q]
    if exact:
        return exact[:1]
    named = sorted({i for i, n in candidates if n and n.lower() == q})
    if named:
        return named
    if len(q) >= 4:
        return sorted({i for i, _ in candidates if i.lower().startswith(q)})
    return []


def trust(
    device: str,
    *,
    fingerprint: str | None = None,
    shared: Shared | None = None,
    confirm: Callable[[str, str, str], bool] | None = None,
) -> TrustedDevice:
    """Trust the device ``device`` (id, id prefix or name) of the shared folder; return its ``TrustedDevice``.

    The key pinned is the one in the device's current manifest, whose own
    signature must verify. With ``fingerprint`` the key must have that
    fingerprint; a device already trusted with another key (a new key, or an
    impersonation) is re-pinned only with ``fingerprint``. Raises
    ``TrustRefused`` with the reason otherwise. The TUI's Devices tab calls this
    after showing the fingerprint (``list_devices``).

    Without ``fingerprint`` the user must confirm the presented key, as with SSH's known_hosts:
    ``confirm(device_id, name, fingerprint)`` asks; without ``confirm`` the trust is refused.
    """
    from tokscope import config
    from tokscope.sync.merge import SnapshotRefused, device_sources, read_signed_manifest  # merge imports this module
    from tokscope.sync.store import StoreError, open_store

    shared = shared if shared is not None else config.load().shared_folder
    if shared is None:
        raise TrustRefused(NO_SHARED)
    store = open_store(shared, offline_ok=False)  # a key is pinned from what the location holds now
    try:
        if not store.reachable():
            raise TrustRefused(f"shared folder {shared} does not exist")
    except StoreError as exc:
        raise TrustRefused(str(exc)) from None
    local = load_device()
    found: dict[str, tuple[str, Any]] = {}  # id -> (name, manifest or the refusal)
    for folder in device_sources(store):
        try:
            manifest = read_signed_manifest(folder)
            found[folder.name] = (str(manifest.get("name") or ""), manifest)
        except SnapshotRefused as exc:
            found[folder.name] = (_claimed_name(folder), exc)
    ids = match_devices(device, [(i, n) for i, (n, _) in found.items()] + [(local.id, local.name)])
    if not ids:
        known = ", ".join(f"{n} ({i})" if n else i for i, (n, _) in found.items()) or "none"
        raise TrustRefused(f"no device {device!r} has a snapshot in {shared} (devices there: {known})")
    if len(ids) > 1:
        raise TrustRefused(f"{device!r} is ambiguous: {', '.join(ids)}; give the id")
    device_id = ids[0]
    if device_id == local.id:
        raise TrustRefused("this device is always trusted")
    name, manifest = found[device_id]
    if isinstance(manifest, SnapshotRefused):
        raise TrustRefused(f"cannot trust {device_id}: {manifest.reason}")
    key = manifest["public_key"]
    presented = fingerprint_of(decode_key(key))
    if fingerprint is not None and normalize_fingerprint(fingerprint) != presented:
        raise TrustRefused(
            f"fingerprint mismatch: {device_id} presents key {presented}, not {normalize_fingerprint(fingerprint)}"
        )
    try:
        current = trusted_devices().get(device_id)
    except TrustError as exc:
        raise TrustRefused(str(exc)) from None
    if current is not None and current.public_key != key and fingerprint is None:
        raise TrustRefused(
            f"{device_id} is trusted with key {current.fingerprint} but its snapshot carries key "
            f"{presented}: if that device really made a new key, read its fingerprint with "
            "`tokscope devices show` there and pass it with --fingerprint"
        )
    if fingerprint is None:
        if confirm is None:
            raise TrustRefused(
                f"not trusted: {name or device_id} presents key {presented}; compare it with "
                f"`tokscope devices show` on that device, then run: "
                f"tokscope devices trust {device_id} --fingerprint {presented}"
            )
        if not confirm(device_id, name, presented):
            raise TrustRefused(f"not trusted: {name or device_id} ({device_id}) was not confirmed")
    return pin(device_id, name, key)


def _claimed_name(folder: Any) -> str:
    """The name a (refused, unverified) manifest gives its device: only to find it by name and say why."""
    from tokscope.sync.snapshot import MANIFEST, MAX_MANIFEST_BYTES

    try:
        manifest = json.loads(folder.read(MANIFEST, MAX_MANIFEST_BYTES))
        name = manifest.get("name") if isinstance(manifest, dict) else None
    except (OSError, ValueError, RecursionError):
        return ""
    return name if isinstance(name, str) else ""


def untrust(device: str, *, shared: Shared | None = None) -> str:
    """Stop trusting ``device`` (id, id prefix or name); return its id. Raises ``TrustRefused``."""
    try:
        pins = trusted_devices()
    except TrustError as exc:
        raise TrustRefused(str(exc)) from None
    ids = match_devices(device, [(i, p.name) for i, p in pins.items()])
    if not ids and shared is not None:
        from tokscope.sync.merge import scan_shared

        seen = scan_shared(shared, load_device(), read=False, record=False)
        ids = [i for i in match_devices(device, [(s.status.id, s.status.name) for s in seen]) if i in pins]
    if not ids:
        raise TrustRefused(f"no trusted device {device!r}")
    if len(ids) > 1:
        raise TrustRefused(f"{device!r} is ambiguous: {', '.join(ids)}; give the id")
    unpin(ids[0])
    return ids[0]
