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
    readers_env = os.environ.get("TOKSCOPE_READERS")
    readers = [r.strip() for r in readers_env.split(",")] if readers_env else data.get("readers", [])
    debounce = data.get("export_debounce", 30.0)
    known = {"shared_folder", "timezone", "readers", "export_debounce"}
    return Config(
        shared_folder=Path(shared).expanduser() if shared else None,
        timezone=tz if isinstance(tz, str) and tz else None,
        readers=tuple(r for r in readers if isinstance(r, str) and r),
        export_debounce=float(debounce) if isinstance(debounce, int | float) else 30.0,
        extra={k: v for k, v in data.items() if k not in known},
        errors=tuple(errors),
    )
