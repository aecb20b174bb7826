"""tokscope doctor: the JSON contract, values left out per client with reasons (kept across scans in
health.json), discovery problems, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_helpers import cli
from tests.test_scan_limits import claude_line, claude_log, codex_ok
from tokscope.scan_worker import IN_FUTURE, OVER_TURN_LIMIT

INT64_MAX = (1 << 63) - 1


def doctor(*args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli("doctor", "--format", "json", *args)
    assert "Traceback" not in err
    return code, json.loads(out)


def test_a_fresh_home_is_healthy() -> None:
    code, data = doctor()
    assert code == 0
    assert data["version"] == 1 and data["status"] == "ok"
    assert list(data["sections"]) == ["ledger", "skipped", "sources"]
    assert {k: data["sections"]["ledger"][k] for k in ("status", "segments", "events", "findings")} == {
        "status": "ok",
        "segments": 0,
        "events": 0,
        "findings": [],
    }
    assert all(s["status"] == "ok" for s in data["sections"].values())


def test_values_left_out_are_reported_per_client_with_reasons(home: Path) -> None:
    lines = [claude_line("m1", 10), claude_line("m2", INT64_MAX), claude_line("m3", 10, ts="9999-01-01T00:00:00Z")]
    claude_log(home, *lines, '{"type": "assistant", "message": {"usage": ')  # truncated: unreadable
    code, out, _err = cli("scan")
    assert code == 0 and "doctor" in out
    code, data = doctor("--no-scan")
    assert code == 0  # worth knowing, nothing the user must do
    assert data["status"] == "warning"
    skipped = data["sections"]["skipped"]
    assert skipped["clients"] == {
        "claude-code": {"total": 3, "files": 1, "reasons": {IN_FUTURE: 1, OVER_TURN_LIMIT: 1, "malformed line": 1}}
    }
    assert data["sections"]["ledger"]["events"] == 1

    path = home / ".claude" / "projects" / "-home-alice-app" / "s1.jsonl"
    with path.open("a") as fh:  # an incremental read adds to the file's counts
        fh.write(claude_line("m4", 1e12) + "\n")
    _code, data = doctor()
    assert data["sections"]["skipped"]["clients"]["claude-code"]["reasons"][OVER_TURN_LIMIT] == 2

    path.write_text(claude_line("m1", 10) + "\n")  # rewritten clean: read from the start, counts replaced
    _code, data = doctor()
    assert data["sections"]["skipped"] == {
        "status": "ok",
        "updated": data["sections"]["skipped"]["updated"],
        "clients": {},
    }


def test_a_deleted_file_takes_its_counts_along(home: Path) -> None:
    claude_log(home, claude_line("m2", INT64_MAX))
    assert doctor()[1]["sections"]["skipped"]["clients"]
    (home / ".claude" / "projects" / "-home-alice-app" / "s1.jsonl").unlink()
    assert doctor()[1]["sections"]["skipped"]["clients"] == {}


def test_discovery_problems_are_kept_for_doctor(home: Path) -> None:
    (home / ".claude").mkdir()
    (home / ".claude" / "projects").symlink_to(home / ".claude" / "projects")
    codex_ok(home)
    code, data = doctor()
    assert code == 0
    sources = data["sections"]["sources"]
    assert sources["status"] == "warning"
    assert list(sources["clients"]) == ["claude-code"]
    assert "symlink loop" in sources["clients"]["claude-code"]["discovery"][0]


def test_the_text_report_names_each_section(home: Path) -> None:
    claude_log(home, claude_line("m2", INT64_MAX))
    code, out, _err = cli("doctor")
    assert code == 0
    assert out.splitlines()[0] == "tokscope doctor: warning"
    assert f"1 × {OVER_TURN_LIMIT}" in out
    assert "ledger [ok]" in out and "sources [ok]" in out
