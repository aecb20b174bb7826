"""JetBrains Junie CLI: ``~/.junie/sessions/<session-id>/events.jsonl`` (clients.md §3.25).

Append-only JSONL, read from a byte offset. Usage lines are events whose
``event.agentEvent.kind`` is ``LlmResponseMetadataEvent``, with ``timestampMs`` (when the response
was logged) and ``event.agentEvent.modelUsage[]``: ``{model, provider, inputTokens | input,
outputTokens | output, cacheInputTokens | cacheReadInputTokens, cacheCreateTokens |
cacheCreationInputTokens, reasoningTokens, cost, time}`` (tokscale ``sessions/junie.rs``, PR#727).

Traps handled:

* ``AgentStateUpdatedEvent`` (and the other state snapshots, by their top-level ``kind``) embed
  copies of earlier usage events: skipped. The decision is made on the parsed kind, so a prompt
  that merely mentions one of those names costs nothing.
* ``cost`` is Junie's own figure: kept as ``source_cost`` (vendor-reported, 0 included).
* A replayed identical event counts once (the key is the session, the time, the model, the
  counts and the row's place in its event); two calls with the same counts at different times
  count twice.
* Input is taken to exclude the cache (the fields are Anthropic-shaped) and reasoning to be part
  of output, unless it is larger than output (then it is added). Both unverified.
* Times: ``timestampMs``; else the time in a ``session-YYMMDD-HHMMSS`` directory name (local time);
  else the row is skipped as ``no timestamp``.
* The agent is ``agentEvent.agent.name`` (else ``.id``). JetBrains AI Assistant keeps no local
  token ledger: not read.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, iter_files, lines_containing, read_new_chunk
from .coerce import cost, count, epoch_us, text
from .providers import infer_provider

CLIENT = "junie"
USAGE_KIND = "LlmResponseMetadataEvent"
SNAPSHOT_KINDS = frozenset({"AgentStateUpdatedEvent", "AgentCurrentStatusUpdatedEvent", "AgentPatchCreatedEvent"})
_SESSION_TIME = re.compile(r"^session-(\d{6})-(\d{6})")


class _AgentEvent(msgspec.Struct):
    kind: Any = None
    agent: Any = None
    modelUsage: Any = None


class _Event(msgspec.Struct):
    agentEvent: _AgentEvent | None = None


class _Line(msgspec.Struct):
    kind: Any = None
    timestampMs: Any = None
    event: _Event | None = None


_decode = msgspec.json.Decoder(_Line).decode


def _first(usage: dict[str, Any], *names: str) -> int:
    for name in names:
        if name in usage:
            return count(usage[name])
    return 0


def session_time(session: str) -> int | None:
    """The local time in a ``session-YYMMDD-HHMMSS`` name, as epoch µs."""
    match = _SESSION_TIME.match(session)
    if match is None:
        return None
    try:
        local = datetime.strptime(match[1] + match[2], "%y%m%d%H%M%S").astimezone()
    except ValueError:
        return None
    return int(local.timestamp()) * 1_000_000


class JunieReader:
    """Reads Junie session event logs."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env: tuple[str, ...] = ()

    def roots(self) -> list[Path]:
        """The sessions directory."""
        return [home() / ".junie" / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every session's ``events.jsonl``."""
        return [
            Source(CLIENT, p)
            for root in self.roots()
            for p in iter_files(root, "events.jsonl", errors)
            if p.name == "events.jsonl"
        ]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Usage rows from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        result = ReadResult(offset=new_offset)
        session = source.path.parent.name
        fallback = session_time(session)
        for raw in lines_containing(data, USAGE_KIND.encode()):
            line = decode_line(_decode, raw)
            if line is None:
                result.skip("malformed line")
                continue
            if line.kind in SNAPSHOT_KINDS or line.event is None or line.event.agentEvent is None:
                continue
            event = line.event.agentEvent
            if event.kind != USAGE_KIND or not isinstance(event.modelUsage, list):
                continue
            ts = epoch_us(line.timestampMs) if not isinstance(line.timestampMs, bool) else None
            if ts is None:
                ts = fallback
            if ts is None:
                result.skip("no timestamp")
                continue
            agent = _agent_name(event.agent)
            for index, usage in enumerate(event.modelUsage):
                if isinstance(usage, dict):
                    row = _row(usage, index, ts, session, agent)
                    if row is not None:
                        result.rows.append(row)
        return result


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, dict):
        return text(agent.get("name")) or text(agent.get("id"))
    return None


def _row(usage: dict[str, Any], index: int, ts: int, session: str, agent: str | None) -> Row | None:
    model = text(usage.get("model"))
    if model is None:
        return None
    inp = _first(usage, "inputTokens", "input")
    out = _first(usage, "outputTokens", "output")
    read = _first(usage, "cacheInputTokens", "cacheReadInputTokens", "cacheRead")
    write = _first(usage, "cacheCreateTokens", "cacheCreationInputTokens", "cacheWrite")
    reasoning = _first(usage, "reasoningTokens", "reasoningOutputTokens", "thinkingTokens")
    spent = cost(usage.get("cost"))
    if reasoning > out:
        out += reasoning
    if inp + out + read + write == 0 and not spent:
        return None
    return Row(
        client=CLIENT,
        provider=infer_provider(model, usage.get("provider")),
        model=model,
        workspace="",
        session_id=session,
        agent=agent,
        event_key=f"{session}:{ts}:{model}:{inp}:{out}:{read}:{write}:{index}",
        ts=ts,
        input=inp,
        output=out,
        reasoning=reasoning,
        cache_read=read,
        cache_write_5m=write,
        source_cost=spent,
    )


READERS = (JunieReader(),)
