"""End to end: the installed ``tokscope`` command on a temporary HOME."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COUNTERS = [
    "turns",
    "input",
    "output",
    "reasoning",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "total_tokens",
    "cost",
    "unpriced_turns",
    # the five cost kinds (issue 15), after the older counters
    "api_equivalent",
    "metered",
    "subscription",
    "estimated",
    "unknown",
]


def tokscope(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CLAUDE_", "CODEX_", "TOKSCOPE_"))}
    env.update(HOME=str(home), TZ="UTC", COLUMNS="200")
    result = subprocess.run(
        [sys.executable, "-m", "tokscope", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def claude(home: Path) -> None:
    folder = home / ".claude" / "projects" / "-home-alice-app"
    folder.mkdir(parents=True)

    def line(msg: str, ts: str, inp: int, out: int, read: int, w5: int, w1: int, model: str) -> str:
        usage = {
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": w5 + w1,
            "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
        }
        return json.dumps(
            {
                "type": "assistant",
                "timestamp": ts,
                "sessionId": "sess-a",
                "cwd": "/home/alice/app",
                "requestId": "req" + msg,
                "message": {"id": msg, "model": model, "usage": usage},
            }
        )

    (folder / "sess-a.jsonl").write_text(
        "\n".join(
            [
                line("msg_1", "2026-11-20T23:30:00Z", 1200, 2500, 150000, 10000, 20000, "claude-sonnet-4-5-20250929"),
                line("msg_2", "2026-11-21T10:00:00Z", 100, 50, 0, 0, 0, "claude-sonnet-4-5-20250929"),
                line("msg_3", "2026-11-21T11:00:00Z", 10, 20, 0, 0, 0, "totally-unknown-model-x"),
                line("msg_3", "2026-11-21T11:00:00Z", 10, 5, 0, 0, 0, "totally-unknown-model-x"),  # partial copy
            ]
        )
        + "\n"
    )


def codex(home: Path) -> None:
    folder = home / ".codex" / "sessions" / "2026" / "11" / "21"
    folder.mkdir(parents=True)
    names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
    usage = dict(zip(names, (48000, 40960, 1800, 1024), strict=True))
    lines = [
        {"timestamp": "2026-11-21T09:00:00Z", "type": "session_meta", "payload": {"id": "th-1", "cwd": "/srv/api"}},
        {"timestamp": "2026-11-21T09:00:01Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        {
            "timestamp": "2026-11-21T09:00:09Z",
            "type": "event_msg",
            "payload": {"type": "token_count", "info": {"total_token_usage": usage, "last_token_usage": usage}},
        },
    ]
    (folder / "rollout-1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


@pytest.fixture
def logs(home: Path) -> Path:
    claude(home)
    codex(home)
    return home


def test_scan_prints_a_summary_and_is_incremental(logs: Path) -> None:
    first = tokscope(logs, "scan").stdout
    assert "2 files (2 read" in first
    assert "4 events (4 new)" in first
    second = tokscope(logs, "scan").stdout
    assert "2 files (0 read" in second
    assert "4 events (0 new)" in second


def test_report_json_contract(logs: Path) -> None:
    out = tokscope(logs, "report", "--period", "all", "--by", "client", "--format", "json").stdout
    data = json.loads(out)
    assert set(data) == {"period", "by", "rows", "totals", "plans"}
    assert data["plans"] == []  # no [[plan]] in config.toml
    assert data["period"] == {"since": None, "until": None, "tz": "UTC"}
    assert data["by"] == ["client"]
    for row in data["rows"]:
        assert list(row) == ["client", *COUNTERS]
    assert list(data["totals"]) == COUNTERS
    rows = {r["client"]: r for r in data["rows"]}
    # claude: msg_1 + msg_2 + msg_3 (complete copy: output 20)
    assert rows["claude-code"]["turns"] == 3
    assert rows["claude-code"]["input"] == 1200 + 100 + 10
    assert rows["claude-code"]["output"] == 2500 + 50 + 20
    assert rows["claude-code"]["cache_write_5m"] == 10000
    assert rows["claude-code"]["cache_write_1h"] == 20000
    # codex: 48000 in incl. 40960 cached -> 7040 uncached; 1800 out incl. 1024 reasoning
    assert rows["codex"]["input"] == 7040
    assert rows["codex"]["cache_read"] == 40960
    assert rows["codex"]["reasoning"] == 1024
    assert rows["codex"]["total_tokens"] == 7040 + 40960 + 1800
    assert data["totals"]["turns"] == 4
    assert data["totals"]["total_tokens"] == sum(r["total_tokens"] for r in data["rows"])


def test_unknown_model_is_unpriced_never_zero(logs: Path) -> None:
    out = tokscope(logs, "report", "--period", "all", "--by", "model", "--format", "json").stdout
    rows = {r["model"]: r for r in json.loads(out)["rows"]}
    assert rows["totally-unknown-model-x"]["cost"] is None
    assert rows["totally-unknown-model-x"]["unpriced_turns"] == 1
    assert json.loads(out)["totals"]["unpriced_turns"] >= 1


def test_days_bucket_in_the_requested_timezone(logs: Path) -> None:
    def days(tz: str) -> dict[str, int]:
        out = tokscope(logs, "report", "--period", "all", "--by", "day", "--tz", tz, "--format", "json").stdout
        return {r["day"]: r["turns"] for r in json.loads(out)["rows"]}

    assert days("UTC") == {"2026-11-20": 1, "2026-11-21": 3}
    # +9: 23:30Z on the 20th is the 21st in Tokyo, everything else is the 21st too
    assert days("Asia/Tokyo") == {"2026-11-21": 4}
    # -10: 23:30Z -> 13:30 on the 20th, codex 09:00Z -> 23:00 on the 20th; 10:00Z, 11:00Z -> the 21st
    assert days("Pacific/Honolulu") == {"2026-11-20": 2, "2026-11-21": 2}


def test_since_until_and_filters(logs: Path) -> None:
    out = tokscope(
        logs, "report", "--since", "2026-11-21", "--until", "2026-11-21", "--by", "client,model", "--format", "json"
    ).stdout
    data = json.loads(out)
    assert data["period"] == {"since": "2026-11-21", "until": "2026-11-21", "tz": "UTC"}
    assert data["totals"]["turns"] == 3
    only = tokscope(logs, "report", "--period", "all", "--client", "codex", "--format", "json").stdout
    assert [r["client"] for r in json.loads(only)["rows"]] == ["codex"]
    model = tokscope(logs, "report", "--period", "all", "--model", "gpt-5-codex", "--by", "model", "--format", "json")
    assert [r["model"] for r in json.loads(model.stdout)["rows"]] == ["gpt-5-codex"]


def test_csv_and_table(logs: Path) -> None:
    out = tokscope(logs, "report", "--period", "all", "--by", "workspace,session", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["workspace", "session", *COUNTERS]
    assert {r["workspace"] for r in rows} == {"/home/alice/app", "/srv/api"}
    table = tokscope(logs, "report", "--period", "all").stdout
    assert "claude-code" in table
    assert "Total" in table


def test_sources_lists_every_reader(logs: Path) -> None:
    data = json.loads(tokscope(logs, "sources", "--format", "json").stdout)
    by_client = {e["client"]: e for e in data}
    assert by_client["claude-code"]["files"] == 1
    assert by_client["claude-code"]["events"] == 3
    assert by_client["codex"]["events"] == 1
    assert by_client["claude-code"]["paths"] == [str(logs / ".claude" / "projects")]
    assert (by_client["claude-code"]["fidelity"], by_client["goose"]["fidelity"]) == ("exact", "session_totals")
    # without a scan the files are found by walking the roots; with one, the scan's walk is reused
    unscanned = json.loads(tokscope(logs, "sources", "--no-scan", "--format", "json").stdout)
    assert [(e["client"], e["files"], e["errors"]) for e in unscanned] == [
        (e["client"], e["files"], e["errors"]) for e in data
    ]


def test_empty_home_reports_nothing_without_error(home: Path) -> None:
    out = tokscope(home, "report", "--format", "json").stdout
    assert json.loads(out)["totals"]["turns"] == 0
    assert "No usage" in tokscope(home, "report").stdout


def test_bad_arguments_say_what_is_wrong(home: Path) -> None:
    for args, message in (
        (["report", "--by", "colour"], "unknown key colour"),
        (["report", "--tz", "Mars/Olympus"], "unknown IANA timezone"),
        (["report", "--since", "yesterday"], "not an ISO date"),
        (["report", "--period", "decade"], "invalid choice"),
    ):
        result = tokscope(home, *args, check=False)
        assert result.returncode == 2
        assert message in result.stderr


def test_statusline(logs: Path) -> None:
    line = tokscope(logs, "statusline", "--period", "all").stdout.strip()
    # 4 turns; tokens 1200+2500+150000+30000 + 150 + 30 + 7040+40960+1800 = 233680 -> 234K
    assert line.startswith("all ≥ $")  # one unknown model: a lower bound
    assert line.endswith("· 234K tok · 4 turns")
    data = json.loads(tokscope(logs, "statusline", "--period", "all", "--format", "json", "--no-scan").stdout)
    assert data["turns"] == 4
    assert data["total_tokens"] == 233680
    assert data["unpriced_turns"] == 1
    assert tokscope(logs, "statusline", "--period", "yesterday").stdout.strip() == "yesterday $0.00 · 0 tok · 0 turns"


def test_tokscope_redirected_prints_the_report_not_escape_codes(home: Path) -> None:
    claude(home)
    result = tokscope(home)  # stdout is a pipe here, as in `tokscope > out.txt`
    assert "\x1b" not in result.stdout
    assert "claude-code" in result.stdout
    assert "not a terminal" in result.stderr


def test_json_and_csv_costs_carry_no_float_noise(home: Path, tmp_path: Path, capsys) -> None:
    from tokscope.cli import main
    from tokscope.demo import FIXED_NOW, build_demo
    from tokscope.format import round_cost

    assert 0.1 + 0.2 != 0.3 and round_cost(0.1 + 0.2) == 0.3
    assert round_cost(None) is None
    demo = build_demo(home, tmp_path / "shared", FIXED_NOW.date(), days=60)  # thousands of turns, three devices
    args = ["report", "--period", "all", "--no-scan", "--shared", str(demo.shared), "--by", "device,model"]
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    costs = [data["totals"]["cost"], *(r["cost"] for r in data["rows"])]
    noisy = [c for c in costs if c is not None and len(repr(c).partition(".")[2]) > 9]
    assert not noisy
    assert main([*args, "--format", "csv"]) == 0
    cells = [c for line in capsys.readouterr().out.splitlines()[1:] for c in line.split(",")]
    assert not [c for c in cells if "." in c and c.replace(".", "").isdigit() and len(c.partition(".")[2]) > 9]


def test_report_says_why_it_is_empty_and_what_to_try(home: Path) -> None:
    claude(home)
    wrong = tokscope(home, "report", "--client", "gemini", check=False)
    assert wrong.returncode == 2 and "no client 'gemini'" in wrong.stderr and "'gemini-cli'" in wrong.stderr
    backwards = tokscope(home, "report", "--since", "2026-11-20", "--until", "2026-11-01", check=False)
    assert backwards.returncode == 2 and "--since 2026-11-20 is after --until 2026-11-01" in backwards.stderr
    old = tokscope(home, "report", "--period", "today")
    latest = json.loads(tokscope(home, "report", "--period", "all", "--format", "json", "--by", "day").stdout)
    last_day = max(r["day"] for r in latest["rows"])
    assert f"the latest turn is {last_day}" in old.stderr and "--period all" in old.stderr
    nothing = tokscope(home, "report", "--period", "all", "--client", "codex")
    assert "no usage recorded with these filters" in nothing.stderr


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tokscope import cli

    def broken(args):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(cli, "report_data", broken)
    assert cli.main(["report", "--no-scan"]) == 1
    err = capsys.readouterr().err
    assert "tokscope: error in `tokscope report`: RuntimeError: the disk caught fire" in err
    assert "Traceback" not in err and "--debug" in err
    with pytest.raises(RuntimeError, match="caught fire"):
        cli.main(["--debug", "report", "--no-scan"])
