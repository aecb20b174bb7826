"""The one table that names a model's provider when a client does not log one.

Spellings of one vendor are folded to one name (``moonshotai`` → ``moonshot``, ``qwen`` →
``alibaba``), so a model groups under the same provider whichever client ran it.
"""

from __future__ import annotations

#: Vendor spellings seen in logs and model prefixes → the provider name tokscope shows.
ALIASES: dict[str, str] = {
    "moonshotai": "moonshot",
    "kimi": "moonshot",
    "qwen": "alibaba",
    "dashscope": "alibaba",
    "x-ai": "xai",
    "z-ai": "zai",
    "zhipuai": "zai",
    "gemini": "google",
    "mistralai": "mistral",
    # Synthetic (synthetic.new), a gateway; glhf.chat was its earlier name, Octofriend its own client
    "synthetic.new": "synthetic",
    "glhf": "synthetic",
    "octofriend": "synthetic",
}

#: Model-id prefixes of gateways that say nothing of the vendor: Synthetic sends Hugging Face ids
#: (``hf:deepseek-ai/DeepSeek-V3-0324``) and answers with Fireworks ids
#: (``accounts/fireworks/models/kimi-k2p5``); tokscale ``sessions/synthetic.rs``.
GATEWAY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("hf:", "synthetic"),
    ("accounts/fireworks/models/", "synthetic"),
)

#: Providers a ``provider/model`` prefix may name.
KNOWN: frozenset[str] = frozenset(
    {"anthropic", "openai", "google", "xai", "deepseek", "mistral", "moonshot", "alibaba", "zai", *ALIASES}
)

#: (substring or prefix test, provider), first match wins; tested on the lower-case last path part.
_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt", "o1", "o3", "o4", "codex", "chatgpt"), "openai"),
    (("gemini", "gemma"), "google"),
    (("grok",), "xai"),
    (("deepseek",), "deepseek"),
    (("kimi", "moonshot", "k2", "k3"), "moonshot"),
    (("glm",), "zai"),
    (("qwen", "qwq"), "alibaba"),
    (("mistral", "devstral", "codestral", "magistral"), "mistral"),
)


def provider_name(logged: str) -> str:
    """A logged provider spelling, folded (``"MoonshotAI"`` → ``"moonshot"``)."""
    name = logged.strip().lower()
    return ALIASES.get(name, name)


def infer_provider(model: str, logged: object = None) -> str:
    """The provider of ``model``: the logged one when given, else the gateway its id names
    (``hf:…`` -> ``synthetic``), else a ``provider/`` prefix, else the family the name belongs to;
    ``"unknown"`` when nothing fits."""
    if isinstance(logged, str) and logged.strip():
        return provider_name(logged)
    lowered = model.lower()
    for prefix, gateway in GATEWAY_PREFIXES:
        if lowered.startswith(prefix):
            return gateway
    if "/" in lowered:
        prefix = lowered.split("/", 1)[0]
        if prefix in KNOWN:
            return provider_name(prefix)
    name = lowered.rsplit("/", 1)[-1]
    if any(tag in name for tag in ("claude", "opus", "sonnet", "haiku")) or "anthropic" in lowered:
        return "anthropic"
    for prefixes, provider in _PREFIXES:
        if name.startswith(prefixes):
            return provider
    return "unknown"
