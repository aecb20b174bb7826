"""Mux (coder/mux, renamed Xum): ``sessions/<workspaceId>/session-usage.json`` (clients.md §3.3).

Roots: ``XUM_ROOT`` or its older alias ``MUX_ROOT`` (comma lists; either replaces the defaults),
else every one of ``~/.xum`` (the current home), ``~/.mux`` and ``~/.cmux`` (older ones) that
exists; the renaming leaves ``~/.mux`` as a symlink to ``~/.xum``, so a file reached twice is read
once. Mux rewrites the file atomically (write-file-atomic: a new inode), so it is read whole.

Record read (Mux ``SessionUsageFileSchema``, ``sessionUsageService.ts``)::

    {"version": 1,
     "byModel": {"<provider>:<model>": {"input": {"tokens", "cost_usd"}, "cached": {...},
                  "cacheCreate": {...}, "output": {...}, "reasoning": {...}}},
     "lastRequest": {"model", "usage", "timestamp" (epoch ms)},
     "rolledUpFrom": {"<child workspace id>": true | {"inputTokens", "outputTokens",
                      "reasoningTokens", "cachedTokens", "cacheCreateTokens", "totalCostUsd",
                      "agentType", "model", "rolledUpAtMs"}}}

Traps handled:

* Running totals per workspace and model ("accumulated on stream-end, never subtracted"): one row
  per (workspace, model) with a workspace-scoped key ``<workspaceId>/<provider>:<model>`` (tokscale's
  ``mux:<model>:0`` collided across workspaces) and a tied rank, so a re-read replaces the numbers.
* Mux's display buckets are disjoint: ``input`` is uncached, ``cached`` are cache reads,
  ``cacheCreate`` cache writes (5-minute: no TTL recorded), and ``output`` *excludes* reasoning
  (Mux: "totalOutput = output + reasoning"): output = ``output + reasoning``, reasoning reported.
* ``cost_usd`` of the five buckets summed is Mux's own price, kept as source cost (0 when Mux
  knew no price: then left to tokscope's price table).
* Timestamp: ``lastRequest.timestamp``, the time of the workspace's latest request, for every
  model's row (the file is also rewritten without a request, e.g. to cache token stats, so the
  mtime would move usage to a later day); the mtime only when there is no ``lastRequest``.
* A deleted sub-agent workspace's totals are merged into its parent's ``byModel`` and recorded in
  ``rolledUpFrom``. A child tokscope read while it lived already has rows keyed by its own id, so
  an entry with totals and a ``model`` becomes the child's row for that model again (the same key:
  replaced, never added), ``agent`` = its ``agentType``, dated ``rolledUpAtMs``, and is taken out
  of the parent's row of that model. A legacy ``true`` entry carries no totals: the parent keeps
  them (a child read before it was deleted is then counted twice; Mux wrote no more to tell).
* Gateway keys (``mux-gateway:anthropic/claude-…``, older files) name the origin provider and model;
  other gateways keep the gateway as provider (``openrouter:meta-llama/…``).
* Lossy in time: all of a (workspace, model)'s tokens carry its last request's time, so history
  lands on the day of the last request. Splitting by day needs the ledger to keep the previous
  snapshot (see the report of issue 18); the reader stays idempotent meanwhile.
* Malformed, oversized or non-regular files cost only themselves (counted); counts go through
  ``coerce.count``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, env_paths, first_sight, home, iter_files, open_regular
from .coerce import cost, count, epoch_us, text
from .providers import KNOWN, provider_name

CLIENT = "mux"
FILE = "session-usage.json"
MAX_BYTES = 32 << 20
"""One small object per workspace (plus a cache of token stats); anything larger is not Mux's."""

_BUCKETS = ("input", "cached", "cacheCreate", "output", "reasoning")
_GATEWAYS = frozenset({"mux-gateway", "coder"})


class _Last(msgspec.Struct):
    model: Any = None
    timestamp: Any = None


class _File(msgspec.Struct):
    byModel: Any = None
    lastRequest: _Last | None = None
    rolledUpFrom: Any = None


_decode = msgspec.json.Decoder(_File).decode


def split_model(key: str) -> tuple[str, str]:
    """(provider, model) of a Mux model key: ``anthropic:claude-opus-4-6`` -> ``("anthropic", "claude-opus-4-6")``."""
    prefix, sep, rest = key.strip().partition(":")
    if not sep:
        prefix, rest = "", prefix
    rest = rest.strip()
    if prefix.lower() in _GATEWAYS and "/" in rest:
        origin, _, model = rest.partition("/")
        if origin.lower() in KNOWN:
            return provider_name(origin), model
    return (provider_name(prefix) if prefix else "unknown"), rest


def _bucket(entry: dict[str, Any], name: str) -> tuple[int, float]:
    value = entry.get(name)
    if not isinstance(value, dict):
        return 0, 0.0
    return count(value.get("tokens")), cost(value.get("cost_usd")) or 0.0


class MuxReader:
    """Reads Mux's per-workspace usage totals."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("XUM_ROOT", "MUX_ROOT")

    def roots(self) -> list[Path]:
        """The ``sessions`` folders of the Mux homes."""
        homes = env_paths("XUM_ROOT") or env_paths("MUX_ROOT")
        if not homes:
            base = home()
            homes = [base / ".xum", base / ".mux", base / ".cmux"]
        return [h / "sessions" for h in homes]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``sessions/<workspace>/session-usage.json``."""
        seen: set[Path] = set()
        found: list[Source] = []
        for root in self.roots():
            for path in iter_files(root, FILE, errors):
                if path.name == FILE and path.parent.parent == root:
                    try:
                        if first_sight(path, seen):
                            found.append(Source(CLIENT, path, "whole"))
                    except OSError as exc:
                        errors.append(f"{path}: {exc.strerror or exc}")
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One running-total row per model of the workspace (and per rolled-up child)."""
        path = source.path
        result = ReadResult()
        with open_regular(path) as fh:
            mtime = os.fstat(fh.fileno()).st_mtime_ns // 1000
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            result.skip("file too large")
            return result
        try:
            data = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            result.skip("malformed file")
            return result
        if not isinstance(data.byModel, dict):
            return result
        workspace_id = path.parent.name
        last = data.lastRequest
        ts = (epoch_us(last.timestamp) if last is not None else None) or mtime
        # (provider, model) -> [input, cached, cacheCreate, output, reasoning, cost]
        totals: dict[tuple[str, str], list[float]] = {}
        for key, entry in data.byModel.items():
            if not isinstance(entry, dict) or not isinstance(key, str):
                result.skip("malformed model entry")
                continue
            provider, model = split_model(key)
            if not model:
                result.skip("model entry without a model")
                continue
            sums = totals.setdefault((provider, model), [0, 0, 0, 0, 0, 0.0])
            for i, name in enumerate(_BUCKETS):
                tokens, spent = _bucket(entry, name)
                sums[i] += tokens
                sums[5] += spent
        rows = result.rows
        children = data.rolledUpFrom if isinstance(data.rolledUpFrom, dict) else {}
        for child, entry in sorted(children.items(), key=lambda item: str(item[0])):
            if not isinstance(entry, dict) or not isinstance(child, str) or not child:
                continue  # a legacy ``true``: no totals to place
            raw_model = text(entry.get("model"))
            if raw_model is None:
                continue
            provider, model = split_model(raw_model)
            parts = [count(entry.get(name)) for name in _CHILD_FIELDS]
            spent = cost(entry.get("totalCostUsd")) or 0.0
            parent = totals.get((provider, model))
            if parent is not None:  # the child's share is no longer the parent's
                for i, value in enumerate(parts):
                    parent[i] = max(0, parent[i] - value)
                parent[5] = max(0.0, parent[5] - spent)
            at = epoch_us(entry.get("rolledUpAtMs")) or ts
            row = _row(
                child, workspace_id, text(entry.get("agentType")) or "subagent", provider, model, at, [*parts, spent]
            )
            if row is not None:
                rows.append(row)
        for (provider, model), sums in totals.items():
            row = _row(workspace_id, workspace_id, None, provider, model, ts, sums)
            if row is not None:
                rows.append(row)
        return result


#: ``rolledUpFrom`` totals, in the order of ``_BUCKETS``.
_CHILD_FIELDS = ("inputTokens", "cachedTokens", "cacheCreateTokens", "outputTokens", "reasoningTokens")


def _row(
    owner: str, session: str, agent: str | None, provider: str, model: str, ts: int, sums: list[float]
) -> Row | None:
    inp, cached, create, out, reasoning = (int(v) for v in sums[:5])
    spent = float(sums[5])
    if inp + cached + create + out + reasoning == 0:
        return None
    return Row(
        client=CLIENT,
        provider=provider,
        model=model,
        workspace="",
        session_id=session,
        agent=agent,
        event_key=f"{owner}/{provider}:{model}",
        ts=ts,
        input=inp,
        output=out + reasoning,
        reasoning=reasoning,
        cache_read=cached,
        cache_write_5m=create,
        source_cost=spent if spent > 0 else None,
    )


READERS = (MuxReader(),)
