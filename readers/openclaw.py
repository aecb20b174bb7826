"""OpenClaw (formerly Clawdbot / Moltbot): Pi-style session JSONL (formats.md §9).

Roots: ``${OPENCLAW_STATE_DIR:-~/.openclaw}`` (comma list allowed; else
ccusage's ``OPENCLAW_DIR``), which replaces the defaults; the defaults are ``~/.openclaw``, the named profiles
``~/.openclaw-<profile>`` (``--profile`` / ``--dev``) and the legacy state
dirs ``~/.clawdbot``, ``~/.moltbot`` and ``~/.moldbot``. Under each root,
``agents/<agentId>/sessions/`` holds ``<sessionId>.jsonl`` plus the rotated
``<sessionId>.jsonl.deleted.<ts>`` and ``<sessionId>.jsonl.reset.<ts>`` files
(still real usage), and ``agents/<agentId>/session-sqlite-import-archive/``
holds legacy transcripts that ``openclaw doctor`` moved aside.

Records: ``type:"message"`` with ``message.role == "assistant"`` and
``message.usage.{input, output, cacheRead, cacheWrite, totalTokens,
reasoningTokens?, cost.total}``; model from ``message.model|modelId``, else
the last ``model_change`` (``modelId``/``provider``, or ``model``, possibly
``provider/model``) or ``custom`` record with ``customType:"model-snapshot"``
(the same fields under ``data``).

Traps handled:

* A session file renamed to ``.deleted.<ts>`` / ``.reset.<ts>`` (or moved to
  the import archive, or copied by ``/fork`` under a new session id) must not
  count twice: the event key is built from the entry itself (entry id,
  ``message.timestamp`` or the line timestamp, token counts), never from the
  file name or session. The session id is the file name up to ``.jsonl``
  (the same before and after a rename). Among copies, one whose model is
  known (a fork copy may lack the ``model_change`` before it) wins.
* ``reasoningTokens`` (turns run through the Codex app-server) is a subset of
  ``output``: reported as reasoning, not added.
* Input is uncached (Pi convention); cache writes count as 5-minute writes.
* ``cost.total`` is USD computed by OpenClaw: ``source_cost``.
* Bookkeeping rows OpenClaw writes itself (``api:"openclaw-transcript"``, or
  provider ``openclaw`` with model ``delivery-mirror``/``gateway-injected``)
  are not model calls and are skipped.
* Counters also spelled ``inputTokens`` / ``outputTokens`` /
  ``cacheReadTokens`` / ``cacheWriteTokens``; they go through ``coerce.count``
  (an absurd one reaches the scan, which rejects that row with a reason).
* Timestamp: ``message.timestamp`` (epoch ms), else the line's
  ``timestamp`` (ISO, or an epoch number in seconds or milliseconds).
* Agent: the ``<agentId>`` directory (``main`` is the default agent and is
  left empty).

The per-agent SQLite store ``agents/<agentId>/agent/openclaw-agent.sqlite``
that OpenClaw 2026.x writes live transcripts to is read too (whole mode,
read-only, its ``-wal`` watched): table ``transcript_events(session_id, seq,
event_json, created_at)``, the same event records as the JSONL files, with the
session's provider/model from ``session_windows`` (older schema:
``sessions``) as a last fallback. ``openclaw doctor`` imports legacy JSONL
into it and leaves the files in place: the event keys agree, so each event
counts once. A locked store is retried, then reported. An event with no
timestamp of its own takes the row's ``created_at`` (JSONL: the file's mtime)
and is keyed by id and counts alone, since those fill-ins differ between the
stores. Not read: zstd-compressed ``.zst`` archives; the incognito store.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, env_paths, first_sight, home, read_new_lines
from .coerce import epoch_us, time_us
from .database import companions, read_db
from .pi import PiUsage, model_change, pi_tokens, usd
from .providers import infer_provider

CLIENT = "openclaw"
LEGACY_DIRS = (".clawdbot", ".moltbot", ".moldbot")
SUBDIRS = ("sessions", "session-sqlite-import-archive")
ARTIFACT_MODELS = ("delivery-mirror", "gateway-injected")
STORE = "openclaw-agent.sqlite"
#: Only rows that can matter leave the database (assistant usage and model bookkeeping).
_FILTER = """instr(e.event_json, '"usage"') > 0 OR instr(e.event_json, '"model_change"') > 0
    OR instr(e.event_json, '"model-snapshot"') > 0"""
_QUERIES = (
    f"""SELECT e.session_id, e.event_json, e.created_at, w.model_provider, w.model FROM transcript_events e
    LEFT JOIN session_windows w ON w.session_id = e.session_id WHERE {_FILTER} ORDER BY e.session_id, e.seq""",
    f"""SELECT e.session_id, e.event_json, e.created_at, s.model_provider, s.model FROM transcript_events e
    LEFT JOIN sessions s ON s.session_id = e.session_id WHERE {_FILTER} ORDER BY e.session_id, e.seq""",
    f"""SELECT e.session_id, e.event_json, e.created_at, NULL, NULL FROM transcript_events e
    WHERE {_FILTER} ORDER BY e.session_id, e.seq""",
)


class _Message(msgspec.Struct):
    role: Any = None
    model: Any = None
    modelId: Any = None
    provider: Any = None
    api: Any = None
    usage: PiUsage | None = None
    timestamp: Any = None


class _Data(msgspec.Struct):
    modelId: Any = None
    provider: Any = None


class _Entry(msgspec.Struct):
    type: Any = None
    id: Any = None
    timestamp: Any = None
    cwd: Any = None
    message: _Message | None = None
    customType: Any = None
    data: Any = None
    modelId: Any = None
    model: Any = None
    provider: Any = None


_decode = msgspec.json.Decoder(_Entry).decode


def _session_of(path: Path) -> str:
    name = path.name
    cut = name.find(".jsonl")
    stem = name[:cut] if cut > 0 else path.stem
    return stem.removeprefix("archive-tier.") or stem


class OpenClawReader:
    """Reads OpenClaw agent session transcripts."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("OPENCLAW_STATE_DIR", "OPENCLAW_DIR")

    def roots(self) -> list[Path]:
        """The state dirs' ``agents/`` directories."""
        configured = env_paths("OPENCLAW_STATE_DIR") or env_paths("OPENCLAW_DIR")
        if configured is not None:
            states = configured
        else:
            base = home()
            states = [base / ".openclaw"]
            with contextlib.suppress(OSError):
                states += sorted(p for p in base.glob(".openclaw-*") if p.is_dir())
            states += [base / name for name in LEGACY_DIRS]
        return [s / "agents" for s in states]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every transcript, live or rotated (``.deleted.*``, ``.reset.*``)."""
        found: list[Source] = []
        seen: set[Path] = set()
        for root in self.roots():
            if not root.is_dir():
                continue
            try:
                agents = sorted(p for p in root.iterdir() if p.is_dir())
            except OSError as exc:
                errors.append(f"cannot list {root}: {exc.strerror or exc}")
                continue
            for agent in agents:
                store = agent / "agent" / STORE
                if store.is_file():
                    found.append(Source(CLIENT, store, mode="whole", companions=companions(store)))
                for sub in SUBDIRS:
                    directory = agent / sub
                    if not directory.is_dir():
                        continue
                    try:
                        names = sorted(directory.iterdir())
                    except OSError as exc:
                        errors.append(f"cannot list {directory}: {exc.strerror or exc}")
                        continue
                    for path in names:
                        name = path.name
                        if ".jsonl" not in name or name.endswith(".zst") or ".jsonl.lock" in name:
                            continue
                        if not path.is_file():
                            continue
                        if first_sight(path, seen):
                            found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read assistant entries with usage from ``offset`` on (a SQLite store: whole)."""
        path = source.path
        if path.name == STORE:
            return _read_store(path)
        lines, new_offset = read_new_lines(path, offset)
        if not state:
            agent_dir = path.parent.parent.name
            state = _state(_session_of(path), agent_dir)
        try:  # the fill-in time of entries without a timestamp of their own
            state["mtime"] = path.stat().st_mtime_ns // 1000
        except OSError:
            state["mtime"] = 0
        result = ReadResult(offset=new_offset, state=state)
        for raw in lines:
            if (
                b'"usage"' not in raw
                and b'"model_change"' not in raw
                and b'"model-snapshot"' not in raw
                and b'"cwd"' not in raw
            ):
                continue
            entry = decode_line(_decode, raw)
            if entry is None:
                result.skip("malformed line")
                continue
            _ingest(entry, state, result.rows)
        return result


def _state(session: str, agent_dir: str) -> dict[str, Any]:
    return {
        "session": session,
        "agent": None if agent_dir == "main" else agent_dir,
        "workspace": "",
        "model": None,
        "provider": None,
        "mtime": 0,
        "session_model": None,
        "session_provider": None,
    }


def _ingest(entry: _Entry, state: dict[str, Any], rows: list[Row]) -> None:
    """Feed one event: remember model context, or append its usage row."""
    kind = entry.type
    if kind == "session":
        if isinstance(entry.cwd, str) and entry.cwd:
            state["workspace"] = entry.cwd
    elif kind == "model_change":
        _remember(state, *model_change(entry.modelId, entry.provider, entry.model))
    elif kind == "custom" and entry.customType == "model-snapshot" and isinstance(entry.data, dict):
        data = entry.data
        _remember(state, *model_change(data.get("modelId"), data.get("provider"), data.get("model")))
    elif kind == "message":
        row = _row(entry, state)
        if row is not None:
            rows.append(row)


def _read_store(path: Path) -> ReadResult:
    agent_dir = path.parent.parent.name
    skipped = 0

    def work(conn: sqlite3.Connection) -> list[Row]:
        nonlocal skipped
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "transcript_events" not in tables:
            return []
        cursor = None
        for query in _QUERIES:
            try:
                cursor = conn.execute(query)
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                    raise
        if cursor is None:
            return []
        rows: list[Row] = []
        state: dict[str, Any] = {}
        for session, event_json, created_at, w_provider, w_model in cursor:
            if state.get("session") != session:
                state = _state(str(session), agent_dir)
                state["session_model"] = w_model if isinstance(w_model, str) and w_model else None
                state["session_provider"] = w_provider if isinstance(w_provider, str) and w_provider else None
            state["mtime"] = time_us(created_at) or 0
            try:
                entry = _decode(event_json)
            except (msgspec.DecodeError, msgspec.ValidationError, TypeError, RecursionError):
                skipped += 1
                continue
            _ingest(entry, state, rows)
        return rows

    result = read_db(path, work)
    if skipped:
        result.skip("malformed event", skipped)
    return result


def _remember(state: dict[str, Any], model: str | None, provider: str | None) -> None:
    if model:  # a new model brings its own provider (or none: inferred later), never the previous one's
        state["model"], state["provider"] = model, provider
    elif provider:
        state["provider"] = provider


def _row(entry: _Entry, state: dict[str, Any]) -> Row | None:
    message = entry.message
    if message is None or message.role != "assistant" or message.usage is None:
        return None
    model = next((m for m in (message.model, message.modelId) if isinstance(m, str) and m), None)
    if message.api == "openclaw-transcript" or (message.provider == "openclaw" and model in ARTIFACT_MODELS):
        return None
    inp, out, reasoning, cache_read, cache_write = pi_tokens(message.usage)
    if inp + out + cache_read + cache_write == 0:
        return None
    own_ts = epoch_us(message.timestamp)
    ts = own_ts if own_ts is not None else time_us(entry.timestamp)
    key_ts = "-" if ts is None else str(ts)  # a store's fill-in time never takes part in the key
    if ts is None:
        ts = state["mtime"]
        if not ts:
            return None
    model = model or state["model"] or state["session_model"] or "unknown"
    provider = message.provider if isinstance(message.provider, str) and message.provider else None
    if not provider:  # the last model_change's provider only goes with its model
        if state["provider"] and model == state["model"]:
            provider = state["provider"]
        elif state["session_provider"] and model == state["session_model"]:
            provider = state["session_provider"]
        else:
            provider = infer_provider(model)
    state["model"], state["provider"] = model, provider
    counts = f"{inp}:{out}:{cache_read}:{cache_write}"
    if isinstance(entry.id, str) and entry.id:
        key = f"{entry.id}:{key_ts}:{counts}"
    else:
        key = f"{state['session']}::{key_ts}:{counts}"
    return Row(
        client=CLIENT,
        provider=provider,
        model=model,
        workspace=state["workspace"],
        session_id=state["session"],
        agent=state["agent"],
        event_key=key,
        ts=ts,
        input=inp,
        output=out,
        reasoning=reasoning,
        cache_read=cache_read,
        cache_write_5m=cache_write,
        source_cost=usd(message.usage.cost),
        rank=0 if model == "unknown" else 1,  # a copy that knows its model beats one that does not
    )


READERS = (OpenClawReader(),)
