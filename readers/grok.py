"""Grok Build (xAI's ``grok`` CLI): the unified log, else per-session updates (clients.md §3.6).

Roots: ``${GROK_HOME:-~/.grok}``: ``logs/unified.jsonl`` and
``sessions/<url-encoded workspace>/<session id>/updates.jsonl``.

The unified log (newest builds; one file for every process, append-only, truncated now and then)
holds rows ``{ts, pid, sid, msg, ctx}``. ``msg == "shell.turn.inference_done"`` is one model call:
``ctx.{prompt_tokens, cached_prompt_tokens, completion_tokens, reasoning_tokens, loop_index}``,
with no model. Session updates hold one ``params.update.sessionUpdate == "turn_completed"`` per
turn with ``usage.{inputTokens, outputTokens, cachedReadTokens, cacheCreationTokens,
reasoningTokens, totalTokens?, modelUsage}``.

Traps handled:

* The model is tracked per process, as tokscale does: ``model changed`` (``ctx.model``),
  ``model catalog: notifying clients`` (``ctx.current_model_id``), ``backend_search: model
  switch`` and ``subagent model resolved`` set the model of (pid, session) when the row names both,
  of the session when it names no pid, of the process when it names no session; the subagent
  events also give the parent's model to the process and the child's ``effective_model`` to the
  child. ``AuthManager::new`` starts a new process generation: a pid the OS reuses inherits no
  model. A call takes the model of its (process, session), else of its session, else of its
  process (never for a subagent, whose parent's model may not be its own), else the session's
  ``summary.json`` ``current_model_id``, else ``unknown``.
* ``prompt_tokens`` includes ``cached_prompt_tokens``: the cached part is taken out of input.
* Reasoning: xAI's API reports ``reasoning_tokens`` beside ``completion_tokens``, not inside it
  (its total is prompt + completion + reasoning; inspect_ai#5528 and LiveBench#503 measured
  reasoning larger than completion). Reasoning is therefore added to output (as Tokdash does;
  tokscale takes it as a subset). In session updates a ``totalTokens`` that equals input +
  output says the reasoning is inside output, and then it is not added.
* Subagent calls (``subagent spawn credentials`` names the child id) are attributed to the
  parent's session, agent ``subagent``.
* Never both: a session's ``updates.jsonl`` counts only while the unified log has no call of
  that session; once it has, the updates file gives no more rows (kept in the read state, so a
  truncation of the unified log cannot bring them back).
* ``costUsdTicks`` is not kept as a source cost: it may be a discounted or subscription price
  (splitrail ignores it too). Legacy updates with only a cumulative ``totalTokens`` are not read.
* Workspace: the log's ``session created`` ``ctx.cwd``, else the url-decoded workspace
  directory name of the session.
* The unified log is re-read from the start when it is truncated; keys hold the session, pid,
  time, loop index and counts, so a re-read counts nothing twice, and a copy whose model is
  known outranks one re-read without the model lines.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec

from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    home,
    iter_files,
    lenient_decoder,
    lines_containing,
    read_new_chunk,
    read_regular,
)
from .coerce import count, text, time_us

CLIENT = "grok"
PROVIDER = "xai"
UNKNOWN = "unknown"
SUMMARY_MAX_BYTES = 1 << 20

INFERENCE = "shell.turn.inference_done"
_MODEL_EVENTS = ("model changed", "model catalog: notifying clients", "backend_search: model switch")
_MARKER = re.compile(
    rb'"msg"\s*:\s*"(?:shell\.turn\.inference_done|model changed|model catalog: notifying clients'
    rb"|backend_search: model switch|subagent [a-z ()]+|AuthManager::new|session created)\""
)
_SID = re.compile(rb'"sid"\s*:\s*"([^"\\]+)"')


def grok_home() -> Path:
    """``${GROK_HOME:-~/.grok}``."""
    value = os.environ.get("GROK_HOME", "").strip()
    return Path(value).expanduser() if value else home() / ".grok"


class _Ctx(msgspec.Struct):
    prompt_tokens: Any = None
    cached_prompt_tokens: Any = None
    completion_tokens: Any = None
    reasoning_tokens: Any = None
    loop_index: Any = None
    model: Any = None
    current_model_id: Any = None
    new_model: Any = None
    model_id: Any = None
    effective_model: Any = None
    effective_model_raw: Any = None
    parent_model: Any = None
    session_model_id: Any = None
    global_model_id: Any = None
    subagent_id: Any = None
    cwd: Any = None


class _LogRow(msgspec.Struct):
    ts: Any = None
    pid: Any = None
    sid: Any = None
    msg: Any = None
    ctx: _Ctx | None = None


_decode_log = lenient_decoder(_LogRow)


def _model(value: Any) -> str | None:
    name = text(value)
    return name if name and name != "grok-unknown" else None


def _pid(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    return text(value)


class _Summary(msgspec.Struct):
    current_model_id: Any = None
    model_id: Any = None


def workspace_dirs(root: Path) -> list[str]:
    """The ``sessions/<workspace>`` directories of a Grok home, sorted."""
    try:
        with os.scandir(root / "sessions") as it:
            return sorted(e.path for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def session_dir(workspaces: list[str], sid: str) -> Path | None:
    """``sessions/<workspace>/<sid>`` for a session id, if there is one."""
    for workspace in workspaces:
        candidate = Path(workspace) / sid
        if candidate.is_dir():
            return candidate
    return None


def summary_model(directory: Path) -> str | None:
    """``current_model_id`` (else ``model_id``) of a session's ``summary.json``."""
    try:
        summary = msgspec.json.decode(read_regular(directory / "summary.json", SUMMARY_MAX_BYTES), type=_Summary)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return _model(summary.current_model_id) or _model(summary.model_id)


def workspace_of(directory: Path) -> str:
    """The url-decoded workspace directory name of a session directory."""
    return unquote(directory.parent.name)


_SIDS: dict[str, tuple[tuple[int, int, int], frozenset[str]]] = {}


def unified_sessions(path: Path) -> frozenset[str]:
    """The session ids with at least one call in the unified log (cached per file version)."""
    try:
        st = path.stat()
    except OSError:
        return frozenset()
    mark = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _SIDS.get(str(path))
    if cached is not None and cached[0] == mark:
        return cached[1]
    try:
        data = read_regular(path)
    except OSError:
        return frozenset()
    found = set()
    for raw in lines_containing(data, INFERENCE.encode()):
        match = _SID.search(raw)
        if match:
            found.add(match.group(1).decode("utf-8", "replace"))
    sids = frozenset(found)
    _SIDS[str(path)] = (mark, sids)
    return sids


def _fresh_log_state() -> dict[str, Any]:
    return {"gen": {}, "m_ps": {}, "m_s": {}, "m_p": {}, "parent": {}, "cwd": {}, "meta": {}}


class GrokReader:
    """Reads Grok Build's unified log and, for sessions it lacks, their session updates."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("GROK_HOME",)

    def roots(self) -> list[Path]:
        """The unified log and the sessions directory."""
        base = grok_home()
        return [base / "logs" / "unified.jsonl", base / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """The unified log (when present) and every session's ``updates.jsonl``."""
        log, sessions = self.roots()
        found = [Source(CLIENT, log)] if log.is_file() else []
        found += [Source(CLIENT, p) for p in iter_files(sessions, "updates.jsonl", errors) if p.name == "updates.jsonl"]
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read calls (unified log) or turns (session updates) from ``offset`` on."""
        if source.path.name == "unified.jsonl":
            return self._read_log(source.path, offset, state)
        return self._read_updates(source.path, offset, state)

    # --- the unified log -------------------------------------------------------------

    def _read_log(self, path: Path, offset: int, state: dict[str, Any]) -> ReadResult:
        data, new_offset = read_new_chunk(path, offset)
        state = state or _fresh_log_state()
        result = ReadResult(offset=new_offset, state=state)
        root = path.parent.parent
        listing: dict[str, list[str]] = {}  # the workspace dirs, listed once per read when first needed
        for raw in lines_containing(data, _MARKER):
            row = decode_line(_decode_log, raw)
            if row is None or row.ctx is None or not isinstance(row.msg, str):
                result.skip("malformed line")
                continue
            if row.msg == INFERENCE:
                out = self._call(row, row.ctx, state, root, listing)
                if out is not None:
                    result.rows.append(out)
            else:
                _note(row, row.ctx, state)
        return result

    def _call(
        self, row: _LogRow, ctx: _Ctx, state: dict[str, Any], root: Path, listing: dict[str, list[str]]
    ) -> Row | None:
        sid = text(row.sid)
        ts = time_us(row.ts)
        if sid is None or ts is None:
            return None
        prompt = count(ctx.prompt_tokens)
        cached = min(count(ctx.cached_prompt_tokens), prompt)
        completion = count(ctx.completion_tokens)
        reasoning = count(ctx.reasoning_tokens)
        if prompt + completion + reasoning == 0:
            return None
        pid = _pid(row.pid)
        gen = state["gen"].get(pid, 0) if pid is not None else 0
        parent = state["parent"].get(sid)
        model = state["m_ps"].get(f"{pid}:{gen}:{sid}") or state["m_s"].get(sid)
        if model is None and parent is None and pid is not None:
            model = state["m_p"].get(f"{pid}:{gen}")
        session = parent or sid
        meta = state["meta"].get(session)
        if meta is None:  # once per session: its directory's workspace and summary model
            if "ws" not in listing:  # only when a new session turns up
                listing["ws"] = workspace_dirs(root)
            directory = session_dir(listing["ws"], session)
            meta = state["meta"][session] = (
                [workspace_of(directory), summary_model(directory)] if directory else ["", None]
            )
        if model is None and parent is None:
            model = meta[1]
        workspace = state["cwd"].get(session) or meta[0]
        loop = ctx.loop_index if isinstance(ctx.loop_index, int) else ""
        return Row(
            client=CLIENT,
            provider=PROVIDER,
            model=model or UNKNOWN,
            workspace=workspace,
            session_id=session,
            agent="subagent" if parent else None,
            event_key=f"{sid}:{pid or ''}:{ts}:{loop}:{prompt}:{cached}:{completion}:{reasoning}",
            ts=ts,
            input=prompt - cached,
            output=completion + reasoning,
            reasoning=reasoning,
            cache_read=cached,
            rank=0 if model is None else 1,  # a re-read that lost the model lines never replaces a known model
        )

    # --- session updates ---------------------------------------------------------------

    def _read_updates(self, path: Path, offset: int, state: dict[str, Any]) -> ReadResult:
        data, new_offset = read_new_chunk(path, offset)
        directory = path.parent
        sid = directory.name
        if state.get("covered") or sid in unified_sessions(directory.parent.parent.parent / "logs" / "unified.jsonl"):
            return ReadResult(offset=new_offset, state={"covered": True})
        if not state:
            state = {"workspace": workspace_of(directory), "model": summary_model(directory)}
        result = ReadResult(offset=new_offset, state=state)
        for raw, at in _lines_with_offsets(data, b'"turn_completed"', offset):
            line = decode_line(_decode_update, raw)
            if line is None:
                result.skip("malformed line")
                continue
            _turn(line, state, sid, at, result)
        return result


def _note(row: _LogRow, ctx: _Ctx, state: dict[str, Any]) -> None:
    """Keep what a non-call row says about processes, models, subagents and workspaces."""
    msg = row.msg
    pid = _pid(row.pid)
    sid = text(row.sid)
    if msg == "AuthManager::new":
        if pid is not None:
            state["gen"][pid] = state["gen"].get(pid, 0) + 1
        return
    if msg == "session created":
        cwd = text(ctx.cwd)
        if sid and cwd:
            state["cwd"][sid] = cwd
        return
    gen = state["gen"].get(pid, 0) if pid is not None else 0
    if msg in _MODEL_EVENTS or msg == "subagent model resolved":
        if msg == "model changed":
            model = _model(ctx.model)
        elif msg == "model catalog: notifying clients":
            model = _model(ctx.current_model_id)
        elif msg == "backend_search: model switch":
            model = _model(ctx.new_model) or _model(ctx.model) or _model(ctx.current_model_id)
        else:
            model = _model(ctx.model_id) or _model(ctx.model)
            parent_model = _model(ctx.parent_model)
            if parent_model and pid is not None:
                state["m_p"][f"{pid}:{gen}"] = parent_model
        if model is None:
            return
        if pid is not None and sid:
            state["m_ps"][f"{pid}:{gen}:{sid}"] = model
        elif sid:
            state["m_s"][sid] = model
        elif pid is not None:
            state["m_p"][f"{pid}:{gen}"] = model
        return
    if msg == "subagent read parent config (live)":
        model = _model(ctx.session_model_id) or _model(ctx.parent_model) or _model(ctx.global_model_id)
        if model and pid is not None:
            state["m_p"][f"{pid}:{gen}"] = model
        return
    child = text(ctx.subagent_id)
    if msg == "subagent spawn credentials":
        parent_model = _model(ctx.parent_model)
        if parent_model and pid is not None:
            state["m_p"][f"{pid}:{gen}"] = parent_model
        if child:
            if sid and sid != child:
                state["parent"][child] = state["parent"].get(sid, sid)
            model = _model(ctx.effective_model) or _model(ctx.effective_model_raw)
            if model:
                state["m_ps"][f"{pid}:{gen}:{child}"] = model
    elif msg in ("subagent completed", "subagent failed") and child:
        model = _model(ctx.effective_model)
        if model:
            state["m_ps"].setdefault(f"{pid}:{gen}:{child}", model)


# --- session updates -------------------------------------------------------------------


class _Usage(msgspec.Struct):
    inputTokens: Any = None
    outputTokens: Any = None
    cachedReadTokens: Any = None
    cacheReadTokens: Any = None
    cacheCreationTokens: Any = None
    cachedWriteTokens: Any = None
    reasoningTokens: Any = None
    thoughtTokens: Any = None
    totalTokens: Any = None
    modelUsage: Any = None


class _Update(msgspec.Struct):
    sessionUpdate: Any = None
    usage: _Usage | None = None


class _Meta(msgspec.Struct):
    eventId: Any = None


class _Params(msgspec.Struct):
    update: _Update | None = None
    meta: _Meta | None = msgspec.field(default=None, name="_meta")


class _UpdateLine(msgspec.Struct):
    timestamp: Any = None
    params: _Params | None = None


_decode_update = lenient_decoder(_UpdateLine)


def _lines_with_offsets(data: bytes, marker: bytes, base: int) -> list[tuple[bytes, int]]:
    """The lines of ``data`` holding ``marker``, each with its byte offset in the file."""
    found = []
    pos = 0
    while (hit := data.find(marker, pos)) >= 0:
        start = data.rfind(b"\n", 0, hit) + 1
        end = data.find(b"\n", hit)
        end = len(data) if end < 0 else end
        found.append((data[start:end], base + start))
        pos = end + 1
    return found


def _turn(line: _UpdateLine, state: dict[str, Any], sid: str, at: int, result: ReadResult) -> None:
    """Add the row of one ``turn_completed`` update (if it has usage) to ``result``."""
    params = line.params
    update = params.update if params is not None else None
    if update is None or update.sessionUpdate != "turn_completed" or update.usage is None:
        return
    usage = update.usage
    inp = count(usage.inputTokens)
    out = count(usage.outputTokens)
    read = count(usage.cachedReadTokens if usage.cachedReadTokens is not None else usage.cacheReadTokens)
    write = count(usage.cacheCreationTokens if usage.cacheCreationTokens is not None else usage.cachedWriteTokens)
    reasoning = count(usage.reasoningTokens if usage.reasoningTokens is not None else usage.thoughtTokens)
    if inp + out + read + write + reasoning == 0:
        return
    total = usage.totalTokens
    inside = total is not None and count(total) == inp + out  # the total says reasoning is part of output
    ts = time_us(line.timestamp)
    if ts is None:
        result.skip("no timestamp")
        return
    model = None
    if isinstance(usage.modelUsage, dict) and len(usage.modelUsage) == 1:
        model = _model(next(iter(usage.modelUsage)))
    model = model or state.get("model") or UNKNOWN
    event = text(params.meta.eventId) if params is not None and params.meta is not None else None
    read = min(read, inp)  # inputTokens includes the cache reads
    result.rows.append(
        Row(
            client=CLIENT,
            provider=PROVIDER,
            model=model,
            workspace=state["workspace"],
            session_id=sid,
            agent=None,
            event_key=f"{sid}:turn:{event}" if event else f"{sid}:turn@{at}",
            ts=ts,
            input=inp - read,
            output=out if inside else out + reasoning,
            reasoning=min(reasoning, out) if inside else reasoning,
            cache_read=read,
            cache_write_5m=write,
        )
    )


READERS = (GrokReader(),)
