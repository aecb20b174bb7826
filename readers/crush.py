"""Crush (charmbracelet/crush): per-project SQLite ``crush.db`` (formats.md §16).

Discovery: the global index ``${XDG_DATA_HOME:-~/.local/share}/crush/projects.json``
(``{"projects": [{"path", "data_dir", "last_accessed"}]}``, written by Crush's
``internal/projects``) names every project and its data directory; the
database is ``<data_dir>/crush.db`` (a relative ``data_dir`` is taken relative
to the project ``path``). ``CRUSH_PROJECTS`` (comma list of extra ``crush.db``
files or data directories) adds databases the index does not list.

What can be trusted (the decision, after reading Crush's agent code):

* ``sessions.cost`` is cumulative: every step adds its cost, title generation
  adds its cost, and a sub-agent (task) session's cost is added to its parent's
  when it finishes. So only ROOT sessions (``parent_session_id IS NULL``) are
  read; child sessions would be counted twice.
* ``sessions.prompt_tokens`` / ``completion_tokens`` are NOT cumulative: each
  step overwrites them with that step's context size. They are not used; the
  rows carry zero tokens and the session cost as ``source_cost`` (the price
  Crush computed from its model catalogue), so reports show the spend, and
  token totals honestly leave Crush out.
* Model: ``session-total``, provider ``crush`` (as tokscale). A real model
  name on a row with zero tokens would be priced at $0 by the pricing step,
  which prefers its own list price over ``source_cost``; an unknown model
  makes it take the session cost (``price_state`` "source"). Several models
  may share one session cost anyway, and it cannot be split.
* One row per root session keyed by its id (tied rank): a re-read replaces
  the cost. Sessions with no cost are skipped.
* Timestamp: ``updated_at`` (the last time the cost grew), floored at
  ``created_at`` (epoch seconds; larger values read as ms).
* Workspace: the project ``path`` from the index (else the directory holding
  the data directory).
* The index is opened only as a regular file and refused above
  ``INDEX_MAX_BYTES`` (a FIFO or a huge file in its place is one error, never
  a hang); it is parsed again only when it changes.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, read_regular, xdg
from .coerce import cost, time_us
from .database import col, columns
from .session_totals import database_sources, read_totals, usage_time

CLIENT = "crush"
SESSION_MODEL = "session-total"
#: A project index larger than this is refused unread (a real one lists a few hundred projects).
INDEX_MAX_BYTES = 16 << 20


class _Project(msgspec.Struct):
    path: Any = None
    data_dir: Any = None


class _Index(msgspec.Struct):
    projects: list[_Project] | None = None


class CrushReader:
    """Reads the Crush databases its project index lists."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("CRUSH_PROJECTS",)
    _index_cache: tuple[tuple, dict[Path, str]] | None = None

    def index_path(self) -> Path:
        """Crush's global project index."""
        return xdg("XDG_DATA_HOME", ".local/share") / "crush" / "projects.json"

    def roots(self) -> list[Path]:
        """The project index (and any extra databases from ``CRUSH_PROJECTS``)."""
        return [self.index_path(), *self._extra()]

    def _extra(self) -> list[Path]:
        value = os.environ.get("CRUSH_PROJECTS", "").strip()
        paths = [Path(p.strip()).expanduser() for p in value.split(",") if p.strip()]
        return [p if p.name.endswith(".db") else p / "crush.db" for p in paths]

    def projects(self, errors: list[str]) -> list[tuple[Path, str]]:
        """(database, workspace) of every project the index lists."""
        index = self.index_path()
        try:
            raw = read_regular(index, INDEX_MAX_BYTES)
        except FileNotFoundError:
            return []
        except OSError as exc:
            errors.append(f"{index}: {exc.strerror or exc}")
            return []
        try:
            listed = msgspec.json.decode(raw, type=_Index).projects or []
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            errors.append(f"{index}: not a Crush project index: {exc}")
            return []
        found = []
        for project in listed:
            if not isinstance(project.data_dir, str) or not project.data_dir:
                continue
            workspace = project.path if isinstance(project.path, str) else ""
            data_dir = Path(project.data_dir).expanduser()
            if not data_dir.is_absolute() and workspace:
                data_dir = Path(workspace) / data_dir
            found.append((data_dir / "crush.db", workspace))
        return found

    def discover(self, errors: list[str]) -> list[Source]:
        """Every listed project database that exists."""
        listed = [path for path, _workspace in self.projects(errors)]
        return database_sources(CLIENT, [*listed, *self._extra()])

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One cost row per root session."""
        workspace = self._workspaces().get(source.path, "")
        if not workspace:
            data_dir = source.path.parent
            workspace = str(data_dir.parent if data_dir.name == ".crush" else data_dir)
        return read_totals(source.path, lambda conn, result: _rows(conn, workspace, result))

    def _workspaces(self) -> dict[Path, str]:
        """database -> workspace from the index, parsed again only when the index changed (a scan reads
        every project's database in turn: one stat each instead of one index parse each)."""
        try:
            st = self.index_path().stat()
            key: tuple = (str(self.index_path()), st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = ()
        cached = self._index_cache
        if cached is None or cached[0] != key:
            cached = self._index_cache = (key, {db.resolve(): ws for db, ws in self.projects([])})
        return cached[1]


def _rows(conn: sqlite3.Connection, workspace: str, result: ReadResult) -> None:
    present = columns(conn, "sessions")
    if not {"id", "cost"} <= present:
        return
    root = "parent_session_id IS NULL OR parent_session_id = ''" if "parent_session_id" in present else "1"
    sessions = conn.execute(  # one statement: one snapshot
        f"""
        SELECT id, cost, {col(present, "created_at")}, {col(present, "updated_at")}
        FROM sessions WHERE ({root}) AND cost > 0
        """
    ).fetchall()
    for sid, spent, created, updated in sessions:
        amount = cost(spent)
        ts = usage_time(time_us(created), time_us(updated))
        if not isinstance(sid, str) or not sid or not amount or ts is None:
            continue
        result.rows.append(
            Row(
                client=CLIENT,
                provider=CLIENT,
                model=SESSION_MODEL,
                workspace=workspace,
                session_id=sid,
                agent=None,
                event_key=sid,
                ts=ts,
                source_cost=amount,
            )
        )


READERS = (CrushReader(),)
