"""Where tokscope keeps its own files (platformdirs; ``HOME``/``XDG_*`` move them)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "tokscope"


def data_dir() -> Path:
    """The data directory (the ledger lives here)."""
    return Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    """The config directory (config.toml, device identity, prices.toml)."""
    return Path(platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    """The cache directory (rebuildable things only)."""
    return Path(platformdirs.user_cache_dir(APP))


def ledger_dir() -> Path:
    """The ledger's directory."""
    return data_dir() / "ledger"
