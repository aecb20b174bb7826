"""Synthetic (synthetic.new) is a gateway, not a client: its model ids get a provider rule and a price-name rule."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from tokscope.readers.providers import infer_provider, provider_name

from tokscope.events import EVENT_SCHEMA
from tokscope.pricing import load_table, name_variants, price

TS = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def table():
    return load_table([])


def cost(table, model: str, provider: str) -> float | None:
    row = {
        "device_id": "dev",
        "client": "opencode",
        "provider": provider,
        "model": model,
        "workspace": "/w",
        "session_id": "s",
        "agent": None,
        "event_key": "k",
        "ts": TS,
        "input": 10_000,
        "output": 2_000,
        "reasoning": 0,
        "cache_read": 50_000,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "source_cost": None,
        "service_tier": None,
    }
    return price(pl.DataFrame([row], schema=EVENT_SCHEMA).lazy(), table).collect()["cost"][0]


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("hf:deepseek-ai/DeepSeek-V3-0324", "synthetic"),
        ("hf:zai-org/GLM-4.7", "synthetic"),
        ("accounts/fireworks/models/kimi-k2p5", "synthetic"),
        ("HF:moonshotai/Kimi-K2.5", "synthetic"),
        ("claude-sonnet-4-5", "anthropic"),  # not a gateway id
        ("deepseek-ai/DeepSeek-V3", "deepseek"),  # an org prefix alone is not Synthetic's
    ],
)
def test_provider_rule(model: str, provider: str) -> None:
    assert infer_provider(model) == provider


def test_logged_provider_still_wins_and_old_names_fold() -> None:
    assert infer_provider("accounts/fireworks/models/kimi-k2p5", "fireworks") == "fireworks"
    assert provider_name("glhf") == provider_name("synthetic.new") == provider_name("Octofriend") == "synthetic"


@pytest.mark.parametrize(
    ("gateway_id", "underlying"),
    [
        ("hf:zai-org/GLM-4.7", "glm-4.7"),
        ("hf:moonshotai/Kimi-K2.5", "kimi-k2.5"),
        ("hf:glm-4.7", "glm-4.7"),  # no org
        ("accounts/fireworks/models/kimi-k2p5", "kimi-k2.5"),  # Fireworks writes the point as p
        ("accounts/fireworks/models/glm-4p7", "glm-4.7"),
    ],
)
def test_priced_as_the_underlying_model(table, gateway_id: str, underlying: str) -> None:
    res = table.resolve(gateway_id, "synthetic")
    assert res.key == underlying and res.kind == "normalised"
    assert "dropped gateway prefix" in res.detail
    expected = cost(table, underlying, "zai" if underlying.startswith("glm") else "moonshot")
    assert expected is not None and expected > 0
    assert cost(table, gateway_id, "synthetic") == pytest.approx(expected, rel=1e-12)


def test_a_fireworks_only_listing_needs_the_fireworks_provider(table) -> None:
    # no bare entry: the host-qualified price applies only where the row names Fireworks as provider
    raw = "accounts/fireworks/models/deepseek-coder-v2-instruct"
    assert table.resolve(raw, "fireworks").key == "fireworks_ai/" + raw
    assert table.resolve(raw, "synthetic").key is None


def test_no_fuzzy_match_for_an_unknown_gateway_model(table) -> None:
    assert table.resolve("hf:nobody/not-a-model-9000", "synthetic").key is None


def test_variants_name_the_step() -> None:
    names = [n for n, _ in name_variants("hf:deepseek-ai/DeepSeek-V3-0324")]
    assert names[:3] == ["hf:deepseek-ai/deepseek-v3-0324", "deepseek-ai/deepseek-v3-0324", "deepseek-v3-0324"]
    assert "kimi-k2.5" in [n for n, _ in name_variants("accounts/fireworks/models/kimi-k2p5")]
