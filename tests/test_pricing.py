"""Pricing: the worked examples of pricing.md to the cent, tier rules, name resolution, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from tokscope.events import EVENT_SCHEMA
from tokscope.pricing import (
    PriceFileError,
    apply_pricing,
    load_table,
    name_variants,
    price,
    price_detail,
    user_overrides_path,
)
from tokscope.query import Query, aggregate

TS = datetime(2026, 11, 1, 12, tzinfo=UTC)


def events(*rows: dict) -> pl.LazyFrame:
    """Events in the event schema; unspecified counters are 0."""
    full = []
    for i, r in enumerate(rows):
        full.append(
            {
                "device_id": "dev",
                "client": r.get("client", "claude-code"),
                "provider": r.get("provider", "anthropic"),
                "model": r["model"],
                "workspace": "/w",
                "session_id": "s",
                "agent": None,
                "event_key": f"k{i}",
                "ts": r.get("ts", TS),
                "input": r.get("input", 0),
                "output": r.get("output", 0),
                "reasoning": r.get("reasoning", 0),
                "cache_read": r.get("cache_read", 0),
                "cache_write_5m": r.get("cache_write_5m", 0),
                "cache_write_1h": r.get("cache_write_1h", 0),
                "source_cost": r.get("source_cost"),
                "service_tier": r.get("service_tier"),
            }
        )
    return pl.DataFrame(full, schema=EVENT_SCHEMA).lazy()


@pytest.fixture(scope="module")
def table():
    return load_table([])


def costs(table, *rows: dict) -> list[float | None]:
    return price(events(*rows), table).collect()["cost"].to_list()


# --- the five worked examples of pricing.md §4.E ----------------------------------------------


def test_example_1_claude_5m_and_1h_writes(table) -> None:
    # 1,200x3 + 150,000x0.30 + 10,000x3.75 + 20,000x6 + 2,500x15 = 243,600 per M -> $0.2436
    row = dict(
        model="claude-sonnet-4-5-20250929",
        input=1_200,
        cache_read=150_000,
        cache_write_5m=10_000,
        cache_write_1h=20_000,
        output=2_500,
    )
    assert costs(table, row)[0] == pytest.approx(0.2436, abs=1e-12)


def test_example_2_codex_reasoning_inside_output(table) -> None:
    # Codex input 48,000 incl. cached 40,960 -> event input 7,040; output 1,800 incl. reasoning 1,024
    # 7,040x1.25 + 40,960x0.125 + 1,800x10 = 8,800 + 5,120 + 18,000 = 31,920 per M -> $0.03192
    row = dict(model="gpt-5-codex", provider="openai", client="codex", input=7_040, cache_read=40_960, output=1_800)
    assert costs(table, {**row, "reasoning": 1_024})[0] == pytest.approx(0.03192, abs=1e-12)


def test_example_3_gpt55_long_context_whole_request(table) -> None:
    # P = 300,000 > 272,000: 50,000x10 + 250,000x1 + 5,000x45 = 975,000 per M -> $0.975
    row = dict(model="gpt-5.5", provider="openai", client="codex", input=50_000, cache_read=250_000, output=5_000)
    assert costs(table, row)[0] == pytest.approx(0.975, abs=1e-12)


def test_example_4_gemini_long_context_with_thoughts(table) -> None:
    # reader: input = 300,000 - 100,000 cached; output = candidates 1,000 + thoughts 3,000 (reasoning 3,000)
    # P = 300,000 > 200k: 200,000x2.5 + 100,000x0.25 + 4,000x15 = 585,000 per M -> $0.585
    row = dict(
        model="gemini-2.5-pro",
        provider="google",
        client="gemini-cli",
        input=200_000,
        cache_read=100_000,
        output=4_000,
        reasoning=3_000,
    )
    assert costs(table, row)[0] == pytest.approx(0.585, abs=1e-12)


def test_example_5_glm_via_anthropic_style_usage(table) -> None:
    # 8,000x0.6 + 92,000x0.11 + 1,500x2.2 = 4,800 + 10,120 + 3,300 = 18,220 per M -> $0.01822
    row = dict(model="glm-4.6", input=8_000, cache_read=92_000, output=1_500)
    assert costs(table, row)[0] == pytest.approx(0.01822, abs=1e-12)


def test_examples_round_to_the_cent_together(table) -> None:
    rows = [
        dict(model="claude-sonnet-4-5-20250929", input=1_200, cache_read=150_000, cache_write_5m=10_000,
             cache_write_1h=20_000, output=2_500),
        dict(model="gpt-5-codex", provider="openai", input=7_040, cache_read=40_960, output=1_800, reasoning=1_024),
        dict(model="gpt-5.5", provider="openai", input=50_000, cache_read=250_000, output=5_000),
        dict(model="gemini-2.5-pro", provider="google", input=200_000, cache_read=100_000, output=4_000),
        dict(model="glm-4.6", input=8_000, cache_read=92_000, output=1_500),
    ]  # fmt: skip
    # 0.2436 + 0.03192 + 0.975 + 0.585 + 0.01822 = 1.85374 -> $1.85
    assert round(sum(costs(table, *rows)), 2) == 1.85


# --- rules ------------------------------------------------------------------------------------


def test_tier_threshold_is_strictly_greater_and_moves_every_bucket(table) -> None:
    # Sonnet 4.5, prompt exactly 200,000: base. 200,000 x $3 + 1,000 x $15 = $0.615
    at = dict(model="claude-sonnet-4-5", input=200_000, output=1_000)
    # one token more: every bucket at the tier: 200,001 x $6 + 1,000 x $22.50 = $1.222506
    above = dict(model="claude-sonnet-4-5", input=200_001, output=1_000)
    assert costs(table, at, above) == pytest.approx([0.615, 1.222506], abs=1e-12)


def test_tier_prompt_counts_cache_reads_and_writes(table) -> None:
    # input 1,000 + read 150,000 + write 5m 30,000 + write 1h 20,000 = 201,000 > 200k -> tier rates
    # 1,000x6 + 150,000x0.6 + 30,000x7.5 + 20,000x12 + 100x22.5 = 563,250 per M
    row = dict(
        model="claude-sonnet-4-5",
        input=1_000,
        cache_read=150_000,
        cache_write_5m=30_000,
        cache_write_1h=20_000,
        output=100,
    )
    assert costs(table, row)[0] == pytest.approx(0.56325, abs=1e-12)


def test_openai_272k_tier_edge(table) -> None:
    # gpt-5.5 at P = 272,000: base 272,000 x $5 = $1.36; at 272,001: 272,001 x $10 = $2.72001
    rows = [dict(model="gpt-5.5", provider="openai", input=n) for n in (272_000, 272_001)]
    assert costs(table, *rows) == pytest.approx([1.36, 2.72001], abs=1e-12)


def test_multi_tier_picks_the_highest_crossed(table) -> None:
    # qwen3-coder-plus tiers above 32k / 128k / 256k; P = 100,000 -> the 32k tier ($1.8 in, $9 out)
    # 100,000 x 1.8 + 1,000 x 9 = 189,000 per M; P = 300,000 -> 256k tier: 300,000 x 6 = $1.80
    rows = [
        dict(model="qwen3-coder-plus", provider="alibaba", input=100_000, output=1_000),
        dict(model="qwen3-coder-plus", provider="alibaba", input=300_000),
    ]
    assert costs(table, *rows) == pytest.approx([0.189, 1.8], abs=1e-12)


def test_5m_and_1h_writes_have_their_own_rates(table) -> None:
    # Sonnet 4.5: 100,000 5m writes x $3.75 = $0.375; 100,000 1h writes x $6 = $0.60
    rows = [
        dict(model="claude-sonnet-4-5", cache_write_5m=100_000),
        dict(model="claude-sonnet-4-5", cache_write_1h=100_000),
    ]
    assert costs(table, *rows) == pytest.approx([0.375, 0.6], abs=1e-12)


def test_reasoning_is_never_billed_twice(table) -> None:
    # gpt-5: output 10,000 of which reasoning 6,000 -> 10,000 x $10 = $0.10 (not 16,000 x $10)
    assert costs(table, dict(model="gpt-5", provider="openai", output=10_000, reasoning=6_000))[0] == pytest.approx(0.1)


def test_distinct_reasoning_rate_only_where_the_row_has_one(home: Path) -> None:
    over = home / "o.toml"
    over.write_text('[[price]]\nmodel = "thinker"\ninput = 1\noutput = 2\nreasoning = 8\n')
    tab = load_table([over])
    # (10,000 - 4,000) x $2 + 4,000 x $8 = 12,000 + 32,000 = 44,000 per M -> $0.044
    assert costs(tab, dict(model="thinker", output=10_000, reasoning=4_000))[0] == pytest.approx(0.044, abs=1e-12)


def test_priority_rates_for_openai_fast_and_priority(table) -> None:
    # gpt-5.5 priority: $12.50 in, $75 out, $1.25 cached (2.5x). 1M in + 100k out:
    # standard 1,000,000x5 ... but P = 1M > 272k -> long-context rates; use a small prompt instead:
    # 100,000 x 12.5 + 10,000 x 75 = 1,250,000 + 750,000 = 2,000,000 per M -> $2.00
    base = dict(model="gpt-5.5", provider="openai", client="codex", input=100_000, output=10_000)
    std, fast, prio = costs(table, base, {**base, "service_tier": "fast"}, {**base, "service_tier": "priority"})
    assert std == pytest.approx(0.8)  # 100,000 x 5 + 10,000 x 30 = 800,000 per M
    assert fast == pytest.approx(2.0) and prio == pytest.approx(2.0)


def test_claude_fast_mode_multiplier(table) -> None:
    # opus 4.8 fast = 2x: 10,000 x $5 + 1,000 x $25 = $0.075 -> $0.15
    base = dict(model="claude-opus-4-8", input=10_000, output=1_000)
    std, fast, prio = costs(table, base, {**base, "service_tier": "fast"}, {**base, "service_tier": "priority"})
    assert std == pytest.approx(0.075) and fast == pytest.approx(0.15)
    assert prio == pytest.approx(0.075)  # Anthropic "priority" has no list surcharge


def test_fast_suffix_in_the_name_means_fast_mode(table) -> None:
    # claude-opus-4-6-fast: Opus 4.6 rates x 6 (legacy table): (10,000 x 5 + 1,000 x 25) x 6 = $0.45
    row = dict(model="claude-opus-4-6-fast", input=10_000, output=1_000, service_tier="fast")
    assert costs(table, row)[0] == pytest.approx(0.45)  # fast in the name and the log: applied once


def test_dated_price_version(table) -> None:
    # Opus 4.6 before 2026-03-13 had a >200k tier ($10 in); after, flat $5.
    before = dict(model="claude-opus-4-6", input=300_000, ts=datetime(2026, 3, 12, 23, tzinfo=UTC))
    after = dict(model="claude-opus-4-6", input=300_000, ts=datetime(2026, 3, 13, 0, tzinfo=UTC))
    small = dict(model="claude-opus-4-6", input=100_000, ts=datetime(2026, 3, 1, tzinfo=UTC))
    # 300,000 x 10 = $3.00; 300,000 x 5 = $1.50; 100,000 x 5 = $0.50
    assert costs(table, before, after, small) == pytest.approx([3.0, 1.5, 0.5])


def test_unknown_model_is_null_never_zero_and_source_cost_is_kept(table) -> None:
    frame = price(
        events(
            dict(model="claude-sonnet-4-7", input=1_000),
            dict(model="mystery-model", input=1_000, source_cost=0.42),
            dict(model="claude-sonnet-4-5", input=1_000, source_cost=9.99),
        ),
        table,
    ).collect()
    assert frame["cost"].to_list()[0] is None
    assert frame["price_state"].cast(pl.String).to_list() == ["unpriced", "source", "priced"]
    assert frame["cost"].to_list()[1] == pytest.approx(0.42)
    # computed list price wins; the logged cost stays beside it: 1,000 x $3 = $0.003
    assert frame["cost"].to_list()[2] == pytest.approx(0.003)
    assert frame["source_cost"].to_list()[2] == pytest.approx(9.99)


def test_report_totals_are_a_lower_bound(table) -> None:
    priced = price(
        events(
            dict(model="claude-sonnet-4-5", input=100_000),  # 100,000 x $3 = $0.30
            dict(model="nobody-knows", input=5),
            dict(model="nobody-knows", input=5),
        ),
        table,
    )
    rows, totals = aggregate(priced, Query(by=["model"], period="all"), date(2026, 11, 2))
    assert totals["cost"] == pytest.approx(0.3) and totals["unpriced_turns"] == 2
    unknown = rows.filter(pl.col("model") == "nobody-knows").row(0, named=True)
    assert unknown["cost"] is None and unknown["unpriced_turns"] == 2


def test_breakdown_columns_add_up(table) -> None:
    row = dict(model="claude-sonnet-4-5", input=1_000, output=1_000, cache_read=1_000, cache_write_1h=1_000)
    f = price(events(row), table, breakdown=True).collect().row(0, named=True)
    # 1,000 x (3 + 15 + 0.3 + 6) = $0.0243
    assert f["cost"] == pytest.approx(0.0243)
    parts = (f["cost_input"], f["cost_output"], f["cost_cache_read"], f["cost_cache_write"])
    assert parts == pytest.approx((0.003, 0.015, 0.0003, 0.006))


def test_empty_and_all_unknown_frames(table) -> None:
    empty = price(pl.DataFrame(schema=EVENT_SCHEMA).lazy(), table).collect()
    assert empty.height == 0 and {"cost", "price_state"} <= set(empty.columns)
    unknown = price(events(dict(model="zzz", input=3)), table).collect()
    assert unknown["cost"].to_list() == [None] and unknown["cost"].dtype == pl.Float64


def test_bundle_claude_and_openai_first_party_rows_price_to_list_arithmetic(table) -> None:
    """Every Claude/OpenAI row of the bundle: vectorised cost == the row's own rates by hand."""
    keys = [k for k, e in table.models.items() if e["p"] in ("anthropic", "openai") and "/" not in k]
    assert len(keys) > 100
    mix = dict(input=1_234, output=5_678, reasoning=0, cache_read=91_011, cache_write_5m=1_213, cache_write_1h=1_415)
    frame = price(events(*[dict(model=k, **mix) for k in keys]), table).collect()
    for key, cost in zip(frame["model"].to_list(), frame["cost"].to_list(), strict=True):
        r = table.entry(key).current.std.at(-1)  # P = 96,551: below every threshold in these rows
        expect = 1_234 * r[0] + 5_678 * r[1] + 91_011 * r[2] + 1_213 * r[3] + 1_415 * r[4]
        assert cost == pytest.approx(expect, rel=1e-12), key
        assert round(cost, 2) == round(expect, 2)


# --- name resolution --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "provider", "key", "kind"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929", "exact"),
        ("Claude-Sonnet-4-5", None, "claude-sonnet-4-5", "exact"),  # case
        ("anthropic/claude-sonnet-4.5", "openrouter", "claude-sonnet-4-5", "normalised"),  # prefix + dot
        ("claude-3.5-haiku", None, "claude-3-5-haiku", "normalised"),  # dots -> dashes, legacy row
        ("gpt-5-5", None, "gpt-5.5", "normalised"),  # dashes -> dots
        ("claude-sonnet-4-6-20260101", None, "claude-sonnet-4-6", "normalised"),  # date suffix
        ("gpt-5-codex-2025-09-15", None, "gpt-5-codex", "normalised"),  # ISO date suffix
        ("claude-sonnet-4-5@20250929", "vertex", "claude-sonnet-4-5", "normalised"),  # Vertex @date
        ("claude-opus-4-6-fast", None, "claude-opus-4-6", "normalised"),  # -fast
        ("gpt-5-high", None, "gpt-5", "normalised"),  # effort suffix
        ("gpt-5.1-codex (high)", None, "gpt-5.1-codex", "normalised"),  # effort decoration
        ("claude-sonnet-4-5[1m]", None, "claude-sonnet-4-5", "normalised"),  # context marker
        ("global.anthropic.claude-opus-4-7-v1:0", "bedrock", "claude-opus-4-7", "normalised"),  # Bedrock id
        ("claude-opus-4-1-20250805", None, "claude-opus-4-1", "alias"),  # retired model, legacy table
        ("gemini-2.5-pro", "google", "gemini-2.5-pro", "exact"),  # first-party row, not Vertex's
        (
            "accounts/fireworks/models/code-llama-13b",
            "fireworks",
            "fireworks_ai/accounts/fireworks/models/code-llama-13b",
            "provider-qualified",
        ),
    ],
)
def test_resolution(table, raw: str, provider: str | None, key: str, kind: str) -> None:
    res = table.resolve(raw, provider)
    assert (res.key, res.kind) == (key, kind), res.detail


def test_first_party_row_preferred_over_reseller(table) -> None:
    # LiteLLM's bare "gemini-2.5-pro" key is a Vertex row; the table keeps Google's own one.
    assert table.models["gemini-2.5-pro"]["p"] == "gemini"
    # claude-3-5-haiku exists only as a Vertex row at $1/$5 in LiteLLM; list price was $0.80/$4
    assert table.resolve("claude-3-5-haiku-20241022").entry.current.std.base[:2] == pytest.approx((8e-07, 4e-06))


@pytest.mark.parametrize(
    "raw",
    [
        "claude-sonnet-4-7",  # not claude-sonnet-4-5 / 4-6
        "claude-sonnet-4-5-extended",  # an unknown suffix is not stripped
        "gpt-5.5-turbo",
        "gpt-5.2-codex-max",  # never gpt-5.2-codex
        "kimi-k2-thinking-turbo",  # never kimi-k2-thinking
        "grok-4-fast",  # -fast is only a decoration for Claude/GPT names
        "claude-sonnet-4-5-2025",  # not a date
        "sonnet",
    ],
)
def test_near_misses_do_not_match(table, raw: str) -> None:
    res = table.resolve(raw)
    assert res.entry is None and res.kind == "unpriced", f"{raw} matched {res.key} ({res.detail})"


def test_name_variants_never_touch_dates() -> None:
    names = [n for n, _ in name_variants("claude-3-5-sonnet-20241022")]
    assert names == [
        "claude-3-5-sonnet-20241022",
        "claude-3.5-sonnet-20241022",
        "claude-3-5-sonnet",
        "claude-3.5-sonnet",
    ]


def test_resolution_runs_once_per_distinct_model(table, monkeypatch: pytest.MonkeyPatch) -> None:
    tab = load_table([])
    calls: list[str] = []
    real = tab.lookup
    monkeypatch.setattr(tab, "lookup", lambda raw, provider=None: calls.append(raw) or real(raw, provider))
    rows = [dict(model="claude-sonnet-4-5", input=i) for i in range(50)] + [dict(model="gpt-5", input=1)] * 50
    price(events(*rows), tab).collect()
    assert sorted(calls) == ["claude-sonnet-4-5", "gpt-5"]


def test_provider_dependent_resolution_uses_the_pair(table) -> None:
    # the same raw name resolves differently per provider: priced via fireworks only
    raw = "accounts/fireworks/models/code-llama-13b"
    frame = price(events(dict(model=raw, provider="fireworks", input=1), dict(model=raw, provider="x", input=1)), table)
    assert frame.collect()["price_state"].cast(pl.String).to_list() == ["priced", "unpriced"]


# --- overrides --------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_user_override_file_and_cli_file_precedence(home: Path) -> None:
    write(
        user_overrides_path(),
        '[[price]]\nmodel = "my-proxy/*"\ninput = 1\noutput = 1\n\n'
        '[[price]]\nmodel = "my-proxy/claude-*"\nalias = "claude-sonnet-4-5"\n',
    )
    extra = write(home / "extra.toml", '[[price]]\nmodel = "my-proxy/special"\ninput = 0\noutput = 0\n')
    tab = load_table([user_overrides_path(), extra])
    rows = [
        dict(model="my-proxy/claude-x", input=100_000),  # longest glob: as Sonnet 4.5, 100k x $3 = $0.30
        dict(model="my-proxy/other", input=100_000),  # shorter glob: 100k x $1 = $0.10
        dict(model="my-proxy/special", input=100_000),  # exact, later file: 0 is a price
    ]
    frame = price(events(*rows), tab).collect()
    assert frame["cost"].to_list() == pytest.approx([0.3, 0.1, 0.0])
    assert frame["price_state"].cast(pl.String).to_list() == ["priced"] * 3


def test_later_file_wins_a_tie(home: Path) -> None:
    a = write(home / "a.toml", '[[price]]\nmodel = "x-*"\ninput = 1\noutput = 1\n')
    b = write(home / "b.toml", '[[price]]\nmodel = "x-*"\ninput = 2\noutput = 2\n')
    assert costs(load_table([a, b]), dict(model="x-1", input=1_000_000)) == pytest.approx([2.0])


def test_override_inherits_missing_fields(home: Path) -> None:
    over = write(home / "o.toml", '[[price]]\nmodel = "claude-sonnet-4-5"\ninput = 2.5\n')
    tab = load_table([over])
    # input overridden to $2.50, output inherited $15: 100k x 2.5 + 100k x 15 = $1.75
    row = dict(model="claude-sonnet-4-5-20250929", input=100_000, output=100_000)
    assert costs(tab, row) == pytest.approx([1.75])
    assert tab.resolve("claude-sonnet-4-5-20250929").kind == "override"


def test_override_multiplier_and_tiers(home: Path) -> None:
    over = write(
        home / "o.toml",
        '[[price]]\nmodel = "mine"\ninput = 1\noutput = 2\nmultiplier = 1.1\ntiers = [{above = 1000, input = 3}]\n',
    )
    tab = load_table([over])
    # 1,000 x 1 x 1.1 = $0.0011; P = 1,001 -> tier: 1,001 x 3 x 1.1 = $0.0033033
    rows = [dict(model="mine", input=1_000), dict(model="mine", input=1_001)]
    assert costs(tab, *rows) == pytest.approx([0.0011, 0.0033033], abs=1e-15)


@pytest.mark.parametrize(
    "text",
    [
        '[[price]]\nmodel = "new-model"\ninput = 1\n',  # unknown model without output
        '[[price]]\nmodel = "x"\ninput = -1\noutput = 1\n',  # negative
        '[[price]]\nmodel = "x"\nalias = "no-such-model"\n',  # alias to nothing
        "[[price]]\ninput = 1\n",  # no model
        "[[price\n",  # bad TOML
    ],
)
def test_bad_override_files_are_errors(home: Path, text: str) -> None:
    over = write(home / "bad.toml", text)
    with pytest.raises(PriceFileError):
        tab = load_table([over])
        price(events(dict(model="new-model"), dict(model="x")), tab).collect()


def test_apply_pricing_reports_bad_overrides_and_unpriced_models(home: Path) -> None:
    write(user_overrides_path(), '[[price]]\nmodel = "x"\ninput = -1\noutput = 1\n')
    frame, notes = apply_pricing(events(dict(model="claude-sonnet-4-5", input=100_000), dict(model="zz-top")))
    assert frame.collect()["cost"].to_list()[0] == pytest.approx(0.3)  # 100k x $3
    assert any("overrides ignored" in n for n in notes)
    assert any("zz-top" in n and "prices missing" in n for n in notes)


def test_price_detail_lists_resolutions(table) -> None:
    _, res = price_detail(events(dict(model="gpt-5"), dict(model="nope")), table)
    assert {(r.model, r.kind) for r in res} == {("gpt-5", "exact"), ("nope", "unpriced")}


def test_plain_string_columns_and_missing_optional_columns(table) -> None:
    # a frame with String model/provider and without service_tier / source_cost still prices
    frame = (
        events(
            dict(model="claude-sonnet-4-5", input=1_000),  # 1,000 x $3 = $0.003
            dict(model="accounts/fireworks/models/code-llama-13b", provider="fireworks", input=1_000),
            dict(model="accounts/fireworks/models/code-llama-13b", provider="x", input=1_000),
        )
        .with_columns(pl.col("model", "provider").cast(pl.String))
        .drop("service_tier", "source_cost")
    )
    out = price(frame, table).collect()
    assert out["cost"].to_list()[0] == pytest.approx(0.003)
    assert out["price_state"].cast(pl.String).to_list() == ["priced", "priced", "unpriced"]


def test_one_frame_mixing_tiers_versions_and_variants_equals_one_by_one(table) -> None:
    """Shared threshold/time grids: each row priced in a mixed frame as when priced alone."""
    early, late = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        dict(model="claude-opus-4-6", input=250_000, output=10, ts=early),  # old tier: 250k x 10 + 10 x 37.5
        dict(model="claude-opus-4-6", input=250_000, output=10, ts=late),  # flat again
        dict(model="claude-sonnet-4-5", input=199_999, cache_read=2, ts=early),  # 200,001 > 200k
        dict(model="gpt-5.5", provider="openai", input=250_000, output=10),  # 250k < 272k: base
        dict(model="gpt-5.5", provider="openai", input=280_000, output=10, service_tier="priority"),
        dict(model="qwen3-coder-plus", provider="alibaba", input=130_000, output=10),  # 128k tier
        dict(model="claude-opus-4-8", input=210_000, output=10, service_tier="fast"),  # no tier, x2
        dict(model="nope", input=1),
    ]
    together = costs(table, *rows)
    alone = [costs(table, r)[0] for r in rows]
    assert together == pytest.approx(alone, rel=1e-12)
    # spot checks by hand ($ per M): 250,000x10 + 10x37.5 = 2,500,375 -> $2.500375
    assert together[0] == pytest.approx(2.500375)
    # 250,000x5 + 10x25 = 1,250,250 -> $1.25025
    assert together[1] == pytest.approx(1.25025)
    # priority above 272k: 280,000 x 25 + 10 x 112.5 = 7,001,125 -> $7.001125
    assert together[4] == pytest.approx(7.001125)
    # (210,000 x 5 + 10 x 25) x 2 = $2.1005
    assert together[6] == pytest.approx(2.1005)
    assert together[7] is None


def test_token_less_row_with_logged_cost_takes_the_logged_cost(table) -> None:
    # session-total style rows: no tokens, a logged cost -> "source", never a computed $0
    frame = price(
        events(dict(model="claude-sonnet-4-5", source_cost=1.25), dict(model="claude-sonnet-4-5")),
        table,
    ).collect()
    assert frame["cost"].to_list() == [1.25, 0.0]  # no tokens and no logged cost: a real $0
    assert frame["price_state"].cast(pl.String).to_list() == ["source", "priced"]


# --- client names that must price (issue 11 item 7) --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "provider", "key"),
    [
        ("anthropic/claude-4-6-sonnet", None, "claude-sonnet-4-6"),  # family and version reversed
        ("claude-4-5-opus", None, "claude-opus-4-5"),
        ("claude-4.5-haiku", None, "claude-haiku-4-5"),
        ("k3", "moonshot", "kimi-k3"),  # Kimi's short name
        ("K2.6", None, "kimi-k2.6"),
    ],
)
def test_client_spellings_resolve(table, raw: str, provider: str | None, key: str) -> None:
    res = table.resolve(raw, provider)
    assert (res.key, res.kind) == (key, "normalised"), res.detail


@pytest.mark.parametrize("raw", ["claude-4-7-sonnet", "k9", "claude-4-6-sonnet-extended"])
def test_reordered_names_never_degrade(table, raw: str) -> None:
    # no Sonnet 4.7 exists: the reversed spelling must not fall back to another version
    assert table.resolve(raw).entry is None


def at_day(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_codex_auto_review_prices_as_the_codex_model_of_its_day(table) -> None:
    # ccusage adapter/codex/codex-auto-review-fallbacks.json: the newest model released on or
    # before the turn's date. 100k uncached input (below every tier) at each model's input rate (prices.json):
    days = {
        "2025-07-01": 0.125,  # before the first release: the oldest entry (gpt-5, $1.25/M)
        "2025-12-10": 0.125,  # gpt-5.1-codex ($1.25/M)
        "2025-12-11": 0.175,  # gpt-5.2-codex ($1.75/M)
        "2026-02-04": 0.175,  # still gpt-5.2-codex
        "2026-02-05": 0.175,  # gpt-5.3-codex ($1.75/M as well)
        "2026-03-05": 0.250,  # gpt-5.4 ($2.50/M)
        "2026-04-22": 0.250,
        "2026-04-23": 0.500,  # gpt-5.5 ($5/M)
    }
    rows = [dict(model="codex-auto-review", provider="openai", input=100_000, ts=at_day(d)) for d in days]
    assert costs(table, *rows) == pytest.approx(list(days.values()))
    assert table.resolve("codex-auto-review").kind == "alias"


def test_kimi_for_coding_prices_as_k2_5_then_k2_6(table) -> None:
    # ccusage docs/guide/kimi + adapter/kimi/parser.rs: K2.5 before 2026-04-20T15:28:10.072Z, K2.6 from then.
    # 1M uncached input: K2.5 $0.60/M, K2.6 $0.95/M (prices.json)
    before = dict(model="kimi-for-coding", provider="moonshot", input=1_000_000, ts=at_day("2026-04-20T15:28:10.071"))
    after = dict(model="kimi-for-coding", provider="moonshot", input=1_000_000, ts=at_day("2026-04-20T15:28:10.072"))
    assert costs(table, before, after) == pytest.approx([0.60, 0.95])
