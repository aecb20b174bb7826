"""The opt-in energy estimate: classes with sources, Wh from output tokens, unknown never 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokscope.energy import class_of, classes, energy_text


def test_models_fall_in_the_expected_class() -> None:
    assert class_of("claude-sonnet-4-5-20250929").name == "large"
    assert class_of("anthropic/claude-haiku-4-5").name == "small"
    assert class_of("claude-opus-4-1").name == "frontier"
    assert class_of("gpt-5-mini").name == "small" and class_of("gpt-5").name == "large"
    assert class_of("gemini-2.5-pro").name == "frontier" and class_of("gemini-2.5-flash").name == "large"
    assert class_of("my-local-model") is None


def test_every_coefficient_names_its_source() -> None:
    for energy_class in classes():
        assert "EcoLogits" in energy_class.source and 0 < energy_class.low < energy_class.high


def test_energy_text_reads_as_a_range() -> None:
    assert energy_text(120.0, 1200.0) == "≈ 120 Wh–1.2 kWh"
    assert energy_text(0.5, 3.2) == "≈ 0.5 Wh–3.2 Wh"
    assert energy_text(2.5e6, 9e6) == "≈ 2.5 MWh–9.0 MWh"
    assert energy_text(None, None) == "—"


def test_report_energy_is_output_times_the_class_coefficient(home: Path, capsys: pytest.CaptureFixture) -> None:
    from tokscope.cli import main

    folder = home / ".claude" / "projects" / "-w"
    folder.mkdir(parents=True)
    lines = []
    for i, (model, out) in enumerate([("claude-sonnet-4-5", 10_000), ("claude-haiku-4-5", 5_000), ("mystery-9", 7)]):
        usage = {"input_tokens": 1, "output_tokens": out}
        lines.append(
            json.dumps(
                {"type": "assistant", "sessionId": "s", "timestamp": f"2026-11-01T10:0{i}:00Z", "requestId": f"r{i}",
                 "message": {"id": f"m{i}", "model": model, "usage": usage}}
            )
        )
    (folder / "s.jsonl").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["report", "--period", "all", "--format", "json", "--by", "model", "--energy"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["model"]: r for r in data["rows"]}
    large, small = class_of("claude-sonnet-4-5"), class_of("claude-haiku-4-5")
    assert rows["claude-sonnet-4-5"]["energy_wh_min"] == pytest.approx(10 * large.low)
    assert rows["claude-haiku-4-5"]["energy_wh_max"] == pytest.approx(5 * small.high)
    assert rows["mystery-9"]["energy_wh_min"] is None  # unknown, never 0
    assert data["totals"]["energy_wh_min"] == pytest.approx(10 * large.low + 5 * small.low)
    assert main(["report", "--period", "all", "--format", "json", "--no-scan"]) == 0
    assert "energy_wh_min" not in json.loads(capsys.readouterr().out)["totals"]  # opt-in only
