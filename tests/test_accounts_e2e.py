"""Issue 15 end to end: two devices, two Claude config dirs, a Codex login with rate limits and a
recorded Claude statusLine input give per-account limits, plan values and the five cost kinds."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from pathlib import Path

import pytest

from tests.devices_helpers import Dev, make_devices
from tests.test_quota_codex import both, tc
from tests.test_reader_codex import meta, turn

#: pricing.md Ex 1: claude-sonnet-4-5 with 5m and 1h cache writes, $0.2436 a turn.
EX1_USAGE = {
    "input_tokens": 1_200,
    "cache_read_input_tokens": 150_000,
    "cache_creation_input_tokens": 30_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 10_000, "ephemeral_1h_input_tokens": 20_000},
    "output_tokens": 2_500,
}
EX1 = 0.2436
#: pricing.md Ex 2: gpt-5-codex, 48,000 in incl. 40,960 cached, 1,800 out incl. 1,024 reasoning: $0.03192.
EX2 = 0.03192

CONFIG = """
[[plan]]
name = "Claude Max 20x"
accounts = ["~/.claude"]

[[plan]]
name = "ChatGPT Plus"
accounts = ["alice@example.com"]

[[account]]
name = "work"
path = "~/.claude-work"
"""


def claude_turn(dev: Dev, config_dir: str, msg: str, ts: str) -> None:
    folder = dev.home / config_dir / "projects" / "-home-u-app"
    folder.mkdir(parents=True, exist_ok=True)
    message = {"id": msg, "model": "claude-sonnet-4-5-20250929", "usage": EX1_USAGE}
    line = {"type": "assistant", "timestamp": ts, "sessionId": f"s-{msg}", "requestId": f"r-{msg}", "message": message}
    with (folder / f"s-{msg}.jsonl").open("a") as fh:
        fh.write(json.dumps({**line, "cwd": "/home/u/app"}) + "\n")


def codex_login(dev: Dev, email: str) -> None:
    claims = {"email": email, "https://api.openai.com/auth": {"chatgpt_plan_type": "plus"}}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    auth = {"OPENAI_API_KEY": None, "tokens": {"id_token": f"e30.{body}.c2ln", "access_token": "secret-token"}}
    (dev.home / ".codex").mkdir(parents=True, exist_ok=True)
    (dev.home / ".codex" / "auth.json").write_text(json.dumps(auth))


def codex_rollout(dev: Dev, thread: str, ts: str, five: float, week: float) -> None:
    path = dev.home / ".codex" / "sessions" / "2026" / "11" / "20" / f"rollout-{thread}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = (48_000, 40_960, 1_800, 1_024)
    lines = [meta(thread, ts), turn("gpt-5-codex", ts), tc(ts, both(five, week), counts, counts)]
    path.write_text("".join(line + "\n" for line in lines))


def statusline(dev: Dev, monkeypatch: pytest.MonkeyPatch, five: float, week: float) -> str:
    now = time.time()
    data = {
        "session_id": "s-live",
        "transcript_path": str(dev.home / ".claude/projects/-home-u-app/s-live.jsonl"),
        "cost": {"total_cost_usd": 0.5},
        "rate_limits": {
            "five_hour": {"used_percentage": five, "resets_at": int(now) + 3600},
            "seven_day": {"used_percentage": week, "resets_at": int(now) + 86400},
        },
    }
    from tokscope.cli import main

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(data).encode())))
    monkeypatch.setattr(sys, "stdout", out)
    with dev.active():
        assert main(["statusline", "--claude-code", "--no-scan"]) == 0
    monkeypatch.undo()
    return out.getvalue()


def test_two_devices_accounts_limits_plans_and_five_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    laptop, devbox = make_devices(tmp_path, "laptop", "devbox")
    for dev in (laptop, devbox):
        (dev.root / "config" / "tokscope").mkdir(parents=True, exist_ok=True)
        codex_login(dev, "Alice@example.com")
    (laptop.root / "config" / "tokscope" / "config.toml").write_text(CONFIG)
    claude_turn(laptop, ".claude", "m1", "2026-11-20T10:00:00Z")
    claude_turn(laptop, ".claude-work", "m2", "2026-11-20T11:00:00Z")
    claude_turn(devbox, ".claude", "m3", "2026-11-21T10:00:00Z")  # the same account on the other machine
    codex_rollout(laptop, "thread-a", "2026-11-20T09:00:00.000Z", 12.5, 40.0)
    codex_rollout(devbox, "thread-b", "2026-11-22T09:00:00.000Z", 30.0, 55.0)  # later: freshest wins
    line = statusline(laptop, monkeypatch, 42.0, 17.0)
    assert "5h 42%" in line and "wk 17%" in line
    for dev in (laptop, devbox):
        dev.ok("scan")
        dev.ok("export")
    laptop.ok("devices", "trust", devbox.id, "--fingerprint", devbox.json("devices", "show")["fingerprint"])

    data = laptop.json("report", "--by", "account", "--since", "2026-11-01", "--until", "2026-11-30", "--no-scan")
    rows = {r["account"]: r for r in data["rows"]}
    assert set(rows) == {"~/.claude", "work", "alice@example.com"}
    approx = pytest.approx
    # ~/.claude: a turn on each device, both covered by Max 20x: subscription, $0 marginal
    claude = rows["~/.claude"]
    assert claude["turns"] == 2
    assert (claude["api_equivalent"], claude["subscription"]) == (approx(2 * EX1), approx(2 * EX1))
    assert claude["metered"] == 0
    # ~/.claude-work, named by the rule; no plan covers it: paid per token at list price
    work = rows["work"]
    assert (work["turns"], work["metered"], work["subscription"]) == (1, approx(EX1), 0)
    assert work["api_equivalent"] == approx(EX1)
    # the Codex login (auth.json's e-mail, lower-cased) on both devices, covered by ChatGPT Plus
    codex = rows["alice@example.com"]
    assert (codex["turns"], codex["subscription"], codex["metered"]) == (2, approx(2 * EX2), 0)
    totals = data["totals"]
    assert totals["api_equivalent"] == approx(3 * EX1 + 2 * EX2) == totals["cost"]
    assert totals["metered"] == approx(EX1)
    assert totals["subscription"] == approx(2 * EX1 + 2 * EX2)
    assert (totals["estimated"], totals["unknown"]) == (0, 0)
    # November is one whole billing cycle of each plan (billing day 1)
    plans = {p["name"]: p for p in data["plans"]}
    max20 = plans["Claude Max 20x"]
    assert (max20["paid"], max20["api_equivalent"], max20["turns"], max20["value_ratio"]) == (200.0, 0.49, 2, 0.0)
    assert (plans["ChatGPT Plus"]["paid"], plans["ChatGPT Plus"]["api_equivalent"]) == (20.0, 0.06)
    assert plans["ChatGPT Plus"]["source"] == "https://openai.com/chatgpt/pricing/"
    table = laptop.ok("report", "--by", "account", "--since", "2026-11-01", "--until", "2026-11-30", "--no-scan")
    assert "Claude Max 20x: $200.00 paid, $0.49 at API prices, 0.0×" in table
    assert "Paid" in table and "API equiv." in table

    limits = laptop.json("limits", "--no-scan")["limits"]
    seen = {(r["client"], r["account"], r["window"]): (r["used_percent"], r["device_name"]) for r in limits}
    assert seen == {
        ("claude-code", "~/.claude", "five_hour"): (42.0, "laptop"),  # from the statusLine input
        ("claude-code", "~/.claude", "weekly"): (17.0, "laptop"),
        ("codex", "alice@example.com", "five_hour"): (30.0, "devbox"),  # the devbox saw it last
        ("codex", "alice@example.com", "weekly"): (55.0, "devbox"),
    }
    # no token of auth.json reached the ledger or the shared folder
    for path in tmp_path.joinpath("shared").rglob("*"):
        if path.is_file():
            assert b"secret-token" not in path.read_bytes()
