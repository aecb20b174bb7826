"""A wrong or broken config.toml, or a bad env value, is said (file, key, cause) and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokscope import config


def _write(home: Path, text: str) -> Path:
    path = home / ".config" / "tokscope" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_wrongly_typed_value_is_named_and_ignored(home: Path) -> None:
    path = _write(home, 'shared_folder = 42\ntimezone = "Mars/Base"\nexport_debounce = "soon"\n')
    settings = config.load()
    assert settings.shared_folder is None and settings.timezone is None and settings.export_debounce == 30.0
    text = "\n".join(settings.errors)
    assert f"{path}: shared_folder = 42: expected str, got int" in text
    assert "unknown IANA timezone 'Mars/Base'" in text
    assert "export_debounce = 'soon'" in text


def test_a_bad_env_timezone_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKSCOPE_TZ", "Mars/Base")
    settings = config.load()
    assert settings.timezone is None and any(e.startswith("TOKSCOPE_TZ:") for e in settings.errors)


def test_a_file_that_does_not_parse_is_said_on_stderr_by_every_command(home: Path) -> None:
    _write(home, "x = [\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "TOKSCOPE_"))}
    env.update(HOME=str(home))
    for args in (["report", "--no-scan"], ["statusline", "--no-scan"], ["export", "--no-scan"], ["devices"]):
        result = subprocess.run([sys.executable, "-m", "tokscope", *args], env=env, capture_output=True, text=True)
        assert "tokscope: config:" in result.stderr and "config.toml" in result.stderr, args
        assert "Traceback" not in result.stderr, args


def test_mistyped_values_never_crash_a_command(home: Path) -> None:
    _write(home, 'shared_folder = 42\ntimezone = "Mars/Base"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "TOKSCOPE_"))}
    env.update(HOME=str(home))
    for args in (["report", "--no-scan"], ["statusline", "--no-scan"], ["export", "--no-scan"], ["devices"]):
        result = subprocess.run([sys.executable, "-m", "tokscope", *args], env=env, capture_output=True, text=True)
        assert "Traceback" not in result.stderr and "TypeError" not in result.stderr, (args, result.stderr)
        assert "shared_folder = 42" in result.stderr, args


async def test_the_tui_header_says_the_config_has_problems(home: Path) -> None:
    from tokscope.widgets.status_line import StatusLine

    from tests.tui_helpers import NOW, settle
    from tokscope.tui.app import make_app

    _write(home, "shared_folder = 42\n")
    app = make_app(config.load(), clock=lambda: NOW, tz="UTC", live=False)
    app.animation_level = "none"
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(app, pilot)
        assert "config: 1 problem" in str(app.main.query_one(StatusLine).render())


def test_the_parse_is_remembered_with_its_text(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged file is not parsed again; any change of its text is; a value marshal cannot
    keep (a TOML date) is parsed every time, and a broken file is an error each time."""
    import tomllib

    calls: list[str] = []
    real = tomllib.loads
    monkeypatch.setattr(tomllib, "loads", lambda text: calls.append(text) or real(text))
    _write(home, 'timezone = "UTC"\n')
    assert config.load().timezone == "UTC" and config.load().timezone == "UTC"
    assert len(calls) == 1
    _write(home, 'timezone = "Europe/Berlin"\n')
    assert config.load().timezone == "Europe/Berlin" and len(calls) == 2
    _write(home, 'timezone = "UTC"\nsince = 2026-01-01\n')
    assert config.load().extra["since"].year == 2026 and config.load().extra["since"].year == 2026
    assert len(calls) == 4
    _write(home, "x = [\n")
    assert config.load().errors and config.load().errors
