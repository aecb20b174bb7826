"""Accounts, plans and the five cost kinds: every rule with hand-worked numbers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from tokscope import accounts, plans
from tokscope.events import EVENT_SCHEMA, LEDGER_SCHEMA
from tokscope.pricing import load_table, price
from tokscope.pricing.kinds import estimated_clients, with_cost_kinds
from tokscope.query import Query, aggregate, plan_values

TS = datetime(2026, 11, 20, 12, tzinfo=UTC)
TODAY = date(2026, 11, 30)


def jwt(claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{body}.c2ln"


def codex_home(path: Path, **claims: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    tokens = {"id_token": jwt(claims), "access_token": "secret-a", "refresh_token": "r"}
    auth = {"OPENAI_API_KEY": None, "tokens": tokens}
    (path / "auth.json").write_text(json.dumps(auth))
    return path


@pytest.fixture(autouse=True)
def _fresh_logins() -> None:
    accounts._logins.clear()


# --- account keys ------------------------------------------------------------


def test_claude_config_dirs_are_accounts(home: Path) -> None:
    def key(rel: str) -> str:
        return accounts.source_account("claude-code", home / rel / "projects" / "-w" / "s.jsonl")

    assert key(".claude") == ""  # the default: nothing stamped, shown as ~/.claude
    assert key(".config/claude") == ""
    assert key(".claude-work") == "~/.claude-work"
    assert accounts.source_account("claude-code", Path("/srv/claude/projects/-w/s.jsonl")) == "/srv/claude"
    assert accounts.label("claude-code", "") == "~/.claude"
    assert accounts.label("claude-code", None) == "~/.claude"
    assert accounts.label("goose", None) == "default"
    assert accounts.source_account("goose", home / "x.db") == ""


def test_codex_login_email_is_the_account_and_no_token_is_kept(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codex_home(
        home / ".codex", email="Alice@Example.com", **{"https://api.openai.com/auth": {"chatgpt_plan_type": "pro"}}
    )
    rollout = home / ".codex" / "sessions" / "2026" / "r.jsonl"
    assert accounts.source_account("codex", rollout) == "alice@example.com"
    login = accounts.codex_login(home / ".codex")
    assert login == accounts.CodexLogin(email="alice@example.com", plan_type="pro", api_key=False)
    assert "secret" not in repr(login)
    # a readings' account (the home) meets the rows' key
    assert accounts.quota_key("codex", str(home / ".codex")) == "alice@example.com"
    # another CODEX_HOME without a login: the home itself
    monkeypatch.setenv("CODEX_HOME", str(home / "work-codex"))
    accounts._logins.clear()
    assert accounts.source_account("codex", home / "work-codex" / "sessions" / "r.jsonl") == "~/work-codex"
    assert accounts.quota_key("codex", str(home / "work-codex")) == "~/work-codex"


@pytest.mark.parametrize(
    "content", ["", "{", "[]", '{"tokens": {"id_token": "a.b"}}', '{"tokens": {"id_token": "a.!!!.c"}}']
)
def test_a_broken_auth_json_is_no_login(home: Path, content: str) -> None:
    (home / ".codex").mkdir()
    (home / ".codex" / "auth.json").write_text(content)
    assert accounts.codex_login(home / ".codex") == accounts.CodexLogin()
    assert accounts.source_account("codex", home / ".codex" / "sessions" / "r.jsonl") == ""


# --- [[account]] rules ---------------------------------------------------------


def test_rules_parse_with_errors_naming_file_entry_and_cause() -> None:
    rules, errors = accounts.parse_rules(
        [
            {"name": "work", "path": "~/.claude-work"},
            {"name": "box", "client": "codex", "device": ["devbox"]},
            {"path": "x"},
            {"name": "odd", "colour": "red"},
            {"name": "nothing"},
            {"name": "bad", "client": "no-such-client"},
            {"name": "bad2", "device": 3},
            "text",
        ],
        "/c/config.toml",
    )
    assert [r.name for r in rules] == ["work", "box"]
    assert rules[0].path == "~/.claude-work"
    assert errors == [
        "/c/config.toml: account 3: name must be a non-empty string; ignored",
        "/c/config.toml: account 'odd': unknown key colour (known: name, client, path, device); ignored",
        "/c/config.toml: account 'nothing': give at least one of client, path or device to match; ignored",
        "/c/config.toml: account 'bad': client no-such-client is not a client tokscope reads; ignored",
        "/c/config.toml: account 'bad2': device must be a name or a list of names; ignored",
        "/c/config.toml: account 8: not a table; ignored",
    ]
    assert accounts.parse_rules({"name": "x"}, "f")[1] == [
        "f: account 'x': give at least one of client, path or device to match; ignored"
    ]
    assert accounts.parse_rules(3, "f") == ([], ["f: account must be an array of tables ([[account]]); ignored"])


def frame(*rows: dict) -> pl.LazyFrame:
    full = []
    for i, r in enumerate(rows):
        full.append(
            {
                "device_id": r.get("device", "dev-a"),
                "client": r.get("client", "claude-code"),
                "provider": r.get("provider", "anthropic"),
                "model": r.get("model", "claude-sonnet-4-5-20250929"),
                "workspace": "/w",
                "session_id": "s",
                "agent": None,
                "event_key": f"k{i}",
                "ts": r.get("ts", TS),
                "input": r.get("input", 0),
                "output": r.get("output", 0),
                "reasoning": 0,
                "cache_read": r.get("cache_read", 0),
                "cache_write_5m": r.get("cache_write_5m", 0),
                "cache_write_1h": r.get("cache_write_1h", 0),
                "source_cost": r.get("source_cost"),
                "service_tier": None,
                "account": r.get("account"),
            }
        )
    return pl.DataFrame(full, schema=EVENT_SCHEMA).lazy()


def test_accounts_as_shown_default_labels_and_rules() -> None:
    events = frame(
        {"account": None},
        {"account": ""},
        {"account": "~/.claude-work"},
        {"client": "codex", "provider": "openai", "account": None},
        {"client": "codex", "provider": "openai", "account": None, "device": "dev-b"},
        {"client": "goose", "account": None},
    )
    shown = accounts.with_accounts(events, []).collect()["account"].cast(pl.String).to_list()
    assert shown == ["~/.claude", "~/.claude", "~/.claude-work", "~/.codex", "~/.codex", "default"]
    rules, errors = accounts.parse_rules(
        [
            {"name": "work", "path": "*-work"},
            {"name": "devbox codex", "client": "codex", "device": "devbox"},
            {"name": "personal", "client": "claude-code"},
        ]
    )
    assert not errors
    named = accounts.with_accounts(events, rules, {"dev-a": "laptop", "dev-b": "devbox"}).collect()
    assert named["account"].cast(pl.String).to_list() == [
        "personal",
        "personal",
        "work",  # the first matching rule wins
        "~/.codex",
        "devbox codex",  # matched by device name
        "default",
    ]
    assert named["event_key"].to_list() == [f"k{i}" for i in range(6)]  # order kept by the join


# --- plans ---------------------------------------------------------------------


def test_builtin_plans_are_dated_with_a_source() -> None:
    built = plans.builtin()
    assert {"Claude Pro", "Claude Max 5x", "Claude Max 20x", "ChatGPT Plus", "ChatGPT Pro", "Copilot Pro"} <= set(built)
    assert built["Claude Max 20x"].price_per_month == 200.0
    assert built["ChatGPT Plus"].price_per_month == 20.0
    for plan in built.values():
        assert plan.source and plan.source.startswith("https://")
        assert date.fromisoformat(plan.as_of or "")


def test_plan_entries_override_builtins_by_name_and_errors_name_the_cause() -> None:
    got, errors = plans.parse(
        [
            {"name": "Claude Max 20x", "accounts": ["~/.claude"], "billing_day": 15},
            {"name": "Team API", "price_per_month": 0, "providers": "openai"},
            {"name": "ChatGPT Plus", "price_per_month": 23.5},
            {"name": "Mystery"},
            {"name": "Claude Pro", "billing_day": 40},
            {"name": "Claude Max 5x", "price_per_month": -1},
            {"name": "Copilot Pro", "windows": ["daily"]},
            {"name": "Copilot Pro+", "since": "yesterday"},
            {"name": "Claude Max 20x"},
            {"name": "X", "price_per_month": 5, "cover": ["a"]},
        ],
        "/c/config.toml",
    )
    assert [p.name for p in got] == ["Claude Max 20x", "Team API", "ChatGPT Plus"]
    max20 = got[0]
    assert (max20.price_per_month, max20.billing_day, max20.accounts, max20.clients) == (
        200.0,
        15,
        ("~/.claude",),
        ("claude-code",),
    )
    assert got[1].providers == ("openai",) and got[1].price_per_month == 0.0
    assert got[2].price_per_month == 23.5 and got[2].source == "https://openai.com/chatgpt/pricing/"
    where = "/c/config.toml: plan"
    assert errors == [
        f"{where} 'Mystery': price_per_month is missing (a plan tokscope has no built-in entry for needs one); ignored",
        f"{where} 'Claude Pro': billing_day = 40: expected a day of the month 1-31; ignored",
        f"{where} 'Claude Max 5x': price_per_month = -1: expected a finite number of USD >= 0; ignored",
        f"{where} 'Copilot Pro': windows: daily is not one of five_hour, weekly; ignored",
        f"{where} 'Copilot Pro+': since = 'yesterday': expected a date (YYYY-MM-DD); ignored",
        f"{where} 'Claude Max 20x': named twice; the later one ignored",
        f"{where} 'X': unknown key cover (known: accounts, billing_day, clients, name, price_per_month, providers, "
        "since, windows); ignored",
    ]


def test_fee_per_period_follows_the_billing_cycles() -> None:
    plan = plans.Plan(name="Max", price_per_month=200.0, billing_day=15)
    # Nov 1-14 lies in the cycle Oct 15 - Nov 14 (31 days): 200 x 14/31 = 90.322581
    # Nov 15-30 in the cycle Nov 15 - Dec 14 (30 days): 200 x 16/30 = 106.666667 -> 196.989247
    assert plans.fee_for(plan, date(2026, 11, 1), date(2026, 11, 30)) == pytest.approx(196.989247, abs=1e-6)
    # one whole cycle is the monthly price
    assert plans.fee_for(plan, date(2026, 11, 15), date(2026, 12, 14)) == pytest.approx(200.0)
    # billing on the 31st renews on a short month's last day: Feb 28 - Mar 30 is 31 days
    late = plans.Plan(name="L", price_per_month=31.0, billing_day=31)
    assert plans.fee_for(late, date(2026, 3, 1), date(2026, 3, 1)) == pytest.approx(1.0)
    # days before `since` cost nothing: Nov 21-30 of a cycle Nov 1 - Nov 30: 20 x 10/30
    new = plans.Plan(name="N", price_per_month=20.0, since=date(2026, 11, 21))
    assert plans.fee_for(new, date(2026, 11, 1), date(2026, 11, 30)) == pytest.approx(20 / 3)
    assert plans.fee_for(new, date(2026, 11, 1), date(2026, 11, 20)) == 0.0


# --- the five kinds ----------------------------------------------------------------

#: pricing.md Ex 1 (Claude, $0.2436) and Ex 2 (Codex gpt-5-codex, $0.03192).
EX1 = {"input": 1_200, "cache_read": 150_000, "cache_write_5m": 10_000, "cache_write_1h": 20_000, "output": 2_500}
EX2 = {"client": "codex", "provider": "openai", "model": "gpt-5-codex"}
EX2 |= {"input": 7_040, "cache_read": 40_960, "output": 1_800}


@pytest.fixture(scope="module")
def table():
    return load_table([])


def kinds_frame(table, plan_list: list[plans.Plan]) -> pl.LazyFrame:
    events = frame(
        {**EX1, "account": None},  # ~/.claude, covered by the plan
        {**EX1, "account": "~/.claude-work"},  # not covered: API key, metered at list price
        {**EX2, "account": None},  # metered
        {"model": "totally-unknown-model", "input": 500, "output": 10},  # unknown, never $0
        {"client": "goose", "provider": "openai", "model": "x-unknown", "source_cost": 1.5},  # session totals
        {**EX2, "client": "opencode", "source_cost": 0.0},  # logged $0 for a priced turn: a free route
        {**EX2, "client": "opencode", "source_cost": 0.05},  # the client's logged charge
    )
    priced = price(accounts.with_accounts(events, []), table)
    return with_cost_kinds(priced, plan_list, estimated_clients(["claude-code", "codex", "goose", "opencode"]))


def test_each_turn_has_one_kind_and_its_amount(table) -> None:
    max20 = plans.parse([{"name": "Claude Max 20x", "accounts": ["~/.claude"]}])[0]
    got = kinds_frame(table, max20).collect()
    assert got["cost_kind"].cast(pl.String).to_list() == [
        "subscription",
        "metered",
        "metered",
        "unknown",
        "estimated",
        "subscription",
        "metered",
    ]
    # the unknown-model turn is the plan's too, but without a price its kind stays unknown
    assert got["plan"].cast(pl.String).to_list() == ["Claude Max 20x", None, None, "Claude Max 20x", None, None, None]
    approx = pytest.approx
    assert got["api_equivalent"].to_list() == approx([0.2436, 0.2436, 0.03192, None, 1.5, 0.03192, 0.03192])
    assert got["subscription"].to_list() == approx([0.2436, 0, 0, 0, 0, 0.03192, 0])
    assert got["metered"].to_list() == approx([0, 0.2436, 0.03192, 0, 0, 0, 0.05])
    assert got["estimated"].to_list() == approx([0, 0, 0, 0, 1.5, 0, 0])
    assert got["unknown"].to_list() == [0, 0, 0, 1, 0, 0, 0]


def test_report_totals_and_plan_value(table) -> None:
    max20 = plans.parse([{"name": "Claude Max 20x", "accounts": ["~/.claude"]}])[0]
    events = kinds_frame(table, max20)
    query = Query(by=["account"], period="month")
    rows, totals = aggregate(events, query, TODAY)
    by = {r["account"]: r for r in rows.to_dicts()}
    assert by["~/.claude"]["subscription"] == pytest.approx(0.2436)
    assert by["~/.claude"]["metered"] == 0.0
    assert by["~/.claude-work"]["metered"] == pytest.approx(0.2436)
    # api_equivalent 0.2436 x 2 + 0.03192 x 3 + 1.5 = 2.08296; paid per token 0.2436 + 0.03192 + 0.05 = 0.32552
    assert totals["api_equivalent"] == pytest.approx(2.08296)
    assert totals["api_equivalent"] == pytest.approx(totals["cost"])
    assert totals["metered"] == pytest.approx(0.32552)
    assert totals["subscription"] == pytest.approx(0.2436 + 0.03192)
    assert totals["estimated"] == pytest.approx(1.5)
    assert totals["unknown"] == 1 == totals["unpriced_turns"]
    # the plan: Nov 1-30 at billing day 1 is one whole cycle: $200 paid, $0.2436 covered
    (value,) = plan_values(events, max20, query, TODAY)
    assert value["paid"] == 200.0
    assert value["api_equivalent"] == 0.24
    assert (value["turns"], value["unknown"]) == (2, 1)  # the unknown-model turn: covered, its value unknown
    assert value["value_ratio"] == 0.0  # 0.2436 / 200 rounds to 0.00
    assert value["source"].startswith("https://")


def test_an_unpriced_frame_counts_every_turn_unknown() -> None:
    _rows, totals = aggregate(frame({"account": None}), Query(by=["account"], period="all"), TODAY)
    assert totals["unknown"] == 1
    assert totals["api_equivalent"] is None
    assert totals["metered"] == 0.0


# --- older files -----------------------------------------------------------------


def test_an_older_ledger_segment_without_the_account_column_reads_as_default(tmp_path: Path) -> None:
    from tokscope.ledger import scan_parquet

    old = {c: t for c, t in LEDGER_SCHEMA.items() if c != "account"}
    row = {c: None for c in old} | {
        "client": "claude-code",
        "provider": "anthropic",
        "model": "m",
        "event_key": "k",
        "ts": TS,
        **{c: 1 for c in ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")},
        "rank": 0,
    }
    path = tmp_path / "base-00000001-abc.parquet"
    pl.DataFrame([row], schema=old).write_parquet(path)
    got = scan_parquet(path).collect()
    assert got.schema == LEDGER_SCHEMA
    assert got["account"].to_list() == [None]
    events = got.lazy().with_columns(device_id=pl.lit("d", pl.Categorical())).select(list(EVENT_SCHEMA))
    assert accounts.with_accounts(events, []).collect()["account"].cast(pl.String).to_list() == ["~/.claude"]


def test_an_older_snapshot_without_the_account_column_merges_as_default() -> None:
    import io

    from tokscope.sync.merge import Blob, _blob_frame

    old = {c: t for c, t in EVENT_SCHEMA.items() if c != "account"}
    row = {c: None for c in old} | {"client": "codex", "provider": "openai", "model": "m", "event_key": "k", "ts": TS}
    row |= {c: 2 for c in ("input", "output", "reasoning", "cache_read", "cache_write_5m", "cache_write_1h")}
    buf = io.BytesIO()
    pl.DataFrame([row], schema=old).write_parquet(buf)
    blob = Blob(device_id="dev-b", name="events-2026-11-0123456789ab.parquet", sha256="", data=buf.getvalue())
    merged = _blob_frame(blob).collect()
    assert merged.schema == EVENT_SCHEMA
    assert accounts.with_accounts(merged.lazy(), []).collect()["account"].cast(pl.String).to_list() == ["~/.codex"]


def test_a_budget_scoped_to_an_account_counts_only_its_turns() -> None:
    from tokscope.budgets import _in_scope, parse

    (budget,), errors = parse([{"name": "work", "amount": 5, "account": "work"}])
    assert not errors
    rules, _ = accounts.parse_rules([{"name": "work", "path": "~/.claude-work"}])
    events = accounts.with_accounts(
        frame({"account": None, "output": 1}, {"account": "~/.claude-work", "output": 2}), rules
    )
    assert _in_scope(events, budget, {}).collect()["output"].to_list() == [2]


def test_a_model_inferred_from_the_date_is_estimated(table) -> None:
    events = frame({**EX2, "model": "codex-auto-review"}, {**EX2})
    got = with_cost_kinds(price(accounts.with_accounts(events, []), table), []).collect()
    assert got["cost_kind"].cast(pl.String).to_list() == ["estimated", "metered"]
    assert got["estimated"][0] == pytest.approx(got["api_equivalent"][0]) and got["estimated"][0] > 0


def test_doctor_names_bad_account_and_plan_entries(home: Path) -> None:
    from tokscope.config import config_path
    from tokscope.doctor import config_section

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[[account]]\nname = "x"\n\n[[plan]]\nname = "Mystery"\n')
    section = config_section()
    assert section["status"] == "warning"
    assert section["errors"] == [
        f"{path}: account 'x': give at least one of client, path or device to match; ignored",
        f"{path}: plan 'Mystery': price_per_month is missing (a plan tokscope has no built-in entry for needs one); "
        "ignored",
    ]
