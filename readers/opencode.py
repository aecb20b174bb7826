"""OpenCode and Kilo CLI: ``opencode.db`` / ``kilo.db`` and legacy JSON storage (formats.md §3, §3b).

Roots: ``${XDG_DATA_HOME:-~/.local/share}/opencode`` (Linux and macOS alike:
OpenCode uses XDG paths everywhere); Kilo CLI (client ``kilo``, the same code
and schema) at ``${XDG_DATA_HOME:-~/.local/share}/kilo``. OpenCode has no
data-dir variable of its own (``OPENCODE_DATA_DIR`` is ccusage's).

Sources:

* ``opencode.db`` and release-channel ``opencode-<channel>.db`` (``kilo.db``,
  ``kilo-<channel>.db``): SQLite in WAL mode, read in ``whole`` mode with the
  ``-wal`` file as a companion, so a write that only touches the WAL still
  triggers a re-read. Opened read-only (``file:…?mode=ro``) so WAL content is
  visible. When no ``-wal`` file exists (no client running), a WAL-mode file is
  opened with ``immutable=1`` instead: everything is in the main file, and a
  plain read-only open would create ``-wal``/``-shm`` files next to it.
* ``storage/message/<sessionID>/<messageID>.json`` (OpenCode < 1.2): one file
  per message, rewritten in place (``Bun.write``), so one ``whole`` source per
  file.

Whole or incremental: the scan hands ``whole`` sources no state, so each change
of the database or its WAL re-reads the ``message`` table. That is cheap
enough: message rows hold only metadata (text and tool output live in the
``part`` table, most of a big database), only ``id``, ``session_id`` and
``data`` are fetched, a substring test drops user rows before decoding and
msgspec decodes only the needed fields. Re-emitted rows upsert onto the same
keys in the ledger. (A ``time_updated`` watermark would need state that
``whole`` sources do not get back.)

Traps handled:

* Only ``role == "assistant"`` rows with ``tokens`` count; all-zero token rows
  (in-progress or aborted messages, later updated in place) are skipped.
* Output = ``tokens.output + tokens.reasoning`` (OpenCode stores completion
  minus reasoning in ``output``), reasoning = ``tokens.reasoning``; input
  excludes cache; ``cache.read`` / ``cache.write`` (write TTL unknown: 5m).
* ``cost`` becomes ``source_cost`` as logged (0 for subscription/free routes
  is kept: the pricing step reads it as "actual cost 0").
* SQLite and JSON overlap after the 1.2 migration (same message ids): the
  event key is the message id; a JSON message whose id is in a database of
  the same data dir is skipped (the database is authoritative; database rows
  also rank above JSON rows).
* Session forks copy earlier messages into a new session under NEW ids:
  messages with the same fingerprint (created and completed time, model,
  provider, agent, the five token counts) collapse onto the smallest id (the
  original: ids grow with time). In a database the collapse spans the whole
  file; in the legacy tree it uses an index of every message file of the data
  dir, kept per process and rebuilt when a database, the ``storage/message``
  directory (a new session directory, as a fork makes) or a session project
  directory changes (checked at most once a second: a scan reads the files in
  one burst). The index also caches each file's parsed message by (mtime,
  size), so a cold scan parses every legacy file once (once per worker process
  when the scan uses a pool).
* Child sessions (``task`` tool subagents, ``session.parent_id``): their turns
  are attributed to the root session of the ``parent_id`` chain (like Claude
  Code subagents); the agent is the message's ``agent`` (else ``mode``) name,
  e.g. ``build``, ``plan``, ``general``.
* Workspace: the message's session ``directory``, else ``path.root``, else
  ``path.cwd``.
* ``time.created`` may be a float (epoch ms).
* A database locked by a running client: retried a few times with a short
  back-off, then named in ``ReadResult.errors`` (the scan keeps the old state
  and retries next time). Never written, never crashes.

Assumed: early 1.2 builds whose ``session`` table lacks ``parent_id`` /
``directory`` columns keep those fields in a ``data`` JSON column
(``parentID``, ``directory``); both shapes are read.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from .base import ReadResult, Source, clamp, iter_files, xdg

#: Attempts and first back-off (seconds, doubled each time) for a locked database.
LOCK_RETRIES = 4
LOCK_BACKOFF = 0.05
DB_RANK = 1
JSON_RANK = 0
_MAX_DEPTH = 32


class _Cache(msgspec.Struct):
    read: Any = None
    write: Any = None


class _Tokens(msgspec.Struct):
    input: Any = None
    output: Any = None
    reasoning: Any = None
    cache: _Cache | None = None


class _Time(msgspec.Struct):
    created: Any = None
    completed: Any = None


class _Path(msgspec.Struct):
    cwd: Any = None
    root: Any = None


class _Message(msgspec.Struct):
    id: Any = None
    sessionID: Any = None
    role: Any = None
    modelID: Any = None
    providerID: Any = None
    mode: Any = None
    agent: Any = None
    time: _Time | None = None
    cost: Any = None
    tokens: _Tokens | None = None
    path: _Path | None = None


class _SessionInfo(msgspec.Struct):
    id: Any = None
    parentID: Any = None
    directory: Any = None


_decode_message = msgspec.json.Decoder(_Message).decode
_decode_session = msgspec.json.Decoder(_SessionInfo).decode

# A parsed message: everything a row needs except the session-derived fields.
# (id, session, ts_us, model, provider, agent, input, output, reasoning, read, write, cost, fingerprint, cwd)
_Parsed = tuple[str, str, int, str, str, Any, int, int, int, int, int, Any, tuple, str]


def _parse(message: _Message, row_id: Any = None, row_session: Any = None, row_created: Any = None) -> _Parsed | None:
    """The usage facts of one message, or None if it is not a counted assistant turn."""
    if message.role != "assistant" or message.tokens is None:
        return None
    tokens = message.tokens
    inp = clamp(tokens.input)
    out = clamp(tokens.output)
    reasoning = clamp(tokens.reasoning)
    cache = tokens.cache
    read = clamp(cache.read) if cache is not None else 0
    write = clamp(cache.write) if cache is not None else 0
    if inp + out + reasoning + read + write == 0:
        return None  # in progress or aborted: updated in place later
    mid = row_id if isinstance(row_id, str) and row_id else message.id
    if not isinstance(mid, str) or not mid:
        return None
    session = row_session if isinstance(row_session, str) and row_session else message.sessionID
    created = message.time.created if message.time is not None else None
    if created is None:
        created = row_created  # the row's time_created column (epoch ms)
    completed = message.time.completed if message.time is not None else None
    if isinstance(created, bool) or not isinstance(created, int | float):
        return None
    model = message.modelID if isinstance(message.modelID, str) and message.modelID else "unknown"
    provider = message.providerID if isinstance(message.providerID, str) and message.providerID else "unknown"
    agent = message.agent if isinstance(message.agent, str) and message.agent else None
    if agent is None and isinstance(message.mode, str) and message.mode:
        agent = message.mode
    cost = message.cost
    cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
    path = message.path
    cwd = ""
    if path is not None:
        for value in (path.root, path.cwd):
            if isinstance(value, str) and value:
                cwd = value
                break
    fingerprint = (created, completed, model, provider, agent, inp, out, reasoning, read, write)
    return (
        mid,
        session if isinstance(session, str) else "",
        int(created * 1000),
        model,
        provider,
        agent,
        inp,
        out,
        reasoning,
        read,
        write,
        cost,
        fingerprint,
        cwd,
    )


def _root(session: str, sessions: dict[str, tuple[str | None, str]]) -> str:
    """The root of ``session``'s parent chain."""
    seen = 0
    current = session
    while seen < _MAX_DEPTH:
        info = sessions.get(current)
        if info is None or not info[0] or info[0] == current:
            return current
        current = info[0]
        seen += 1
    return current


def _collapse(parsed: list[_Parsed]) -> dict[tuple, str]:
    """Fingerprint → the smallest message id carrying it."""
    smallest: dict[tuple, str] = {}
    for p in parsed:
        fp = p[12]
        known = smallest.get(fp)
        if known is None or p[0] < known:
            smallest[fp] = p[0]
    return smallest


def _row(client: str, p: _Parsed, sessions: dict[str, tuple[str | None, str]], rank: int) -> tuple:
    own = sessions.get(p[1])
    workspace = (own[1] if own is not None and own[1] else "") or p[13]
    return (
        client,
        p[4],
        p[3],
        workspace,
        _root(p[1], sessions) if p[1] else "",
        p[5],
        p[0],
        p[2],
        p[6],
        p[7] + p[8],
        p[8],
        p[9],
        p[10],
        0,
        p[11],
        None,
        rank,
    )


# --- SQLite -----------------------------------------------------------------


def _is_wal(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that sees WAL content and leaves no files behind where it can."""
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    wal = Path(str(path) + "-wal")
    if _is_wal(path) and not wal.exists():
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=0.1, check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _db_sessions(conn: sqlite3.Connection) -> dict[str, tuple[str | None, str]]:
    cols = _columns(conn, "session")
    sessions: dict[str, tuple[str | None, str]] = {}
    if not cols:
        return sessions
    if "parent_id" in cols or "directory" in cols:
        parent = "parent_id" if "parent_id" in cols else "NULL"
        directory = "directory" if "directory" in cols else "NULL"
        for sid, par, dirname in conn.execute(f"SELECT id, {parent}, {directory} FROM session"):
            sessions[sid] = (par if isinstance(par, str) else None, dirname if isinstance(dirname, str) else "")
    elif "data" in cols:
        for sid, data in conn.execute("SELECT id, data FROM session"):
            try:
                info = _decode_session(data) if data else _SessionInfo()
            except (msgspec.DecodeError, msgspec.ValidationError):
                info = _SessionInfo()
            par = info.parentID if isinstance(info.parentID, str) else None
            sessions[sid] = (par, info.directory if isinstance(info.directory, str) else "")
    return sessions


def _db_messages(conn: sqlite3.Connection) -> tuple[list[_Parsed], int]:
    cols = _columns(conn, "message")
    session_col = "session_id" if "session_id" in cols else "NULL"
    created_col = "time_created" if "time_created" in cols else "NULL"
    parsed: list[_Parsed] = []
    skipped = 0
    for mid, sid, row_created, data in conn.execute(f"SELECT id, {session_col}, {created_col}, data FROM message"):
        if not data:
            continue
        if isinstance(data, str):
            if '"tokens"' not in data:
                continue
        elif b'"tokens"' not in data:
            continue
        try:
            message = _decode_message(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            skipped += 1
            continue
        p = _parse(message, mid, sid, row_created)
        if p is not None:
            parsed.append(p)
    return parsed, skipped


def _query_db(path: Path) -> tuple[list[_Parsed], dict[str, tuple[str | None, str]], int, str | None]:
    """Read a database with retries: (messages, sessions, skipped, error)."""
    delay = LOCK_BACKOFF
    last = ""
    for attempt in range(LOCK_RETRIES):
        try:
            conn = _connect(path)
            try:
                sessions = _db_sessions(conn)
                parsed, skipped = _db_messages(conn)
            finally:
                conn.close()
            return parsed, sessions, skipped, None
        except sqlite3.OperationalError as exc:
            last = str(exc)
            busy = "locked" in last or "busy" in last
            if not busy and "no such table" in last:
                return [], {}, 0, f"{path}: not an OpenCode database ({last})"
        except sqlite3.DatabaseError as exc:  # torn read of a file being written, or not a database
            last = str(exc)
        if attempt + 1 < LOCK_RETRIES:
            time.sleep(delay)
            delay *= 2
    return [], {}, 0, f"{path}: cannot read ({last}) after {LOCK_RETRIES} attempts; the client may hold a lock"


# --- legacy JSON index ------------------------------------------------------


class _LegacyIndex:
    """What a legacy file read needs to know about the rest of its data dir."""

    def __init__(self, key: tuple, db_ids: set[str], files: dict[str, tuple[int, int, _Parsed | bool | None]]) -> None:
        self.key = key
        self.db_ids = db_ids
        self.files = files
        self.smallest = _collapse([p for _, _, p in files.values() if isinstance(p, tuple)])
        self.sessions: dict[str, tuple[str | None, str]] = {}
        self.checked = time.monotonic()


_INDEX: dict[str, _LegacyIndex] = {}
#: Seconds during which a checked index is trusted without re-checking (one scan reads its files in a burst).
REVALIDATE_AFTER = 1.0


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _subdir_mtimes(path: Path) -> tuple:
    try:
        return tuple(sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(path) if e.is_dir()))
    except OSError:
        return ()


def _parse_file(path: Path) -> _Parsed | bool | None:
    """A legacy message file parsed; False if it is not valid JSON."""
    try:
        message = _decode_message(path.read_bytes())
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    return _parse(message, None, path.parent.name)


def _db_ids(path: Path) -> set[str]:
    """Every message id in a database (empty if it cannot be read now)."""
    delay = LOCK_BACKOFF
    for attempt in range(LOCK_RETRIES):
        try:
            conn = _connect(path)
            try:
                return {row[0] for row in conn.execute("SELECT id FROM message")}
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            if attempt + 1 < LOCK_RETRIES:
                time.sleep(delay)
                delay *= 2
    return set()


def _legacy_index(data_dir: Path, list_dbs: Callable[[Path], list[Path]]) -> _LegacyIndex:
    index = _INDEX.get(str(data_dir))
    if index is not None and time.monotonic() - index.checked < REVALIDATE_AFTER:
        return index
    storage = data_dir / "storage"
    dbs = list_dbs(data_dir)
    db_sig = tuple((str(db), _mtime(db), _mtime(Path(str(db) + "-wal"))) for db in dbs)
    key = (db_sig, _mtime(storage / "message"), _subdir_mtimes(storage / "session"))
    if index is not None and index.key == key:
        index.checked = time.monotonic()
        return index
    db_ids: set[str] = set()
    for db in dbs:
        db_ids.update(_db_ids(db))
    files: dict[str, tuple[int, int, _Parsed | bool | None]] = {}
    for path in iter_files(storage / "message", ".json"):
        try:
            st = path.stat()
        except OSError:
            continue
        p = _parse_file(path)
        files[str(path)] = (st.st_mtime_ns, st.st_size, p)
    index = _LegacyIndex(key, db_ids, files)
    for path in iter_files(storage / "session", ".json"):
        try:
            info = _decode_session(path.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
        sid = info.id if isinstance(info.id, str) and info.id else path.stem
        par = info.parentID if isinstance(info.parentID, str) else None
        index.sessions[sid] = (par, info.directory if isinstance(info.directory, str) else "")
    _INDEX[str(data_dir)] = index
    return index


# --- reader -----------------------------------------------------------------


class OpenCodeReader:
    """Reads one OpenCode-family client's databases and legacy message files."""

    session_totals = False

    def __init__(self, client: str, dirname: str) -> None:
        self.client = client
        self._dirname = dirname

    def roots(self) -> list[Path]:
        """The client's data directory."""
        return [xdg("XDG_DATA_HOME", ".local/share") / self._dirname]

    def databases(self, data_dir: Path) -> list[Path]:
        """``<name>.db`` and ``<name>-<channel>.db`` in ``data_dir``."""
        try:
            names = sorted(e.name for e in os.scandir(data_dir) if e.is_file())
        except OSError:
            return []
        stem = self._dirname
        return [data_dir / n for n in names if n == f"{stem}.db" or (n.startswith(f"{stem}-") and n.endswith(".db"))]

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases (with their WAL as companion) and every legacy message file."""
        found: list[Source] = []
        for data_dir in self.roots():
            for db in self.databases(data_dir):
                found.append(Source(self.client, db, "whole", (Path(str(db) + "-wal"),)))
            for path in iter_files(data_dir / "storage" / "message", ".json", errors):
                found.append(Source(self.client, path, "whole"))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read a database or one legacy message file, whole."""
        if source.path.suffix == ".db":
            return self._read_db(source.path)
        return self._read_json(source.path)

    def _read_db(self, path: Path) -> ReadResult:
        parsed, sessions, skipped, error = _query_db(path)
        if error is not None:
            return ReadResult(errors=[error])
        smallest = _collapse(parsed)
        rows = [_row(self.client, p, sessions, DB_RANK) for p in parsed if smallest[p[12]] == p[0]]
        return ReadResult(rows=rows, offset=_size(path), skipped=skipped)

    def _read_json(self, path: Path) -> ReadResult:
        # .../<data_dir>/storage/message/<session>/<message>.json
        data_dir = path.parent.parent.parent.parent
        index = _legacy_index(data_dir, self.databases)
        try:
            st = path.stat()
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        cached = index.files.get(str(path))
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            p: _Parsed | bool | None = cached[2]
        else:
            p = _parse_file(path)
        if p is False:
            return ReadResult(offset=st.st_size, skipped=1)
        if p is None or p is True or p[0] in index.db_ids:
            return ReadResult(offset=st.st_size)
        canonical = index.smallest.get(p[12], p[0])
        if canonical < p[0]:
            return ReadResult(offset=st.st_size)  # a fork copy of an earlier message
        return ReadResult(rows=[_row(self.client, p, index.sessions, JSON_RANK)], offset=st.st_size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


READERS = (
    OpenCodeReader("opencode", "opencode"),
    OpenCodeReader("kilo", "kilo"),
)
