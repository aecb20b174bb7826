"""Build tokscope's compact price table from LiteLLM's ``model_prices_and_context_window.json``.

One code path: ``tokscope prices update`` and the bundled ``tokscope/data/prices.json`` both come
from :func:`build_table`. The compact table keeps chat/responses rows and token prices only, prefers
first-party rows over resellers, applies the fallback rules of pricing.md §3.2 (so the runtime math
never meets a missing rate) and merges the hand-kept ``legacy_prices.toml`` under LiteLLM.

Compact entry (all rates USD per token)::

    {"p": provider, "k": litellm key, "r": [in, out, cache_read, cache_write_5m, cache_write_1h],
     "t": [[above, in, out, cr, cw5, cw1h], ...],   # whole-request tiers (prompt > above)
     "rz": reasoning_out,                            # only where it differs from out
     "pr": {"r": [...], "t": [...]},                 # priority rates (service_tier priority / fast)
     "fast": 2.0,                                    # fast-mode multiplier (Claude)
     "est": ["cr"],                                  # rates filled by a fallback rule
     "src": url,                                     # where a hand-kept row comes from
     "gap": [url, ...],                              # sources of gaps the legacy table filled
     "v": [{"from": "YYYY-MM-DD", ...rate fields}]}  # older dated versions (valid until the next)

``python -m tokscope.pricing.build LITELLM.json`` rewrites the bundled table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import tomllib
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

UPSTREAM_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
DATA_DIR = Path(__file__).parent.parent / "data"
BUNDLED = DATA_DIR / "prices.json"
LEGACY = DATA_DIR / "legacy_prices.toml"
FORMAT = 1

#: Providers whose rows are the labs' own list prices; everything else is a reseller.
FIRST_PARTY: tuple[str, ...] = (
    "anthropic",
    "openai",
    "gemini",
    "deepseek",
    "dashscope",
    "moonshot",
    "xai",
    "mistral",
    "zai",
    "minimax",
    "codestral",
)
#: Subscription routes priced $0 in LiteLLM: never a list price.
DROPPED_PROVIDERS: frozenset[str] = frozenset({"github_copilot", "chatgpt", "microsoft_365_copilot"})
#: Providers that bill 1-hour cache writes at 2x input when no explicit rate is given.
TWO_X_1H: frozenset[str] = frozenset({"anthropic", "moonshot"})
MODES: frozenset[str] = frozenset({"chat", "responses"})

BUCKETS: tuple[str, ...] = ("in", "out", "cr", "cw5", "cw1h")
_BASE_FIELDS: dict[str, str] = {
    # longest first: "cache_creation_input_token_cost_above_1hr" must not parse as a tier of cw5
    "cache_creation_input_token_cost_above_1hr": "cw1h",
    "cache_creation_input_token_cost": "cw5",
    "cache_read_input_token_cost": "cr",
    "input_cost_per_token": "in",
    "output_cost_per_token": "out",
    "output_cost_per_reasoning_token": "rz",
}
_FIELD_RE = re.compile(
    r"^(?P<base>" + "|".join(re.escape(f) for f in _BASE_FIELDS) + r")"
    r"(?:_above_(?P<k>\d+)k_tokens)?(?:_(?P<variant>priority))?$"
)


def _rate(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def parse_litellm_row(row: dict[str, Any]) -> dict[str, Any] | None:
    """The token rates of one LiteLLM row, grouped: ``{"std": {above: {bucket: rate}}, "prio": {...}}``.

    ``above`` 0 is the base tier. Returns None when the row has no input or output price.
    """
    groups: dict[str, dict[int, dict[str, float]]] = {"std": {}, "prio": {}}
    for name, value in row.items():
        m = _FIELD_RE.match(name)
        if not m:
            continue
        rate = _rate(value)
        if rate is None:
            continue
        above = int(m["k"]) * 1000 if m["k"] else 0
        group = "prio" if m["variant"] else "std"
        groups[group].setdefault(above, {})[_BASE_FIELDS[m["base"]]] = rate
    std = groups["std"].setdefault(0, {})
    if "cr" not in std and _rate(row.get("input_cost_per_token_cache_hit")) is not None:
        std["cr"] = float(row["input_cost_per_token_cache_hit"])
    tiered = row.get("tiered_pricing")
    if isinstance(tiered, list) and "in" not in std:
        for band in tiered:
            if not isinstance(band, dict) or not isinstance(band.get("range"), list | tuple):
                continue
            above = int(band["range"][0])
            rates = {
                b: r
                for b, f in (
                    ("in", "input_cost_per_token"),
                    ("out", "output_cost_per_token"),
                    ("cr", "cache_read_input_token_cost"),
                )
                if (r := _rate(band.get(f))) is not None
            }
            groups["std"].setdefault(above, {}).update(rates)
    if "in" not in std or "out" not in std:
        return None
    return groups


def _fill_base(base: dict[str, float], provider: str, est: list[str]) -> list[float]:
    """Base rates with pricing.md §3.2 fallbacks: cr→in (estimated), cw5→in, cw1h→2x in | cw5."""
    r_in, r_out = base["in"], base["out"]
    cr = base.get("cr")
    if cr is None:
        cr = r_in
        est.append("cr")
    cw5 = base.get("cw5", r_in)
    cw1h = base.get("cw1h")
    if cw1h is None:
        cw1h = 2 * r_in if provider in TWO_X_1H else cw5
        if provider in TWO_X_1H:
            est.append("cw1h")
    return [r_in, r_out, cr, cw5, cw1h]


def _fill_tier(tier: dict[str, float], base: list[float]) -> list[float]:
    """Tier rates: missing input/output inherit the base; missing cache rates scale with input."""
    r_in = tier.get("in", base[0])
    scale = r_in / base[0] if base[0] else 1.0
    return [
        r_in,
        tier.get("out", base[1]),
        tier.get("cr", base[2] * scale),
        tier.get("cw5", base[3] * scale),
        tier.get("cw1h", base[4] * scale),
    ]


def compact_rates(groups: dict[str, Any], provider: str) -> dict[str, Any]:
    """Compact entry fields (``r``, ``t``, ``rz``, ``pr``, ``est``) from parsed rate groups."""
    est: list[str] = []
    std = groups["std"]
    base = _fill_base(std[0], provider, est)
    out: dict[str, Any] = {"r": base}
    tiers = [[above, *_fill_tier(std[above], base)] for above in sorted(std) if above > 0]
    if tiers:
        out["t"] = tiers
    rz = std[0].get("rz")
    if rz is not None and rz != base[1]:
        out["rz"] = rz
    prio = groups.get("prio") or {}
    if prio.get(0, {}).get("in") is not None:
        scale = prio[0]["in"] / base[0] if base[0] else 1.0
        p_base = [prio[0].get(b, v * scale) for b, v in zip(BUCKETS, base, strict=True)]
        p_tiers = []
        for t in tiers:
            p = prio.get(t[0], {})
            t_scale = p["in"] / t[1] if "in" in p and t[1] else scale
            p_tiers.append([t[0], *(p.get(b, v * t_scale) for b, v in zip(BUCKETS, t[1:], strict=True))])
        out["pr"] = {"r": p_base, **({"t": p_tiers} if p_tiers else {})}
    if est:
        out["est"] = est
    return out


_PREFIX_RE = re.compile(r"^([a-z0-9_.-]+)/(.+)$")


def _bare(key: str, provider: str) -> str | None:
    """The unprefixed model name of a first-party row (``gemini/gemini-2.5-pro`` → ``gemini-2.5-pro``)."""
    m = _PREFIX_RE.match(key)
    if not m:
        return key
    return m[2] if m[1] == provider or provider in FIRST_PARTY else None


def _per_m(value: Any, where: str) -> float:
    rate = _rate(value)
    if rate is None:
        raise ValueError(f"{where}: price must be a finite number >= 0, got {value!r}")
    return rate / 1e6


_TOML_BUCKETS = {
    "input": "in",
    "output": "out",
    "cache_read": "cr",
    "cache_write_5m": "cw5",
    "cache_write_1h": "cw1h",
    "reasoning": "rz",
}


def groups_from_toml(row: dict[str, Any], where: str) -> dict[str, Any]:
    """Rate groups (as :func:`parse_litellm_row`) of a TOML row in USD per million (missing buckets absent)."""
    std: dict[int, dict[str, float]] = {0: {}}
    for name, bucket in _TOML_BUCKETS.items():
        if name in row:
            std[0][bucket] = _per_m(row[name], f"{where}.{name}")
    for i, tier in enumerate(row.get("tiers") or []):
        above = tier.get("above")
        if not isinstance(above, int) or above <= 0:
            raise ValueError(f"{where}.tiers[{i}]: 'above' must be a positive integer token count")
        std[above] = {b: _per_m(tier[n], f"{where}.tiers[{i}].{n}") for n, b in _TOML_BUCKETS.items() if n in tier}
    prio: dict[int, dict[str, float]] = {}
    if isinstance(row.get("priority"), dict):
        prio[0] = {
            b: _per_m(row["priority"][n], f"{where}.priority.{n}")
            for n, b in _TOML_BUCKETS.items()
            if n in row["priority"]
        }
    return {"std": std, "prio": prio}


def _merge_groups(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over``'s rates, with gaps (buckets, tiers, priority) filled from ``under``."""
    merged: dict[str, Any] = {}
    for group in ("std", "prio"):
        tiers: dict[int, dict[str, float]] = {}
        for above, rates in (under.get(group) or {}).items():
            tiers[above] = dict(rates)
        for above, rates in (over.get(group) or {}).items():
            tiers.setdefault(above, {}).update(rates)
        merged[group] = tiers
    return merged


def _date(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    raise ValueError(f"{where}: dates are TOML dates (YYYY-MM-DD)")


def load_legacy(path: Path = LEGACY) -> dict[str, Any]:
    """The hand-kept legacy table (``[[model]]`` rows and ``[aliases]``) as parsed TOML."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


def build_table(
    litellm: dict[str, Any],
    legacy: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compile LiteLLM's price JSON (parsed) and the legacy table into tokscope's compact table."""
    parsed: dict[str, tuple[str, str, dict[str, Any]]] = {}  # lowercase key -> (litellm key, provider, groups)
    rank: dict[str, tuple[int, int]] = {}
    bare_of: dict[str, str] = {}
    for key, row in litellm.items():
        if key == "sample_spec" or not isinstance(row, dict) or row.get("mode") not in MODES:
            continue
        provider = str(row.get("litellm_provider") or "")
        if provider in DROPPED_PROVIDERS or key.startswith("github_copilot/"):
            continue
        groups = parse_litellm_row(row)
        if groups is None:
            continue
        base = groups["std"][0]
        if provider not in FIRST_PARTY and base["in"] == 0 and base["out"] == 0:
            continue  # a reseller's free/subscription route is not a list price
        lower = key.lower()
        # first-party rows win; among them, the unprefixed spelling
        r = (0 if provider in FIRST_PARTY else 1, 0 if "/" not in lower else 1)
        bare = _bare(lower, provider)
        for name in {lower, *([bare] if bare and provider in FIRST_PARTY else [])}:
            if name not in rank or r < rank[name]:
                rank[name] = r
                parsed[name] = (key, provider, groups)
        if bare and bare != lower and provider in FIRST_PARTY:
            bare_of[lower] = bare

    # hand-kept rows: fill gaps under LiteLLM, add missing models, add dated versions
    dated: dict[str, list[dict[str, Any]]] = {}
    sources: dict[str, str] = {}
    gap_sources: dict[str, list[str]] = {}
    fast: dict[str, float] = {}
    aliases: dict[str, str] = {}
    for i, row in enumerate((legacy or {}).get("model", [])):
        where = f"legacy_prices.toml model[{i}] ({row.get('key')})"
        key = str(row["key"]).lower()
        provider = str(row.get("provider") or "")
        groups = groups_from_toml(row, where)
        for alias in row.get("aliases", []):
            aliases[str(alias).lower()] = key
        if row.get("valid_from") or row.get("valid_until"):
            dated.setdefault(key, []).append(
                {
                    "from": _date(row.get("valid_from"), where),
                    "until": _date(row.get("valid_until"), where),
                    "groups": groups,
                    "provider": provider,
                    "src": row.get("source"),
                }
            )
            continue
        if key in parsed:
            k, p, under = parsed[key]
            parsed[key] = (k, p, _merge_groups(groups, under))  # LiteLLM wins where both have a rate
        elif "in" not in groups["std"][0] or "out" not in groups["std"][0]:
            continue  # a gap-filling row for a model this LiteLLM copy does not have
        else:
            parsed[key] = (key, provider, groups)
            sources[key] = str(row.get("source") or "")
        if row.get("fast") is not None:
            fast[key] = float(row["fast"])
        if row.get("source") and key not in sources:
            gap_sources.setdefault(key, []).append(str(row["source"]))
    for alias, target in (legacy or {}).get("aliases", {}).items():
        aliases[str(alias).lower()] = str(target).lower()

    models: dict[str, Any] = {}
    for name, (key, provider, groups) in sorted(parsed.items()):
        if name in bare_of and bare_of[name] in parsed and parsed[bare_of[name]][0] == key:
            aliases[name] = bare_of[name]  # gemini/gemini-2.5-pro -> gemini-2.5-pro: stored once
            continue
        entry: dict[str, Any] = {"p": provider}
        if key.lower() != name:
            entry["k"] = key
        entry.update(compact_rates(groups, provider))
        row = litellm.get(key) if isinstance(litellm.get(key), dict) else {}
        pse = row.get("provider_specific_entry") if row else None
        if isinstance(pse, dict) and _rate(pse.get("fast")) is not None:
            entry["fast"] = float(pse["fast"])
        if name in fast and "fast" not in entry:
            entry["fast"] = fast[name]
        if name in sources:
            entry["src"] = sources[name]
        if name in gap_sources:
            entry["gap"] = gap_sources[name]  # sources of the rates legacy_prices.toml filled in
        models[name] = entry
    for name, versions in dated.items():
        entry = models.get(name)
        versions.sort(key=lambda v: v["from"] or "")
        if entry is None:  # only dated rows: the latest is the open-ended current price
            last = versions.pop()
            entry = {"p": last["provider"], **compact_rates(last["groups"], last["provider"])}
            if last["src"]:
                entry["src"] = last["src"]
            if last["from"]:
                entry["from"] = last["from"]
            models[name] = entry
        older = []
        for v in versions:
            compact = compact_rates(v["groups"], v["provider"] or entry["p"])
            older.append({"from": v["from"], **compact, **({"src": v["src"]} if v["src"] else {})})
        # an older version runs until the next one starts; the current price starts at the last 'until'
        if versions and versions[-1]["until"] and not entry.get("from"):
            entry["from"] = versions[-1]["until"]
        entry["v"] = older
    aliases = {a: t for a, t in sorted(aliases.items()) if a not in models and (t in models or t in aliases)}
    return {
        "_meta": {"format": FORMAT, **(meta or {})},
        "models": models,
        "aliases": aliases,
    }


def read_source(source: str | Path) -> bytes:
    """The bytes of a LiteLLM JSON from a local path or an http(s) URL."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        with urllib.request.urlopen(text, timeout=30) as resp:  # explicit user action only
            return resp.read(64 << 20)
    return Path(text).expanduser().read_bytes()


def build_from(
    source: str | Path, legacy_path: Path = LEGACY, version: str | None = None, label: str | None = None
) -> dict[str, Any]:
    """Read a LiteLLM JSON (file or URL) and the legacy table; return the compact table."""
    raw = read_source(source)
    legacy_raw = legacy_path.read_bytes()
    meta = {
        "source": label or str(source),
        "litellm_version": version,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "legacy_sha256": hashlib.sha256(legacy_raw).hexdigest()[:12],
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return build_table(json.loads(raw), tomllib.loads(legacy_raw.decode()), meta=meta)


def dump_table(table: dict[str, Any]) -> bytes:
    """The table as compact JSON bytes (one model per line, so diffs stay readable)."""
    lines = ["{", f'"_meta": {json.dumps(table["_meta"], sort_keys=True)},', '"models": {']
    items = list(table["models"].items())
    for i, (name, entry) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}{sep}")
    lines.append("},")
    lines.append(f'"aliases": {json.dumps(table["aliases"], separators=(",", ":"))}')
    lines.append("}")
    return ("\n".join(lines) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    """Rebuild the bundled table: ``python -m tokscope.pricing.build LITELLM.json [--version V]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", help="LiteLLM model_prices_and_context_window JSON (path or URL)")
    ap.add_argument("--version", help="LiteLLM version the JSON comes from")
    ap.add_argument("--label", help="how to name the source in the table's _meta")
    ap.add_argument("--out", type=Path, default=BUNDLED)
    args = ap.parse_args(argv)
    table = build_from(args.source, version=args.version, label=args.label)
    args.out.write_bytes(dump_table(table))
    print(f"{args.out}: {len(table['models'])} models, {len(table['aliases'])} aliases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
