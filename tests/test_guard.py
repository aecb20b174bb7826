"""``tokscope guard``: the scope and period rules on stored figures, the Claude Code hook end to end
(block with the reason, pass, fail open with a warning), and the wrapper that does not start or
stops a command when a budget is crossed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import cli
from tests.test_reader_claude_code import PROJECT, SONNET, assistant, write
from tokscope import budget_state, paths
from tokscope.budget_state import Context, Stored, StoredBudget

NOW = 1_800_000_000_000_000
DAY = 86_400_000_000


def stored(*budgets: StoredBudget) -> Stored:
    return Stored(NOW, [], "dev-a", budgets)


def day_budget(name: str, spent: float, limit: float = 10.0, **scope: tuple[str, ...]) -> StoredBudget:
    return StoredBudget(name, "day", "usd", limit, spent, NOW - DAY // 2, NOW + DAY // 2, tuple(sorted(scope.items())))


CTX = Context("claude-code", "/home/alice/my.app/src", "dev-a", "s-1", "claude-sonnet-4-5-20250929")


def names(found: list[budget_state.Verdict]) -> list[str]:
    return [v.budget.name for v in found]


def test_only_exhausted_budgets_in_scope_block() -> None:
    state = stored(
        day_budget("any", 10.0),  # exactly the limit: exhausted
        day_budget("under", 9.99),
        day_budget("client", 12.0, client=("claude-code",)),
        day_budget("other client", 12.0, client=("codex",)),
        day_budget("workspace", 12.0, workspace=("/home/alice/my.app/",)),
        day_budget("sibling", 12.0, workspace=("/home/alice/my",)),  # a prefix of the name, not a parent
        day_budget("device", 12.0, device=("dev-a",)),
        day_budget("other device", 12.0, device=("dev-b",)),
        day_budget("model", 12.0, model=("claude-sonnet-4-5",)),  # a dated snapshot of it
        day_budget("other model", 12.0, model=("claude-opus-4-5",)),
        day_budget("unknown scope", 12.0, account=("work",)),  # a scope this guard cannot tell
    )
    assert names(budget_state.exhausted(state, CTX, NOW)) == ["any", "client", "workspace", "device", "model"]
    unknown = Context("claude-code", None, "dev-a", None, None)  # the hook said nothing of them
    assert names(budget_state.exhausted(state, unknown, NOW)) == ["any", "client", "device"]


def test_a_period_that_ended_starts_again_from_zero() -> None:
    state = stored(day_budget("today", 50.0))
    assert names(budget_state.exhausted(state, CTX, NOW)) == ["today"]
    assert budget_state.exhausted(state, CTX, NOW + DAY) == []  # tomorrow: a new day, nothing spent yet


def test_session_budgets_block_only_the_sessions_over() -> None:
    budget = StoredBudget("per session", "session", "usd", 5.0, 7.0, NOW, None, (), (("s-1", 7.0), ("s-9", 5.5)))
    state = stored(budget)
    (verdict,) = budget_state.exhausted(state, CTX, NOW)
    assert verdict.spent == 7.0
    assert budget_state.exhausted(state, CTX._replace(session_id="s-2"), NOW) == []
    assert budget_state.exhausted(state, CTX._replace(session_id=None), NOW) == []


def test_the_message_names_the_budget_and_how_much_over() -> None:
    from tokscope.guard import message

    text = message(budget_state.exhausted(stored(day_budget("daily claude", 12.5)), CTX, NOW))
    assert "'daily claude' is exhausted: $12.50 of $10.00 for this day (125 %, $2.50 over)" in text


def test_the_session_model_is_read_from_the_transcript_tail(tmp_path: Path) -> None:
    from tokscope.guard import session_model

    path = write(tmp_path, "t.jsonl", assistant("m1", "r1", model="claude-opus-4-5"), assistant("m2", "r2"))
    before = path.read_bytes()
    assert session_model(str(path)) == SONNET
    assert path.read_bytes() == before
    assert session_model(str(tmp_path / "missing.jsonl")) is None
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    assert session_model(str(fifo)) is None  # no writer ever comes: a plain open would hang here
    assert session_model(None) is None


# --- end to end --------------------------------------------------------------------------------------


def config(text: str) -> None:
    path = paths.config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def today_log(home: Path, session: str = "s-main", *, inp: int = 3000) -> Path:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return write(
        home,
        f"{PROJECT}/{session}.jsonl",
        assistant("msg_1", "req_1", inp=inp, out=1000, ts=now, session=session),
    )


def hook(payload: dict | None, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(payload).encode() if payload is not None else b""))
    monkeypatch.setattr(sys, "stdin", stdin)
    return cli("guard")


def test_hook_blocks_when_exhausted_and_passes_otherwise(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = today_log(home)
    config('[[budget]]\nname = "tokens today"\ntokens = 3000\nclient = "claude-code"\n')
    assert cli("budgets", "--refresh")[0] == 0
    payload = {
        "session_id": "s-main",
        "cwd": "/home/alice/my.app",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "transcript_path": str(log),
    }
    code, out, err = hook(payload, monkeypatch)
    assert (code, out) == (2, "")
    assert "'tokens today' is exhausted: 4,000 tokens of 3,000 tokens" in err and "133 %" in err
    config('[[budget]]\nname = "roomy"\ntokens = 30000\n')
    assert cli("budgets", "--refresh", "--no-scan")[0] == 0
    assert hook(payload, monkeypatch) == (0, "", "")
    config('[[budget]]\nname = "codex only"\ntokens = 10\nclient = "codex"\n')
    assert cli("budgets", "--refresh", "--no-scan")[0] == 0
    assert hook(payload, monkeypatch)[0] == 0  # out of scope: a Claude Code hook does not spend Codex's budget


def test_hook_session_budget(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    today_log(home, "s-big", inp=9000)
    today_log(home, "s-small", inp=10)
    config('[[budget]]\nname = "per session"\ntokens = 5000\nperiod = "session"\n')
    assert cli("budgets", "--refresh")[0] == 0
    code, _out, err = hook({"session_id": "s-big", "cwd": "/w"}, monkeypatch)
    assert code == 2 and "this session" in err and "10,000 tokens of 5,000 tokens" in err
    assert hook({"session_id": "s-small", "cwd": "/w"}, monkeypatch)[0] == 0


def test_hook_fails_open_with_a_warning(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tokscope.guard._refresh_in_background", lambda: None)
    assert hook({"cwd": "/w"}, monkeypatch) == (0, "", "")  # no budgets: nothing to govern
    config('[[budget]]\nname = "b"\ntokens = 1\n')
    code, out, err = hook({"cwd": "/w"}, monkeypatch)  # never evaluated
    assert (code, out) == (1, "") and "no readable budget figures" in err and "passes" in err
    state = budget_state.state_path()
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"TKSM\x00\x00\x00\x00garbage")
    assert hook({"cwd": "/w"}, monkeypatch)[0] == 1
    for junk in (None, {"cwd": 5}, [1, 2]):
        assert hook(junk, monkeypatch)[0] == 1  # stdin of any shape: still a decision, never a traceback


def test_stale_figures_ask_for_a_refresh(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    monkeypatch.setattr("tokscope.guard._refresh_in_background", lambda: asked.append(True))
    today_log(home)
    config('[[budget]]\nname = "b"\ntokens = 1000000\n')
    assert cli("budgets", "--refresh")[0] == 0
    assert hook({"cwd": "/w"}, monkeypatch)[0] == 0 and asked == []
    today_log(home, "s-2")
    assert cli("scan", "-q")[0] == 0  # the ledger moved on since the figures were computed
    assert hook({"cwd": "/w"}, monkeypatch)[0] == 0 and asked == [True]


GUARD = [sys.executable, "-m", "tokscope", "guard"]


def _guard(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [*GUARD, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_wrapper_runs_refuses_and_stops(home: Path) -> None:
    today_log(home)
    config('[[budget]]\nname = "roomy"\ntokens = 100000\n')
    assert _guard(home, "--", sys.executable, "-c", "raise SystemExit(3)").returncode == 3  # the child's status
    config('[[budget]]\nname = "spent"\ntokens = 3000\n')
    marker = home / "started"
    done = _guard(home, "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    assert done.returncode == 2 and "'spent' is exhausted" in done.stderr and "not started" in done.stderr
    assert not marker.exists()

    config('[[budget]]\nname = "crossing"\ntokens = 10000\n')
    env = {**os.environ, "HOME": str(home)}
    child = "import time\nfor _ in range(600): time.sleep(0.1)"
    start = time.monotonic()
    proc = subprocess.Popen(
        [*GUARD, "--interval", "0.5", "--grace", "2", "--", sys.executable, "-c", child],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    assert proc.poll() is None  # under the budget: the command runs
    today_log(home, "s-late", inp=20000)  # the agent spends past the budget while it runs
    _out, err = proc.communicate(timeout=50)
    assert proc.returncode == 2 and "'crossing' is exhausted" in err and "Stopping" in err
    assert time.monotonic() - start < 50


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_any_stored_figures_are_a_decision_or_none(home: Path, data: bytes) -> None:
    """Whatever is in budgets.msgpack (torn, foreign, a valid frame of the wrong shapes), loading
    it gives figures or None, never an exception."""
    from tokscope import marshal_file

    path = budget_state.state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    for blob in (data, marshal_file.dumps((budget_state.LAYOUT, 1, [], "d", ((data, 1, 2),)))):
        path.write_bytes(blob)
        found = budget_state.load()
        if found is not None:
            budget_state.exhausted(found, CTX, NOW)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stdin=st.binary(max_size=300))
def test_any_hook_input_gets_a_decision(home: Path, monkeypatch: pytest.MonkeyPatch, stdin: bytes) -> None:
    monkeypatch.setattr("tokscope.guard._refresh_in_background", lambda: None)
    config('[[budget]]\nname = "b"\ntokens = 1\n')
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code, _out, err = cli("guard")
    assert code in (0, 1, 2) and "Traceback" not in err


def test_the_hook_as_claude_code_runs_it(home: Path) -> None:
    """``tokscope guard`` with no flags (the hooks block) decides before any parser is built; the
    same answers as through the CLI, and no argparse or Polars imported."""
    today_log(home)
    config('[[budget]]\nname = "tokens today"\ntokens = 3000\n')
    assert cli("budgets", "--refresh")[0] == 0
    code = (
        "import sys, runpy; sys.argv = ['tokscope', 'guard'];"
        "exec('try:\\n runpy.run_module(\"tokscope\", run_name=\"__main__\")\\nexcept SystemExit as e:\\n"
        " bad = [m for m in (\"argparse\", \"polars\") if m in sys.modules]\\n"
        " sys.exit(9 if bad else e.code)')"
    )
    env = {**os.environ, "HOME": str(home)}
    payload = json.dumps({"session_id": "s-main", "cwd": "/home/alice/my.app"})
    done = subprocess.run([sys.executable, "-c", code], input=payload, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "'tokens today' is exhausted" in done.stderr
    budget_state.state_path().write_bytes(b"damaged")
    done = subprocess.run([sys.executable, "-c", code], input=payload, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "passes" in done.stderr
