"""tokscope doctor: the JSON contract, values left out per client with reasons (kept across scans in
health.json), discovery problems, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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
    assert data["version"] == 1 and data["status"] == "warning"  # only: no agent logs found yet
    sections = ["ledger", "skipped", "sources", "config", "readers", "identity", "shared", "prices", "terminal"]
    assert list(data["sections"]) == sections
    readers = data["sections"].pop("readers")
    assert readers["status"] == "warning" and readers["found"] == 0 and "no agent logs" in readers["note"]
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


def test_doctor_says_what_a_user_needs_about_config_identity_shared_and_prices(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude_log(home, claude_line("m1", 10))
    config = home / ".config" / "tokscope" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('timezone = "Mars/Base"\nshared_folder = "/nowhere/at/all"\n')
    code, data = doctor()
    sections = data["sections"]
    assert sections["config"]["status"] == "warning" and "Mars/Base" in sections["config"]["errors"][0]
    assert sections["readers"]["status"] == "ok" and sections["readers"]["clients"]["claude-code"]["files"] == 1
    assert sections["identity"]["status"] == "ok" and sections["identity"]["fingerprint"]
    assert sections["shared"] == {**sections["shared"], "status": "error", "exists": False, "writable": False}
    assert data["status"] == "error" and code == 1
    assert sections["prices"]["status"] in ("ok", "warning") and sections["prices"]["built_at"]
    assert sections["terminal"]["watched_dirs"] >= 1


def test_doctor_on_a_shared_folder_lists_every_device_and_why_one_is_refused(home: Path, tmp_path: Path) -> None:
    from tokscope.demo import FIXED_NOW, build_demo

    demo = build_demo(home, tmp_path / "shared", FIXED_NOW.date(), days=5)
    config = home / ".config" / "tokscope" / "config.toml"
    config.write_text(f'shared_folder = "{demo.shared}"\n')
    _code, data = doctor()
    shared = data["sections"]["shared"]
    assert shared["exists"] and shared["writable"]
    statuses = {d["name"]: d["status"] for d in shared["devices"]}
    refused = [d for d in shared["devices"] if str(d["status"]).startswith("refused")]
    assert len(statuses) == 3 and len(refused) == 1 and refused[0]["reason"]
    assert shared["status"] == "warning"
