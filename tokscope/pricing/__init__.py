"""List-price cost for every event: the price table, model-name resolution, vectorised pricing.

Rules (``shared/reference/pricing.md`` §4): whole-request tiers (the prompt
``input + cache_read + cache_write_5m + cache_write_1h`` above a tier's threshold moves every
bucket of that turn to the tier's rates), separate 5-minute and 1-hour cache-write rates,
reasoning never billed twice (it is inside ``output``), priority rates or the fast multiplier
where the log says so. An unknown model is never $0: its ``cost`` is null (or the client's own
logged ``source_cost``) and ``price_state`` says which.

Pricing a frame resolves each distinct ``(provider, model)`` once in Python, then runs as
Polars column arithmetic: a lookup by the model's category code (a join when the provider
changes how a name resolves) gives each row a segment index (service variant, price version,
tier) into small rate arrays, and the cost is a dot product of the token columns with them.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from tokscope import paths
from tokscope.pricing.build import BUCKETS, BUNDLED, _merge_groups, compact_rates, groups_from_toml

PRICE_STATES: tuple[str, ...] = ("priced", "source", "unpriced")
PRICE_STATE = pl.Enum(list(PRICE_STATES))
#: ``service_tier`` values that ask for priority processing.
PRIORITY_TIERS: tuple[str, ...] = ("fast", "priority")
USER_TABLE_NAME = "prices.json"
OVERRIDES_NAME = "prices.toml"
#: Per-bucket cost columns ``price(..., breakdown=True)`` adds.
BUCKET_COSTS: tuple[str, ...] = (
    "cost_input",
    "cost_output",
    "cost_cache_read",
    "cost_cache_write",
)

_OVERRIDE_FIELDS = frozenset(
    {
        "model",
        "match",
        "key",
        "alias",
        "input",
        "output",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "reasoning",
        "fast",
        "multiplier",
        "tiers",
        "priority",
        "provider",
        "source",
        "note",
    }
)


class PriceFileError(ValueError):
    """A price override file that cannot be used (bad TOML, negative price, unknown alias…)."""


# --- price entries -------------------------------------------------------------------------


Rates = tuple[float, float, float, float, float]
"""USD per token: input, output, cache read, cache write 5m, cache write 1h."""


@dataclass(frozen=True)
class RateSet:
    """Base rates, whole-request tiers and the distinct reasoning rate (if any)."""

    base: Rates
    tiers: tuple[tuple[int, Rates], ...] = ()
    reasoning: float | None = None

    def at(self, prompt_above: int) -> Rates:
        """Rates of a request whose prompt is greater than ``prompt_above`` (-1: the base)."""
        rates = self.base
        for above, tier in self.tiers:
            if prompt_above >= above:
                rates = tier
        return rates

    def reasoning_at(self, prompt_above: int) -> float | None:
        """The distinct reasoning rate at that prompt size, scaled like output; None if none."""
        if self.reasoning is None:
            return None
        out = self.at(prompt_above)[1]
        return self.reasoning * (out / self.base[1]) if self.base[1] else self.reasoning


@dataclass(frozen=True)
class Version:
    """The prices in force from ``start`` (None: always) until the next version starts."""

    start: datetime | None
    std: RateSet
    priority: RateSet | None = None
    source: str | None = None


@dataclass(frozen=True)
class PriceEntry:
    """Everything needed to price one model."""

    key: str
    provider: str
    versions: tuple[Version, ...]
    fast: float | None = None
    origin: str = "bundle"
    """``bundle`` (the price table) or the override file that set it."""
    litellm_key: str | None = None
    estimated: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    multiplier: float = 1.0

    @property
    def current(self) -> Version:
        """The newest version."""
        return self.versions[-1]

    def thresholds(self) -> list[int]:
        """Every tier threshold of every version and variant, ascending."""
        out: set[int] = set()
        for v in self.versions:
            for rs in (v.std, v.priority):
                if rs is not None:
                    out.update(a for a, _ in rs.tiers)
        return sorted(out)


def _rateset(compact: dict[str, Any]) -> RateSet:
    return RateSet(
        base=tuple(compact["r"]),  # type: ignore[arg-type]
        tiers=tuple((int(t[0]), tuple(t[1:])) for t in compact.get("t", ())),  # type: ignore[misc]
        reasoning=compact.get("rz"),
    )


def _version(compact: dict[str, Any], start: str | None) -> Version:
    pr = compact.get("pr")
    return Version(
        start=datetime.fromisoformat(start).replace(tzinfo=UTC) if start else None,
        std=_rateset(compact),
        priority=_rateset({**pr, **({"rz": compact["rz"]} if "rz" in compact else {})}) if pr else None,
        source=compact.get("src"),
    )


def entry_from_compact(key: str, compact: dict[str, Any], origin: str = "bundle") -> PriceEntry:
    """A :class:`PriceEntry` from one compact table entry (see ``pricing.build``)."""
    older = [_version(v, v.get("from")) for v in compact.get("v", ())]
    versions = (*older, _version(compact, compact.get("from") if older else None))
    sources = tuple(s for s in [compact.get("src"), *compact.get("gap", ()), *(v.source for v in older)] if s)
    return PriceEntry(
        key=key,
        provider=compact.get("p", ""),
        versions=versions,
        fast=compact.get("fast"),
        origin=origin,
        litellm_key=compact.get("k"),
        estimated=tuple(compact.get("est", ())),
        sources=tuple(dict.fromkeys(sources)),
        multiplier=float(compact.get("mult", 1.0)),
    )


def _groups_of(compact: dict[str, Any]) -> dict[str, Any]:
    """Rate groups (``pricing.build`` shape) of a compact entry's current version."""
    std = {0: dict(zip(BUCKETS, compact["r"], strict=True))}
    if "rz" in compact:
        std[0]["rz"] = compact["rz"]
    for t in compact.get("t", ()):
        std[int(t[0])] = dict(zip(BUCKETS, t[1:], strict=True))
    prio: dict[int, dict[str, float]] = {}
    if "pr" in compact:
        prio[0] = dict(zip(BUCKETS, compact["pr"]["r"], strict=True))
        for t in compact["pr"].get("t", ()):
            prio[int(t[0])] = dict(zip(BUCKETS, t[1:], strict=True))
    return {"std": std, "prio": prio}


# --- name normalisation --------------------------------------------------------------------

_DECORATION_RE = re.compile(r"\s*(\[[^\]]*\]|\([^)]*\))\s*$")  # [1m], (high)
_BEDROCK_REGION_RE = re.compile(r"^(?:us|eu|apac|ap|global|jp|au|ca|us-gov)\.(?=[a-z]+\.)")
_BEDROCK_VENDOR_RE = re.compile(r"^(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|qwen|openai|moonshot)\.")
_BEDROCK_SUFFIX_RE = re.compile(r"-v\d+(?::\d+)?$")
_DATE_RE = re.compile(r"(?:[-@](?:20\d{6}|20\d\d-\d\d-\d\d))$")
_EFFORT_RE = re.compile(r"-(?:minimal|low|medium|high|xhigh)$")
#: Families where ``-fast`` / ``-thinking`` are decorations of one model, not other models.
_DECORATED_FAMILIES = ("claude-", "gpt-")
_DIGIT_DASH_RE = re.compile(r"(?<![\d.])(\d)-(?=\d(?![\d]))")
_DIGIT_DOT_RE = re.compile(r"(?<![\d.])(\d)\.(?=\d(?![\d]))")
#: Gateway spellings of a model id: Synthetic's Hugging Face ids (``hf:org/model``) and Fireworks
#: account paths (``accounts/fireworks/models/model``), whose ``p`` stands for a decimal point (``k2p5``).
_GATEWAY_RE = re.compile(r"^(?:hf:|accounts/[a-z0-9_-]+/models/)")
_FIREWORKS_POINT_RE = re.compile(r"(?<=\d)p(?=\d)")

#: Client spellings of a vendor name in another order: (pattern, replacement, what the step did).
_REORDERS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # claude-4-6-sonnet / claude-4.5-haiku -> claude-sonnet-4-6 / claude-haiku-4.5: from Claude 4 on the family
    # comes first (claude-3-5-sonnet is the real name of a Claude 3 model and stays as it is)
    (re.compile(r"^claude-([4-9](?:[.-]\d)?)-(opus|sonnet|haiku)(?=$|-)"), r"claude-\2-\1", "family before version"),
    # Kimi's short names: k3, k2.6 -> kimi-k3, kimi-k2.6
    (re.compile(r"^(k\d+(?:\.\d+)?)(?=$|-)"), r"kimi-\1", "kimi- prefix"),
)

#: Pseudo-models that stand for the model current on the turn's date: (from, price key), oldest first
#: (the oldest also covers anything earlier). Each becomes an entry with one price version per step.
DATED_ALIASES: dict[str, tuple[tuple[str | None, str], ...]] = {
    # Codex's review model: the newest model released on or before the date (ccusage
    # rust/crates/ccusage/src/adapter/codex/codex-auto-review-fallbacks.json, release dates from models.dev)
    "codex-auto-review": (
        ("2025-08-07", "gpt-5"),
        ("2025-09-15", "gpt-5-codex"),
        ("2025-11-13", "gpt-5.1-codex"),
        ("2025-12-11", "gpt-5.2-codex"),
        ("2026-02-05", "gpt-5.3-codex"),
        ("2026-03-05", "gpt-5.4"),
        ("2026-04-23", "gpt-5.5"),
    ),
    # Kimi Code's plan model: K2.5, then K2.6 (ccusage docs/guide/kimi/index.md, adapter/kimi/parser.rs)
    "kimi-for-coding": ((None, "kimi-k2.5"), ("2026-04-20T15:28:10.072", "kimi-k2.6")),
}

#: Event ``provider`` spellings → LiteLLM key prefixes to try for provider-qualified rows.
PROVIDER_PREFIXES: dict[str, tuple[str, ...]] = {
    "google": ("gemini", "vertex_ai"),
    "google-vertex": ("vertex_ai",),
    "vertex": ("vertex_ai",),
    "x-ai": ("xai",),
    "moonshotai": ("moonshot",),
    "alibaba": ("dashscope",),
    "qwen": ("dashscope",),
    "z-ai": ("zai",),
    "zhipuai": ("zai",),
    "amazon-bedrock": ("bedrock", "bedrock_converse"),
    "fireworks": ("fireworks_ai",),
    "together": ("together_ai",),
    "azure-openai": ("azure",),
}


def name_variants(raw: str) -> list[tuple[str, str]]:
    """Normalised spellings of a model name, in the order to try them, with what each step did.

    Only known decorations are removed: case, ``[1m]``/``(high)`` markers, gateway prefixes
    (``hf:``, ``accounts/<host>/models/`` with Fireworks' ``p`` for a point), provider prefixes,
    Bedrock region/vendor/version parts, date suffixes, ``-fast``/``-thinking`` (Claude, GPT),
    effort suffixes, and dots vs dashes between single digits. Never anything fuzzy.
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(name: str, step: str) -> None:
        for n, s in ((name, step), *_swaps(name, step)):
            if n and n not in seen:
                seen.add(n)
                out.append((n, s))

    s = raw.strip().lower()
    add(s, "exact (lowercase)" if s != raw else "exact")
    steps: list[str] = []
    while (m := _DECORATION_RE.search(s)) and m.start() > 0:
        steps.append(f"dropped {m.group(1)!r}")
        s = s[: m.start()]
    if m := _GATEWAY_RE.match(s):
        steps.append(f"dropped gateway prefix {m.group(0)!r}")
        fireworks = m.group(0) == "accounts/fireworks/models/"
        s = _FIREWORKS_POINT_RE.sub(".", s[m.end() :]) if fireworks else s[m.end() :]
        add(s, "; ".join(steps))
    if "/" in s:
        steps.append(f"dropped prefix {s.rsplit('/', 1)[0]!r}/")
        s = s.rsplit("/", 1)[1]
    bedrock = _BEDROCK_REGION_RE.sub("", s)
    bedrock = _BEDROCK_VENDOR_RE.sub("", bedrock) if bedrock != s or _BEDROCK_VENDOR_RE.match(s) else s
    if bedrock != s:
        bedrock = _BEDROCK_SUFFIX_RE.sub("", bedrock)
        steps.append("dropped Bedrock region/vendor/version")
        s = bedrock
    add(s, "; ".join(steps) or "normalised")
    if m := _DATE_RE.search(s):
        s = s[: m.start()]
        steps.append(f"dropped date {m.group(0)[1:]!r}")
        add(s, "; ".join(steps))
    for suffix in ("-fast", "-thinking"):
        if s.startswith(_DECORATED_FAMILIES) and s.endswith(suffix):
            s = s[: -len(suffix)]
            steps.append(f"dropped {suffix!r}")
            add(s, "; ".join(steps))
    if m := _EFFORT_RE.search(s):
        s = s[: m.start()]
        steps.append(f"dropped effort {m.group(0)[1:]!r}")
        add(s, "; ".join(steps))
    if m := _DATE_RE.search(s):  # gpt-5-high-2025-08-07 style leftovers
        s = s[: m.start()]
        steps.append(f"dropped date {m.group(0)[1:]!r}")
        add(s, "; ".join(steps))
    for name, step in list(out):
        for pattern, replacement, what in _REORDERS:
            if (moved := pattern.sub(replacement, name, count=1)) != name:
                add(moved, f"{step}; {what}" if not step.startswith("exact") else what)
    return out


def _swaps(name: str, step: str) -> list[tuple[str, str]]:
    """``claude-sonnet-4.5`` ↔ ``claude-sonnet-4-5`` (single digits only, never dates)."""
    out = []
    prefix = "" if step.startswith("exact") else f"{step}; "
    dashed = _DIGIT_DOT_RE.sub(r"\1-", name)
    if dashed != name:
        out.append((dashed, f"{prefix}dots → dashes"))
    dotted = _DIGIT_DASH_RE.sub(r"\1.", name)
    if dotted != name:
        out.append((dotted, f"{prefix}dashes → dots"))
    return out


def _fast_hint(raw: str) -> bool:
    s = raw.strip().lower().rsplit("/", 1)[-1]
    s = _DECORATION_RE.sub("", s)
    return s.startswith(_DECORATED_FAMILIES) and bool(re.search(r"-fast(?:-|$)", s))


# --- overrides ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """One ``[[price]]`` row of a user override file."""

    pattern: str
    """Lowercase exact model name or glob."""
    row: dict[str, Any]
    file: str
    index: int
    order: int
    """Precedence among all override rows (higher wins ties)."""

    @property
    def is_glob(self) -> bool:
        """Whether ``pattern`` has glob characters."""
        return any(c in self.pattern for c in "*?[")

    @property
    def where(self) -> str:
        """``file [[price]] #n`` for messages."""
        return f"{self.file} [[price]] #{self.index + 1} ({self.pattern})"


def load_overrides(files: Iterable[Path | None]) -> tuple[list[Override], list[str]]:
    """Rows of the override files that exist, lowest precedence first, and warnings."""
    rows: list[Override] = []
    warnings: list[str] = []
    for path in files:
        if path is None or not path.exists():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PriceFileError(f"{path}: {exc}") from exc
        for i, row in enumerate(data.get("price", [])):
            pattern = row.get("model") or row.get("match") or row.get("key")
            if not isinstance(pattern, str) or not pattern.strip():
                raise PriceFileError(f'{path} [[price]] #{i + 1}: needs model = "name or glob"')
            unknown = set(row) - _OVERRIDE_FIELDS
            if unknown:
                warnings.append(f"{path} [[price]] #{i + 1}: unknown field(s) {', '.join(sorted(unknown))} ignored")
            rows.append(Override(pattern.strip().lower(), row, str(path), i, len(rows)))
        unknown_tables = set(data) - {"price"}
        if unknown_tables:
            warnings.append(f"{path}: unknown table(s) {', '.join(sorted(unknown_tables))} ignored")
    return rows, warnings


# --- the table ------------------------------------------------------------------------------


@dataclass
class Resolution:
    """How one raw model name was matched to a price entry (or why it was not)."""

    model: str
    provider: str | None
    entry: PriceEntry | None
    key: str | None
    kind: str
    """``exact``, ``alias``, ``normalised``, ``provider-qualified``, ``override``, ``unpriced``."""
    detail: str = ""
    fast_hint: bool = False
    """The name itself says fast mode (``claude-opus-4-6-fast``)."""


@dataclass
class PriceTable:
    """The compiled price table plus user overrides; resolves model names to entries."""

    models: dict[str, Any]
    aliases: dict[str, str]
    meta: dict[str, Any]
    path: Path | None = None
    overrides: list[Override] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _entries: dict[str, PriceEntry | None] = field(default_factory=dict, repr=False)
    _resolved: dict[tuple[str, str | None], Resolution] = field(default_factory=dict, repr=False)

    @cached_property
    def _exact_overrides(self) -> dict[str, Override]:
        return {o.pattern: o for o in self.overrides if not o.is_glob}

    @cached_property
    def _glob_overrides(self) -> list[Override]:
        return sorted((o for o in self.overrides if o.is_glob), key=lambda o: (len(o.pattern), o.order), reverse=True)

    @property
    def basis(self) -> str:
        """Short description of the data, e.g. ``litellm@1.109.1+legacy@fce4c3d6806f``."""
        m = self.meta
        basis = f"litellm@{m.get('litellm_version') or m.get('sha256', '?')[:12]}+legacy@{m.get('legacy_sha256', '?')}"
        return basis + (f"+{len(self.overrides)} overrides" if self.overrides else "")

    def entry(self, key: str) -> PriceEntry | None:
        """The bundled entry stored under ``key`` (or an alias of it)."""
        key = self.aliases.get(key, key)
        if key not in self._entries:
            compact = self.models.get(key)
            self._entries[key] = entry_from_compact(key, compact) if compact is not None else None
        return self._entries[key]

    def _dated(self, name: str) -> PriceEntry | None:
        """The entry of a dated alias: each target's current prices from its step's start on."""
        if name not in self._entries:
            steps = [(day, self.entry(key)) for day, key in DATED_ALIASES[name]]
            entries = [e for _, e in steps if e is not None]
            self._entries[name] = None
            if len(entries) == len(steps):
                starts = [None, *(datetime.fromisoformat(str(day)).replace(tzinfo=UTC) for day, _ in steps[1:])]
                versions = tuple(replace(e.current, start=t) for e, t in zip(entries, starts, strict=True))
                sources = tuple(dict.fromkeys(src for e in entries for src in e.sources))
                latest = entries[-1]
                self._entries[name] = replace(latest, key=name, versions=versions, litellm_key=None, sources=sources)
        return self._entries[name]

    def lookup(self, raw: str, provider: str | None = None) -> Resolution:
        """Resolve a name against the bundled table only: exact → alias → normalised → provider-qualified."""
        variants = name_variants(raw)
        hint = _fast_hint(raw)
        first = variants[0][0]
        for name, _step in variants:
            if name in DATED_ALIASES and (dated := self._dated(name)) is not None:
                steps = ", ".join(key + (f" from {day}" if day else "") for day, key in DATED_ALIASES[name])
                return Resolution(raw, provider, dated, name, "alias", f"by date: {steps}", hint)
        if first in self.models:
            return Resolution(raw, provider, self.entry(first), first, "exact", fast_hint=hint)
        if first in self.aliases:
            key = self.aliases[first]
            return Resolution(raw, provider, self.entry(key), key, "alias", f"{first} → {key}", hint)
        for name, step in variants[1:]:
            for kind, key in (("normalised", name), ("alias", self.aliases.get(name))):
                if key and key in self.models:
                    detail = step if kind == "normalised" else f"{step}; alias {name} → {key}"
                    return Resolution(raw, provider, self.entry(key), key, "normalised", detail, hint)
        prefixes: list[str] = []
        raw_prefix = raw.strip().lower().rsplit("/", 1)[0] if "/" in raw else ""
        for hint_name in (provider, raw_prefix.split("/")[0] if raw_prefix else None):
            if hint_name:
                h = hint_name.strip().lower()
                prefixes += [*PROVIDER_PREFIXES.get(h, ()), h, h.replace("-", "_")]
        for prefix in dict.fromkeys(prefixes):
            for name, step in [(first, "exact"), *variants[1:]]:
                for cand in (f"{prefix}/{name}", f"{prefix}/{raw.strip().lower()}"):
                    key = self.aliases.get(cand, cand)
                    if key in self.models:
                        detail = f"{step}; provider {prefix!r}"
                        return Resolution(raw, provider, self.entry(key), key, "provider-qualified", detail, hint)
        return Resolution(raw, provider, None, None, "unpriced", "no exact or normalised match", hint)

    def resolve(self, raw: str | None, provider: str | None = None) -> Resolution:
        """Resolve a raw model name: user overrides (exact, then longest glob), then the table."""
        cache_key = (raw or "", provider)
        if cache_key in self._resolved:
            return self._resolved[cache_key]
        if not raw:
            res = Resolution("", provider, None, None, "unpriced", "no model name")
        else:
            res = self._resolve_override(raw, provider) or self.lookup(raw, provider)
        self._resolved[cache_key] = res
        return res

    def _match_override(self, raw: str) -> Override | None:
        names = [n for n, _ in name_variants(raw)]
        for name in names:  # the raw name, then its normalised forms
            if name in self._exact_overrides:
                return self._exact_overrides[name]
        for o in self._glob_overrides:
            if any(fnmatch.fnmatchcase(n, o.pattern) for n in names):
                return o
        return None

    def _resolve_override(self, raw: str, provider: str | None) -> Resolution | None:
        o = self._match_override(raw)
        if o is None:
            return None
        row = o.row
        if row.get("alias"):
            base = self.lookup(str(row["alias"]), provider)
            if base.entry is None:
                raise PriceFileError(f"{o.where}: alias {row['alias']!r} is not a known model")
        else:
            base = self.lookup(raw, provider)
        compact_base = self.models.get(base.key) if base.key else None
        if compact_base is not None and base.key in self.aliases:
            compact_base = self.models.get(self.aliases[base.key])
        try:
            groups = groups_from_toml(row, o.where)
        except ValueError as exc:
            raise PriceFileError(str(exc)) from exc
        if compact_base is not None:
            groups = _merge_groups(_groups_of(compact_base), groups)
        elif "in" not in groups["std"][0] or "out" not in groups["std"][0]:
            raise PriceFileError(f"{o.where}: an unknown model needs input and output (USD per million)")
        provider_name = str(row.get("provider") or (compact_base or {}).get("p") or provider or "")
        compact = {"p": provider_name, **compact_rates(groups, provider_name)}
        fast = row.get("fast", (compact_base or {}).get("fast"))
        if fast is not None:
            compact["fast"] = float(fast)
        mult = row.get("multiplier", 1.0)
        if not isinstance(mult, int | float) or isinstance(mult, bool) or not mult >= 0:
            raise PriceFileError(f"{o.where}: multiplier must be a number >= 0")
        compact["mult"] = float(mult)
        if row.get("source"):
            compact["src"] = str(row["source"])
        entry = entry_from_compact(base.key or o.pattern, compact, origin=o.file)
        how = "glob" if o.is_glob else "exact"
        detail = f"{o.where} ({how})" + (f"; based on {base.key} ({base.kind})" if base.key else "")
        return Resolution(raw, provider, entry, entry.key, "override", detail, _fast_hint(raw))


def user_table_path() -> Path:
    """Where ``tokscope prices update`` writes the user's table."""
    return paths.cache_dir() / USER_TABLE_NAME


def user_overrides_path() -> Path:
    """The user's override file (``prices.toml`` in the config dir)."""
    return paths.config_dir() / OVERRIDES_NAME


def table_path() -> Path:
    """The table in use: the user's updated table when newer than the bundled one, else the bundle."""
    user = user_table_path()
    if user.exists():
        try:
            with user.open("rb") as fh:
                head = fh.read(4096).decode("utf-8", "replace")
            with BUNDLED.open("rb") as fh:
                bundled_head = fh.read(4096).decode("utf-8", "replace")
            if _built_at(head) >= _built_at(bundled_head):
                return user
        except OSError:
            pass
    return BUNDLED


def _built_at(head: str) -> str:
    m = re.search(r'"built_at":\s*"([^"]+)"', head)
    return m.group(1) if m else ""


def _read_table(path: Path) -> dict[str, Any]:
    data = msgspec.json.decode(path.read_bytes())  # ~2x json.loads: the table load is on every report
    if not isinstance(data, dict) or data.get("_meta", {}).get("format") != 1 or "models" not in data:
        raise ValueError("not a tokscope price table (format 1)")
    return data


def load_table(
    overrides: Sequence[Path | None] | None = None,
    *,
    path: Path | None = None,
) -> PriceTable:
    """The price table (user's update or the bundle) with override files applied.

    ``overrides`` default: the user's ``prices.toml``; later files win over earlier ones.
    """
    warnings: list[str] = []
    chosen = path or table_path()
    try:
        data = _read_table(chosen)
    except (OSError, ValueError) as exc:
        if path is not None or chosen == BUNDLED:
            raise
        warnings.append(f"{chosen}: {exc}; using the bundled price table (run `tokscope prices update` again)")
        chosen, data = BUNDLED, _read_table(BUNDLED)
    rows, more = load_overrides([user_overrides_path()] if overrides is None else overrides)
    warnings += more
    table = PriceTable(
        models=data["models"],
        aliases=data.get("aliases", {}),
        meta=data.get("_meta", {}),
        path=chosen,
        overrides=rows,
        warnings=warnings,
    )
    for o in rows:  # fail early on bad rows, not only when a matching model shows up
        try:
            groups_from_toml(o.row, o.where)
        except ValueError as exc:
            raise PriceFileError(str(exc)) from exc
        if o.row.get("alias") and table.lookup(str(o.row["alias"])).entry is None:
            raise PriceFileError(f"{o.where}: alias {o.row['alias']!r} is not a known model")
    return table


# --- vectorised pricing ---------------------------------------------------------------------


def _layout(
    entry: PriceEntry,
    rates: list[Rates],
    rz_extra: list[float],
    fast_name: bool,
    grid: list[int],
    times: list[datetime],
) -> tuple[int, int, int]:
    """Append an entry's segments to ``rates``; return where each service variant's block starts.

    A block holds one segment per (time slot, prompt slot) of the shared grids: ``times``
    (every version start of the priced models) and ``grid`` (every tier threshold), so the
    runtime only compares each row with a few scalars. Fast turns use the priority rates
    where the row has them, else the fast multiplier; ``priority`` turns use the priority
    rates or stay standard. The entry's own multiplier (overrides) is folded in.
    """
    has_prio = any(v.priority is not None for v in entry.versions)
    blocks: dict[tuple[str, float], int] = {}

    def version_at(t: datetime | None) -> Version:
        current = entry.versions[0]
        for v in entry.versions:
            if v.start is None or (t is not None and v.start <= t):
                current = v
        return current

    def block(variant: str, mult: float) -> int:
        if (variant, mult) in blocks:
            return blocks[(variant, mult)]
        start = len(rates)
        for b in range(len(times) + 1):
            v = version_at(times[b - 1] if b else None)
            rs = v.priority if variant == "prio" and v.priority is not None else v.std
            for g in range(len(grid) + 1):
                above = grid[g - 1] if g else -1
                r = rs.at(above)
                rates.append(tuple(x * mult for x in r))  # type: ignore[arg-type]
                rz = rs.reasoning_at(above)
                rz_extra.append(0.0 if rz is None else (rz - r[1]) * mult)
        blocks[(variant, mult)] = start
        return start

    m = entry.multiplier
    if has_prio:
        fast = prio = block("prio", m)
    else:
        fast = block("std", m * (entry.fast or 1.0))
        prio = block("std", m)
    return (fast if fast_name else block("std", m), fast, prio)


def prompt_expr() -> pl.Expr:
    """The whole-request prompt size that selects a tier: input + cache reads + cache writes."""
    return pl.col("input") + pl.col("cache_read") + pl.col("cache_write_5m") + pl.col("cache_write_1h")


def _pair_ids(events: pl.LazyFrame, pairs: pl.DataFrame, keys: list[int | None]) -> tuple[pl.LazyFrame, pl.Expr]:
    """Attach a per-pair index to events: by a lookup on the model's category code when the
    provider never changes a model's resolution (the common case), else by a join."""
    by_model: dict[str | None, int | None] = {}
    per_model = isinstance(pairs.schema["model"], pl.Categorical)  # plain strings have no codes: join
    for (_, model), key in zip(pairs.iter_rows(), keys, strict=True):
        if model in by_model and by_model[model] != key:
            per_model = False
            break
        by_model[model] = key
    if per_model:
        models = pairs.select(pl.col("model").unique(maintain_order=True))
        codes = models["model"].to_physical()
        pid_of = dict(zip(pairs["model"].to_list(), range(pairs.height), strict=True))
        size = int(codes.max() or 0) + 1 if codes.len() else 1
        lut = pl.repeat(None, size, dtype=pl.UInt32, eager=True)
        valid = [(c, pid_of[m]) for c, m in zip(codes.to_list(), models["model"].to_list(), strict=True)]
        valid = [(c, p) for c, p in valid if c is not None]
        if valid:
            lut = lut.scatter([c for c, _ in valid], [p for _, p in valid])
        null_pid = pid_of.get(None)
        expr = pl.lit(lut).gather(pl.col("model").to_physical())
        if null_pid is not None:
            expr = expr.fill_null(pl.lit(null_pid, pl.UInt32))
        return events, expr
    pair_frame = pairs.with_columns(_pid=pl.int_range(pl.len(), dtype=pl.UInt32))
    joined = events.join(
        pair_frame.lazy(), on=["provider", "model"], how="left", nulls_equal=True, maintain_order="left"
    )
    return joined, pl.col("_pid")


def price_detail(
    events: pl.LazyFrame,
    table: PriceTable | None = None,
    *,
    breakdown: bool = False,
) -> tuple[pl.LazyFrame, list[Resolution]]:
    """Price ``events`` (see :func:`price`) and return how each distinct model resolved."""
    table = table or load_table()
    schema = events.collect_schema()
    pairs = events.select("provider", "model").unique().collect()
    resolutions = [table.resolve(model, provider) for provider, model in pairs.iter_rows()]

    priced = {id(r.entry): r.entry for r in resolutions if r.entry is not None}
    grid = sorted({t for e in priced.values() for t in e.thresholds()})
    times = sorted({v.start for e in priced.values() for v in e.versions if v.start is not None})
    rates: list[Rates] = []
    rz_extra: list[float] = []
    layouts: dict[tuple[int, bool], tuple[int, int, int]] = {}
    offsets: list[tuple[int, int, int] | None] = []
    for res in resolutions:
        if res.entry is None:
            offsets.append(None)
            continue
        lk = (id(res.entry), res.fast_hint)
        if lk not in layouts:
            layouts[lk] = _layout(res.entry, rates, rz_extra, res.fast_hint, grid, times)
        offsets.append(layouts[lk])

    source = pl.col("source_cost") if "source_cost" in schema else pl.lit(None, pl.Float64)
    if not rates:  # nothing priced
        computed: pl.Expr = pl.lit(None, pl.Float64)
        parts = [pl.lit(None, pl.Float64)] * len(BUCKET_COSTS)
        frame = events
    else:
        frame, pid = _pair_ids(events, pairs, offsets)
        service = pl.col("service_tier") if "service_tier" in schema else pl.lit(None, pl.String)
        variant = pl.when(service == "fast").then(1).when(service == "priority").then(2).otherwise(0)
        flat = [None if o is None else o[v] for o in offsets for v in range(3)]
        seg = pl.lit(pl.Series(flat, dtype=pl.Int64)).gather(pid.cast(pl.Int64) * 3 + variant)
        if grid:  # whole-request tier: the prompt slot among all thresholds ("greater than")
            prompt = prompt_expr()
            seg = seg + pl.sum_horizontal([prompt > g for g in grid]).cast(pl.Int64)
        if times:  # price version: the time slot among all version starts
            ts = pl.col("ts").dt.epoch("us")
            starts = [int(t.timestamp() * 1_000_000) for t in times]
            slot = pl.sum_horizontal([ts >= t for t in starts]).cast(pl.Int64)
            seg = seg + slot * (len(grid) + 1)
        frame = frame.with_columns(_seg=seg.cast(pl.UInt32))

        def rate(col: int) -> pl.Expr:
            return pl.lit(pl.Series([r[col] for r in rates], dtype=pl.Float64)).gather(pl.col("_seg"))

        c_out = pl.col("output") * rate(1)
        if any(rz_extra):
            c_out = c_out + pl.col("reasoning") * pl.lit(pl.Series(rz_extra, dtype=pl.Float64)).gather(pl.col("_seg"))
        parts = [
            pl.col("input") * rate(0),
            c_out,
            pl.col("cache_read") * rate(2),
            pl.col("cache_write_5m") * rate(3) + pl.col("cache_write_1h") * rate(4),
        ]
        computed = parts[0] + parts[2] + parts[3] + parts[1]
        if "source_cost" in schema:  # a token-less row (session totals) is worth its logged cost, not $0
            no_tokens = (prompt_expr() + pl.col("output")) == 0
            computed = pl.when(no_tokens & source.is_not_null()).then(None).otherwise(computed)
    extra = [p.alias(name) for p, name in zip(parts, BUCKET_COSTS, strict=True)] if breakdown else []
    frame = frame.with_columns(computed.alias("_computed"), *extra).with_columns(
        cost=pl.coalesce("_computed", source),
        price_state=pl.when(pl.col("_computed").is_not_null())
        .then(pl.lit("priced", PRICE_STATE))
        .when(source.is_not_null())
        .then(pl.lit("source", PRICE_STATE))
        .otherwise(pl.lit("unpriced", PRICE_STATE)),
    )
    drop = [c for c in ("_pid", "_seg", "_computed") if c in frame.collect_schema()]
    return frame.drop(drop), resolutions


def apply_pricing(events: pl.LazyFrame, extra: Path | None = None) -> tuple[pl.LazyFrame, list[str]]:
    """The pricing step of ``load_usage``: overrides from the user's ``prices.toml`` then ``extra``
    (``--prices``); returns the priced events and footnotes (bad override files, unpriced models).

    A broken override file is reported and skipped rather than failing the whole report.
    """
    notes: list[str] = []
    files = [user_overrides_path(), extra]
    if extra is not None and not extra.exists():
        notes.append(f"price file not found: {extra}")
    try:
        table = load_table(files)
        priced, resolutions = price_detail(events, table)
    except PriceFileError as exc:
        notes.append(f"price overrides ignored: {exc}")
        table = load_table([])
        priced, resolutions = price_detail(events, table)
    notes += [f"warning: {w}" for w in table.warnings]
    unpriced = sorted({r.model or "(no model)" for r in resolutions if r.entry is None})
    if unpriced:
        shown = ", ".join(unpriced[:5]) + (f" and {len(unpriced) - 5} more" if len(unpriced) > 5 else "")
        notes.append(f"no price for {shown}: see `tokscope prices missing`")
    return priced, notes


def price(events: pl.LazyFrame, table: PriceTable | None = None, *, breakdown: bool = False) -> pl.LazyFrame:
    """``events`` plus ``cost`` (Float64 USD, null when unknown) and ``price_state``.

    ``price_state`` is ``priced`` (list price computed), ``source`` (only the client's logged
    ``source_cost`` is known; ``cost`` takes it) or ``unpriced`` (``cost`` null, never 0).
    ``breakdown`` adds ``cost_input``, ``cost_output``, ``cost_cache_read``, ``cost_cache_write``.
    """
    return price_detail(events, table, breakdown=breakdown)[0]


def explain(res: Resolution) -> list[str]:
    """Lines telling which row a model name matched, why, and its rates (USD per million)."""
    lines = [f"model     {res.model}" + (f"  (provider {res.provider})" if res.provider else "")]
    if res.entry is None:
        lines.append(f"match     none: {res.detail}. Unpriced: its cost stays unknown, never $0.")
        return lines
    e = res.entry
    lines.append(f"match     {res.kind} → {e.key}" + (f"  ({res.detail})" if res.detail else ""))
    origin = "price table" if e.origin == "bundle" else f"override {e.origin}"
    lines.append(
        f"row       {e.key} from {origin}, provider {e.provider or '?'}"
        + (f", LiteLLM key {e.litellm_key}" if e.litellm_key else "")
    )

    def fmt(rates: Rates) -> str:
        names = ("input", "output", "cache read", "write 5m", "write 1h")
        return ", ".join(f"{n} ${r * 1e6:g}" for n, r in zip(names, rates, strict=True))

    for i, v in enumerate(e.versions):
        nxt = e.versions[i + 1].start if i + 1 < len(e.versions) else None
        since = " ".join([*([f"from {v.start.date()}"] if v.start else []), *([f"until {nxt.date()}"] if nxt else [])])
        since = since or "always"
        lines.append(f"rates     [{since}] {fmt(v.std.base)} per M")
        for above, tier in v.std.tiers:
            lines.append(f"  tier    prompt > {above:,}: {fmt(tier)}")
        if v.std.reasoning is not None:
            lines.append(f"  reasoning ${v.std.reasoning * 1e6:g} per M")
        if v.priority is not None:
            lines.append(f"  priority {fmt(v.priority.base)}")
            for above, tier in v.priority.tiers:
                lines.append(f"  priority prompt > {above:,}: {fmt(tier)}")
    if e.fast:
        lines.append(f"fast      x{e.fast:g} when the log says fast mode")
    if e.multiplier != 1.0:
        lines.append(f"multiplier x{e.multiplier:g}")
    if res.fast_hint:
        lines.append("note      the name says fast mode: fast/priority rates apply")
    if e.estimated:
        lines.append(f"estimated {', '.join(e.estimated)} (not in the source; fallback rule)")
    for s in e.sources:
        lines.append(f"source    {s}")
    return lines
