"""Shared fixtures: every test runs with a private, empty HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokscope.readers import reader_env

from tokscope.config import ENV as TOKSCOPE_ENV

#: The XDG base dirs (tokscope's own files and several readers' roots): unset, so they follow HOME.
XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")


def isolated_env() -> tuple[str, ...]:
    """What every test unsets: each variable a reader declares, tokscope's own settings and XDG_*."""
    return (*reader_env(), *TOKSCOPE_ENV, *XDG)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME for the test; agent logs and tokscope's own files go under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in isolated_env():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    return home
