"""Claude Code: ``~/.claude/projects/**/*.jsonl`` (formats.md §1).

Roots: ``CLAUDE_CONFIG_DIR`` (comma list; each entry the config dir or its
``projects/``), which replaces the defaults ``~/.claude/projects``,
``${XDG_CONFIG_HOME:-~/.config}/claude/projects`` and every second config dir
``~/.claude-<name>/projects`` (the usual way to run several accounts side by
side, each with its own ``CLAUDE_CONFIG_DIR`` set only in its own shell).

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
  then to the line uuid; a line with none of the three is keyed on its time,
  model and counts, so a copy of it in a resumed file still counts once.)
* Subagent transcripts, nested ``<session>/subagents/**/agent-*.jsonl`` and
  flat ``agent-*.jsonl``: counted, attributed to the parent session, agent
  name from ``agent-*.meta.json`` ``agentType`` (else ``subagent``; a meta
  file that is not a regular file or is over 64 KB is not opened).
  ``journal.jsonl`` under ``subagents/`` is orchestration data and skipped.
* Agent-progress lines (usage nested at ``data.message.message``) are read
  too; they carry the subagent's message id, so they collapse with the
  subagent file's copy.
* ``<synthetic>`` lines (local notices) are skipped.
* Cache writes split into 5-minute and 1-hour TTL; writes with no split
  count as 5-minute.
* Advisor calls: ``usage.iterations[]`` entries of type ``advisor_message``
  are another model's call inside the same response, not part of the
  top-level usage: each is its own row (``<key>:advisor:<n>``, its own
  ``model``), as tokscale does; one without a model is not counted.
* Legacy ``costUSD`` becomes ``source_cost``; ``usage.speed == "fast"`` and
  ``usage.service_tier == "priority"`` become ``service_tier``.
* Malformed JSON or invalid UTF-8 on one line skips that line only; counts
  go through ``coerce.count`` (an absurd one reaches the scan, which rejects
  that row with a reason).
* Workspace: the real path from the lines' ``cwd`` whose encoding matches
  the project directory name (``/`` and ``.`` become ``-``), else the first
  ``cwd`` seen, else the directory name decoded as well as it can be.
* Timestamp: the assistant line's own ``timestamp`` (as ccusage).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    env_paths,
    first_sight,
    home,
    iter_files,
    lenient_decoder,
    lines_containing,
    read_new_chunk,
    read_regular,
    xdg,
)
from .coerce import cost, count, iso_us

CLIENT = "claude-code"
MAIN_RANK = 1 << 40
"""Rank bonus of a main-thread copy over a sidechain/progress copy of one message."""
NATIVE_RANK = 1 << 39
"""Rank bonus of a line in its own session's file over a copy that a resumed session carried along."""

META_MAX_BYTES = 64 << 10
"""A subagent ``.meta.json`` larger than this is not read (it holds one small object)."""

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: Any = None
    ephemeral_1h_input_tokens: Any = None


class _Usage(msgspec.Struct):
    input_tokens: Any = None
    output_tokens: Any = None
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    cache_creation: _CacheCreation | None = None
    speed: Any = None
    service_tier: Any = None
    iterations: Any = None


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
    costUSD: Any = None
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
    fidelity: Fidelity = "exact"
    env = ("CLAUDE_CONFIG_DIR",)

    def roots(self) -> list[Path]:
        """``CLAUDE_CONFIG_DIR`` entries, else the default project dirs and every ``~/.claude-<name>/projects``."""
        configured = env_paths("CLAUDE_CONFIG_DIR")
        if configured is not None:
            return [p if p.name == "projects" else p / "projects" for p in configured]
        base = home()
        found = [base / ".claude" / "projects", xdg("XDG_CONFIG_HOME", ".config") / "claude" / "projects"]
        with contextlib.suppress(OSError):  # an unlistable HOME: the fixed roots are still tried
            found += sorted(p / "projects" for p in base.glob(".claude-*") if (p / "projects").is_dir())
        return found

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
        result = ReadResult(offset=new_offset, state=state)
        rows = result.rows
        for raw in lines_containing(data, b'"usage"'):
            line = decode_line(_decode, raw)
            if line is None:
                result.skip("malformed line")
                continue
            if line.cwd and not state.get("workspace_exact"):
                _note_cwd(state, line.cwd)
            _rows(line, state, rows)
        return result


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
        value = msgspec.json.decode(read_regular(meta, META_MAX_BYTES))
    except (OSError, msgspec.DecodeError, RecursionError):
        return None
    name = value.get("agentType") if isinstance(value, dict) else None
    return name if isinstance(name, str) and name else None


def _rows(line: _Line, state: dict[str, Any], rows: list[Row]) -> None:
    """Append the line's usage row (and one per advisor iteration) to ``rows``."""
    message = line.message
    timestamp = line.timestamp
    request_id = line.requestId
    progress = False
    if message is None or message.usage is None:
        nested = line.data.message if line.data is not None else None
        if nested is None or nested.message is None or nested.message.usage is None:
            return
        message, progress = nested.message, True
        timestamp = nested.timestamp or timestamp
        request_id = nested.requestId or request_id
    model = message.model
    if not model or model == "<synthetic>":
        return
    model = _MODELS.setdefault(model, model)  # one object per name: rows pickle and sit small
    ts = iso_us(timestamp)
    if ts is None:
        return
    usage = message.usage
    assert usage is not None
    counts = _counts(usage)
    input_tokens, output, cache_read, w5m, w1h = counts
    if message.id:
        key = message.id
    elif request_id:
        key = "req:" + request_id
    elif line.uuid:
        key = "uuid:" + line.uuid
    else:
        key = f"line:{ts}:{model}:{input_tokens}:{output}:{cache_read}:{w5m}:{w1h}"
    session = state["session"] or line.sessionId or ""
    agent = state["agent"]
    sidechain = progress or line.isSidechain is True or agent is not None
    if progress and agent is None:
        agent = "subagent"
    provider = message.provider or line.providerId or line.provider
    provider = provider if isinstance(provider, str) and provider else "anthropic"
    bonus = (0 if sidechain else MAIN_RANK) + (NATIVE_RANK if line.sessionId in (None, session) else 0)
    total = input_tokens + output + cache_read + w5m + w1h
    if total:
        # Positional, in ROW_FIELDS order: msgspec builds a 17-field struct ~1 µs faster per row than with
        # keywords, about 10% of this (the hottest) reader. Every field is checked by name in the tests.
        rows.append(
            Row(
                CLIENT,
                provider,
                model,
                state["workspace"],
                session,
                agent,
                key,
                ts,
                input_tokens,
                output,
                0,  # reasoning: inside output, never logged apart
                cache_read,
                w5m,
                w1h,
                None if line.costUSD is None else cost(line.costUSD),
                "fast" if usage.speed == "fast" else ("priority" if usage.service_tier == "priority" else None),
                total + bonus,
            )
        )
    if isinstance(usage.iterations, list):
        advisors = (it for it in usage.iterations if isinstance(it, dict) and it.get("type") == "advisor_message")
        for n, iteration in enumerate(advisors):
            name = iteration.get("model")
            try:
                part = msgspec.convert(iteration, _Usage, strict=False)
            except msgspec.ValidationError:
                continue
            adv = _counts(part)
            if not (isinstance(name, str) and name) or not sum(adv):
                continue
            rows.append(
                Row(
                    client=CLIENT,
                    provider=provider,
                    model=_MODELS.setdefault(name, name),
                    workspace=state["workspace"],
                    session_id=session,
                    agent=agent,
                    event_key=f"{key}:advisor:{n}",
                    ts=ts,
                    input=adv[0],
                    output=adv[1],
                    cache_read=adv[2],
                    cache_write_5m=adv[3],
                    cache_write_1h=adv[4],
                    rank=sum(adv) + bonus,
                )
            )


def _counts(usage: _Usage) -> tuple[int, int, int, int, int]:
    """(input, output, cache read, 5-minute write, 1-hour write) of one usage object."""
    # Plain non-negative ints (nearly every value) skip the call to coerce.count: this runs once per line.
    inp, out, read, write_total = (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    )
    inp = inp if type(inp) is int and inp >= 0 else count(inp)
    out = out if type(out) is int and out >= 0 else count(out)
    read = read if type(read) is int and read >= 0 else count(read)
    write_total = write_total if type(write_total) is int and write_total >= 0 else count(write_total)
    split = usage.cache_creation
    if split is not None and (
        split.ephemeral_5m_input_tokens is not None or split.ephemeral_1h_input_tokens is not None
    ):
        w1h = count(split.ephemeral_1h_input_tokens)
        w5m = count(split.ephemeral_5m_input_tokens)
        if write_total >= w1h + w5m:
            w5m = write_total - w1h  # any unsplit remainder has unknown TTL: 5m
        elif write_total:
            w1h = min(w1h, write_total)
            w5m = write_total - w1h
    else:
        w1h, w5m = 0, write_total
    return inp, out, read, w5m, w1h


READERS = (ClaudeCodeReader(),)
