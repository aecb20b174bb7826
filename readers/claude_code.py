"""Claude Code: ``~/.claude/projects/**/*.jsonl`` (formats.md §1).

Roots: ``CLAUDE_CONFIG_DIR`` (comma list; each entry the config dir or its
``projects/``), which replaces the defaults ``~/.claude/projects`` and
``${XDG_CONFIG_HOME:-~/.config}/claude/projects``.

Traps handled:

* Streaming copies: one response is written as several lines sharing
  ``message.id``; early ones carry partial ``output_tokens``. The event key is
  the message id and the rank prefers the copy with the most tokens, so the
  ledger keeps the most complete copy.
* Resume/fork/compaction copies of earlier lines in other files: same key,
  counted once across all files; a line whose ``sessionId`` names its own
  file's session outranks a copy carried into another session's file, so the
  turn stays with the session it happened in whatever order files are read.
* Sidechain replays (``/btw``): the same ``message.id`` under another
  ``requestId``. Keying on the message id alone collapses them; the rank
  prefers the main-thread copy. (ccusage keys on id + requestId and matches
  sidechains on the id alone; with Anthropic's globally unique message ids
  the two rules agree. Lines without a message id fall back to requestId,
  then to the line uuid.)
* Subagent transcripts, nested ``<session>/subagents/**/agent-*.jsonl`` and
  flat ``agent-*.jsonl``: counted, attributed to the parent session, agent
  name from ``agent-*.meta.json`` ``agentType`` (else ``subagent``).
  ``journal.jsonl`` under ``subagents/`` is orchestration data and skipped.
* Agent-progress lines (usage nested at ``data.message.message``) are read
  too; they carry the subagent's message id, so they collapse with the
  subagent file's copy.
* ``<synthetic>`` lines (local notices) are skipped.
* Cache writes split into 5-minute and 1-hour TTL; writes with no split
  count as 5-minute.
* Legacy ``costUSD`` becomes ``source_cost``; ``usage.speed == "fast"`` and
  ``usage.service_tier == "priority"`` become ``service_tier``.
* Malformed JSON or invalid UTF-8 on one line skips that line only.
* Workspace: the real path from the lines' ``cwd`` whose encoding matches
  the project directory name (``/`` and ``.`` become ``-``), else the first
  ``cwd`` seen, else the directory name decoded as well as it can be.
* Timestamp: the assistant line's own ``timestamp`` (as ccusage).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    ReadResult,
    Source,
    decode_line,
    env_paths,
    first_sight,
    home,
    iso_to_us,
    iter_files,
    lenient_decoder,
    lines_containing,
    read_new_chunk,
    xdg,
)

CLIENT = "claude-code"
MAIN_RANK = 1 << 40
"""Rank bonus of a main-thread copy over a sidechain/progress copy of one message."""
NATIVE_RANK = 1 << 39
"""Rank bonus of a line in its own session's file over a copy that a resumed session carried along."""

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_creation: _CacheCreation | None = None
    speed: str | None = None
    service_tier: str | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None
    provider: Any = None


class _Nested(msgspec.Struct):
    """``data.message`` of an agent-progress line."""

    message: _Message | None = None
    timestamp: str | None = None
    requestId: str | None = None


class _Data(msgspec.Struct):
    message: _Nested | None = None


class _Line(msgspec.Struct):
    timestamp: str | None = None
    sessionId: str | None = None
    requestId: str | None = None
    uuid: str | None = None
    isSidechain: bool | None = None
    cwd: str | None = None
    costUSD: float | None = None
    provider: Any = None
    providerId: Any = None
    message: _Message | None = None
    data: _Data | None = None


_decode = lenient_decoder(_Line)


_MODELS: dict[str, str] = {}


class ClaudeCodeReader:
    """Reads Claude Code session transcripts."""

    client = CLIENT
    session_totals = False

    def roots(self) -> list[Path]:
        """``CLAUDE_CONFIG_DIR`` entries, else the two default project dirs."""
        configured = env_paths("CLAUDE_CONFIG_DIR")
        if configured is not None:
            return [p if p.name == "projects" else p / "projects" for p in configured]
        return [home() / ".claude" / "projects", xdg("XDG_CONFIG_HOME", ".config") / "claude" / "projects"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every transcript under the roots (orchestration journals excluded)."""
        seen: set[Path] = set()
        found = []
        for root in self.roots():
            if not first_sight(root, seen):  # ~/.claude/projects and ~/.config/claude/projects may be one dir
                continue
            for path in iter_files(root, ".jsonl", errors):
                if path.name == "journal.jsonl" and "subagents" in path.parts:
                    continue
                found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read assistant lines with usage from ``offset`` on."""
        path = source.path
        data, new_offset = read_new_chunk(path, offset)
        if not state:
            state = _file_context(path)
        rows = []
        skipped = 0
        for raw in lines_containing(data, b'"usage"'):
            line = decode_line(_decode, raw)
            if line is None:
                skipped += 1
                continue
            if line.cwd and not state.get("workspace_exact"):
                _note_cwd(state, line.cwd)
            row = _row(line, state)
            if row is not None:
                rows.append(row)
        return ReadResult(rows=rows, offset=new_offset, state=state, skipped=skipped)


def _note_cwd(state: dict[str, Any], cwd: str) -> None:
    """Take the real project path from a line's cwd (the one matching the project dir wins)."""
    if _encode(cwd) == state["project"]:
        state["workspace"] = cwd
        state["workspace_exact"] = True
    elif not state.get("workspace_seen"):
        state["workspace"] = cwd
        state["workspace_seen"] = True


def _encode(cwd: str) -> str:
    """Claude Code's project directory name for a working directory."""
    return _NON_ALNUM.sub("-", cwd)


def _file_context(path: Path) -> dict[str, Any]:
    """Session, agent and project facts that follow from a transcript's path."""
    parts = path.parts
    agent = None
    session = path.stem
    if "subagents" in parts:
        i = parts.index("subagents")
        session = parts[i - 1]
        project = parts[i - 2]
        agent = _agent_type(path) or "subagent"
    else:
        project = path.parent.name
        if path.stem.startswith("agent-"):
            session = ""  # flat layout: the lines' sessionId names the parent
            agent = _agent_type(path) or "subagent"
    decoded = "/" + project.lstrip("-").replace("-", "/") if project.startswith("-") else project
    return {
        "project": project,
        "session": session,
        "agent": agent,
        "workspace": decoded,
    }


def _agent_type(path: Path) -> str | None:
    meta = path.with_name(path.stem + ".meta.json")
    try:
        value = msgspec.json.decode(meta.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    name = value.get("agentType") if isinstance(value, dict) else None
    return name if isinstance(name, str) and name else None


def _row(line: _Line, state: dict[str, Any]) -> tuple | None:
    message = line.message
    timestamp = line.timestamp
    request_id = line.requestId
    progress = False
    if message is None or message.usage is None:
        nested = line.data.message if line.data is not None else None
        if nested is None or nested.message is None or nested.message.usage is None:
            return None
        message, progress = nested.message, True
        timestamp = nested.timestamp or timestamp
        request_id = nested.requestId or request_id
    model = message.model
    if not model or model == "<synthetic>":
        return None
    model = _MODELS.setdefault(model, model)  # one object per name: rows pickle and sit small
    ts = iso_to_us(timestamp)
    if ts is None:
        return None
    usage = message.usage
    assert usage is not None
    input_tokens = max(usage.input_tokens or 0, 0)
    output = max(usage.output_tokens or 0, 0)
    cache_read = max(usage.cache_read_input_tokens or 0, 0)
    write_total = max(usage.cache_creation_input_tokens or 0, 0)
    split = usage.cache_creation
    if split is not None and (
        split.ephemeral_5m_input_tokens is not None or split.ephemeral_1h_input_tokens is not None
    ):
        w1h = max(split.ephemeral_1h_input_tokens or 0, 0)
        w5m = max(split.ephemeral_5m_input_tokens or 0, 0)
        if write_total >= w1h + w5m:
            w5m = write_total - w1h  # any unsplit remainder has unknown TTL: 5m
        elif write_total:
            w1h = min(w1h, write_total)
            w5m = write_total - w1h
    else:
        w1h, w5m = 0, write_total
    if input_tokens + output + cache_read + w5m + w1h == 0:
        return None
    if message.id:
        key = message.id
    elif request_id:
        key = "req:" + request_id
    elif line.uuid:
        key = "uuid:" + line.uuid
    else:
        return None
    session = state["session"] or line.sessionId or ""
    agent = state["agent"]
    sidechain = progress or line.isSidechain is True or agent is not None
    if progress and agent is None:
        agent = "subagent"
    provider = message.provider or line.providerId or line.provider
    cost = line.costUSD
    total = input_tokens + output + cache_read + w5m + w1h
    return (
        CLIENT,
        provider if isinstance(provider, str) and provider else "anthropic",
        model,
        state["workspace"],
        session,
        agent,
        key,
        ts,
        input_tokens,
        output,
        0,
        cache_read,
        w5m,
        w1h,
        float(cost) if cost is not None else None,
        "fast" if usage.speed == "fast" else ("priority" if usage.service_tier == "priority" else None),
        total + (0 if sidechain else MAIN_RANK) + (NATIVE_RANK if line.sessionId in (None, session) else 0),
    )


READERS = (ClaudeCodeReader(),)
