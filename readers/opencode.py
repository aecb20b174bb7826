"""OpenCode and Kilo CLI: ``opencode.db`` / ``kilo.db`` and legacy JSON storage (formats.md §3, §3b).

Roots: ``${XDG_DATA_HOME:-~/.local/share}/opencode`` (Linux and macOS alike:
OpenCode uses XDG paths everywhere); Kilo CLI (client ``kilo``, the same code
and schema) at ``${XDG_DATA_HOME:-~/.local/share}/kilo``. ``OPENCODE_DATA_DIR``
/ ``KILO_DATA_DIR`` (comma lists) replace them: not the clients' own variables,
but the ones ccusage and other meters honour, so one setting serves them all.

Sources:

* ``opencode.db`` and release-channel ``opencode-<channel>.db`` (Kilo:
  ``kilo.db``, ``kilo-<channel>.db``; an install from before Kilo's rename
  wrote ``opencode*.db`` into the kilo dir, and Kilo reads those only while no
  ``kilo*.db`` exists, so tokscope does the same: a migrated install is not
  read twice; tokdash ``clientpaths.py kilo_db_paths``): SQLite in WAL mode, read in ``whole``
  mode with the ``-wal`` file as a companion, so a write that only touches the
  WAL still triggers a re-read. Opened through ``database.query`` (immutable
  when no WAL is live, else a private copy): nothing is created beside the
  database and an existing ``-shm`` is never touched.
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
* One bad row costs that row only: invalid UTF-8 is replaced, a row that does
  not decode (malformed, nested too deep) is skipped with a counted reason.
* A database locked by a running client: retried by ``database.query``, then
  named in ``ReadResult.errors`` (the scan keeps the old state and retries next
  time). Never written, never crashes.

Assumed: early 1.2 builds whose ``session`` table lacks ``parent_id`` /
``directory`` columns keep those fields in a ``data`` JSON column
(``parentID``, ``directory``); both shapes are read.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from . import coerce, database
from .base import Fidelity, ReadResult, Row, Source, decode_line, env_paths, iter_files, read_regular, xdg
from .providers import infer_provider

DB_RANK = 1
JSON_RANK = 0
_MAX_DEPTH = 32
#: A legacy message file holds one message's metadata; anything larger is not one.
MAX_MESSAGE_FILE = 16 << 20
_BAD_ROW = "malformed message"


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


class _Turn(msgspec.Struct, frozen=True, gc=False):
    """One counted assistant message: everything a row needs except the session-derived fields."""

    id: str
    session: str
    ts: int
    model: str
    provider: str
    agent: str | None
    input: int
    output: int
    reasoning: int
    cache_read: int
    cache_write: int
    cost: float | None
    fingerprint: tuple
    """What a fork copy shares with its original (times, model, agent, counts)."""
    cwd: str


#: Per session id: (parent session id, directory).
_Sessions = dict[str, tuple[str | None, str]]


_name = coerce.text
#: Each distinct (model, logged provider) resolved once per process: a database repeats a few of them.
_provider = functools.cache(infer_provider)


def _parse(message: _Message, row_id: Any = None, row_session: Any = None, row_created: Any = None) -> _Turn | None:
    """The usage facts of one message, or None if it is not a counted assistant turn."""
    if message.role != "assistant" or message.tokens is None:
        return None
    tokens = message.tokens
    inp = coerce.count(tokens.input)
    out = coerce.count(tokens.output)
    reasoning = coerce.count(tokens.reasoning)
    cache = tokens.cache
    read = coerce.count(cache.read) if cache is not None else 0
    write = coerce.count(cache.write) if cache is not None else 0
    if inp + out + reasoning + read + write == 0:
        return None  # in progress or aborted: updated in place later
    # Inline string tests, not coerce.text: this runs once per message of a database with many.
    mid = row_id if isinstance(row_id, str) and row_id else message.id
    if not isinstance(mid, str) or not mid:
        return None
    session = row_session if isinstance(row_session, str) and row_session else message.sessionID
    if not isinstance(session, str):
        session = ""
    created = message.time.created if message.time is not None else None
    if created is None:
        created = row_created  # the row's time_created column (epoch ms)
    completed = message.time.completed if message.time is not None else None
    ts = coerce.epoch_us(created)
    if ts is None:
        return None
    model = message.modelID if isinstance(message.modelID, str) and message.modelID else "unknown"
    logged = message.providerID if isinstance(message.providerID, str) and message.providerID else None
    provider = _provider(model, logged)
    agent = message.agent if isinstance(message.agent, str) and message.agent else None
    if agent is None and isinstance(message.mode, str) and message.mode:
        agent = message.mode
    path = message.path
    cwd = ""
    if path is not None:
        for value in (path.root, path.cwd):
            if isinstance(value, str) and value:
                cwd = value
                break
    fingerprint = (created, completed, model, provider, agent, inp, out, reasoning, read, write)
    return _Turn(mid, session, ts, model, provider, agent, inp, out, reasoning, read, write,
                 coerce.cost(message.cost), fingerprint, cwd)  # fmt: skip


def _root(session: str, sessions: _Sessions) -> str:
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


def _collapse(turns: list[_Turn]) -> dict[tuple, str]:
    """Fingerprint → the smallest message id carrying it."""
    smallest: dict[tuple, str] = {}
    for t in turns:
        known = smallest.get(t.fingerprint)
        if known is None or t.id < known:
            smallest[t.fingerprint] = t.id
    return smallest


def _row(client: str, t: _Turn, sessions: _Sessions, rank: int) -> Row:
    own = sessions.get(t.session)
    return Row(
        client=client,
        provider=t.provider,
        model=t.model,
        workspace=(own[1] if own is not None and own[1] else "") or t.cwd,
        session_id=_root(t.session, sessions) if t.session else "",
        agent=t.agent,
        event_key=t.id,
        ts=t.ts,
        input=t.input,
        output=t.output + t.reasoning,
        reasoning=t.reasoning,
        cache_read=t.cache_read,
        cache_write_5m=t.cache_write,
        source_cost=t.cost,
        rank=rank,
    )


# --- SQLite -----------------------------------------------------------------


def _lenient_text(raw: bytes) -> str:
    # A text column with invalid UTF-8 would otherwise abort the whole query (sqlite3 raises mid-fetch).
    return raw.decode("utf-8", "replace")


def _db_sessions(conn: sqlite3.Connection) -> _Sessions:
    cols = database.columns(conn, "session")
    sessions: _Sessions = {}
    if not cols:
        return sessions
    if "parent_id" in cols or "directory" in cols:
        sql = f"SELECT id, {database.col(cols, 'parent_id')}, {database.col(cols, 'directory')} FROM session"
        for sid, par, dirname in conn.execute(sql):
            sessions[sid] = (_name(par), dirname if isinstance(dirname, str) else "")
    elif "data" in cols:
        for sid, data in conn.execute("SELECT id, CAST(data AS BLOB) FROM session"):
            info = decode_line(_decode_session, data) if data else None
            if info is None:
                info = _SessionInfo()
            sessions[sid] = (_name(info.parentID), info.directory if isinstance(info.directory, str) else "")
    return sessions


def _db_messages(conn: sqlite3.Connection) -> tuple[list[_Turn], int]:
    """The counted turns of the ``message`` table, and how many rows did not decode."""
    cols = database.columns(conn, "message")
    if not cols:
        raise sqlite3.DatabaseError("no message table (not an OpenCode database)")
    sql = (
        f"SELECT id, {database.col(cols, 'session_id')}, {database.col(cols, 'time_created')}, CAST(data AS BLOB)"
        " FROM message"
    )
    turns: list[_Turn] = []
    bad = 0
    for mid, sid, row_created, data in conn.execute(sql):
        if not data or b'"tokens"' not in data:
            continue  # user rows and rows without usage: no decode
        try:
            message = _decode_message(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            message = decode_line(_decode_message, data)  # invalid UTF-8 replaced, else None
            if message is None:
                bad += 1
                continue
        turn = _parse(message, mid, sid, row_created)
        if turn is not None:
            turns.append(turn)
    return turns, bad


def _read_database(path: Path, result: ReadResult) -> tuple[list[_Turn], _Sessions] | None:
    """Messages and sessions of one database; None (an error in ``result``) when it cannot be read."""

    def work(conn: sqlite3.Connection) -> tuple[list[_Turn], int, _Sessions]:
        try:
            return *_db_messages(conn), _db_sessions(conn)
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise
        conn.text_factory = _lenient_text  # slower: only for a database holding invalid UTF-8
        return *_db_messages(conn), _db_sessions(conn)

    try:
        turns, bad, sessions = database.query(path, work)
        if bad:
            result.skip(_BAD_ROW, bad)
        return turns, sessions
    except database.Locked:
        result.errors.append(f"{path}: database is busy (the client is writing); will retry on the next scan")
    except (OSError, sqlite3.DatabaseError) as exc:
        result.errors.append(f"{path}: cannot read database: {exc}")
    return None


def _db_ids(path: Path) -> set[str] | None:
    """Every message id in a database; None if it cannot be read now."""

    def work(conn: sqlite3.Connection) -> set[str]:
        conn.text_factory = _lenient_text  # ids only: a few thousand short values
        return {row[0] for row in conn.execute("SELECT id FROM message")}

    try:
        return database.query(path, work)
    except (database.Locked, OSError, sqlite3.DatabaseError):
        return None


# --- legacy JSON index ------------------------------------------------------


class _LegacyIndex:
    """What a legacy file read needs to know about the rest of its data dir."""

    def __init__(self, key: tuple, db_ids: set[str], files: dict[str, tuple[int, int, _Turn | bool | None]]) -> None:
        self.key = key
        self.db_ids = db_ids
        self.files = files
        self.smallest = _collapse([t for _, _, t in files.values() if isinstance(t, _Turn)])
        self.sessions: _Sessions = {}
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


def _parse_file(path: Path) -> _Turn | bool | None:
    """A legacy message file parsed; False if it is not a readable message."""
    try:
        message = decode_line(_decode_message, read_regular(path, MAX_MESSAGE_FILE))
    except OSError:
        return False
    if message is None:
        return False
    return _parse(message, None, path.parent.name)


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
        # A database that cannot be read now suppresses no legacy copy: better counted from JSON than lost.
        db_ids.update(_db_ids(db) or ())
    files: dict[str, tuple[int, int, _Turn | bool | None]] = {}
    for path in iter_files(storage / "message", ".json"):
        try:
            st = path.stat()
        except OSError:
            continue
        files[str(path)] = (st.st_mtime_ns, st.st_size, _parse_file(path))
    index = _LegacyIndex(key, db_ids, files)
    for path in iter_files(storage / "session", ".json"):
        try:
            info = decode_line(_decode_session, read_regular(path, MAX_MESSAGE_FILE))
        except OSError:
            continue
        if info is None:
            continue
        sid = _name(info.id) or path.stem
        index.sessions[sid] = (_name(info.parentID), info.directory if isinstance(info.directory, str) else "")
    _INDEX[str(data_dir)] = index
    return index


# --- reader -----------------------------------------------------------------


class OpenCodeReader:
    """Reads one OpenCode-family client's databases and legacy message files."""

    session_totals = False
    fidelity: Fidelity = "exact"

    def __init__(self, client: str, dirname: str, env_var: str, legacy_stem: str | None = None) -> None:
        self.client = client
        self._dirname = dirname
        self._env_var = env_var
        self._legacy_stem = legacy_stem
        self.env: tuple[str, ...] = (env_var,)

    def roots(self) -> list[Path]:
        """The client's data directories (the env override, else the XDG data dir)."""
        return env_paths(self._env_var) or [xdg("XDG_DATA_HOME", ".local/share") / self._dirname]

    def databases(self, data_dir: Path) -> list[Path]:
        """``<name>.db`` and ``<name>-<channel>.db`` in ``data_dir``; the legacy stem's only when there are none."""
        try:
            names = sorted(e.name for e in os.scandir(data_dir) if e.is_file())
        except OSError:
            return []

        def named(stem: str) -> list[Path]:
            return [
                data_dir / n for n in names if n == f"{stem}.db" or (n.startswith(f"{stem}-") and n.endswith(".db"))
            ]

        found = named(self._dirname)
        if not found and self._legacy_stem:
            found = named(self._legacy_stem)
        return found

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases (with their WAL as companion) and every legacy message file."""
        found: list[Source] = []
        for data_dir in self.roots():
            for db in self.databases(data_dir):
                found.append(Source(self.client, db, "whole", database.companions(db)))
            for path in iter_files(data_dir / "storage" / "message", ".json", errors):
                found.append(Source(self.client, path, "whole"))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read a database or one legacy message file, whole."""
        if source.path.suffix == ".db":
            return self._read_db(source.path)
        return self._read_json(source.path)

    def _read_db(self, path: Path) -> ReadResult:
        result = ReadResult()
        found = _read_database(path, result)
        if found is None:
            return result
        turns, sessions = found
        smallest = _collapse(turns)
        result.rows = [_row(self.client, t, sessions, DB_RANK) for t in turns if smallest[t.fingerprint] == t.id]
        result.offset = _size(path)
        return result

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
            turn: _Turn | bool | None = cached[2]
        else:
            turn = _parse_file(path)
        result = ReadResult(offset=st.st_size)
        if turn is False:
            result.skip(_BAD_ROW)
            return result
        if not isinstance(turn, _Turn) or turn.id in index.db_ids:
            return result
        if index.smallest.get(turn.fingerprint, turn.id) < turn.id:
            return result  # a fork copy of an earlier message
        result.rows.append(_row(self.client, turn, index.sessions, JSON_RANK))
        return result


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


READERS = (
    OpenCodeReader("opencode", "opencode", "OPENCODE_DATA_DIR"),
    OpenCodeReader("kilo", "kilo", "KILO_DATA_DIR", legacy_stem="opencode"),
)
