"""``tokscope reconcile``: a temp HOME with Claude Code and Codex logs whose cost is worked by hand,
invoices in the providers' documented shapes, and a planted 5 % gap on one model and one day."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from tests import invoice_samples as s
from tests import test_reader_claude_code as cc
from tests import test_reader_codex as cx
from tests.cli_helpers import cli
from tokscope.events import EVENT_SCHEMA
from tokscope.invoices import InvoiceRow
from tokscope.pricing import load_table, price
from tokscope.reconcile import Estimate, Invoiced, compare, month_bounds, reconcile


def _logs(home: Path) -> None:
    """The ledger's turns (rates per M: Sonnet 4.5 $3/$15/read $0.30/5m $3.75/1h $6; Haiku 4.5 $1/$5;
    gpt-5 $1.25/$10/cached $0.125):

    * 20th, Sonnet (pricing.md Ex 1): 1,200×3 + 150,000×0.30 + 10,000×3.75 + 20,000×6 + 2,500×15 → $0.2436
    * 20th, Haiku: 100,000×1 + 10,000×5 → $0.15
    * 21st, Sonnet: 38,000 out × 15 → $0.57 (billed $0.60: the planted gap, −5 %)
    * 20th, gpt-5 via Codex (Ex 2): 7,040×1.25 + 40,960×0.125 + 1,800×10 → $0.03192
    """
    cc.write(
        home,
        f"{cc.PROJECT}/s-main.jsonl",
        cc.assistant("m1", "r1", inp=1_200, out=2_500, read=150_000, w5m=10_000, w1h=20_000, ts="2026-11-20T10:00:00Z"),
        cc.assistant("m2", "r2", inp=100_000, out=10_000, model=s.HAIKU, ts="2026-11-20T11:00:00Z"),
        cc.assistant("m3", "r3", out=38_000, ts="2026-11-21T23:30:00Z"),
        cc.assistant("m4", "r4", out=1_000_000, ts="2026-10-31T23:59:00Z"),  # October: outside the month
    )
    cx.write(
        home,
        "sessions/2026/11/20/rollout-a.jsonl",
        cx.meta(ts="2026-11-20T09:00:00.000Z"),
        cx.turn(model="gpt-5"),
        cx.count("2026-11-20T09:00:09.000Z", (48_000, 40_960, 1_800, 1_024), (48_000, 40_960, 1_800, 1_024)),
    )


def _import(home: Path, name: str, text: str) -> None:
    path = home / name
    path.write_text(text)
    code, _, err = cli("invoices", "import", str(path))
    assert code == 0, err


def test_planted_gap_is_flagged_on_that_model_and_day_only(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _logs(home)
    _import(home, "anthropic-cost.json", s.anthropic_cost_report())
    _import(home, "openai-usage.json", s.openai_usage_report())
    code, out, err = cli("reconcile", "--month", "2026-11", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["month"], data["threshold_pct"]) == ("2026-11", 3.0)
    rows = {(r["provider"], r["day"], r["model"]): r for r in data["rows"]}
    assert set(rows) == {
        ("anthropic", "2026-11-20", "claude-sonnet-4-5"),
        ("anthropic", "2026-11-20", "claude-haiku-4-5"),
        ("anthropic", "2026-11-21", "claude-sonnet-4-5"),
        ("openai", "2026-11-20", "gpt-5"),
    }
    planted = rows[("anthropic", "2026-11-21", "claude-sonnet-4-5")]
    got = (planted["estimate"], planted["invoiced"], planted["gap_usd"], planted["gap_pct"])
    assert got == (0.57, 0.6, -0.03, -5.0)
    assert planted["flagged"] and planted["side"] == "both" and planted["basis"] == "billed"
    assert planted["names"] == [s.SONNET]  # the log's dated id and the report's, one spelling
    assert [k for k, r in rows.items() if r["flagged"]] == [("anthropic", "2026-11-21", "claude-sonnet-4-5")]
    ex1 = rows[("anthropic", "2026-11-20", "claude-sonnet-4-5")]
    assert (ex1["estimate"], ex1["invoiced"], ex1["gap_usd"], ex1["turns"]) == (0.2436, 0.2436, 0.0, 1)
    assert (rows[("anthropic", "2026-11-20", "claude-haiku-4-5")]["estimate"], data["one_sided"]) == (0.15, 0)
    gpt = rows[("openai", "2026-11-20", "gpt-5")]
    # the usage report's tokens priced by tokscope: the same $0.03192 as the log
    assert (gpt["estimate"], gpt["invoiced"], gpt["basis"], gpt["gap_usd"], gpt["flagged"]) == (
        0.03192,
        0.03192,
        "usage",
        0.0,
        False,
    )
    assert (gpt["estimate_tokens"], gpt["invoiced_tokens"]) == (48_000 + 1_800, 48_000 + 1_800)
    anthropic = next(p for p in data["providers"] if p["provider"] == "anthropic")
    # 0.2436 + 0.15 + 0.57 = 0.9636 against 0.2436 + 0.15 + 0.60 = 0.9936
    assert (anthropic["estimate"], anthropic["invoiced"], anthropic["gap_usd"], anthropic["flagged"]) == (
        0.9636,
        0.9936,
        -0.03,
        1,
    )
    assert data["flagged"] == 1

    code, out, _ = cli("reconcile", "--month", "2026-11", "--no-scan", "--check")
    assert code == 1  # a flagged row fails the check
    assert "ALERT" in out and "claude-sonnet-4-5" in out
    code, out, _ = cli("reconcile", "--month", "2026-11", "--no-scan", "--threshold", "6", "--check")
    assert code == 0  # 5 % is under a 6 % threshold
    code, out, _ = cli("reconcile", "--month", "2026-11", "--no-scan", "--format", "json", "--client", "codex")
    sides = {(r["provider"], r["day"], r["model"]): r["side"] for r in json.loads(out)["rows"]}
    assert sides[("openai", "2026-11-20", "gpt-5")] == "both"
    assert sides[("anthropic", "2026-11-21", "claude-sonnet-4-5")] == "invoice_only"  # Claude Code's turns left out
    code, out, _ = cli("reconcile", "--month", "2026-11", "--no-scan", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    flagged = [(r["day"], r["model"]) for r in table if r["flagged"] == "True"]
    assert flagged == [("2026-11-21", "claude-sonnet-4-5")]


def test_one_sided_rows_and_a_whole_day_invoice(home: Path) -> None:
    _logs(home)
    # OpenAI costs not grouped by line item: the provider's whole day, $0.895874 against $0.03192
    _import(home, "openai-costs.tsv", s.OPENAI_COSTS_TSV)
    # Anthropic usage CSV: Sonnet on the 20th (Ex 1 tokens) and Haiku on the 21st (tokscope saw it the 20th)
    _import(home, "anthropic-usage.csv", s.ANTHROPIC_USAGE_CSV)
    code, out, err = cli("reconcile", "--month", "2026-11", "--format", "json")
    assert code == 0, err
    rows = {(r["provider"], r["day"], r["model"]): r for r in json.loads(out)["rows"]}
    whole = rows[("openai", "2026-11-20", "*")]
    assert (whole["estimate"], whole["invoiced"], whole["side"], whole["flagged"]) == (0.03192, 0.895874, "both", True)
    assert rows[("anthropic", "2026-11-20", "claude-sonnet-4-5")]["gap_usd"] == 0.0
    haiku20 = rows[("anthropic", "2026-11-20", "claude-haiku-4-5")]
    assert (haiku20["side"], haiku20["estimate"], haiku20["invoiced"], haiku20["flagged"]) == (
        "estimate_only",
        0.15,
        None,
        False,
    )
    haiku21 = rows[("anthropic", "2026-11-21", "claude-haiku-4-5")]
    assert (haiku21["side"], haiku21["estimate"], haiku21["invoiced"], haiku21["gap_pct"]) == (
        "invoice_only",
        None,
        0.15,
        -100.0,
    )
    sonnet21 = rows[("anthropic", "2026-11-21", "claude-sonnet-4-5")]
    assert sonnet21["side"] == "estimate_only"


def test_nothing_imported_and_bad_arguments(home: Path) -> None:
    code, out, err = cli("reconcile", "--month", "2026-11", "--format", "json", "--no-scan")
    assert code == 0 and json.loads(out)["rows"] == []
    assert "no imported invoice covers 2026-11" in err
    code, _, err = cli("reconcile", "--month", "2026-13", "--no-scan")
    assert code == 2 and "expected YYYY-MM" in err
    code, _, err = cli("reconcile", "--month", "2026-11", "--threshold", "lots", "--no-scan")
    assert code == 2 and "not a percentage" in err


def test_threshold_from_config_toml(home: Path) -> None:
    from tokscope.config import config_path

    _logs(home)
    _import(home, "anthropic-cost.json", s.anthropic_cost_report())
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text("[reconcile]\nthreshold = 6\n")
    code, out, err = cli("reconcile", "--month", "2026-11", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["threshold_pct"], data["flagged"]) == (6.0, 0)  # the 5 % gap is under 6 %
    code, out, _ = cli("reconcile", "--month", "2026-11", "--format", "json", "--no-scan", "--threshold", "4")
    assert json.loads(out)["flagged"] == 1  # the flag wins over the file
    config_path().write_text('[reconcile]\nthreshold = "lots"\n')
    code, out, err = cli("reconcile", "--month", "2026-11", "--format", "json", "--no-scan")
    assert json.loads(out)["threshold_pct"] == 3.0
    assert f"{config_path()}: reconcile.threshold = 'lots': expected a percentage" in err


def test_compare_by_hand() -> None:
    est = {("anthropic", "2026-11-02", "claude-opus-4-6"): Estimate(cost=10.0, turns=4, names={"claude-opus-4-6"})}
    inv = {("anthropic", "2026-11-02", "claude-opus-4-6"): Invoiced(billed=9.7, names={"claude-opus-4-6"})}
    (line,) = compare(est, inv, threshold_pct=3.0)
    assert (round(line.gap_usd or 0, 9), line.gap_pct, line.flagged) == (0.3, pytest.approx(3.0928, abs=1e-4), True)
    (line,) = compare(est, {k: Invoiced(billed=9.75) for k in inv}, threshold_pct=3.0)
    assert (line.gap_pct, line.flagged) == (pytest.approx(2.5641, abs=1e-4), False)
    assert month_bounds("2024-02")[1].isoformat() == "2024-02-29"


def test_invoice_rows_of_other_months_are_left_out() -> None:
    none = price(pl.LazyFrame(schema=EVENT_SCHEMA))
    row = InvoiceRow("anthropic", "2026-12-01", s.SONNET, "cost", "d" * 64, cost_usd=1.0)
    assert reconcile(none, [row], "2026-11", load_table([])) == []
    (line,) = reconcile(none, [row], "2026-12", load_table([]))
    assert (line.side, line.invoiced, line.gap_pct) == ("invoice_only", 1.0, -100.0)
