"""``tokscope mcp``: the SDK's client lists the tools and gets the right numbers from a HOME with known turns."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.test_anomalies import write_claude_session
from tokscope.mcp_server import UsageSource, build_server

TOOLS = {"get_usage_summary", "get_session_cost", "get_top_sessions", "get_anomalies", "get_headroom"}

# claude-sonnet-4-5, USD per token: input 3/M, output 15/M, cache read 0.30/M, 5-minute cache write 3.75/M
RATES = {"input": 3e-6, "output": 15e-6, "cache_read": 0.3e-6, "cache_write": 3.75e-6}


def cost_of(turns: list[dict]) -> float:
    return sum(t[k] * rate for t in turns for k, rate in RATES.items())


def _today(seconds_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


ALPHA = [  # today, in /w/app
    {"ts": _today(3), "input": 1000, "output": 2000, "cache_read": 10_000, "cache_write": 5000},
    {"ts": _today(2), "input": 10, "output": 500, "cache_read": 15_000, "cache_write": 700},
    {"ts": _today(1), "input": 20, "output": 800, "cache_read": 16_000, "cache_write": 900},
]
BETA = [  # long ago, in /w/lib: the costlier session
    {"ts": "2026-01-02T10:00:00Z", "input": 50_000, "output": 20_000, "cache_read": 0, "cache_write": 100_000},
    {"ts": "2026-01-02T10:05:00Z", "input": 40_000, "output": 30_000, "cache_read": 100_000, "cache_write": 9000},
]


@pytest.fixture
def logs(home: Path) -> list[Path]:
    return [
        write_claude_session(home, "alpha", ALPHA, workspace="/w/app"),
        write_claude_session(home, "beta", BETA, workspace="/w/lib"),
    ]


async def call(name: str, **arguments) -> dict:
    async with Client(build_server(UsageSource())) as client:
        result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def call_error(name: str, **arguments) -> str:
    async with Client(build_server(UsageSource())) as client:
        result = await client.call_tool(name, arguments)
    assert result.is_error
    return result.content[0].text


async def test_lists_the_tools_read_only_with_descriptions(logs):
    async with Client(build_server(UsageSource())) as client:
        listed = (await client.list_tools()).tools
    assert {t.name for t in listed} == TOOLS
    for t in listed:
        assert t.annotations.read_only_hint is True and t.annotations.destructive_hint is False
        assert len(t.description) > 80


async def test_usage_summary_by_session_over_all_time(logs):
    data = await call("get_usage_summary", period="all", group_by=["session", "workspace"])
    rows = {r["session"]: r for r in data["rows"]}
    assert set(rows) == {"alpha", "beta"}
    assert [r["session"] for r in data["rows"]] == ["beta", "alpha"]  # by cost
    assert rows["alpha"]["workspace"] == "/w/app" and rows["alpha"]["turns"] == 3
    assert rows["alpha"]["output"] == 3300 and rows["beta"]["cache_read"] == 100_000
    assert rows["alpha"]["cost"] == pytest.approx(cost_of(ALPHA))
    assert rows["beta"]["cost"] == pytest.approx(cost_of(BETA))
    assert data["totals"]["turns"] == 5
    assert data["totals"]["cost"] == pytest.approx(cost_of(ALPHA) + cost_of(BETA))


async def test_usage_summary_today_keeps_only_todays_turns(logs):
    data = await call("get_usage_summary", period="today")
    assert data["by"] == ["client", "model"]
    (row,) = data["rows"]
    assert row["client"] == "claude-code" and row["turns"] == 3
    assert row["cost"] == pytest.approx(cost_of(ALPHA))


async def test_session_cost_by_id_and_by_working_directory(logs):
    by_id = await call("get_session_cost", session_id="beta")
    assert by_id["matched_by"] == "session_id"
    session = by_id["session"]
    assert session["turns"] == 2 and session["workspace"] == "/w/lib"
    assert session["cache_write"] == 109_000 and session["input"] == 90_000
    assert session["cost"] == pytest.approx(cost_of(BETA))
    assert session["first_turn"].startswith("2026-01-02T10:00:00") and session["models"] == [
        "claude-sonnet-4-5-20250929"
    ]
    by_dir = await call("get_session_cost", cwd="/w/app/src/deep")
    assert by_dir["matched_by"] == "workspace" and by_dir["session"]["session_id"] == "alpha"
    assert by_dir["session"]["cost"] == pytest.approx(cost_of(ALPHA))
    assert by_dir["other_sessions_matched"] == 0


async def test_session_cost_by_default_uses_the_servers_working_directory(logs, monkeypatch, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    write_claude_session(logs[0].parents[3], "gamma", ALPHA[:1], workspace=str(project))
    monkeypatch.chdir(project)
    data = await call("get_session_cost")
    assert data["session"]["session_id"] == "gamma" and data["session"]["turns"] == 1


async def test_session_cost_says_what_is_missing(logs):
    assert "no recorded turn of session 'nope'" in await call_error("get_session_cost", session_id="nope")
    assert "no recorded session in /elsewhere" in await call_error("get_session_cost", cwd="/elsewhere")
    # /w/application is not inside /w/app
    assert "no recorded session" in await call_error("get_session_cost", cwd="/w/application")


async def test_top_sessions(logs):
    data = await call("get_top_sessions", period="all", limit=1)
    (top,) = data["sessions"]
    assert top["session_id"] == "beta" and top["cost"] == pytest.approx(cost_of(BETA))
    data = await call("get_top_sessions", period="today")
    assert [s["session_id"] for s in data["sessions"]] == ["alpha"]


async def test_anomalies_tool_matches_the_cli_contract(logs, home):
    data = await call("get_anomalies", period="all")
    assert data["counts"] == {"cache_thrash": 0, "outlier": 0, "runaway": 0, "model_switch": 0}
    thrash = [
        {"ts": f"2026-01-03T10:0{i}:00Z", "input": 10, "output": 100 + 40 * i, "cache_read": 0, "cache_write": 74_000}
        for i in range(6)
    ]
    write_claude_session(home, "thrashy", thrash, workspace="/w/app")
    data = await call("get_anomalies", period="all")
    assert data["counts"]["cache_thrash"] == 1
    (found,) = data["anomalies"]
    assert found["session_id"] == "thrashy" and found["figures"]["cache_write"] == 6 * 74_000


async def test_headroom_of_budgets_and_official_limits(logs, home):
    from tokscope.readers.base import QuotaSample

    from tokscope import paths, quota

    config = paths.config_dir() / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[[budget]]\nname = "app today"\namount = 0.15\n\n'
        '[[budget]]\nname = "tokens"\ntokens = 100000\nperiod = "month"\nclient = "codex"\n'
    )
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    hour = 3_600_000_000
    quota.record([QuotaSample("codex", str(home / ".codex"), "weekly", 40.0, now_us - 60_000_000, now_us + 50 * hour)])
    data = await call("get_headroom")
    today, tokens = data["budgets"]
    spent = cost_of(ALPHA)  # only alpha's turns are today: $0.08964 of $0.15
    assert spent == pytest.approx(0.08964)
    assert today["name"] == "app today" and today["unit"] == "usd"
    assert today["spent"] == pytest.approx(spent) and today["remaining"] == pytest.approx(0.15 - spent)
    assert today["remaining_percent"] == pytest.approx(100 - 100 * spent / 0.15, abs=0.01)
    assert today["crossed"] == [50.0] and today["over"] is False
    assert (tokens["spent"], tokens["remaining"], tokens["remaining_percent"]) == (0.0, 100_000.0, 100.0)
    (limit,) = data["limits"]
    assert (limit["client"], limit["window"], limit["used_percent"], limit["remaining_percent"]) == (
        "codex",
        "weekly",
        40.0,
        60.0,
    )
    assert 49 * 3600 < limit["resets_in_seconds"] <= 50 * 3600


async def test_headroom_without_budgets_or_limits_is_empty_lists(logs):
    data = await call("get_headroom")
    assert (data["budgets"], data["limits"]) == ([], [])


async def test_bad_arguments_are_clear_errors(logs):
    assert "unknown period 'fortnight'" in await call_error("get_usage_summary", period="fortnight")
    assert "unknown group_by key colour" in await call_error("get_usage_summary", group_by=["colour"])
    assert "limit must be at least 1" in await call_error("get_top_sessions", limit=0)
    assert "unknown client 'claude'" in await call_error("get_usage_summary", client="claude")


async def test_usage_summary_for_one_client_and_model(logs):
    data = await call("get_usage_summary", period="all", client="claude-code", model="claude-sonnet-4-5-20250929")
    assert data["totals"]["turns"] == 5
    data = await call("get_usage_summary", period="all", client="codex")
    assert data["rows"] == [] and data["totals"]["turns"] == 0


async def test_an_unreadable_ledger_is_a_one_line_error_for_the_agent(logs):
    class Broken(UsageSource):
        def usage(self):
            raise OSError("cannot read /x/ledger")

    async with Client(build_server(Broken())) as client:
        result = await client.call_tool("get_top_sessions", {})
    assert result.is_error
    assert result.content[0].text.endswith("tokscope could not answer: OSError: cannot read /x/ledger")


async def test_logs_stay_byte_identical(logs):
    before = [p.read_bytes() for p in logs]
    listing = sorted(p.name for p in logs[0].parent.iterdir())
    await call("get_usage_summary", period="all")
    await call("get_session_cost", session_id="alpha")
    assert [p.read_bytes() for p in logs] == before
    assert sorted(p.name for p in logs[0].parent.iterdir()) == listing


@pytest.mark.slow
async def test_stdio_server_in_a_subprocess(logs, home):
    """The real command over stdio: nothing but the protocol on stdout, same numbers."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tokscope", "mcp"], env={"HOME": str(home), "TZ": "UTC"}
    )
    async with Client(params) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        result = await client.call_tool("get_session_cost", {"session_id": "alpha"})
    assert not result.is_error
    assert result.structured_content["session"]["cost"] == pytest.approx(cost_of(ALPHA))
    assert json.loads(result.content[0].text)["session"]["turns"] == 3


def test_only_the_mcp_command_imports_the_sdk():
    code = (
        "import sys; from tokscope.cli import build_parser; import tokscope.mcp_server, tokscope.anomalies; "
        "build_parser(); print(sorted(m for m in ('mcp', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
