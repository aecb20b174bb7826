"""OpenClaw (formerly Clawdbot / Moltbot): Pi-style session JSONL (formats.md §9).

Roots: ``${OPENCLAW_STATE_DIR:-~/.openclaw}`` (comma list allowed), which
replaces the defaults; the defaults are ``~/.openclaw``, the named profiles
``~/.openclaw-<profile>`` (``--profile`` / ``--dev``) and the legacy state
dirs ``~/.clawdbot``, ``~/.moltbot`` and ``~/.moldbot``. Under each root,
``agents/<agentId>/sessions/`` holds ``<sessionId>.jsonl`` plus the rotated
``<sessionId>.jsonl.deleted.<ts>`` and ``<sessionId>.jsonl.reset.<ts>`` files
(still real usage), and ``agents/<agentId>/session-sqlite-import-archive/``
holds legacy transcripts that ``openclaw doctor`` moved aside.

Records: ``type:"message"`` with ``message.role == "assistant"`` and
``message.usage.{input, output, cacheRead, cacheWrite, totalTokens,
reasoningTokens?, cost.total}``; model from ``message.model|modelId``, else
the last ``model_change`` (``modelId``/``provider``) or ``custom`` record with
``customType:"model-snapshot"`` (``data.modelId``/``data.provider``).

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
* Timestamp: ``message.timestamp`` (epoch ms), else the line's ISO
  ``timestamp``.
* Agent: the ``<agentId>`` directory (``main`` is the default agent and is
  left empty).

Not read (assumed out of scope, noted for later): the per-agent SQLite store
``agents/<agentId>/agent/openclaw-agent.sqlite`` that OpenClaw 2026.x writes
live transcripts to, and zstd-compressed ``.zst`` archives.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import msgspec

from .base import ReadResult, Source, env_paths, home, iso_to_us, read_new_lines
from .pi import PiUsage, infer_provider, ms_to_us, number, pi_tokens

CLIENT = "openclaw"
LEGACY_DIRS = (".clawdbot", ".moltbot", ".moldbot")
SUBDIRS = ("sessions", "session-sqlite-import-archive")
ARTIFACT_MODELS = ("delivery-mirror", "gateway-injected")


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

    def roots(self) -> list[Path]:
        """The state dirs' ``agents/`` directories."""
        configured = env_paths("OPENCLAW_STATE_DIR")
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
                        real = path.resolve()
                        if real in seen:
                            continue
                        seen.add(real)
                        found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read assistant entries with usage from ``offset`` on."""
        path = source.path
        lines, new_offset = read_new_lines(path, offset)
        if not state:
            agent_dir = path.parent.parent.name
            state = {
                "session": _session_of(path),
                "agent": None if agent_dir == "main" else agent_dir,
                "workspace": "",
                "model": None,
                "provider": None,
            }
        rows: list[tuple] = []
        skipped = 0
        for raw in lines:
            if (
                b'"usage"' not in raw
                and b'"model_change"' not in raw
                and b'"model-snapshot"' not in raw
                and b'"cwd"' not in raw
            ):
                continue
            try:
                entry = _decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                try:
                    entry = _decode(raw.decode("utf-8", "replace"))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    skipped += 1
                    continue
            kind = entry.type
            if kind == "session":
                if isinstance(entry.cwd, str) and entry.cwd:
                    state["workspace"] = entry.cwd
            elif kind == "model_change":
                _remember(state, entry.modelId, entry.provider)
            elif kind == "custom" and entry.customType == "model-snapshot" and isinstance(entry.data, dict):
                _remember(state, entry.data.get("modelId"), entry.data.get("provider"))
            elif kind == "message":
                row = _row(entry, state)
                if row is not None:
                    rows.append(row)
        return ReadResult(rows=rows, offset=new_offset, state=state, skipped=skipped)


def _remember(state: dict[str, Any], model: Any, provider: Any) -> None:
    if isinstance(model, str) and model:
        state["model"] = model
    if isinstance(provider, str) and provider:
        state["provider"] = provider


def _row(entry: _Entry, state: dict[str, Any]) -> tuple | None:
    message = entry.message
    if message is None or message.role != "assistant" or message.usage is None:
        return None
    model = next((m for m in (message.model, message.modelId) if isinstance(m, str) and m), None)
    if message.api == "openclaw-transcript" or (message.provider == "openclaw" and model in ARTIFACT_MODELS):
        return None
    inp, out, reasoning, cache_read, cache_write = pi_tokens(message.usage)
    if inp + out + cache_read + cache_write == 0:
        return None
    own_ts = ms_to_us(message.timestamp)
    ts = own_ts if own_ts is not None else iso_to_us(entry.timestamp)
    if ts is None:
        return None
    model = model or state["model"] or "unknown"
    provider = message.provider if isinstance(message.provider, str) and message.provider else None
    if not provider:  # the last model_change's provider only goes with its model
        provider = state["provider"] if state["provider"] and model == state["model"] else infer_provider(model)
    state["model"], state["provider"] = model, provider
    cost = message.usage.cost
    source_cost = number(cost.get("total")) if isinstance(cost, dict) else number(cost)
    counts = f"{inp}:{out}:{cache_read}:{cache_write}"
    if isinstance(entry.id, str) and entry.id:
        key = f"{entry.id}:{ts}:{counts}"
    else:
        key = f"{state['session']}::{ts}:{counts}"
    return (
        CLIENT,
        provider,
        model,
        state["workspace"],
        state["session"],
        state["agent"],
        key,
        ts,
        inp,
        out,
        reasoning,
        cache_read,
        cache_write,
        0,
        source_cost,
        None,
        0 if model == "unknown" else 1,  # a copy that knows its model beats one that does not
    )


READERS = (OpenClawReader(),)
