"""Mistral Vibe: ``meta.json`` per session, one running total each (clients.md §3.10).

Root: ``${VIBE_HOME:-~/.vibe}/logs/session`` (``VIBE_HOME`` may be a comma list).
Vibe 2.x writes ``session_YYYYMMDD_HHMMSS_<id>/meta.json`` beside the session's
``messages.jsonl``; a sub-agent's session sits under ``<session>/agents/<child>/meta.json``.
Vibe 1.x wrote flat ``session_*.json`` files with the same fields under a ``metadata`` key
(tokscale ``sessions/vibe.rs``, toktrail ``adapters/vibe.py``). Both are rewritten in place
(mode "whole").

Fields read: ``session_id``, ``start_time``, ``end_time``, ``origin_directory`` (else
``environment.working_directory``), ``config.active_model`` (an alias, or an object with
``alias``), ``config.models`` (alias -> ``{name, provider}``, a mapping or a list of entries
with ``alias``) and ``stats.{session_prompt_tokens, session_completion_tokens,
session_cached_tokens, session_cost}``.

Traps handled:

* Session totals only: one row per session keyed by its ``session_id`` (else the directory or
  file name), tied rank, so a re-read replaces the numbers.
* ``session_prompt_tokens`` includes the cached prompt tokens (Vibe adds each call's
  ``prompt_tokens`` and, separately, its ``cached_tokens``): they are taken out of input and
  counted as cache reads (as tokscale; toktrail prices them as fresh input). Cached above the
  prompt is capped at the prompt.
* The peers date a session differently (tokscale ``end_time``, toktrail ``start_time``): as every
  session-totals reader here, the row is stamped at the last write of the totals (``end_time``,
  else the file's mtime), never before ``start_time``.
* Model: the active alias resolved through ``config.models`` to the API model name (what prices
  are listed under), else the alias; provider: the entry's ``provider``, else inferred, else
  ``mistral``. A session without any model is kept as ``unknown`` (left unpriced).
* ``session_cost`` > 0 (Vibe's own estimate from its configured prices) is kept as source cost.
* A sub-agent's session is its own row (``agent = "subagent"``) in its parent's session
  (assumption: the parent's stats do not include the child's calls).
* Sessions with nothing counted, malformed or oversized files cost only themselves (counted).
* Not read: newer Vibe also stores per-call ``usage`` on assistant lines of ``messages.jsonl``;
  this reader keeps to the session totals every version writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, env_paths, home, iter_files, open_regular
from .coerce import cost, count, text, time_us
from .providers import infer_provider
from .session_totals import usage_time

CLIENT = "vibe"
META = "meta.json"
META_MAX_BYTES = 16 << 20
"""A 2.x ``meta.json`` holds one small object."""
LEGACY_MAX_BYTES = 256 << 20
"""A 1.x file also holds the conversation."""


class _Stats(msgspec.Struct):
    session_prompt_tokens: Any = None
    session_completion_tokens: Any = None
    session_cached_tokens: Any = None
    session_cost: Any = None


class _Config(msgspec.Struct):
    active_model: Any = None
    models: Any = None


class _Env(msgspec.Struct):
    working_directory: Any = None


class _Meta(msgspec.Struct):
    session_id: Any = None
    start_time: Any = None
    end_time: Any = None
    origin_directory: Any = None
    environment: _Env | None = None
    config: _Config | None = None
    active_model: Any = None
    model: Any = None
    stats: _Stats | None = None


class _Legacy(msgspec.Struct):
    metadata: _Meta | None = None


_decode_meta = msgspec.json.Decoder(_Meta).decode
_decode_legacy = msgspec.json.Decoder(_Legacy).decode


def resolve_model(config: _Config | None, fallback: Any = None) -> tuple[str | None, str | None]:
    """(model name, provider) of the session's active model alias."""
    alias: Any = config.active_model if config is not None else None
    if isinstance(alias, dict):
        alias = alias.get("alias") or alias.get("name")
    alias = text(alias) or text(fallback)
    if alias is None:
        return None, None
    models = config.models if config is not None else None
    entry: Any = None
    if isinstance(models, dict):
        entry = models.get(alias)
    elif isinstance(models, list):
        entry = next((m for m in models if isinstance(m, dict) and text(m.get("alias")) == alias), None)
    if isinstance(entry, dict):
        return text(entry.get("name")) or alias, text(entry.get("provider"))
    return alias, None


class VibeReader:
    """Reads Mistral Vibe session metadata."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("VIBE_HOME",)

    def roots(self) -> list[Path]:
        """``<VIBE_HOME or ~/.vibe>/logs/session``."""
        homes = env_paths("VIBE_HOME") or [home() / ".vibe"]
        return [h / "logs" / "session" for h in homes]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every 2.x ``meta.json`` and 1.x ``session_*.json`` under the roots."""
        found: list[Source] = []
        for root in self.roots():
            for path in iter_files(root, ".json", errors):
                name = path.name
                if name == META or (name.startswith("session_") and path.parent == root):
                    found.append(Source(CLIENT, path, "whole"))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """The session's running total as one row."""
        path = source.path
        legacy = path.name != META
        limit = LEGACY_MAX_BYTES if legacy else META_MAX_BYTES
        result = ReadResult()
        with open_regular(path) as fh:
            mtime = os.fstat(fh.fileno()).st_mtime_ns // 1000
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            result.skip("file too large")
            return result
        try:
            meta = _decode_legacy(raw).metadata if legacy else _decode_meta(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            result.skip("malformed file")
            return result
        if meta is None or meta.stats is None:
            return result
        stats = meta.stats
        prompt = count(stats.session_prompt_tokens)
        cached = min(count(stats.session_cached_tokens), prompt)
        output = count(stats.session_completion_tokens)
        spent = cost(stats.session_cost) or None
        if prompt + output == 0 and spent is None:
            return result
        own = text(meta.session_id) or (path.parent.name if not legacy else path.stem)
        parent = _parent_session(path) if not legacy else None
        model, provider = resolve_model(meta.config, meta.active_model or meta.model)
        model = model or "unknown"
        inferred = infer_provider(model, provider)
        end = time_us(meta.end_time)
        ts = usage_time(time_us(meta.start_time), end if end is not None else mtime)
        workspace = text(meta.origin_directory) or (
            text(meta.environment.working_directory) if meta.environment is not None else None
        )
        result.rows.append(
            Row(
                client=CLIENT,
                provider=inferred if inferred != "unknown" else "mistral",
                model=model,
                workspace=workspace or "",
                session_id=parent or own,
                agent="subagent" if parent else None,
                event_key=own,
                ts=ts or mtime,
                input=prompt - cached,
                output=output,
                cache_read=cached,
                source_cost=spent,
            )
        )
        return result


def _parent_session(path: Path) -> str | None:
    """The parent session of a sub-agent's ``<session>/agents/<child>/meta.json``: its id, else its folder."""
    agents = path.parent.parent
    if agents.name != "agents":
        return None
    parent_meta = agents.parent / META
    try:
        with open_regular(parent_meta) as fh:
            sid = text(_decode_meta(fh.read(META_MAX_BYTES)).session_id)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        sid = None
    return sid or agents.parent.name


READERS = (VibeReader(),)
