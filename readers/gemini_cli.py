"""Gemini CLI: ``~/.gemini/tmp/<project>/chats/`` session files (formats.md §4).

Roots: ``$GEMINI_CLI_HOME/.gemini/tmp`` when ``GEMINI_CLI_HOME`` is set (the
client treats it as a replacement HOME, ``packages/core/src/utils/paths.ts``
``homedir()``), plus ``$GEMINI_CLI_HOME/tmp`` if that exists (tokscale reads it
so); else ``~/.gemini/tmp``.

Files:

* ``chats/session-*.json`` (older client): the whole session rewritten on every
  turn, read in ``whole`` mode. ``tmp/<project>/session-*.json`` directly under
  the project dir (oldest layout) too.
* ``chats/session-*.jsonl`` (newer chat recordings): append-only; a header
  line ``{sessionId, projectHash, startTime, kind, ...}``, then message
  records; a message is appended again, whole, each time it changes (tokens
  arrive after the text). ``{"$set": ...}`` metadata lines (one of them can
  re-list every message) and ``{"$rewindTo": id}`` lines are ignored: rewound
  turns were still billed.
* ``chats/<parentSessionId>/<sessionId>.jsonl``: subagent recordings; their
  turns are attributed to the parent session with agent ``subagent``.

Traps handled:

* The same message id written several times (in one file, in a resumed
  ``.json`` that the client migrated to ``.jsonl``): the event key is the
  message id and the last copy wins (rank 0; ties go to the row written last,
  and within one read only the last copy of an id is emitted).
* ``tokens.input`` is Gemini's ``promptTokenCount``, which includes
  ``cached``; ``thoughts`` are outside ``output``; ``tool``
  (``toolUsePromptTokenCount``) is outside ``input``. The API's
  ``total = input + output + thoughts + tool`` is used to check the reading:
  when ``total`` instead equals the sum with ``cached`` added separately,
  cached is taken as exclusive and not subtracted (the formats.md check);
  when ``total`` is missing or fits neither, Gemini's documented semantics
  apply (subtract; unlike ccusage/tokscale, which then do not subtract).
  Output = ``output + thoughts``, reasoning = ``thoughts``; input =
  ``input - cached + tool``.
* Only ``type == "gemini"`` messages with a ``tokens`` object count; all-zero
  token objects are skipped; a message without ``model`` is ``unknown``.
* Workspace: ``tmp/<dir>/.project_root`` (written by clients that use readable
  project slugs), else ``~/.gemini/projects.json`` (``{"projects": {path:
  slug}}``) matched on the slug or on the SHA-256 of the path (the old hash
  dir names and the ``projectHash`` field are ``sha256(path)``), else the
  subagent header's ``directories[0]``, else the dir name (the hash) as is.
* Timestamp: the message's ``timestamp``; else the header's ``lastUpdated`` /
  ``startTime``; else the file's mtime.
* One bad message costs only itself: a ``.json`` file's messages are decoded
  one by one (a mistyped one, or one with ``1e400``, is a counted skip); a
  leading BOM is dropped; ``.project_root`` and ``projects.json`` are opened
  only when they are regular files (a FIFO there cannot hang the scan).

Assumed (not confirmed in the client source read): headless
``--output-format json`` dumps are not written under ``tmp/`` and are not read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from . import coerce
from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    first_sight,
    home,
    iter_files,
    read_new_lines,
    read_regular,
)

CLIENT = "gemini-cli"
BOM = b"\xef\xbb\xbf"
#: The largest whole-session ``.json`` read (a long session is a few MB) and the largest side file.
MAX_SESSION_FILE = 256 << 20
MAX_SIDE_FILE = 16 << 20
_BAD = "malformed message"


class _Tokens(msgspec.Struct):
    input: Any = None
    output: Any = None
    cached: Any = None
    thoughts: Any = None
    tool: Any = None
    total: Any = None


class _Record(msgspec.Struct):
    """One JSONL line: a header, a message or a metadata update."""

    id: Any = None
    type: Any = None
    timestamp: Any = None
    model: Any = None
    tokens: _Tokens | None = None
    sessionId: Any = None
    projectHash: Any = None
    kind: Any = None
    directories: Any = None
    startTime: Any = None
    lastUpdated: Any = None


class _Session(msgspec.Struct):
    """A whole ``.json`` session file."""

    sessionId: Any = None
    projectHash: Any = None
    startTime: Any = None
    lastUpdated: Any = None
    kind: Any = None
    directories: Any = None
    messages: list[_Record] | None = None


class _RawSession(msgspec.Struct):
    """``_Session`` with its messages left raw, to decode one by one when the whole file does not
    decode (a mistyped message, ``1e400``): then a bad message costs only itself."""

    sessionId: Any = None
    projectHash: Any = None
    startTime: Any = None
    lastUpdated: Any = None
    kind: Any = None
    directories: Any = None
    messages: list[msgspec.Raw] | None = None


_decode_line = msgspec.json.Decoder(_Record).decode
_decode_session = msgspec.json.Decoder(_Session | list[_Record]).decode
_decode_raw_session = msgspec.json.Decoder(_RawSession | list[msgspec.Raw]).decode


def split_usage(
    prompt: int, candidates: int, thoughts: int, cached: int, tool: int, total: int, *, thoughts_in_output: bool
) -> tuple[int, int, int, int]:
    """Gemini-API style counters to tokscope's ``(input, output, reasoning, cache_read)``.

    ``prompt`` normally includes ``cached``; ``thoughts`` are outside
    ``candidates`` for the Gemini API (``thoughts_in_output=False``) and inside
    for OpenAI-compatible backends (``True``). When ``total`` discriminates
    between the readings, it decides; else the defaults hold.
    """
    cached_inside = True
    thoughts_inside = thoughts_in_output
    if total:
        for c_in, t_in in (
            (True, thoughts_in_output),
            (True, not thoughts_in_output),
            (False, thoughts_in_output),
            (False, not thoughts_in_output),
        ):
            if prompt + candidates + tool + (0 if c_in else cached) + (0 if t_in else thoughts) == total:
                cached_inside, thoughts_inside = c_in, t_in
                break
    if cached > prompt:
        cached_inside = False  # cannot be a part of the prompt
    if thoughts > candidates:
        thoughts_inside = False
    uncached = (prompt - cached if cached_inside else prompt) + tool
    output = candidates if thoughts_inside else candidates + thoughts
    return uncached, output, min(thoughts, output), cached


# --- workspace --------------------------------------------------------------

_REGISTRY_CACHE: dict[str, tuple[int, dict[str, str]]] = {}


def _registry(gemini_dir: Path) -> dict[str, str]:
    """``projects.json`` as {slug or sha256(path): path}; cached on the file's mtime."""
    path = gemini_dir / "projects.json"
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _REGISTRY_CACHE.get(str(path))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    mapping: dict[str, str] = {}
    try:
        data = msgspec.json.decode(read_regular(path, MAX_SIDE_FILE).removeprefix(BOM))
    except (OSError, msgspec.DecodeError, RecursionError):
        data = None
    projects = data.get("projects") if isinstance(data, dict) else None
    if isinstance(projects, dict):
        for project_path, slug in projects.items():
            if not isinstance(project_path, str):
                continue
            if isinstance(slug, str) and slug:
                mapping[slug] = project_path
            mapping[hashlib.sha256(project_path.encode()).hexdigest()] = project_path
    _REGISTRY_CACHE[str(path)] = (mtime, mapping)
    return mapping


def _workspace(project_dir: Path, project_hash: Any, directories: Any) -> str:
    try:
        marker = read_regular(project_dir / ".project_root", MAX_SIDE_FILE).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        marker = ""
    if marker:
        return marker
    mapping = _registry(project_dir.parent.parent)
    name = project_dir.name
    found = mapping.get(name) or (mapping.get(project_hash) if isinstance(project_hash, str) else None)
    if found:
        return found
    if isinstance(directories, list) and directories and isinstance(directories[0], str):
        return directories[0]
    return name


# --- reader -----------------------------------------------------------------


class GeminiCliReader:
    """Reads Gemini CLI chat session files (``.json`` whole, ``.jsonl`` append)."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("GEMINI_CLI_HOME",)

    def gemini_dirs(self) -> list[Path]:
        """The client's ``.gemini`` directories."""
        override = os.environ.get("GEMINI_CLI_HOME", "").strip()
        if override:
            base = Path(override).expanduser()
            dirs = [base / ".gemini"]
            if (base / "tmp").is_dir():
                dirs.append(base)  # tokscale's reading of the variable
            return dirs
        return [home() / ".gemini"]

    def roots(self) -> list[Path]:
        """``tmp/`` of every ``.gemini`` directory."""
        return [d / "tmp" for d in self.gemini_dirs()]

    def discover(self, errors: list[str]) -> list[Source]:
        """Session files under ``tmp/<project>/chats/`` (and legacy ``tmp/<project>/session-*.json``)."""
        found: list[Source] = []
        seen: set[Path] = set()
        for root in self.roots():
            for suffix, mode in ((".jsonl", "append"), (".json", "whole")):
                for path in iter_files(root, suffix, errors):
                    rel = path.relative_to(root).parts
                    if len(rel) < 2:
                        continue
                    in_chats = len(rel) >= 3 and rel[1] == "chats"
                    if not in_chats and not (len(rel) == 2 and path.name.startswith("session-")):
                        continue
                    if first_sight(path, seen):
                        found.append(Source(CLIENT, path, mode))  # type: ignore[arg-type]
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read messages with tokens: JSONL from ``offset`` on, JSON whole."""
        path = source.path
        if path.suffix == ".json":
            return self._read_json(path)
        lines, new_offset = read_new_lines(path, offset)
        if not state:
            state = _file_context(path)
        if offset == 0 and lines:
            lines[0] = lines[0].removeprefix(BOM)
        latest: dict[str, Row] = {}
        result = ReadResult(offset=new_offset, state=state)
        for raw in lines:
            if b'"tokens"' not in raw and b'"projectHash"' not in raw:
                continue
            if raw.startswith((b'{"$set"', b'{"$rewindTo"')):
                continue
            record = decode_line(_decode_line, raw)
            if record is None:
                result.skip(_BAD)
                continue
            if record.id is None and isinstance(record.sessionId, str) and record.projectHash is not None:
                _header(state, path, record)
                continue
            row = _row(record, state)
            if row is not None:
                latest.pop(row.event_key, None)  # keep the last copy, in file order
                latest[row.event_key] = row
        result.rows = list(latest.values())
        return result

    def _read_json(self, path: Path) -> ReadResult:
        try:
            data = read_regular(path, MAX_SESSION_FILE)
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        result = ReadResult(offset=len(data))
        state = _file_context(path)
        data = data.removeprefix(BOM)
        try:
            session: Any = _decode_session(data)  # the fast path: every message well-typed
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            session = decode_line(_decode_raw_session, data)
        if session is None:
            result.skip("malformed session file")
            return result
        if isinstance(session, list):
            messages = session
        else:
            messages = session.messages or []
            if isinstance(session.sessionId, str):
                _header(state, path, session)
        latest: dict[str, Row] = {}
        for item in messages:
            message = decode_line(_decode_line, bytes(item)) if isinstance(item, msgspec.Raw) else item
            if message is None:
                result.skip(_BAD)
                continue
            row = _row(message, state)
            if row is not None:
                latest.pop(row.event_key, None)
                latest[row.event_key] = row
        result.rows = list(latest.values())
        return result


def _file_context(path: Path) -> dict[str, Any]:
    """Session, agent and project facts that follow from the file's place under ``tmp/``."""
    parts = path.parts
    if "chats" in parts:
        i = len(parts) - 1 - parts[::-1].index("chats")
        project_dir = Path(*parts[:i])
        nested = parts[i + 1 : -1]
    else:
        project_dir = path.parent
        nested = ()
    session = path.stem
    agent = None
    if nested:  # chats/<parentSessionId>/<sessionId>.jsonl
        session = nested[0]
        agent = "subagent"
    try:
        fallback_ts = path.stat().st_mtime_ns // 1000
    except OSError:
        fallback_ts = 0
    return {
        "project_dir": str(project_dir),
        "session": session,
        "session_fixed": bool(nested),
        "agent": agent,
        "workspace": None,
        "ts": fallback_ts,
    }


def _header(state: dict[str, Any], path: Path, header: _Record | _Session | _RawSession) -> None:
    if not state["session_fixed"] and isinstance(header.sessionId, str) and header.sessionId:
        state["session"] = header.sessionId
    if header.kind == "subagent" and state["agent"] is None:
        state["agent"] = "subagent"
    for value in (header.lastUpdated, header.startTime):
        ts = coerce.iso_us(value)
        if ts is not None:
            state["ts"] = ts
            break
    state["workspace"] = _workspace(Path(state["project_dir"]), header.projectHash, header.directories)


def _row(message: _Record, state: dict[str, Any]) -> Row | None:
    tokens = message.tokens
    if tokens is None or message.type != "gemini":
        return None
    key = message.id
    if not isinstance(key, str) or not key:
        return None
    count = coerce.count
    uncached, output, reasoning, cached = split_usage(
        count(tokens.input),
        count(tokens.output),
        count(tokens.thoughts),
        count(tokens.cached),
        count(tokens.tool),
        count(tokens.total),
        thoughts_in_output=False,
    )
    if uncached + output + cached == 0:
        return None
    ts = coerce.iso_us(message.timestamp)
    if ts is None:
        ts = state["ts"]
    if state["workspace"] is None:
        state["workspace"] = _workspace(Path(state["project_dir"]), None, None)
    return Row(
        client=CLIENT,
        provider="google",
        model=coerce.text(message.model) or "unknown",
        workspace=state["workspace"],
        session_id=state["session"],
        agent=state["agent"],
        event_key=key,
        ts=ts,
        input=uncached,
        output=output,
        reasoning=reasoning,
        cache_read=cached,
    )


READERS = (GeminiCliReader(),)
