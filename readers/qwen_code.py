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
  ``glm`` zai), else ``alibaba`` (the shared ``providers`` table). Assumed: the record does not name the provider.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from . import coerce
from .base import Fidelity, ReadResult, Row, Source, decode_line, first_sight, home, iter_files, read_new_lines
from .gemini_cli import split_usage
from .providers import infer_provider

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


def _provider(model: str) -> str:
    """The shared table's provider; a model it does not know ran on Qwen's own service (``alibaba``)."""
    provider = infer_provider(model)
    return "alibaba" if provider == "unknown" else provider


def _expand(value: str) -> Path:
    """A path from the environment, ``~`` meaning HOME (as the client expands it)."""
    if value == "~" or value.startswith(("~/", "~\\")):
        return home() / value[2:]
    return Path(value)


class QwenCodeReader:
    """Reads Qwen Code chat recordings."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("QWEN_HOME", "QWEN_RUNTIME_DIR")

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
        result = ReadResult(offset=new_offset, state=state)
        position = offset
        for raw in lines:
            start = position
            position += len(raw) + 1
            if b'"usageMetadata"' not in raw:
                continue
            record = decode_line(_decode, raw)
            if record is None:
                result.skip("malformed line")
                continue
            row = _row(record, state, start)
            if row is not None:
                result.rows.append(row)
        return result


def _row(record: _Record, state: dict[str, Any], position: int) -> Row | None:
    usage = record.usageMetadata
    if usage is None or record.type != "assistant":
        return None
    count = coerce.count
    uncached, output, reasoning, cached = split_usage(
        count(usage.promptTokenCount),
        count(usage.candidatesTokenCount),
        count(usage.thoughtsTokenCount),
        count(usage.cachedContentTokenCount),
        count(usage.toolUsePromptTokenCount),
        count(usage.totalTokenCount),
        thoughts_in_output=True,
    )
    if uncached + output + cached == 0:
        return None
    ts = coerce.iso_us(record.timestamp)
    if ts is None:
        return None
    session = coerce.text(record.sessionId) or state["session"]
    cwd = coerce.text(record.cwd)
    if cwd:
        state["workspace"] = cwd
    agent = coerce.text(record.agentName)
    if agent is None and record.isSidechain is True:
        agent = coerce.text(record.agentId) or "subagent"
    model = coerce.text(record.model) or "unknown"
    return Row(
        client=CLIENT,
        provider=_provider(model),
        model=model,
        workspace=state["workspace"],
        session_id=session,
        agent=agent,
        event_key=coerce.text(record.uuid) or f"{session}:{position}",
        ts=ts,
        input=uncached,
        output=output,
        reasoning=reasoning,
        cache_read=cached,
    )


READERS = (QwenCodeReader(),)
