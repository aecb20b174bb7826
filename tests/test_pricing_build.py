"""The compiler from LiteLLM's JSON to tokscope's compact table (``tokscope.pricing.build.build_table``)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tokscope.pricing import entry_from_compact
from tokscope.pricing.build import BUNDLED, LEGACY, build_table, dump_table, load_legacy

LITELLM = {
    "sample_spec": {"mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
    # first-party Anthropic row with 5m/1h writes and fast mode
    "claude-x-1": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "provider_specific_entry": {"us": 1.1, "fast": 2.0},
    },
    # reseller row under the bare name of a first-party prefixed row: the first party wins
    "gem-pro": {
        "litellm_provider": "vertex_ai-language-models",
        "mode": "chat",
        "input_cost_per_token": 9e-06,
        "output_cost_per_token": 9e-05,
    },
    "gemini/gem-pro": {
        "litellm_provider": "gemini",
        "mode": "chat",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07,
        "input_cost_per_token_above_200k_tokens": 2.5e-06,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
        "input_cost_per_token_priority": 2.25e-06,
        "output_cost_per_token_priority": 1.8e-05,
    },
    # no cache prices: read falls back to input (flagged), writes to input
    "openai-y": {"litellm_provider": "openai", "mode": "responses", "input_cost_per_token": 2e-06,
                 "output_cost_per_token": 8e-06},
    # Moonshot: missing 1h write = 2x input
    "moonshot/kimi-z": {"litellm_provider": "moonshot", "mode": "chat", "input_cost_per_token": 6e-07,
                        "output_cost_per_token": 2.5e-06, "cache_read_input_token_cost": 1.5e-07},
    # dropped: subscription route, non-chat mode, no prices, free reseller route
    "github_copilot/gpt-5": {"litellm_provider": "github_copilot", "mode": "chat", "input_cost_per_token": 0,
                             "output_cost_per_token": 0},
    "embed-1": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 1e-07,
                "output_cost_per_token": 0},
    "no-price": {"litellm_provider": "openai", "mode": "chat"},
    "freebie/model": {"litellm_provider": "freebie", "mode": "chat", "input_cost_per_token": 0,
                      "output_cost_per_token": 0},
    # tiered_pricing bands (dashscope)
    "dashscope/qwen-q": {
        "litellm_provider": "dashscope",
        "mode": "chat",
        "tiered_pricing": [
            {"input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06, "range": [0, 32000.0]},
            {"input_cost_per_token": 1.8e-06, "output_cost_per_token": 9e-06, "range": [32000.0, 128000.0]},
        ],
    },
    # distinct reasoning rate
    "dashscope/qwen-r": {"litellm_provider": "dashscope", "mode": "chat", "input_cost_per_token": 4e-07,
                         "output_cost_per_token": 1.2e-06, "output_cost_per_reasoning_token": 4e-06},
}  # fmt: skip

LEGACY_ROWS = {
    "model": [
        {"key": "claude-old", "provider": "anthropic", "source": "https://example/old", "input": 15.0, "output": 75.0,
         "aliases": ["claude-old-20240101"]},
        # fills a gap (a tier) under LiteLLM's row; LiteLLM's own rates stay
        {"key": "claude-x-1", "provider": "anthropic", "source": "https://example/tier", "input": 99.0,
         "tiers": [{"above": 200000, "input": 6.0, "output": 22.5}]},
        # an older dated version of claude-x-1
        {"key": "claude-x-1", "provider": "anthropic", "source": "https://example/dated", "input": 4.0,
         "output": 20.0, "valid_until": date(2026, 3, 13)},
        # gap row for a model this LiteLLM copy lacks: ignored
        {"key": "not-upstream", "source": "https://example/none", "fast": 6.0},
    ],
    "aliases": {"old-claude": "claude-old"},
}  # fmt: skip


@pytest.fixture(scope="module")
def built() -> dict:
    return build_table(LITELLM, LEGACY_ROWS, meta={"source": "test"})


def test_keeps_chat_rows_with_prices_only(built: dict) -> None:
    models = built["models"]
    assert "github_copilot/gpt-5" not in models and "embed-1" not in models
    assert "no-price" not in models and "freebie/model" not in models and "sample_spec" not in models
    assert "not-upstream" not in models


def test_first_party_preferred_and_prefixed_spelling_aliased(built: dict) -> None:
    assert built["models"]["gem-pro"]["p"] == "gemini"
    assert built["models"]["gem-pro"]["k"] == "gemini/gem-pro"
    assert built["aliases"]["gemini/gem-pro"] == "gem-pro"  # stored once


def test_rates_tiers_priority_and_fallbacks(built: dict) -> None:
    m = built["models"]
    assert m["claude-x-1"]["r"] == [3e-06, 1.5e-05, 3e-07, 3.75e-06, 6e-06]
    assert m["claude-x-1"]["fast"] == 2.0
    gem = m["gem-pro"]
    # missing tier cache rates scale with the tier's input (x2); missing writes = input
    assert gem["r"] == [1.25e-06, 1e-05, 1.25e-07, 1.25e-06, 1.25e-06]
    assert gem["t"] == [[200000, 2.5e-06, 1.5e-05, 2.5e-07, 2.5e-06, 2.5e-06]]
    assert gem["pr"]["r"][:2] == [2.25e-06, 1.8e-05]
    assert m["openai-y"]["r"] == [2e-06, 8e-06, 2e-06, 2e-06, 2e-06] and m["openai-y"]["est"] == ["cr"]
    assert m["kimi-z"]["r"][4] == pytest.approx(1.2e-06)  # 2 x input for Moonshot 1h writes
    assert m["qwen-q"]["r"][:2] == [1e-06, 5e-06] and m["qwen-q"]["t"][0][:3] == [32000, 1.8e-06, 9e-06]
    assert m["qwen-r"]["rz"] == 4e-06


def test_legacy_rows_fill_gaps_add_models_and_dated_versions(built: dict) -> None:
    m = built["models"]
    assert m["claude-old"]["r"][:2] == [1.5e-05, 7.5e-05] and m["claude-old"]["src"] == "https://example/old"
    assert built["aliases"]["claude-old-20240101"] == "claude-old" and built["aliases"]["old-claude"] == "claude-old"
    x = m["claude-x-1"]
    assert x["r"][0] == 3e-06  # LiteLLM wins where both have a rate
    assert x["t"][0][:3] == [200000, 6e-06, 2.25e-05]  # the gap (a tier) is filled
    assert x["from"] == "2026-03-13" and x["v"][0]["r"][:2] == [4e-06, 2e-05]
    entry = entry_from_compact("claude-x-1", x)
    assert [v.start.date().isoformat() if v.start else None for v in entry.versions] == [None, "2026-03-13"]
    assert "https://example/dated" in entry.sources and "https://example/tier" in entry.sources


def test_dump_is_valid_compact_json(built: dict) -> None:
    text = dump_table(built).decode()
    assert json.loads(text) == json.loads(json.dumps(built))
    assert text.count("\n") > len(built["models"])  # one model per line, diff-friendly


def test_bundled_table_is_built_from_litellm_and_legacy() -> None:
    data = json.loads(BUNDLED.read_text())
    meta = data["_meta"]
    assert meta["format"] == 1 and meta["litellm_version"] and len(meta["sha256"]) == 64
    assert len(data["models"]) > 2_000
    legacy = load_legacy(LEGACY)
    for row in legacy["model"]:
        assert row.get("source", "").startswith("https://"), row["key"]  # every hand-kept row has a source
    assert "claude-opus-4-1" in data["models"]  # pruned upstream, kept by the legacy table
    assert (BUNDLED.parent / "NOTICE").read_text().count("MIT License") == 1
