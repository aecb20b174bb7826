"""User settings: ``config.toml`` in the config dir, overridden by env vars and flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tokscope import paths


@dataclass(frozen=True)
class Config:
    """Settings read from config.toml (every one also has an env var or flag)."""

    shared_folder: Path | None = None
    """Folder synced between devices (``TOKSCOPE_SHARED``, ``--shared``)."""
    timezone: str | None = None
    """IANA zone for day buckets (``TOKSCOPE_TZ``, ``--tz``); local when unset."""
    readers: tuple[str, ...] = ()
    """Clients to scan; empty means all (``TOKSCOPE_READERS``, comma list)."""
    export_debounce: float = 30.0
    """Seconds after a change before the TUI exports this device's snapshot."""
    extra: dict = field(default_factory=dict)
    """Every other table of config.toml, for the features that own them."""
    errors: tuple[str, ...] = ()
    """Problems found while reading the file."""


#: The environment variables tokscope itself reads (the readers' are ``tokscope.readers.reader_env()``).
ENV: tuple[str, ...] = ("TOKSCOPE_SHARED", "TOKSCOPE_TZ", "TOKSCOPE_READERS")


def config_path() -> Path:
    """Where config.toml lives."""
    return paths.config_dir() / "config.toml"


def load(path: Path | None = None) -> Config:
    """Read config.toml (missing is fine, broken is reported) and apply env overrides."""
    path = path or config_path()
    data: dict = {}
    errors: list[str] = []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        errors.append(f"{path}: {exc}")
    shared = os.environ.get("TOKSCOPE_SHARED") or data.get("shared_folder")
    tz = os.environ.get("TOKSCOPE_TZ") or data.get("timezone")
    readers = _readers(os.environ.get("TOKSCOPE_READERS") or data.get("readers", ()), errors)
    debounce = data.get("export_debounce", 30.0)
    known = {"shared_folder", "timezone", "readers", "export_debounce"}
    return Config(
        shared_folder=Path(shared).expanduser() if shared else None,
        timezone=tz if isinstance(tz, str) and tz else None,
        readers=readers,
        export_debounce=float(debounce) if isinstance(debounce, int | float) else 30.0,
        extra={k: v for k, v in data.items() if k not in known},
        errors=tuple(errors),
    )


def _readers(value: object, errors: list[str]) -> tuple[str, ...]:
    """The ``readers`` setting: a comma list (the env var, or a string in config.toml) or a list of names."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        errors.append(f"readers: expected a list of client names, got {type(value).__name__}; reading every client")
        return ()
    if any(not isinstance(v, str) for v in value):
        errors.append("readers: entries that are not client names were ignored")
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())
