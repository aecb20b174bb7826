"""``tokscope statusline --claude-code``: Claude Code's statusLine JSON in, its rate limits recorded, one line out."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_helpers import cli
from tokscope import claude_statusline, quota

NOW = 1_795_165_200.0  # 2026-11-20 09:00:00 UTC


def payload(home: Path, five: float = 42.0, week: float = 17.4, now: float = NOW, **extra: object) -> dict:
    return {
        "session_id": "sess-1",
        "transcript_path": str(home / ".claude-work/projects/-home-u-app/sess-1.jsonl"),
        "model": {"id": "claude-opus-4-5", "display_name": "Opus"},
        "workspace": {"current_dir": "/home/u/app", "project_dir": "/home/u/app"},
        "cost": {"total_cost_usd": 0.4213, "total_duration_ms": 1000},
        "rate_limits": {
            "five_hour": {"used_percentage": five, "resets_at": int(now) + 2 * 3600 + 13 * 60},
            "seven_day": {"used_percentage": week, "resets_at": int(now) + 3 * 86400 + 4 * 3600},
        },
        **extra,
    }


def run(monkeypatch: pytest.MonkeyPatch, stdin: bytes, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    monkeypatch.setattr(time, "time", lambda: NOW)
    return cli("statusline", "--claude-code", "--no-scan", *args)


def test_prints_session_today_and_both_windows_and_records_them(home: Path, monkeypatch) -> None:
    code, out, err = run(monkeypatch, json.dumps(payload(home)).encode())
    assert (code, err) == (0, "")
    assert out.strip() == "session $0.42 · today $0.00 · 5h 42% ↻2h13m · wk 17% ↻3d4h"
    stored = quota.load()
    assert [(s.client, s.account, s.window, s.used_percent, s.window_minutes) for s in stored] == [
        ("claude-code", "~/.claude-work", "five_hour", 42.0, 300),  # the config dir the transcript lies in
        ("claude-code", "~/.claude-work", "weekly", 17.4, 10080),
    ]
    assert stored[0].observed_at == int(NOW * 1_000_000)
    assert stored[0].resets_at == int(NOW + 2 * 3600 + 13 * 60) * 1_000_000


def test_without_rate_limits_the_accounts_stored_readings_are_shown(home: Path, monkeypatch) -> None:
    run(monkeypatch, json.dumps(payload(home)).encode())
    later = payload(home)
    del later["rate_limits"]  # before the session's first response, or an API-key user
    code, out, _ = run(monkeypatch, json.dumps(later).encode())
    assert code == 0
    assert out.strip() == "session $0.42 · today $0.00 · 5h 42% ↻2h13m · wk 17% ↻3d4h"
    assert len(quota.load()) == 2  # nothing new recorded


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"junk{",
        b"[1, 2]",
        b'{"rate_limits": "x", "cost": {"total_cost_usd": "a lot"}}',
        b"\xff\xfe" * 10,
        b'{"rate_limits": {"five_hour": {"used_percentage": -5}, "seven_day": {"used_percentage": true}}}',
        b"[" * 100_000,
    ],
    ids=["empty", "truncated", "array", "wrong-types", "binary", "bad-percent", "deep"],
)
def test_malformed_stdin_still_gives_a_line(home: Path, monkeypatch, stdin: bytes) -> None:
    code, out, err = run(monkeypatch, stdin)
    assert (code, out.strip(), err) == (0, "today $0.00", "")
    assert quota.load() == []


def test_the_account_is_the_transcripts_config_dir_else_the_environment_else_default(home: Path, monkeypatch) -> None:
    assert claude_statusline.config_dir({"transcript_path": "/srv/x/.claude/projects/p/s.jsonl"}) == "/srv/x/.claude"
    assert claude_statusline.config_dir({}) == str(home / ".claude")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude-b"))
    assert claude_statusline.config_dir({"transcript_path": 7}) == str(home / ".claude-b")


def test_a_passed_reset_says_reset(home: Path, monkeypatch) -> None:
    data = payload(home)
    data["rate_limits"]["five_hour"]["resets_at"] = int(NOW) - 60
    _, out, _ = run(monkeypatch, json.dumps(data).encode())
    assert "5h reset · wk 17% ↻3d4h" in out


CHECK = """
import sys
from tokscope.cli import main
main(["statusline", "--claude-code"])
print("polars" in sys.modules)
"""


def test_a_second_call_answers_without_polars(home: Path) -> None:
    data = json.dumps(payload(home, five=10.0, now=time.time())).encode()

    def once() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", CHECK], input=data, env=os.environ.copy(), capture_output=True, check=True
        )
        return done.stdout.decode().strip().splitlines()

    first = once()
    second = once()
    assert first[0].startswith("session $0.42 · today $0.00 · 5h 10% ↻")
    assert second[-1] == "False"


def test_equal_readings_are_recorded_once_a_minute(home: Path, monkeypatch) -> None:
    data = json.dumps(payload(home)).encode()
    run(monkeypatch, data)
    run(monkeypatch, data)  # the same readings 0 s later: not written again
    assert len(quota.load()) == 2
    changed = json.dumps(payload(home, five=43.0)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(changed)))
    monkeypatch.setattr(time, "time", lambda: NOW + 10)
    cli("statusline", "--claude-code", "--no-scan")  # a new reading 10 s on: recorded at once
    assert sorted(s.used_percent for s in quota.load() if s.window == "five_hour") == [42.0, 43.0]
    monkeypatch.setattr(time, "time", lambda: NOW + 71)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(changed)))
    cli("statusline", "--claude-code", "--no-scan")
    latest = max(s.observed_at for s in quota.load() if s.window == "five_hour")
    assert latest == int((NOW + 71) * 1_000_000)  # a minute after the last record: seen again, so its age stays true


def test_resets_at_in_milliseconds_or_iso_is_understood() -> None:
    limits = {
        "five_hour": {"used_percentage": 1, "resets_at": 1_795_165_200_000},
        "seven_day": {"used_percentage": 2, "resets_at": "2026-11-20T09:00:00Z"},
    }
    status = claude_statusline.parse(json.dumps({"rate_limits": limits}).encode())
    assert [r.resets_at_us for r in status.readings] == [1_795_165_200_000_000] * 2
