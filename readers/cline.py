"""Cline, Roo Code and Kilo Code: VS Code extension task files and the ``~/.cline`` store (formats.md §14).

**VS Code task files** (all three clients, one shared format). Each task is a
directory ``<user dir>/User/globalStorage/<extension id>/tasks/<task id>/``
holding ``ui_messages.json`` (a JSON array, rewritten whole on every change:
mode ``whole``), ``api_conversation_history.json`` and, for Roo/Kilo,
``history_item.json``. Extension ids: Cline ``saoudrizwan.claude-dev``, Roo
Code ``rooveterinaryinc.roo-cline``, Kilo Code ``kilocode.kilo-code``. User
dirs searched: VS Code, VS Code Insiders, Cursor, VSCodium and Windsurf under
``${XDG_CONFIG_HOME:-~/.config}`` (macOS ``~/Library/Application Support``,
Windows ``%APPDATA%``), ``$VSCODE_PORTABLE/user-data``, and the remote servers
``~/.vscode-server/data`` (also ``-insiders`` and ``~/.cursor-server/data``).
For Cline also ``<cline data dir>/tasks``: newer Cline migrates the
extension's tasks there on startup (same layout, same task ids and ``ts``, so
a migrated copy has the same event keys and counts once).

* Usage rows are ``{"type":"say","say":"api_req_started","ts":<epoch ms>,
  "text":"<JSON>"}``; the embedded JSON has ``tokensIn``, ``tokensOut``,
  ``cacheWrites``, ``cacheReads``, ``cost`` (USD, extension-computed: kept as
  ``source_cost``), ``apiProtocol``. The row is updated in place once the
  request ends (a request still running, or cancelled before usage, has no
  tokens and is skipped). Event key = (task id, ``ts``); a re-read gives the
  same keys and the ledger keeps the latest values.
* **The ``tokensIn`` question.** What ``tokensIn`` holds depends on version and
  protocol: old Cline/Roo wrote the provider's input count as streamed, which
  excludes cache reads/writes for ``apiProtocol: "anthropic"`` and includes
  them for ``"openai"``-style providers; current Roo/Kilo write
  ``costResult.totalInputTokens`` (Roo ``src/shared/cost.ts``,
  ``Task.ts updateApiReqMsg``), which INCLUDES cache reads and writes for both
  protocols. The file does not say which version wrote it, so the rule is
  numeric: when ``tokensIn >= cacheReads + cacheWrites`` the cache is taken
  to be inside ``tokensIn`` and subtracted, otherwise ``tokensIn`` is the
  uncached part (a cache-inclusive count can never be smaller than its cache
  part; an old Anthropic-protocol row has a small uncached ``tokensIn`` next to
  a large cache read). The one case this gets wrong is an old
  Anthropic-protocol row whose uncached input exceeds its cache tokens (rare:
  Cline/Roo put cache breakpoints on the latest messages).
* Model: the row's own ``modelInfo.modelId`` (newer Cline), else the last
  ``<model>`` tag inside ``api_conversation_history.json`` (Roo/Kilo write it in
  ``<environment_details>``), else ``unknown``. Provider: ``modelInfo.providerId``,
  else ``apiProtocol``, else the shared table's guess from the model. Agent (mode): ``modelInfo.mode``, else the last
  ``<slug>`` tag, else ``history_item.json`` ``mode``.
* Workspace: ``history_item.json`` ``workspace`` (Roo/Kilo), else the task's
  ``cwdOnTaskInitialization`` in Cline's task history (``<ext>/state/taskHistory.json``,
  or ``tasks/taskHistory.json`` in ``~/.cline/data``), else ``""``.

**The newer Cline store** (client ``cline``):
``${CLINE_SESSION_DATA_DIR:-${CLINE_DATA_DIR:-${CLINE_DIR:-~/.cline}/data}/sessions}/<session id>/``
with ``<session id>.messages.json`` and subagent files
``agent_<agent id>.messages.json`` (counted: the subagent's calls exist only
there; attributed to the parent session, agent = the file's ``agent`` or the
agent id), plus a manifest ``<session id>.json`` (``model``, ``provider``,
``workspace_root``/``cwd``). Whole-file JSON ``{sessionId, agent,
messages[]}``; assistant messages carry ``id``, ``ts`` (epoch ms),
``modelInfo.{id, provider}`` and ``metrics.{inputTokens, outputTokens,
cacheReadTokens, cacheWriteTokens, cost}``.

* ``inputTokens`` is the full prompt, cache reads and writes included: split
  into disjoint buckets (same numeric guard as above).
* Forks copy the parent's messages (same ids, same metrics) into the new
  session's file: the event key is global, ``cline:<message id>``, so a copied
  message counts once whichever file is read first. Which session the copy is
  attributed to is not determined (the files do not say which is the original
  in a way confirmed here; ``origin`` was not decoded).

One bad message costs only itself: a file whose list does not decode as a whole is
decoded item by item (each failure a counted skip), and files are opened only when
they are regular files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from . import coerce
from .base import Fidelity, ReadResult, Row, Source, first_sight, home, read_regular, xdg
from .providers import infer_provider

CLINE_EXT = "saoudrizwan.claude-dev"
ROO_EXT = "rooveterinaryinc.roo-cline"
KILO_EXT = "kilocode.kilo-code"

#: VS Code and its forks: the application directory names of their user data.
APPS = ("Code", "Code - Insiders", "Cursor", "VSCodium", "Windsurf")
#: Remote-server data directories (each holds ``User/``).
SERVERS = (".vscode-server/data", ".vscode-server-insiders/data", ".cursor-server/data")

UI_MESSAGES = "ui_messages.json"
HISTORY = "api_conversation_history.json"
HISTORY_ITEM = "history_item.json"
MESSAGES_SUFFIX = ".messages.json"
#: The largest side file (history item, task history, session manifest) read.
MAX_SIDE_FILE = 64 << 20
_BAD = "malformed message"


# --- decoding ----------------------------------------------------------------


class _ModelInfo(msgspec.Struct):
    modelId: Any = None
    providerId: Any = None
    mode: Any = None


class _UiMessage(msgspec.Struct):
    type: Any = None
    say: Any = None
    ts: Any = None
    text: msgspec.Raw = msgspec.Raw()
    modelInfo: _ModelInfo | None = None


class _ApiReq(msgspec.Struct):
    tokensIn: Any = None
    tokensOut: Any = None
    cacheWrites: Any = None
    cacheReads: Any = None
    cost: Any = None
    apiProtocol: Any = None


class _HistoryItem(msgspec.Struct):
    workspace: Any = None
    mode: Any = None


class _TaskHistoryEntry(msgspec.Struct):
    id: Any = None
    cwdOnTaskInitialization: Any = None


class _Metrics(msgspec.Struct):
    inputTokens: Any = None
    outputTokens: Any = None
    cacheReadTokens: Any = None
    cacheWriteTokens: Any = None
    cost: Any = None


class _SessionModel(msgspec.Struct):
    id: Any = None
    provider: Any = None


class _Message(msgspec.Struct):
    id: Any = None
    role: Any = None
    ts: Any = None
    metrics: _Metrics | None = None
    modelInfo: _SessionModel | None = None


class _MessagesFile(msgspec.Struct):
    sessionId: Any = None
    agent: Any = None
    updated_at: Any = None
    messages: list[_Message] | None = None


class _RawMessagesFile(msgspec.Struct):
    """``_MessagesFile`` with its messages left raw: the slow path when one of them is mistyped."""

    sessionId: Any = None
    agent: Any = None
    updated_at: Any = None
    messages: list[msgspec.Raw] | None = None


class _Manifest(msgspec.Struct):
    session_id: Any = None
    model: Any = None
    provider: Any = None
    cwd: Any = None
    workspace_root: Any = None


_decode_ui = msgspec.json.Decoder(list[_UiMessage]).decode
_decode_ui_one = msgspec.json.Decoder(_UiMessage).decode
_decode_raw_list = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_req = msgspec.json.Decoder(_ApiReq).decode
_decode_str = msgspec.json.Decoder(str).decode
_decode_item = msgspec.json.Decoder(_HistoryItem).decode
_decode_task_history = msgspec.json.Decoder(list[_TaskHistoryEntry]).decode
_decode_messages = msgspec.json.Decoder(_MessagesFile).decode
_decode_messages_raw = msgspec.json.Decoder(_RawMessagesFile).decode
_decode_message = msgspec.json.Decoder(_Message).decode
_decode_manifest = msgspec.json.Decoder(_Manifest).decode

_DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError)
T = TypeVar("T")


# --- helpers -------------------------------------------------------------------


def split_input(total_in: int, cache_read: int, cache_write: int) -> int:
    """The uncached input when ``total_in`` may or may not include the cache (see the module doc)."""
    cached = cache_read + cache_write
    return total_in - cached if total_in >= cached else total_in


def _tag(data: bytes, name: bytes) -> str | None:
    """The value of the last ``<name>…</name>`` in ``data``."""
    open_tag = b"<" + name + b">"
    end = len(data)
    while True:
        start = data.rfind(open_tag, 0, end)
        if start < 0:
            return None
        close = data.find(b"</" + name + b">", start)
        if close > start:
            value = data[start + len(open_tag) : close].strip()
            if value and len(value) < 200 and b"\\" not in value:
                return value.decode("utf-8", "replace")
        end = start


def _read_json(path: Path, decode: Any) -> Any:
    try:
        return decode(read_regular(path, MAX_SIDE_FILE))
    except (OSError, RecursionError, *_DecodeErrors):
        return None


def _each(raws: list[msgspec.Raw], decode: Callable[[bytes], T], result: ReadResult) -> list[T]:
    """Each raw item decoded; one that does not decode is a counted skip, not a lost file."""
    items: list[T] = []
    for raw in raws:
        try:
            items.append(decode(raw))
        except (RecursionError, *_DecodeErrors):
            result.skip(_BAD)
    return items


def _decode_file(data: bytes, whole: Callable[[bytes], Any], raw: Callable[[bytes], Any]) -> Any:
    """``whole(data)`` (the fast path), else ``raw(data)`` for item-by-item decoding; None if neither decodes."""
    try:
        return whole(data)
    except (RecursionError, *_DecodeErrors):
        pass
    try:
        return raw(data)
    except (RecursionError, *_DecodeErrors):
        return None


_TASK_HISTORY: dict[str, tuple[int, dict[str, str]]] = {}


def _task_cwd(tasks_dir: Path, task: str) -> str | None:
    """``cwdOnTaskInitialization`` of ``task`` from Cline's task history (cached per mtime).

    The extension keeps it in ``<globalStorage>/<ext>/state/taskHistory.json``; the
    ``~/.cline/data`` store in ``tasks/taskHistory.json``.
    """
    for path in (tasks_dir.parent / "state" / "taskHistory.json", tasks_dir / "taskHistory.json"):
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        key = str(path)
        cached = _TASK_HISTORY.get(key)
        if cached is None or cached[0] != mtime:
            entries = _read_json(path, _decode_task_history) or []
            text = coerce.text
            table = {e.id: e.cwdOnTaskInitialization for e in entries if text(e.id) and text(e.cwdOnTaskInitialization)}
            cached = _TASK_HISTORY[key] = (mtime, table)
        if task in cached[1]:
            return cached[1][task]
    return None


def user_dirs() -> list[Path]:
    """The user-data directories of VS Code and its forks (each holds ``User/``), this platform's."""
    if sys.platform == "darwin":
        bases = [home() / "Library" / "Application Support"]
    elif sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        bases = [Path(appdata)] if appdata else [home() / "AppData" / "Roaming"]
    else:
        bases = [xdg("XDG_CONFIG_HOME", ".config")]
    found = [base / app for base in bases for app in APPS]
    portable = coerce.text(os.environ.get("VSCODE_PORTABLE"))
    if portable:
        found.append(Path(portable).expanduser() / "user-data")
    found.extend(home() / server for server in SERVERS)
    return found


def cline_data_dir() -> Path:
    """``${CLINE_DATA_DIR:-${CLINE_DIR:-~/.cline}/data}``."""
    data = coerce.text(os.environ.get("CLINE_DATA_DIR"))
    if data:
        return Path(data).expanduser()
    base = coerce.text(os.environ.get("CLINE_DIR"))
    return (Path(base).expanduser() if base else home() / ".cline") / "data"


def cline_sessions_dir() -> Path:
    """``CLINE_SESSION_DATA_DIR``, else ``<cline data dir>/sessions``."""
    value = coerce.text(os.environ.get("CLINE_SESSION_DATA_DIR"))
    return Path(value).expanduser() if value else cline_data_dir() / "sessions"


def _subdirs(path: Path, errors: list[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        errors.append(f"cannot list {path}: {exc.strerror or exc}")
        return []


# --- the reader ------------------------------------------------------------------


class VSCodeTaskReader:
    """Reads one extension's task files (and, for Cline, the ``~/.cline`` store)."""

    session_totals = False
    fidelity: Fidelity = "exact"

    def __init__(self, client: str, extension: str, cline_store: bool = False) -> None:
        self.client = client
        self.extension = extension
        self.cline_store = cline_store
        store = ("CLINE_DATA_DIR", "CLINE_DIR", "CLINE_SESSION_DATA_DIR") if cline_store else ()
        self.env: tuple[str, ...] = ("APPDATA", "VSCODE_PORTABLE", *store)

    def task_roots(self) -> list[Path]:
        """Every ``tasks/`` directory of this extension, existing or not."""
        roots = [d / "User" / "globalStorage" / self.extension / "tasks" for d in user_dirs()]
        if self.cline_store:
            roots.append(cline_data_dir() / "tasks")
        return roots

    def roots(self) -> list[Path]:
        """Task directories, plus the Cline sessions directory for Cline."""
        roots = self.task_roots()
        if self.cline_store:
            roots.append(cline_sessions_dir())
        return roots

    def discover(self, errors: list[str]) -> list[Source]:
        """Each task's ``ui_messages.json`` and each ``*.messages.json`` of the Cline store."""
        found: list[Source] = []
        seen: set[Path] = set()
        for root in self.task_roots():
            if not root.is_dir():
                continue
            if not first_sight(root, seen):
                continue
            for entry in _subdirs(root, errors):
                task = Path(entry.path)
                path = task / UI_MESSAGES
                if path.is_file():
                    companions = (task / HISTORY, task / HISTORY_ITEM)
                    found.append(Source(self.client, path, "whole", companions))
        if self.cline_store:
            sessions = cline_sessions_dir()
            for entry in sorted(_subdirs(sessions, errors), key=lambda e: e.name):
                try:
                    with os.scandir(entry.path) as it:
                        names = [e.name for e in it if e.name.endswith(MESSAGES_SUFFIX) and e.is_file()]
                except OSError as exc:
                    errors.append(f"cannot list {entry.path}: {exc.strerror or exc}")
                    continue
                manifest = Path(entry.path) / f"{entry.name}.json"
                for name in sorted(names):
                    found.append(Source(self.client, Path(entry.path) / name, "whole", (manifest,)))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read a whole task file or session file."""
        if source.path.name.endswith(MESSAGES_SUFFIX):
            return self._read_session(source)
        return self._read_task(source)

    # --- VS Code task files -----------------------------------------------------

    def _read_task(self, source: Source) -> ReadResult:
        path = source.path
        try:
            data = read_regular(path)
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        result = ReadResult(offset=len(data))
        messages = _decode_file(data, _decode_ui, _decode_raw_list)
        if messages is None:
            # A file caught mid-write or damaged: nothing usable this time.
            result.skip("malformed task file")
            return result
        if messages and isinstance(messages[0], msgspec.Raw):
            messages = _each(messages, _decode_ui_one, result)
        task_dir = path.parent
        task = task_dir.name
        context: dict[str, Any] | None = None
        text, count = coerce.text, coerce.count
        for message in messages:
            if message.say != "api_req_started" or not message.text:
                continue
            try:
                req = _decode_req(_decode_str(message.text))
            except (RecursionError, *_DecodeErrors):
                result.skip("malformed api_req_started")
                continue
            tokens_in = count(req.tokensIn)
            output = count(req.tokensOut)
            cache_read = count(req.cacheReads)
            cache_write = count(req.cacheWrites)
            uncached = split_input(tokens_in, cache_read, cache_write)
            total = uncached + output + cache_read + cache_write
            if total == 0:
                continue  # still running, or cancelled before any usage
            ts = coerce.time_us(message.ts)
            if ts is None:
                result.skip("no timestamp")
                continue
            if context is None:
                context = self._task_context(task_dir)
            info = message.modelInfo
            model = (text(info.modelId) if info else None) or context["model"] or "unknown"
            result.rows.append(
                Row(
                    client=self.client,
                    provider=infer_provider(model, (text(info.providerId) if info else None) or text(req.apiProtocol)),
                    model=model,
                    workspace=context["workspace"],
                    session_id=task,
                    agent=(text(info.mode) if info else None) or context["agent"],
                    event_key=f"{task}:{message.ts}",
                    ts=ts,
                    input=uncached,
                    output=output,
                    cache_read=cache_read,
                    cache_write_5m=cache_write,
                    source_cost=coerce.cost(req.cost),
                    rank=total,
                )
            )
        return result

    def _task_context(self, task_dir: Path) -> dict[str, Any]:
        """Model, agent and workspace for a task, from its sibling files."""
        model = agent = workspace = None
        try:
            history = read_regular(task_dir / HISTORY)
        except OSError:
            history = b""
        if history:
            model = _tag(history, b"model")
            agent = _tag(history, b"slug")
        item = _read_json(task_dir / HISTORY_ITEM, _decode_item)
        if item is not None:
            workspace = coerce.text(item.workspace)
            agent = agent or coerce.text(item.mode)
        if workspace is None:
            workspace = _task_cwd(task_dir.parent, task_dir.name)
        return {"model": model, "agent": agent, "workspace": workspace or ""}

    # --- the ~/.cline store --------------------------------------------------------

    def _read_session(self, source: Source) -> ReadResult:
        path = source.path
        try:
            data = read_regular(path)
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        result = ReadResult(offset=len(data))
        file = _decode_file(data, _decode_messages, _decode_messages_raw)
        if file is None:
            result.skip("malformed session file")
            return result
        messages = file.messages or []
        if isinstance(file, _RawMessagesFile):
            messages = _each(messages, _decode_message, result)
        text, count = coerce.text, coerce.count
        session_dir = path.parent
        manifest = _read_json(session_dir / f"{session_dir.name}.json", _decode_manifest)
        is_agent = path.name.startswith("agent_")
        session = session_dir.name if is_agent else (text(file.sessionId) or session_dir.name)
        agent = None
        if is_agent:
            agent = text(file.agent) or path.name[len("agent_") : -len(MESSAGES_SUFFIX)] or "subagent"
        model = (text(manifest.model) if manifest else None) or "unknown"
        provider = text(manifest.provider) if manifest else None
        workspace = ""
        if manifest is not None:
            workspace = text(manifest.workspace_root) or text(manifest.cwd) or ""
        fallback_ts = coerce.time_us(file.updated_at)
        for index, message in enumerate(messages):
            info = message.modelInfo
            if info is not None:
                model = text(info.id) or model
                provider = text(info.provider) or provider
            metrics = message.metrics
            if metrics is None or message.role not in ("assistant", None):
                continue
            cache_read = count(metrics.cacheReadTokens)
            cache_write = count(metrics.cacheWriteTokens)
            uncached = split_input(count(metrics.inputTokens), cache_read, cache_write)
            output = count(metrics.outputTokens)
            total = uncached + output + cache_read + cache_write
            if total == 0:
                continue
            ts = coerce.time_us(message.ts) or fallback_ts
            if ts is None:
                if fallback_ts is None:
                    fallback_ts = path.stat().st_mtime_ns // 1000
                ts = fallback_ts
            msg_id = text(message.id)
            result.rows.append(
                Row(
                    client=self.client,
                    provider=infer_provider(model, provider),
                    model=model,
                    workspace=workspace,
                    session_id=session,
                    agent=agent,
                    event_key=f"cline:{msg_id}" if msg_id else f"cline:{session}:{path.name}:{index}",
                    ts=ts,
                    input=uncached,
                    output=output,
                    cache_read=cache_read,
                    cache_write_5m=cache_write,
                    source_cost=coerce.cost(metrics.cost),
                    rank=total,
                )
            )
        return result


READERS = (
    VSCodeTaskReader("cline", CLINE_EXT, cline_store=True),
    VSCodeTaskReader("roo-code", ROO_EXT),
    VSCodeTaskReader("kilo-code", KILO_EXT),
)
