"""WorkBuddy (Tencent): JSONL transcripts, one line per event (clients.md §3.16).

Roots: ``WORKBUDDY_DATA_DIR`` (comma list; Tokdash's variable) replaces the defaults
``~/.workbuddy-ai`` (Tokdash) and ``~/.workbuddy`` (tokscale): the peers disagree on which one
current builds use, so both are scanned. Sources: ``<root>/projects/<cwd-slug>/<sessionId>.jsonl``,
append-only, read incrementally from a byte offset.

Usage lines are ``type: "message", role: "assistant"`` and ``type: "function_call"`` lines with a
``providerData`` object: ``{messageId, model | requestModelId, rawUsage, usage}``.

Traps handled:

* Only ``providerData.rawUsage`` (OpenAI snake case) is read, else its camel-case mirror
  ``providerData.usage``; ``message.usage`` never is. It mixes conventions: its ``input_tokens``
  already holds the cache hit that ``cache_read_input_tokens`` repeats, so reading it the
  Anthropic way counts the cached prompt twice (tokscale#1022).
* ``prompt_tokens`` includes the cache: input = prompt - cache read - cache write (cache read
  from ``cache_read_input_tokens`` / ``prompt_tokens_details.cached_tokens`` /
  ``prompt_cache_hit_tokens``, the first positive one, as WorkBuddy's own UsageUtils orders
  them), so the buckets add up to ``total_tokens``. ``completion_tokens`` includes reasoning
  (``completion_tokens_details.reasoning_tokens`` or ``completion_thinking_tokens``).
* One API call can write a message line and a function-call line with the same usage: the event
  key is ``providerData.messageId`` (else ``traceId``, else the line ``id``), so it counts once.
* Lines whose ``status`` is not ``completed`` are skipped (still streaming or aborted).
* ``credit`` is WorkBuddy's billing unit, not USD: not kept. Router aliases such as
  ``default-model`` are kept as logged (unpriced).

Not read: tokscale's fallback ``workbuddy.db`` ``session_usage(used, size)``: a per-session
context-window gauge (``used`` of ``size``), not billed tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    env_paths,
    first_sight,
    home,
    iter_files,
    lines_containing,
    read_new_chunk,
)
from .coerce import count, epoch_us, text, time_us
from .providers import infer_provider

CLIENT = "workbuddy"


class _ProviderData(msgspec.Struct):
    model: Any = None
    requestModelId: Any = None
    messageId: Any = None
    traceId: Any = None
    rawUsage: Any = None
    usage: Any = None


class _Line(msgspec.Struct):
    id: Any = None
    type: Any = None
    role: Any = None
    status: Any = None
    timestamp: Any = None
    sessionId: Any = None
    cwd: Any = None
    providerData: _ProviderData | None = None


_decode = msgspec.json.Decoder(_Line).decode


def _first_positive(usage: dict[str, Any], *names: str) -> int:
    for name in names:
        value = count(usage.get(name))
        if value > 0:
            return value
    return 0


def _detail(usage: dict[str, Any], name: str, key: str) -> int:
    details = usage.get(name)
    return count(details.get(key)) if isinstance(details, dict) else 0


def _raw_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, output, reasoning, cache read, cache write) from ``rawUsage``."""
    prompt = count(usage.get("prompt_tokens"))
    completion = count(usage.get("completion_tokens"))
    read = (
        _first_positive(usage, "cache_read_input_tokens", "cacheReadInputTokens")
        or _detail(usage, "prompt_tokens_details", "cached_tokens")
        or count(usage.get("prompt_cache_hit_tokens"))
    )
    write = _first_positive(
        usage, "cache_creation_input_tokens", "cacheCreationInputTokens", "prompt_cache_write_tokens"
    )
    read = min(read, prompt)
    write = min(write, prompt - read)
    reasoning = _detail(usage, "completion_tokens_details", "reasoning_tokens") or count(
        usage.get("completion_thinking_tokens")
    )
    return prompt - read - write, completion, min(reasoning, completion), read, write


def _camel_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """The same from the camel-case mirror ``usage`` (details as arrays, no cache write)."""
    prompt = count(usage.get("inputTokens"))
    completion = count(usage.get("outputTokens"))
    read = sum(count(d.get("cached_tokens")) for d in _dicts(usage.get("inputTokensDetails")))
    reasoning = sum(count(d.get("reasoning_tokens")) for d in _dicts(usage.get("outputTokensDetails")))
    read = min(read, prompt)
    return prompt - read, completion, min(reasoning, completion), read, 0


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


class WorkBuddyReader:
    """Reads WorkBuddy transcripts."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("WORKBUDDY_DATA_DIR",)

    def roots(self) -> list[Path]:
        """The ``projects`` directories of each data root."""
        bases = env_paths("WORKBUDDY_DATA_DIR") or [home() / ".workbuddy-ai", home() / ".workbuddy"]
        return [b / "projects" for b in bases]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every transcript (a root reached twice, e.g. by a symlink, once)."""
        seen: set[Path] = set()
        return [
            Source(CLIENT, p)
            for root in self.roots()
            if root.is_dir() and first_sight(root, seen)
            for p in iter_files(root, ".jsonl", errors)
        ]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Usage lines from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        result = ReadResult(offset=new_offset)
        fallback_session = source.path.stem
        for raw in lines_containing(data, b'"providerData"'):
            line = decode_line(_decode, raw)
            if line is None:
                result.skip("malformed line")
                continue
            row = _row(line, fallback_session)
            if row is not None:
                result.rows.append(row)
        return result


def _row(line: _Line, fallback_session: str) -> Row | None:
    kind = line.type
    if not ((kind == "message" and line.role == "assistant") or kind == "function_call"):
        return None
    if line.status is not None and line.status != "completed":
        return None
    data = line.providerData
    if data is None:
        return None
    if isinstance(data.rawUsage, dict) and data.rawUsage:
        inp, out, reasoning, read, write = _raw_usage(data.rawUsage)
    elif isinstance(data.usage, dict) and data.usage:
        inp, out, reasoning, read, write = _camel_usage(data.usage)
    else:
        return None
    total = inp + out + read + write
    if total == 0:
        return None
    ts = epoch_us(line.timestamp) if not isinstance(line.timestamp, str) else time_us(line.timestamp)
    if ts is None:
        return None
    session = text(line.sessionId) or fallback_session
    key = text(data.messageId) or text(data.traceId) or text(line.id) or f"{session}:{ts}:{inp}:{out}:{read}:{write}"
    model = text(data.model) or text(data.requestModelId) or "unknown"
    return Row(
        client=CLIENT,
        provider=infer_provider(model),
        model=model,
        workspace=text(line.cwd) or "",
        session_id=session,
        agent=None,
        event_key=key,
        ts=ts,
        input=inp,
        output=out,
        reasoning=reasoning,
        cache_read=read,
        cache_write_5m=write,
        rank=total,
    )


READERS = (WorkBuddyReader(),)
