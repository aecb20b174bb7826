"""This device's identity: a UUID and a human name in ``device.toml``, and an Ed25519 key pair.

Both live in the platformdirs config dir: ``device.toml`` (id, name) and
``device.key`` (the private key, PEM PKCS#8, mode 0600). The public key is
derived from the private key; people compare its *fingerprint*, a short
base32 string in groups of four, by eye before trusting a device.

Nothing about the identity changes silently: a key or ``device.toml`` made anew
while an earlier one evidently existed (others must re-trust this device), or a
key file found readable by others, leaves a ``notice`` in ``device.toml``. Every
command that shows this device says it until ``tokscope devices show`` has
shown it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import socket
import stat
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokscope.readers.base import read_regular

from tokscope import paths
from tokscope.fsutil import atomic_write, locked

if TYPE_CHECKING:  # cryptography is imported where keys are used: a plain report never loads it
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: Longest device name accepted.
MAX_NAME = 64
#: The largest identity or state file read (they hold a few hundred bytes).
_MAX_SMALL = 1 << 20


class IdentityError(Exception):
    """This device's key exists but cannot be used (never silently replaced: trust hangs on it)."""


@dataclass(frozen=True)
class Device:
    """A device id (UUID) and its display name."""

    id: str
    name: str
    notice: str | None = None
    """What changed about this identity that the user must hear of (None: nothing)."""


@dataclass(frozen=True)
class Identity:
    """This device with its signing key."""

    device: Device
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return public_key_raw(self.private_key)

    @property
    def public_key_text(self) -> str:
        """The public key as base64 text (as written in manifests)."""
        return encode_key(self.public_key)

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint (``ABCD-EFGH-…``)."""
        return fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature of ``data``."""
        return self.private_key.sign(data)


def device_path() -> Path:
    """Where device.toml lives."""
    return paths.config_dir() / "device.toml"


def key_path() -> Path:
    """Where the private key lives (mode 0600)."""
    return paths.config_dir() / "device.key"


def _lock_path() -> Path:
    return paths.config_dir() / ".identity.lock"


def _read_device() -> Device | None:
    try:
        data = tomllib.loads(read_regular(device_path(), _MAX_SMALL).decode("utf-8"))
        device_id = str(uuid.UUID(str(data["id"])))
    except (OSError, KeyError, ValueError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    try:
        name = clean_name(str(data.get("name") or ""))
    except ValueError:
        name = default_name()
    notice = data.get("notice")
    return Device(id=device_id, name=name, notice=notice if isinstance(notice, str) and notice else None)


def default_name() -> str:
    """The name a new device gets: the host name."""
    try:
        return clean_name(socket.gethostname())
    except ValueError:
        return "device"


def clean_name(name: str) -> str:
    """A device name with control characters removed, trimmed to ``MAX_NAME``; raises ValueError if empty."""
    cleaned = "".join(ch for ch in name if ch.isprintable()).strip()[:MAX_NAME].strip()
    if not cleaned:
        raise ValueError("a device name cannot be empty")
    return cleaned


def load_device() -> Device:
    """This device's identity, created on first use."""
    device = _read_device()
    if device is not None:
        return device
    with locked(_lock_path()):  # two first runs at once must agree on one id
        device = _read_device()
        if device is None:
            device_id = str(uuid.uuid4())
            what = "unreadable" if device_path().exists() else "lost"
            notice = None
            if what == "unreadable" or key_path().exists() or _exported_before():
                notice = f"device.toml was {what}: this device has a new id {device_id}; "
                notice += "other devices must trust it again"
            device = Device(id=device_id, name=default_name(), notice=notice)
            save_device(device)
    return device


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string (ASCII, escaped) is a TOML basic string


def save_device(device: Device) -> None:
    """Write device.toml."""
    lines = [f"id = {_toml_string(device.id)}", f"name = {_toml_string(device.name)}"]
    if device.notice:
        lines.append(f"notice = {_toml_string(device.notice)}")
    atomic_write(device_path(), ("\n".join(lines) + "\n").encode())


def rename_device(name: str) -> Device:
    """Give this device a new display name (the id and key stay); return the renamed device."""
    new = dataclasses.replace(load_device(), name=clean_name(name))
    with locked(_lock_path()):
        save_device(new)
    return new


def _add_notice(text: str) -> None:
    """Add ``text`` to this device's notice (the caller holds the identity lock)."""
    device = _read_device()
    if device is None or text in (device.notice or ""):
        return
    save_device(dataclasses.replace(device, notice=f"{device.notice}; {text}" if device.notice else text))


def clear_notice() -> None:
    """Forget this device's notice (once ``devices show`` has shown it)."""
    with locked(_lock_path()):
        device = _read_device()
        if device is not None and device.notice:
            save_device(dataclasses.replace(device, notice=None))


def _exported_before() -> bool:
    """Whether this device has exported a snapshot before (under some key)."""
    try:
        states = json.loads(read_regular(paths.data_dir() / "export-state.json", _MAX_SMALL))
    except (OSError, ValueError):
        return False
    return isinstance(states, dict) and any(isinstance(s, dict) and s.get("public_key") for s in states.values())


def load_private_key() -> Ed25519PrivateKey:
    """This device's private key, created (mode 0600) on first use.

    Raises ``IdentityError`` when the file exists but is not a usable Ed25519 key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path()
    key = _read_key(path)
    if key is not None:
        _keep_private(path)
        return key
    with locked(_lock_path()):
        key = _read_key(path)
        if key is None:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            atomic_write(path, pem)  # mkstemp creates the temp file 0600; the rename keeps it
            path.chmod(0o600)
            if _exported_before():
                fp = fingerprint(public_key_raw(key))
                _add_notice(
                    f"device.key was lost: this device has a new key ({fp}); other devices must re-trust it "
                    f"with: tokscope devices trust <this device> --fingerprint {fp}"
                )
    return key


def _keep_private(path: Path) -> None:
    """Make the key file 0600 again if someone loosened it, and say so: it may have been read."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        path.chmod(0o600)
        with locked(_lock_path()):
            _add_notice(
                f"device.key was readable by others (mode {mode:04o}): made private (0600); "
                "if anyone else could read it, move it away to make a new key"
            )


def _read_key(path: Path) -> Ed25519PrivateKey | None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = read_regular(path, _MAX_SMALL)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{path} is not a usable private key ({exc}); move it away to make a new one") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} is not an Ed25519 key; move it away to make a new one")
    return key


def load_identity() -> Identity:
    """This device and its signing key (both created on first use)."""
    device = load_device()  # first: a key made now is no sign of a lost device.toml
    key = load_private_key()
    return Identity(device=_read_device() or device, private_key=key)  # with a notice the key may have left


# --- public keys and fingerprints ----------------------------------------------


def public_key_raw(key: Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of ``key``'s public half."""
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encode_key(raw: bytes) -> str:
    """Raw public key -> base64 text."""
    return base64.b64encode(raw).decode("ascii")


def decode_key(text: object) -> bytes:
    """Base64 text -> raw 32-byte public key; raises ValueError when it is not one."""
    if not isinstance(text, str):
        raise ValueError("public key is not a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"public key is not base64: {exc}") from None
    if len(raw) != 32:
        raise ValueError(f"public key has {len(raw)} bytes, not 32")
    return raw


def fingerprint(raw: bytes) -> str:
    """A short string for people to compare by eye: SHA-256 of the key, base32, 5 groups of 4."""
    digest = base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii")[:20]
    return "-".join(digest[i : i + 4] for i in range(0, 20, 4))


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, with or without dashes/spaces) in canonical form."""
    letters = "".join(ch for ch in text.upper() if ch.isalnum())
    return "-".join(letters[i : i + 4] for i in range(0, len(letters), 4))


def verify(raw_public_key: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is ``raw_public_key``'s Ed25519 signature of ``data``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw_public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
