"""What the TUI remembers between starts (the theme), in tokscope's own data directory.

A missing or unreadable file means the defaults; a write that fails costs only the memory.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokscope import paths
from tokscope.fsutil import atomic_write_with


def prefs_path() -> Path:
    """Where the preferences live."""
    return paths.data_dir() / "ui.json"


def load_prefs() -> dict[str, str]:
    """The saved preferences (string values only; anything else is ignored)."""
    try:
        data = json.loads(prefs_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def save_pref(key: str, value: str) -> bool:
    """Remember ``key = value``; False when it could not be written."""
    prefs = load_prefs()
    if prefs.get(key) == value:
        return True
    prefs[key] = value
    try:
        data = json.dumps(prefs, indent=1, sort_keys=True).encode()
        atomic_write_with(prefs_path(), lambda tmp: tmp.write_bytes(data), durable=False)
    except OSError:
        return False
    return True
