"""Where tokscope keeps its own files (platformdirs' rules; ``HOME``/``XDG_*`` move them).

On Linux the three folders follow the XDG rules directly, as platformdirs does (an absolute
``XDG_*_HOME``, else under an absolute ``HOME``): platformdirs' import is about 10 ms, paid by every
statusline and no-change scan. Anything unusual (a relative ``HOME``, Android, another system) asks
platformdirs itself; ``tests/test_paths.py`` holds the two to the same answers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "tokscope"


def _xdg(variable: str, default: str) -> str | None:
    """platformdirs' Linux answer for one folder, or None when platformdirs must decide."""
    if sys.platform != "linux" or hasattr(sys, "getandroidapilevel") or "ANDROID_DATA" in os.environ:
        return None
    base = os.environ.get(variable, "")
    if not base.startswith("/"):  # unset, empty or relative: platformdirs ignores it
        home = os.environ.get("HOME")
        if home is not None and not home.startswith("/"):
            return None
        base = os.path.expanduser(default)  # noqa: PTH111 (str rules, as platformdirs)
        if not base.startswith("/"):
            return None
    return os.path.join(base, APP)  # noqa: PTH118


def data_dir() -> Path:
    """The data directory (the ledger lives here)."""
    found = _xdg("XDG_DATA_HOME", "~/.local/share")
    if found is None:
        import platformdirs

        found = platformdirs.user_data_dir(APP)
    return Path(found)


def config_dir() -> Path:
    """The config directory (config.toml, device identity, prices.toml)."""
    found = _xdg("XDG_CONFIG_HOME", "~/.config")
    if found is None:
        import platformdirs

        found = platformdirs.user_config_dir(APP)
    return Path(found)


def cache_dir() -> Path:
    """The cache directory (rebuildable things only)."""
    found = _xdg("XDG_CACHE_HOME", "~/.cache")
    if found is None:
        import platformdirs

        found = platformdirs.user_cache_dir(APP)
    return Path(found)


def ledger_dir() -> Path:
    """The ledger's directory."""
    return data_dir() / "ledger"
