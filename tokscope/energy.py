"""An opt-in energy estimate: watt-hours per turn from its output tokens and its model's class.

An order of magnitude, labelled as one everywhere it is shown: the coefficients
(``tokscope/data/energy.toml``) come from EcoLogits' published methodology, each with its
source, and count output tokens only. A model in no class has no estimate (null, never 0).
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

DATA = Path(__file__).parent / "data" / "energy.toml"

#: What every figure is called where it is shown.
LABEL = "order of magnitude, output tokens only (EcoLogits)"


@dataclass(frozen=True)
class EnergyClass:
    """A class of models and its energy range per 1,000 output tokens (Wh)."""

    name: str
    match: tuple[str, ...]
    low: float
    high: float
    source: str


@cache
def classes() -> tuple[EnergyClass, ...]:
    """The bundled classes, in match order."""
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    return tuple(
        EnergyClass(c["name"], tuple(c["match"]), *map(float, c["wh_per_1k_output"]), c["source"])
        for c in data["class"]
    )


def class_of(model: str) -> EnergyClass | None:
    """The first class whose pattern matches ``model`` (lower-case, provider prefix dropped)."""
    name = model.lower().rsplit("/", 1)[-1]
    for energy_class in classes():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in energy_class.match):
            return energy_class
    return None


def with_energy(events: pl.LazyFrame) -> pl.LazyFrame:
    """``events`` with ``energy_wh_min`` / ``energy_wh_max`` per turn (null where the model has no class).

    Each distinct model is classified once; the rest is column arithmetic.
    """
    models = events.select(pl.col("model").cast(pl.String).unique()).collect().to_series().to_list()
    low, high = {}, {}
    for model in models:
        found = class_of(model or "")
        if found is not None:
            low[model], high[model] = found.low / 1000, found.high / 1000
    name = pl.col("model").cast(pl.String)
    return events.with_columns(
        (pl.col("output") * name.replace_strict(low, default=None, return_dtype=pl.Float64)).alias("energy_wh_min"),
        (pl.col("output") * name.replace_strict(high, default=None, return_dtype=pl.Float64)).alias("energy_wh_max"),
    )


def energy_text(low: float | None, high: float | None) -> str:
    """``≈ 120 Wh–1.2 kWh`` (``—`` when unknown)."""
    if low is None or high is None:
        return "—"

    def unit(wh: float) -> str:
        for scale, name in ((1e6, "MWh"), (1e3, "kWh"), (1.0, "Wh")):
            if wh >= scale or name == "Wh":
                value = wh / scale
                return f"{value:.0f} {name}" if value >= 10 else f"{value:.1f} {name}"
        raise AssertionError("unreachable")

    return f"≈ {unit(low)}–{unit(high)}"
