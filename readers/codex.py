"""Codex CLI and Every Code: rollout JSONL files (formats.md §2).

Roots: ``${CODEX_HOME:-~/.codex}`` (comma list allowed) ``sessions/`` and
``archived_sessions/``; Every Code (client ``every-code``, same format) at
``${CODE_HOME:-~/.code}``.

Traps handled:

* Usage comes from ``event_msg`` / ``token_count``: ``info.last_token_usage`` is
  the call's delta, ``info.total_token_usage`` the thread's running total. The
  delta is checked against the change in the total; when it does not explain
  it (a zero estimate, a missing ``last``), ``total - previous total`` is used.
  The first event of a file uses ``last`` (a resumed thread starts with a large
  carried-over total).
* A repeated ``token_count`` (same total) adds nothing; ``info: null`` (rate
  limits only) is skipped; a total a little below the previous one is a stale,
  out-of-order snapshot and is skipped, a much lower one a reset.
* Fork and subagent replays: a rollout with a parent (``forked_from_id``,
  ``parent_thread_id`` or ``source.subagent.thread_spawn``) begins by replaying
  the parent's events. ``token_count`` events before the child's first
  ``turn_context``, or in the same second as the ``session_meta`` line, are
  that replay: they seed the running total and are not counted.
* OpenAI conventions: cached (and ``cache_write_input_tokens``) are inside
  ``input_tokens`` and are subtracted; reasoning is inside ``output_tokens``
  and is reported, never added again.
* Model from the latest ``turn_context`` (``info.model`` as a fallback);
  events before any model are ``unknown`` (left unpriced, not guessed).
* The same thread in ``sessions/`` and ``archived_sessions/`` (or a resumed
  copy) gives the same keys: hash of (thread id, total, last); the earliest
  timestamp wins so a replay returns to its original day.
* Sessions crossing midnight: each event keeps its own timestamp.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    ReadResult,
    Source,
    decode_line,
    env_paths,
    home,
    iso_to_us,
    iter_files,
    lenient_decoder,
    lines_containing,
    read_new_chunk,
)

_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "cache_write_input_tokens",
)


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    cache_write_input_tokens: int | None = None


class _Info(msgspec.Struct):
    total_token_usage: _Usage | None = None
    last_token_usage: _Usage | None = None
    model: Any = None


class _Payload(msgspec.Struct):
    type: Any = None
    info: _Info | None = None
    # session_meta
    id: Any = None
    cwd: Any = None
    model_provider: Any = None
    source: Any = None
    forked_from_id: Any = None
    parent_thread_id: Any = None
    agent_role: Any = None
    agent_nickname: Any = None
    # turn_context
    model: Any = None
    service_tier: Any = None


class _Line(msgspec.Struct):
    timestamp: Any = None
    type: Any = None
    payload: _Payload | None = None


_decode = lenient_decoder(_Line)


#: The line kinds that matter; transcript lines (the bulk) carry no usage.
_MARKERS = re.compile(rb'"(?:token_count|turn_context|session_meta)"')


def _vector(usage: _Usage | None) -> tuple[int, int, int, int, int] | None:
    """(input, cached, output, reasoning, cache_write) of a usage object."""
    if usage is None:
        return None
    cached = usage.cached_input_tokens if usage.cached_input_tokens is not None else usage.cache_read_input_tokens
    vector = (
        usage.input_tokens or 0,
        cached or 0,
        usage.output_tokens or 0,
        usage.reasoning_output_tokens or 0,
        usage.cache_write_input_tokens or 0,
    )
    return vector if min(vector) >= 0 else (max(vector[0], 0), *(max(v, 0) for v in vector[1:]))


def _parent_of(payload: _Payload) -> str | None:
    for value in (payload.forked_from_id, payload.parent_thread_id):
        if isinstance(value, str) and value:
            return value
    source = payload.source
    if isinstance(source, dict):
        spawn = (source.get("subagent") or {}) if isinstance(source.get("subagent"), dict) else {}
        spawn = spawn.get("thread_spawn") if isinstance(spawn.get("thread_spawn"), dict) else {}
        parent = spawn.get("parent_thread_id")
        if isinstance(parent, str) and parent:
            return parent
        return "subagent"  # a subagent without a named parent still replays
    return None


def _agent_of(payload: _Payload) -> str | None:
    for value in (payload.agent_role, payload.agent_nickname):
        if isinstance(value, str) and value:
            return value
    source = payload.source
    if isinstance(source, dict) and isinstance(source.get("subagent"), dict):
        spawn = source["subagent"].get("thread_spawn")
        if isinstance(spawn, dict) and isinstance(spawn.get("agent_role"), str):
            return spawn["agent_role"]
        return "subagent"
    return None


class CodexReader:
    """Reads Codex-format rollouts for one client (codex or every-code)."""

    session_totals = False

    def __init__(self, client: str, env: str, default: str) -> None:
        self.client = client
        self._env = env
        self._default = default

    def homes(self) -> list[Path]:
        """The client's home directories."""
        return env_paths(self._env) or [home() / self._default]

    def roots(self) -> list[Path]:
        """``sessions/`` and ``archived_sessions/`` of every home."""
        return [h / sub for h in self.homes() for sub in ("sessions", "archived_sessions")]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every rollout file under the roots."""
        return [Source(self.client, p) for root in self.roots() for p in iter_files(root, ".jsonl", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read token_count events from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        if not state:
            state = {
                "session": source.path.stem.removeprefix("rollout-"),
                "cwd": "",
                "provider": "openai",
                "model": None,
                "prev": None,
                "parent": None,
                "agent": None,
                "meta_second": None,
                "turn_seen": False,
            }
        rows: list[tuple] = []
        skipped = 0
        for raw in lines_containing(data, _MARKERS):
            line = decode_line(_decode, raw)
            if line is None:
                skipped += 1
                continue
            payload = line.payload
            if payload is None:
                continue
            kind = line.type
            if kind == "session_meta":
                self._meta(state, line, payload)
            elif kind == "turn_context":
                state["turn_seen"] = True
                if isinstance(payload.model, str) and payload.model:
                    state["model"] = payload.model
                tier = payload.service_tier
                state["tier"] = tier if tier in ("fast", "priority") else None
            elif kind == "event_msg" and payload.type == "token_count":
                row = self._token_count(state, line, payload)
                if row is not None:
                    rows.append(row)
        return ReadResult(rows=rows, offset=new_offset, state=state, skipped=skipped)

    def _meta(self, state: dict[str, Any], line: _Line, payload: _Payload) -> None:
        if isinstance(payload.id, str) and payload.id:
            state["session"] = payload.id
        if isinstance(payload.cwd, str):
            state["cwd"] = payload.cwd
        if isinstance(payload.model_provider, str) and payload.model_provider:
            state["provider"] = payload.model_provider
        state["parent"] = _parent_of(payload)
        state["agent"] = _agent_of(payload)
        if isinstance(line.timestamp, str):
            state["meta_second"] = line.timestamp[:19]

    def _token_count(self, state: dict[str, Any], line: _Line, payload: _Payload) -> tuple | None:
        info = payload.info
        if info is None:
            return None
        total = _vector(info.total_token_usage)
        last = _vector(info.last_token_usage)
        prev = tuple(state["prev"]) if state["prev"] is not None else None
        if total is not None:
            if sum(total) == 0:
                return None  # a zero snapshot: keep the baseline
            if prev is not None:
                if total == prev:
                    return None  # the same token_count written again
                grown = total[0] + total[2]
                before = prev[0] + prev[2]
                if grown < before and grown >= before * 0.98:
                    return None  # stale out-of-order snapshot
        same_second = isinstance(line.timestamp, str) and line.timestamp[:19] == state["meta_second"]
        if state["parent"] is not None and (not state["turn_seen"] or same_second):
            if total is not None:
                state["prev"] = list(total)
            return None  # the parent's replayed prefix
        if total is not None and prev is not None and all(t >= p for t, p in zip(total, prev, strict=True)):
            delta = tuple(t - p for t, p in zip(total, prev, strict=True))
            usage = last if last is not None and last == delta else delta
        else:
            usage = last if last is not None else total
        if total is not None:
            state["prev"] = list(total)
        if usage is None:
            return None
        ts = iso_to_us(line.timestamp)
        if ts is None:
            return None
        inp, cached, out, reasoning, cache_write = usage
        cached = min(cached, inp)
        cache_write = min(cache_write, inp - cached)
        uncached = inp - cached - cache_write
        if uncached + cached + cache_write + out == 0:
            return None
        model = state["model"] or (info.model if isinstance(info.model, str) and info.model else None)
        if model and not state["model"]:
            state["model"] = model
        key_src = (
            f"{state['session']}|{total}|{last}" if total is not None else f"{state['session']}|{line.timestamp}|{last}"
        )
        key = hashlib.blake2b(key_src.encode(), digest_size=12).hexdigest()
        return (
            self.client,
            state["provider"],
            model or "unknown",
            state["cwd"],
            state["session"],
            state["agent"],
            key,
            ts,
            uncached,
            out,
            min(reasoning, out),
            cached,
            cache_write,
            0,
            None,
            state.get("tier"),
            -ts,
        )


READERS = (
    CodexReader("codex", "CODEX_HOME", ".codex"),
    CodexReader("every-code", "CODE_HOME", ".code"),
)
