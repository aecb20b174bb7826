"""This device's identity: a UUID and a human name in ``device.toml``."""

from __future__ import annotations

import socket
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

from tokscope import paths
from tokscope.fsutil import atomic_write


@dataclass(frozen=True)
class Device:
    """A device id (UUID) and its display name."""

    id: str
    name: str


def device_path() -> Path:
    """Where device.toml lives."""
    return paths.config_dir() / "device.toml"


def load_device() -> Device:
    """This device's identity, created on first use."""
    path = device_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        device = Device(id=str(uuid.UUID(data["id"])), name=str(data.get("name") or socket.gethostname()))
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError):
        device = Device(id=str(uuid.uuid4()), name=socket.gethostname() or "device")
        save_device(device)
    return device


def save_device(device: Device) -> None:
    """Write device.toml."""
    name = device.name.replace("\\", "\\\\").replace('"', '\\"')
    atomic_write(device_path(), f'id = "{device.id}"\nname = "{name}"\n'.encode())
