"""Pi coding agent and OMP (oh-my-pi): session JSONL files (formats.md §5).

Roots:

* ``pi``: ``PI_CODING_AGENT_SESSION_DIR`` (the sessions dir itself), else
  ``${PI_CODING_AGENT_DIR:-~/.pi/agent}/sessions``.
* ``omp``: ``${OMP_CODING_AGENT_DIR:-~/.omp/agent}/sessions``, plus (when
  the variable is unset) every profile's ``~/.omp/profiles/<name>/agent/sessions``
  (``omp --profile <name>``). (OMP also falls back to ``PI_CODING_AGENT_DIR``
  when its own variable is unset; we do not, so one directory is never counted
  under both clients.)
* The rest of the Pi-format family (clients.md §3.8 and its table; tokscale reads them with
  its Pi parser too): ``gjc`` (Gajae-Code) ``${GJC_CODING_AGENT_DIR:-~/.gjc/agent}/sessions``;
  ``senpi`` ``SENPI_CODING_AGENT_SESSION_DIR``, else
  ``${SENPI_CODING_AGENT_DIR:-~/.senpi/agent}/sessions`` plus the omo-ai 5.1 layout
  ``~/.omo/agent/sessions``; ``kimchi`` ``${KIMCHI_CODING_AGENT_DIR:-~/.config/kimchi/harness}/sessions``;
  ``prime-agent`` ``${PRIME_AGENT_CODING_AGENT_DIR:-~/.prime/agent}/sessions`` plus its RLM
  child sessions under the sibling ``session-artifacts``.

Layout: ``sessions/<enc-cwd>/<timestamp>_<sessionId>.jsonl``. The first record
is a header ``{"type":"session","id":..,"cwd":..,"parentSession"?:..}`` (OMP
may write a ``title`` record before it); then tree entries, usage on
``type:"message"`` with ``message.role == "assistant"``:
``message.usage.{input, output, cacheRead, cacheWrite, totalTokens,
reasoning|reasoningTokens, cost.total}``.

Traps handled:

* Pi normalises providers: ``input`` is already uncached, cache read and
  write are separate: added, never subtracted. ``reasoning`` (or
  ``reasoningTokens``) is part of ``output``: reported, not added. Cache
  writes have no TTL: counted as 5-minute writes.
* All parts 0 but ``totalTokens > 0``: the total is counted as output
  (as ccusage/tokdash do).
* ``usage.cost.total`` (USD, from Pi's model registry) becomes
  ``source_cost``.
* Entry ids are 8 hex chars and collide across sessions, and ``/fork`` writes
  a new file that copies earlier entries with their ids, timestamps and usage.
  The event key is therefore (entry id, timestamp, token counts), never the
  session or the file name: copies collapse, unrelated entries do not. The
  rank prefers the copy in a file without ``parentSession`` (the original),
  then a copy whose model is known.
* ``/tree`` branches stay in one file: every assistant entry was a real call
  and is counted, not only the active branch.
* Subagents: OMP writes a task's transcript under a directory named after the
  parent session file (``<parent>/<index>-<taskId>.jsonl``); those turns get
  the parent's session id and the agent name from the parent's ``task`` tool
  call (``arguments.agent`` for ``arguments.tasks[].id``), else
  ``subagent``. A Pi ``session_info`` entry named ``subagent-<name>-<id>``
  names the agent too. Gajae-Code writes its depth-2 sub-agent files the same
  way (``<slug>/<session>/N-*.jsonl``) and its depth-1 file replays their
  messages: the copies share entry id, time and counts, so they collapse, and
  the depth-2 copy (which knows the agent) outranks the replay.
* Prime Agent RLM children (a header with ``rlmDepth > 0``, ``parentSession``
  naming the parent file) are the parent's subagent calls, not a fork: they
  get the parent's session id (from its header), agent ``rlm``.
  ``child_usage_attributed`` records are not usage rows.
* ``usage.cacheWrite1h`` (Senpi) is the 1-hour part of ``cacheWrite``.
* Model and provider: ``message.model`` / ``message.provider``, else the last
  ``model_change`` (Pi: ``modelId`` + ``provider``; OMP: ``model`` as one
  ``provider/model`` string); a missing provider is inferred from the model
  name (``providers.infer_provider``).
* Workspace: the header ``cwd``; without a header, the ``--enc-cwd--``
  directory name decoded as well as it can be.
* Timestamp: the entry's ISO ``timestamp``, else ``message.timestamp``
  (epoch ms). Malformed lines are skipped and counted; counts go through
  ``coerce.count`` (an absurd one reaches the scan, which rejects the row).
* Parent files are opened only when they are regular files (a FIFO cannot
  hang a scan).

Assumed (not confirmed upstream): Pi's own subagent extension, when used,
writes separate session files (not nested like OMP); they are counted as their
own sessions unless the session name marks them as subagents.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    home,
    iter_files,
    open_regular,
    read_new_lines,
    read_regular,
)
from .coerce import cost, count, epoch_us, iso_us, text
from .providers import KNOWN, infer_provider, provider_name

ORIGINAL_RANK = 1 << 40
"""Rank bonus of a copy in an original (not forked) session file."""
SUBAGENT_RANK = 1 << 39
"""Rank bonus of a subagent transcript's copy over the parent file's replay of the same message."""


class PiUsage(msgspec.Struct):
    """A Pi-style usage object (also used by OpenClaw, which may spell the counters ``inputTokens`` etc.)."""

    input: Any = None
    output: Any = None
    cacheRead: Any = None
    cacheWrite: Any = None
    inputTokens: Any = None
    outputTokens: Any = None
    cacheReadTokens: Any = None
    cacheWriteTokens: Any = None
    totalTokens: Any = None
    reasoning: Any = None
    reasoningTokens: Any = None
    cost: Any = None
    cacheWrite1h: Any = None


class _Message(msgspec.Struct):
    role: Any = None
    model: Any = None
    modelId: Any = None
    provider: Any = None
    usage: PiUsage | None = None
    timestamp: Any = None
    api: Any = None


class _Entry(msgspec.Struct):
    type: Any = None
    id: Any = None
    timestamp: Any = None
    cwd: Any = None
    parentSession: Any = None
    rlmDepth: Any = None
    message: _Message | None = None
    name: Any = None
    provider: Any = None
    modelId: Any = None
    model: Any = None


_decode = msgspec.json.Decoder(_Entry).decode


def usd(value: Any) -> float | None:
    """A Pi-style ``usage.cost``: ``{"total": usd}`` or a bare number."""
    return cost(value.get("total")) if isinstance(value, dict) else cost(value)


def model_change(model_id: Any, provider: Any, model: Any) -> tuple[str | None, str | None]:
    """(model, provider) of a ``model_change``: Pi's ``modelId`` + ``provider``, or OMP's ``provider/model``."""
    name, vendor = text(model_id), text(provider)
    if name is None and (combined := text(model)) is not None:
        head, sep, tail = combined.partition("/")
        if sep and tail and (vendor is None or head.lower() in KNOWN):
            name, vendor = tail, vendor or provider_name(head)
        else:
            name = combined
    return name, vendor


def pi_tokens(usage: PiUsage) -> tuple[int, int, int, int, int]:
    """(input, output, reasoning, cache_read, cache_write) of a Pi-style usage object."""
    inp = count(usage.input if usage.input is not None else usage.inputTokens)
    out = count(usage.output if usage.output is not None else usage.outputTokens)
    cache_read = count(usage.cacheRead if usage.cacheRead is not None else usage.cacheReadTokens)
    cache_write = count(usage.cacheWrite if usage.cacheWrite is not None else usage.cacheWriteTokens)
    if inp + out + cache_read + cache_write == 0:
        out = count(usage.totalTokens)  # only a total: count it as output
    reasoning = count(usage.reasoning if usage.reasoning is not None else usage.reasoningTokens)
    return inp, out, min(reasoning, out), cache_read, cache_write


def _decode_workspace(name: str) -> str:
    """Best effort: ``--home-alice-src--`` -> ``/home/alice/src`` (dashes in names are lost)."""
    if name.startswith("--") and name.endswith("--") and len(name) > 4:
        return "/" + name[2:-2].replace("-", "/")
    return ""


def _header_id(path: Path) -> tuple[str | None, str | None]:
    """(session id, cwd) from the header of a session file, reading only its first lines."""
    try:
        with open_regular(path) as fh:
            for _ in range(4):
                raw = fh.readline()
                if not raw:
                    break
                if b'"session"' not in raw:
                    continue
                entry = decode_line(_decode, raw.strip())
                if entry is not None and entry.type == "session" and isinstance(entry.id, str):
                    return entry.id, entry.cwd if isinstance(entry.cwd, str) else None
    except OSError:
        pass
    return None, None


class _Task(msgspec.Struct):
    id: Any = None


class _TaskArgs(msgspec.Struct):
    agent: Any = None
    tasks: list[_Task] | None = None


class _ParentMessage(msgspec.Struct):
    content: Any = None


class _ParentEntry(msgspec.Struct):
    message: _ParentMessage | None = None


_decode_parent = msgspec.json.Decoder(_ParentEntry).decode


def _task_agents(parent: Path) -> dict[str, str]:
    """task id (and ``<index>-<id>``) -> agent name, from the parent's ``task`` tool calls."""
    found: dict[str, str] = {}
    try:
        data = read_regular(parent)
    except OSError:
        return found
    for raw in data.split(b"\n"):
        if b'"task"' not in raw or b'"toolCall"' not in raw:
            continue
        try:
            entry = _decode_parent(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            continue
        content = entry.message.content if entry.message is not None else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "toolCall" or block.get("name") != "task":
                continue
            try:
                args = msgspec.convert(block.get("arguments"), _TaskArgs)
            except (msgspec.ValidationError, TypeError):
                continue
            if not isinstance(args.agent, str) or not args.agent or not args.tasks:
                continue
            for index, task in enumerate(args.tasks):
                if isinstance(task.id, str) and task.id:
                    found[task.id] = args.agent
                    found[f"{index}-{task.id}"] = args.agent
    return found


def _subagent_name(session_name: Any) -> str | None:
    """``subagent-<name>-<id>`` (Pi's session name for a subagent run) -> ``<name>``."""
    if not isinstance(session_name, str) or not session_name.startswith("subagent-"):
        return None
    rest = session_name[len("subagent-") :]
    head, sep, tail = rest.rpartition("-")
    if sep and tail.isdigit():  # subagent-<name>-<id>-<n>
        rest = head
        head, sep, tail = rest.rpartition("-")
    if sep and head and len(tail) in (8, 36) and all(c in "0123456789abcdefABCDEF-" for c in tail):
        return head
    return rest or None


def file_context(path: Path) -> dict[str, Any]:
    """Facts that follow from a session file's place on disk (subagent parent, agent)."""
    state: dict[str, Any] = {
        "session": None,
        "fallback_session": path.stem.rsplit("_", 1)[-1],
        "workspace": _decode_workspace(path.parent.name),
        "agent": None,
        "parent_session": None,
        "fork": False,
        "model": None,
        "provider": None,
        "header": False,
    }
    parent_file = path.parent.with_name(path.parent.name + ".jsonl")
    if parent_file.is_file():  # OMP task transcript: <parent>/<index>-<taskId>.jsonl
        parent_id, parent_cwd = _header_id(parent_file)
        state["parent_session"] = parent_id or parent_file.stem.rsplit("_", 1)[-1]
        if parent_cwd:
            state["workspace"] = parent_cwd
        agents = _task_agents(parent_file)
        stem = path.stem
        state["agent"] = agents.get(stem) or agents.get(stem.split("-", 1)[-1]) or "subagent"
        state["subagent"] = True
        state["workspace"] = state["workspace"] or _decode_workspace(path.parent.parent.name)
    return state


class PiReader:
    """Reads Pi-format session files for one client (pi or omp)."""

    session_totals = False
    fidelity: Fidelity = "exact"

    def __init__(
        self,
        client: str,
        agent_env: str,
        default: str,
        session_env: str | None = None,
        profiles: str | None = None,
        extra_roots: tuple[str, ...] = (),
        siblings: tuple[str, ...] = (),
    ) -> None:
        """``default`` is the agent dir under HOME; ``extra_roots`` more sessions dirs under HOME (used when
        no variable is set); ``siblings`` directories beside ``sessions/`` in the agent dir that hold sessions too."""
        self.client = client
        self._agent_env = agent_env
        self._default = default
        self._session_env = session_env
        self._profiles = profiles
        self.env = (agent_env,) if session_env is None else (agent_env, session_env)
        self._extra_roots = extra_roots
        self._siblings = siblings

    def roots(self) -> list[Path]:
        """The sessions directory (env overrides first)."""
        if self._session_env:
            value = os.environ.get(self._session_env, "").strip()
            if value:
                return [Path(value).expanduser()]
        value = os.environ.get(self._agent_env, "").strip()
        agent_dir = Path(value).expanduser() if value else home() / self._default
        found = [agent_dir / "sessions", *(agent_dir / sibling for sibling in self._siblings)]
        if value:
            return found
        found += [home() / extra for extra in self._extra_roots]
        if self._profiles:
            with contextlib.suppress(OSError):
                found += sorted(p / "agent" / "sessions" for p in (home() / self._profiles).iterdir() if p.is_dir())
        return found

    def discover(self, errors: list[str]) -> list[Source]:
        """Every session file (subagent transcripts included)."""
        return [Source(self.client, p) for root in self.roots() for p in iter_files(root, ".jsonl", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read assistant entries with usage from ``offset`` on."""
        lines, new_offset = read_new_lines(source.path, offset)
        if not state:
            state = file_context(source.path)
        result = ReadResult(offset=new_offset, state=state)
        for raw in lines:
            if not raw.strip():
                continue
            if (
                b'"usage"' not in raw
                and b'"model_change"' not in raw
                and b'"session_info"' not in raw
                and (state["header"] or b'"session"' not in raw)
            ):
                continue
            entry = decode_line(_decode, raw)
            if entry is None:
                result.skip("malformed line")
                continue
            kind = entry.type
            if kind == "session":
                state["header"] = True
                if isinstance(entry.id, str) and entry.id:
                    state["session"] = entry.id
                if isinstance(entry.cwd, str) and entry.cwd:
                    state["workspace"] = entry.cwd
                parent = entry.parentSession
                if isinstance(entry.rlmDepth, int) and entry.rlmDepth > 0 and not state["parent_session"]:
                    # a Prime Agent RLM child: the parent's subagent, not a fork
                    state["parent_session"] = _parent_id(source.path, parent) if isinstance(parent, str) else None
                    state["agent"] = state["agent"] or "rlm"
                    state["subagent"] = True
                else:
                    state["fork"] = isinstance(parent, str) and bool(parent)
            elif kind == "model_change":
                model, provider = model_change(entry.modelId, entry.provider, entry.model)
                if model:  # a new model brings its own provider (or none), never the previous one's
                    state["model"], state["provider"] = model, provider
                elif provider:
                    state["provider"] = provider
            elif kind == "session_info":
                name = _subagent_name(entry.name)
                if name and state["agent"] is None:
                    state["agent"] = name
            elif kind == "message":
                row = self._row(entry, state)
                if row is not None:
                    result.rows.append(row)
        return result

    def _row(self, entry: _Entry, state: dict[str, Any]) -> Row | None:
        message = entry.message
        if message is None or message.role != "assistant" or message.usage is None:
            return None
        inp, out, reasoning, cache_read, cache_write = pi_tokens(message.usage)
        if inp + out + cache_read + cache_write == 0:
            return None
        ts = iso_us(entry.timestamp)
        if ts is None:
            ts = epoch_us(message.timestamp)
        if ts is None:
            return None
        model = message.model if isinstance(message.model, str) and message.model else state["model"]
        model = model or "unknown"
        provider = message.provider if isinstance(message.provider, str) and message.provider else None
        if not provider:  # the last model_change's provider only goes with its model
            provider = state["provider"] if state["provider"] and model == state["model"] else infer_provider(model)
        entry_id = entry.id if isinstance(entry.id, str) and entry.id else ""
        session = state["parent_session"] or state["session"] or state["fallback_session"]
        if entry_id:
            key = f"{entry_id}:{ts}:{inp}:{out}:{cache_read}:{cache_write}"
        else:
            key = f"{session}::{ts}:{inp}:{out}:{cache_read}:{cache_write}"
        total = inp + out + cache_read + cache_write
        w1h = min(count(message.usage.cacheWrite1h), cache_write)
        bonus = (0 if state["fork"] else ORIGINAL_RANK) + (SUBAGENT_RANK if state.get("subagent") else 0)
        return Row(
            client=self.client,
            provider=provider,
            model=model,
            workspace=state["workspace"],
            session_id=session,
            agent=state["agent"],
            event_key=key,
            ts=ts,
            input=inp,
            output=out,
            reasoning=reasoning,
            cache_read=cache_read,
            cache_write_5m=cache_write - w1h,
            cache_write_1h=w1h,
            source_cost=usd(message.usage.cost),
            rank=(total if model != "unknown" else 0) + bonus,
        )


def _parent_id(path: Path, parent: str) -> str | None:
    """The session id of an RLM child's parent: ``parentSession`` names its file (absolute, or relative
    to the child's directory), whose header holds the id; else the value itself is taken as the id."""
    candidate = Path(parent).expanduser()
    if not candidate.is_absolute():
        candidate = path.parent / candidate
    if parent.endswith(".jsonl"):
        sid, _cwd = _header_id(candidate)
        return sid or candidate.stem.rsplit("_", 1)[-1]
    return parent


READERS = (
    PiReader("pi", "PI_CODING_AGENT_DIR", ".pi/agent", "PI_CODING_AGENT_SESSION_DIR"),
    PiReader("omp", "OMP_CODING_AGENT_DIR", ".omp/agent", profiles=".omp/profiles"),
    PiReader("gjc", "GJC_CODING_AGENT_DIR", ".gjc/agent"),
    PiReader(
        "senpi",
        "SENPI_CODING_AGENT_DIR",
        ".senpi/agent",
        "SENPI_CODING_AGENT_SESSION_DIR",
        extra_roots=(".omo/agent/sessions",),
    ),
    PiReader("kimchi", "KIMCHI_CODING_AGENT_DIR", ".config/kimchi/harness"),
    PiReader("prime-agent", "PRIME_AGENT_CODING_AGENT_DIR", ".prime/agent", siblings=("session-artifacts",)),
)
