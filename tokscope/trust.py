"""Which devices this one trusts (pinned public keys), and the last snapshot accepted from each.

Like SSH ``known_hosts``: a device's snapshots are merged only once its key is
pinned here. Two small JSON files:

* ``<config dir>/trusted.json``: ``{"devices": {id: {name, public_key, fingerprint, trusted_at}}}``
  (a user decision, so it lives with the configuration);
* ``<data dir>/accepted.json``: ``{"devices": {id: {public_key, sequence, accepted_at}}}``, the
  highest manifest sequence merged per device and key (rollback protection; state, not settings).

Writes are atomic and made under a lock, read-modify-write, so concurrent
processes never lose each other's updates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tokscope import paths
from tokscope.fsutil import atomic_write, locked
from tokscope.identity import decode_key, fingerprint

VERSION = 1


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
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
            devices = {}  # state, not settings: rebuild rather than stop merging
        changed = False
        for device_id, (key, sequence) in updates.items():
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
