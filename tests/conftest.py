"""Shared fixtures: every test runs with a private, empty HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Environment variables that point tokscope or a client somewhere; cleared for every test.
_ISOLATE = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "CODE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "TOKSCOPE_SHARED",
    "TOKSCOPE_TZ",
    "TOKSCOPE_READERS",
    "APPDATA",
    "LOCALAPPDATA",
)
#: Prefixes of client variables (CLINE_DATA_DIR, COPILOT_OTEL_FILE_EXPORTER_PATH, ...), cleared too.
_ISOLATE_PREFIXES = (
    "CLAUDE_",
    "CODEX_",
    "TOKSCOPE_",
    "CLINE_",
    "COPILOT_",
    "VSCODE_",
    "GEMINI_",
    "QWEN_",
    "KIMI_",
    "PI_CODING_",
    "OMP_",
    "OPENCLAW_",
    "GOOSE_",
    "HERMES_",
    "OPENCODE_",
    "AMP_",
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME for the test; agent logs and tokscope's own files go under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name in _ISOLATE or (name.endswith("_HOME") and name not in ("HOME",) and name != "PYENV_HOME"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    return home
