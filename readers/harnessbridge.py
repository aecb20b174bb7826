"""Harnessbridge: a usage ledger that wraps other harnesses (clients.md §3.11; toktrail's format).

Root: ``${TOKTRAIL_HARNESSBRIDGE_SESSIONS:-~/.harnessbridge/sessions}``, every ``*.jsonl``
below it (append-only). Rows: ``type: "session"`` headers (``id``, ``harness``,
``accounting``, ``started_ms``/``started_at``, ``provider_id``/``model_id``, ``cwd``,
``source_dir``, ``git_root``) and ``type: "usage"`` rows (``id``, ``harness``, ``accounting``,
``provider_id``, ``model_id``, ``agent``, ``source_session_id``, ``source_message_id``,
``created_ms``/``created_at``, ``tokens.{input, output, reasoning, cache_read, cache_write,
cache_output}`` in snake or camel case, ``source_cost_usd`` or ``cost.total`` or
``raw.native_usage.cost.total``).

Traps handled:

* ``accounting: "mirror"`` rows duplicate a session the inner harness logs natively (and
  tokscope reads there): never counted. A usage row without its own ``accounting`` takes the
  session header's.
* Rows belong to the inner ``harness`` (a row's own, else the header's): the client stays
  ``harnessbridge`` (a client is one reader's), and the harness is the row's ``agent``
  (``codex``, or ``codex/headless`` when the row names an agent too), so reports can group by it.
* Token buckets are disjoint (toktrail sums input + output + reasoning + cache read + cache
  write + cache output): reasoning and cached output are added to output, reasoning also
  reported as reasoning; input is uncached.
* Keys: an explicit ``global_dedup_key``/``dedup_key``, else the row's own session id (else
  the file name: never the header's, so a damaged header cannot move every key) and
  ``source_dedup_key`` / ``source_message_id`` / ``id``, else the row's byte offset.
* Model ids carrying their provider as a prefix (``openai/gpt-5``) lose it; a missing
  provider is inferred from the model. Times: ``created_ms`` (ms, or seconds below 1e10),
  ``created_at``, ``timestamp``, else the session's start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, iter_files, lenient_decoder, read_new_chunk
from .coerce import cost, count, text, time_us
from .providers import infer_provider

CLIENT = "harnessbridge"
_HEADER_FIELDS = ("session", "harness", "accounting", "started", "provider", "model", "workspace")


class _Row(msgspec.Struct):
    type: Any = None
    id: Any = None
    harness: Any = None
    accounting: Any = None
    started_ms: Any = None
    started_at: Any = None
    provider_id: Any = None
    provider: Any = None
    model_id: Any = None
    model: Any = None
    cwd: Any = None
    working_directory: Any = None
    source_dir: Any = None
    git_root: Any = None
    agent: Any = None
    source_session_id: Any = None
    session_id: Any = None
    source_message_id: Any = None
    source_dedup_key: Any = None
    global_dedup_key: Any = None
    dedup_key: Any = None
    created_ms: Any = None
    created_at: Any = None
    timestamp: Any = None
    tokens: Any = None
    source_cost_usd: Any = None
    cost: Any = None
    raw: Any = None


_decode = lenient_decoder(_Row)


def _ident(value: Any) -> str | None:
    name = text(value)
    return name.lower() if name else None


def _accounting(value: Any) -> str | None:
    mode = _ident(value)
    return mode if mode in ("primary", "mirror") else None


def _pick(tokens: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = count(tokens.get(key))
        if value:
            return value
    return 0


def _source_cost(row: _Row) -> float | None:
    for value in (
        row.source_cost_usd,
        row.cost.get("total") if isinstance(row.cost, dict) else None,
        _nested(row.raw, "native_usage", "cost", "total"),
    ):
        usd = cost(value)
        if usd:
            return usd
    return None


def _nested(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class HarnessbridgeReader:
    """Reads Harnessbridge usage ledgers."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("TOKTRAIL_HARNESSBRIDGE_SESSIONS",)

    def roots(self) -> list[Path]:
        """``$TOKTRAIL_HARNESSBRIDGE_SESSIONS``, else ``~/.harnessbridge/sessions``."""
        value = os.environ.get("TOKTRAIL_HARNESSBRIDGE_SESSIONS", "").strip()
        return [Path(value).expanduser() if value else home() / ".harnessbridge" / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ledger file."""
        return [Source(CLIENT, p) for p in iter_files(self.roots()[0], ".jsonl", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Primary usage rows from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        if not state:
            state = dict.fromkeys(_HEADER_FIELDS)
            state["session"] = state["file"] = source.path.stem
        result = ReadResult(offset=new_offset, state=state)
        pos = 0
        size = len(data)
        while pos < size:
            end = data.find(b"\n", pos)
            raw = data[pos:end]
            at = offset + pos
            pos = end + 1
            if not raw.strip() or (b'"usage"' not in raw and b'"session"' not in raw):
                continue
            row = decode_line(_decode, raw)
            if row is None:
                result.skip("malformed line")
                continue
            if row.type == "session":
                _header(row, state)
            elif row.type == "usage":
                out = _usage(row, state, at)
                if out is not None:
                    result.rows.append(out)
        return result


def _header(row: _Row, state: dict[str, Any]) -> None:
    """A session header: its values stand for the usage rows that do not give their own."""
    state["session"] = text(row.id) or state["session"]
    state["harness"] = _ident(row.harness) or state["harness"]
    state["accounting"] = _accounting(row.accounting) or state["accounting"]
    state["started"] = time_us(row.started_ms) or time_us(row.started_at) or state["started"]
    state["provider"] = _ident(row.provider_id) or _ident(row.provider) or state["provider"]
    state["model"] = text(row.model_id) or text(row.model) or state["model"]
    state["workspace"] = (
        text(row.cwd) or text(row.working_directory) or text(row.source_dir) or text(row.git_root) or state["workspace"]
    )


def _usage(row: _Row, state: dict[str, Any], at: int) -> Row | None:
    accounting = _accounting(row.accounting) or (state["accounting"] if row.accounting is None else None)
    if accounting == "mirror":
        return None  # the inner harness's own log holds this turn
    harness = _ident(row.harness) or state["harness"]
    tokens = row.tokens if isinstance(row.tokens, dict) else {}
    inp = count(tokens.get("input"))
    out = count(tokens.get("output"))
    reasoning = count(tokens.get("reasoning"))
    read = _pick(tokens, "cache_read", "cacheRead")
    write = _pick(tokens, "cache_write", "cacheWrite")
    cached_out = _pick(tokens, "cache_output", "cacheOutput")
    if harness is None or inp + out + reasoning + read + write + cached_out == 0:
        return None
    ts = time_us(row.created_ms) or time_us(row.created_at) or time_us(row.timestamp) or state["started"]
    if ts is None:
        return None
    own_session = text(row.source_session_id) or text(row.session_id)
    session = own_session or state["session"]
    provider = _ident(row.provider_id) or _ident(row.provider) or state["provider"]
    model = text(row.model_id) or text(row.model) or state["model"] or "unknown"
    if provider and model.lower().startswith(provider + "/") and len(model) > len(provider) + 1:
        model = model[len(provider) + 1 :]
    explicit = text(row.global_dedup_key) or text(row.dedup_key)
    if explicit:
        key = explicit
    else:
        ident = text(row.source_dedup_key) or text(row.source_message_id) or text(row.id) or f"@{at}"
        key = f"{own_session or state['file']}:{ident}"
    agent = _ident(row.agent)
    return Row(
        client=CLIENT,
        provider=provider or infer_provider(model),
        model=model,
        workspace=state["workspace"] or "",
        session_id=session,
        agent=f"{harness}/{agent}" if agent else harness,
        event_key=key,
        ts=ts,
        input=inp,
        output=out + reasoning + cached_out,
        reasoning=reasoning,
        cache_read=read,
        cache_write_5m=write,
        source_cost=_source_cost(row),
    )


READERS = (HarnessbridgeReader(),)
