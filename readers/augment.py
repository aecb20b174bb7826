"""Augment Code's Auggie CLI: one JSON snapshot per session (clients.md §3.18).

Source: ``~/.augment/sessions/<sessionId>.json``, rewritten whole as the session grows (read in
``whole`` mode; every turn keeps a stable key, so a re-read replaces, never adds).

Fields read (tokscale ``sessions/augment.rs``): ``sessionId``, ``agentState.modelId`` and
``chatHistory[]`` turns ``{completed, finishedAt, sequenceId, exchange{model_id, request_id,
response_nodes[].token_usage{input_tokens, output_tokens, cache_read_input_tokens,
cache_creation_input_tokens}}}``, Anthropic style (input excludes the cache).

Traps handled:

* Only ``completed: true`` turns count (a turn in progress may carry partial usage).
* The LAST non-empty ``token_usage`` node of a turn is its usage, never a sum of the nodes (the
  first tokscale version took the first one).
* Times are end-anchored: ``finishedAt``; else the session's ``modified``; else the file's mtime.
* Credits and ``subAgentCostUsd`` are not read (not token costs in USD).
* ACP-mode sessions report no usage (augmentcode/auggie#159): they give no rows.
* Key: the turn's ``request_id``, else ``<session>:seq:<sequenceId>``, else its position. One bad
  turn costs itself (counted skip); an unreadable file costs the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, home, iter_files, open_regular
from .coerce import count, text, time_us
from .providers import infer_provider

CLIENT = "augment"
#: A session snapshot holds the conversation; refuse one larger than this.
MAX_SESSION_BYTES = 512 << 20


class _Node(msgspec.Struct):
    token_usage: Any = None


class _Exchange(msgspec.Struct):
    model_id: Any = None
    request_id: Any = None
    response_nodes: list[_Node] | None = None


class _Turn(msgspec.Struct):
    completed: Any = None
    finishedAt: Any = None
    sequenceId: Any = None
    exchange: _Exchange | None = None


class _AgentState(msgspec.Struct):
    modelId: Any = None


class _Session(msgspec.Struct):
    sessionId: Any = None
    modified: Any = None
    agentState: _AgentState | None = None
    chatHistory: list[msgspec.Raw] | None = None


_decode_session = msgspec.json.Decoder(_Session).decode
_decode_turn = msgspec.json.Decoder(_Turn).decode


def _usage(nodes: list[_Node] | None) -> tuple[int, int, int, int] | None:
    """(input, output, cache read, cache write) of the last node with non-zero usage."""
    for node in reversed(nodes or ()):
        raw = node.token_usage
        if not isinstance(raw, dict):
            continue
        counts = (
            count(raw.get("input_tokens")),
            count(raw.get("output_tokens")),
            count(raw.get("cache_read_input_tokens")),
            count(raw.get("cache_creation_input_tokens")),
        )
        if any(counts):
            return counts
    return None


class AugmentReader:
    """Reads Auggie session snapshots."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env: tuple[str, ...] = ()

    def roots(self) -> list[Path]:
        """The sessions directory."""
        return [home() / ".augment" / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every session snapshot."""
        return [Source(CLIENT, p, "whole") for root in self.roots() for p in iter_files(root, ".json", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One row per completed turn with usage."""
        path = source.path
        result = ReadResult()
        with open_regular(path) as fh:
            st = os.fstat(fh.fileno())
            if st.st_size > MAX_SESSION_BYTES:
                result.skip("file too large")
                return result
            raw = fh.read()
        try:
            session = _decode_session(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            result.skip("malformed session file")
            return result
        sid = text(session.sessionId) or path.stem
        default_model = text(session.agentState.modelId) if session.agentState is not None else None
        fallback = time_us(session.modified) or st.st_mtime_ns // 1000
        for index, raw_turn in enumerate(session.chatHistory or ()):
            try:
                turn = _decode_turn(raw_turn)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                result.skip("malformed turn")
                continue
            if turn.completed is not True or turn.exchange is None:
                continue
            usage = _usage(turn.exchange.response_nodes)
            if usage is None:
                continue
            inp, out, read, write = usage
            model = text(turn.exchange.model_id) or default_model or "unknown"
            key = text(turn.exchange.request_id)
            if key is None:
                seq = turn.sequenceId
                key = f"{sid}:seq:{seq}" if isinstance(seq, (int, str)) and str(seq) else f"{sid}:turn:{index}"
            result.rows.append(
                Row(
                    client=CLIENT,
                    provider=infer_provider(model),
                    model=model,
                    workspace="",
                    session_id=sid,
                    agent=None,
                    event_key=key,
                    ts=time_us(turn.finishedAt) or fallback,
                    input=inp,
                    output=out,
                    cache_read=read,
                    cache_write_5m=write,
                )
            )
        return result


READERS = (AugmentReader(),)
