"""Qwen Code: ``~/.qwen/projects/<project>/chats/*.jsonl`` (formats.md §7).

Roots: ``$QWEN_RUNTIME_DIR/projects`` when set, and ``${QWEN_HOME:-~/.qwen}/projects``
(the client's own overrides; ``~`` expanded). Every ``*.jsonl`` under a
``chats/`` directory is read, append-only.

Records: one JSON object per line (``ChatRecord``: ``uuid``, ``parentUuid``,
``sessionId``, ``timestamp``, ``type``, ``cwd``, ``model``,
``usageMetadata``, ``agentName``, ``isSidechain``, ``forkedFrom`` ...). Usage
is on ``type == "assistant"`` records.

Traps handled:

* ``/branch`` copies every record of a session into a new file verbatim,
  keeping its ``uuid`` (``forkedFrom.messageUuid`` is the same value). The
  event key is the record ``uuid``, so copies collapse; a record without one
  falls back to ``<sessionId>:<byte offset>`` (tokscale keys on the line
  index, which the copies would double count).
* Cached ⊂ prompt: the usage is Gemini-shaped but, on the usual
  OpenAI-compatible backends (DashScope, OpenRouter, DeepSeek ...), filled
  from OpenAI ``usage`` (``openaiContentGenerator/converter.ts``):
  ``promptTokenCount = prompt_tokens`` (includes cached),
  ``candidatesTokenCount = completion_tokens`` (INCLUDES reasoning),
  ``thoughtsTokenCount = reasoning_tokens``, ``totalTokenCount =
  total_tokens``. Cached is therefore subtracted from prompt (as for Gemini),
  and thoughts are NOT added to output again: the default is "thoughts inside
  candidates". ``totalTokenCount`` decides where it discriminates: a total of
  ``prompt + candidates + thoughts`` (the Gemini API's own reading, when Qwen
  Code talks to Gemini) adds thoughts to output; a total that counts cached
  separately keeps cached exclusive. Reasoning = thoughts either way.
  (tokscale and ccusage subtract nothing here; formats.md's "thoughts are
  separate from candidates" holds only for the Gemini backend.)
* Subagent records (``agentName``/``isSidechain``) keep the record's
  ``sessionId`` (the parent session for in-session sidechains) and take
  ``agentName`` as the agent.
* Workspace: the record's ``cwd`` (a real path), else the project directory
  name decoded (``-`` back to ``/``, lossy).
* Provider: inferred from the model name (``gemini`` google, ``claude``
  anthropic, ``gpt``/``o1``-``o4`` openai, ``deepseek``, ``kimi``/``moonshot``,
  ``glm`` zai), else ``qwen``. Assumed: the record does not name the provider.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from .base import ReadResult, Source, clamp, decode_line, first_sight, home, iso_to_us, iter_files, read_new_lines
from .gemini_cli import split_usage

CLIENT = "qwen-code"


class _Usage(msgspec.Struct):
    promptTokenCount: Any = None
    candidatesTokenCount: Any = None
    thoughtsTokenCount: Any = None
    cachedContentTokenCount: Any = None
    toolUsePromptTokenCount: Any = None
    totalTokenCount: Any = None


class _Record(msgspec.Struct):
    uuid: Any = None
    sessionId: Any = None
    timestamp: Any = None
    type: Any = None
    cwd: Any = None
    model: Any = None
    usageMetadata: _Usage | None = None
    agentName: Any = None
    agentId: Any = None
    isSidechain: Any = None


_decode = msgspec.json.Decoder(_Record).decode

_PROVIDERS = (
    ("gemini", "google"),
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("deepseek", "deepseek"),
    ("kimi", "moonshot"),
    ("moonshot", "moonshot"),
    ("glm", "zai"),
)


def _provider(model: str) -> str:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, provider in _PROVIDERS:
        if name.startswith(prefix):
            return provider
    return "qwen"


def _expand(value: str) -> Path:
    """A path from the environment, ``~`` meaning HOME (as the client expands it)."""
    if value == "~" or value.startswith(("~/", "~\\")):
        return home() / value[2:]
    return Path(value)


class QwenCodeReader:
    """Reads Qwen Code chat recordings."""

    client = CLIENT
    session_totals = False

    def roots(self) -> list[Path]:
        """``projects/`` under the runtime dir and the Qwen home."""
        roots = []
        runtime = os.environ.get("QWEN_RUNTIME_DIR", "").strip()
        if runtime:
            roots.append(_expand(runtime) / "projects")
        qwen_home = os.environ.get("QWEN_HOME", "").strip()
        roots.append((_expand(qwen_home) if qwen_home else home() / ".qwen") / "projects")
        return roots

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``*.jsonl`` under a ``chats/`` directory of a project."""
        found: list[Source] = []
        seen: set[Path] = set()
        for root in self.roots():
            for path in iter_files(root, ".jsonl", errors):
                if "chats" not in path.relative_to(root).parts[1:-1]:
                    continue
                if first_sight(path, seen):
                    found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read assistant records with usage from ``offset`` on."""
        path = source.path
        lines, new_offset = read_new_lines(path, offset)
        if not state:
            parts = path.parts
            i = len(parts) - 1 - parts[::-1].index("chats")
            project = parts[i - 1]
            decoded = "/" + project.lstrip("-").replace("-", "/") if project.startswith("-") else project
            state = {"session": path.stem, "workspace": decoded}
        rows = []
        skipped = 0
        position = offset
        for raw in lines:
            start = position
            position += len(raw) + 1
            if b'"usageMetadata"' not in raw:
                continue
            record = decode_line(_decode, raw)
            if record is None:
                skipped += 1
                continue
            row = _row(record, state, start)
            if row is not None:
                rows.append(row)
        return ReadResult(rows=rows, offset=new_offset, state=state, skipped=skipped)


def _row(record: _Record, state: dict[str, Any], position: int) -> tuple | None:
    usage = record.usageMetadata
    if usage is None or record.type != "assistant":
        return None
    uncached, output, reasoning, cached = split_usage(
        clamp(usage.promptTokenCount),
        clamp(usage.candidatesTokenCount),
        clamp(usage.thoughtsTokenCount),
        clamp(usage.cachedContentTokenCount),
        clamp(usage.toolUsePromptTokenCount),
        clamp(usage.totalTokenCount),
        thoughts_in_output=True,
    )
    if uncached + output + cached == 0:
        return None
    ts = iso_to_us(record.timestamp)
    if ts is None:
        return None
    session = record.sessionId if isinstance(record.sessionId, str) and record.sessionId else state["session"]
    key = record.uuid if isinstance(record.uuid, str) and record.uuid else f"{session}:{position}"
    if isinstance(record.cwd, str) and record.cwd:
        state["workspace"] = record.cwd
    agent = record.agentName if isinstance(record.agentName, str) and record.agentName else None
    if agent is None and record.isSidechain is True:
        agent = record.agentId if isinstance(record.agentId, str) and record.agentId else "subagent"
    model = record.model if isinstance(record.model, str) and record.model else "unknown"
    return (
        CLIENT,
        _provider(model) if model != "unknown" else "qwen",
        model,
        state["workspace"],
        session,
        agent,
        key,
        ts,
        uncached,
        output,
        reasoning,
        cached,
        0,
        0,
        None,
        None,
        0,
    )


READERS = (QwenCodeReader(),)
