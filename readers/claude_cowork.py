"""Claude Cowork (the Claude desktop app's local agent mode): Claude Code JSONL (clients.md §3.26).

Roots: ``<Claude app data>/local-agent-mode-sessions``, where the app data dir is
macOS ``~/Library/Application Support/Claude``, Windows ``%APPDATA%\\Claude`` and the
MSIX install's ``%LOCALAPPDATA%\\Packages\\Claude_pzs8sxrjxfjjc\\LocalCache\\Roaming\\Claude``,
Linux ``${XDG_CONFIG_HOME:-~/.config}/Claude``.

Layout: ``<root>/<org>/<account>/local_<id>.json`` (the app's session record) beside
``local_<id>/``, whose ``.claude/projects/<slug>/<cliSessionId>.jsonl`` (and
``<cliSessionId>/subagents/**/agent-*.jsonl``) is plain Claude Code JSONL: Cowork runs
Claude Code with ``CLAUDE_CONFIG_DIR`` set per task. Some versions put the session one
level deeper (``…/agent/local_<id>/``). The walk stops at each ``local_*`` directory and
reads only its ``.claude/projects``: the rest of a session directory is the task's
outputs, which can be large.

Traps handled:

* ``audit.jsonl`` (the HMAC-chained Agent SDK stream beside the transcript) is never read:
  its usage is a partial streaming snapshot. Only ``.claude/projects`` is read at all.
* Parsing is ``readers.claude_code``'s (streaming copies, sidechains, subagents, advisor
  calls, TTL split): one ``message.id`` counts once within Cowork.
* A transcript that also sits under the Claude Code roots (the same
  ``<cliSessionId>.jsonl``, or the same subagent file, in any project directory there)
  is counted by the Claude Code reader only: the ledger keys rows by (client, key), so two
  labels would count the turn twice. The Cowork copy then gives no rows, and keeps giving
  none (the decision is kept in the read state), so a Claude Code clean-up that later
  deletes the twin cannot make the Cowork copy count it again.
* Workspace: the record's first ``userSelectedFolders`` entry (a real host folder); else
  what the Claude Code parser finds (the VM's ``cwd``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Source, first_sight, home, iter_files, read_new_chunk, read_regular, xdg
from .claude_code import ClaudeCodeReader, _file_context

CLIENT = "cowork"
SESSIONS_DIR = "local-agent-mode-sessions"
MSIX_PACKAGE = "Claude_pzs8sxrjxfjjc"
RECORD_MAX_BYTES = 1 << 20
"""A ``local_<id>.json`` session record larger than this is not read."""
WALK_DEPTH = 4
"""How many directory levels under a root are searched for ``local_*`` session directories."""
_SKIP_DIRS = frozenset({"skills-plugin", "node_modules", ".git"})


def app_data_dirs() -> list[Path]:
    """The Claude desktop app's data directories on this platform."""
    if sys.platform == "darwin":
        return [home() / "Library" / "Application Support" / "Claude"]
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        local = os.environ.get("LOCALAPPDATA")
        found = [(Path(appdata) if appdata else home() / "AppData" / "Roaming") / "Claude"]
        base = Path(local) if local else home() / "AppData" / "Local"
        found.append(base / "Packages" / MSIX_PACKAGE / "LocalCache" / "Roaming" / "Claude")
        return found
    return [xdg("XDG_CONFIG_HOME", ".config") / "Claude"]


def session_dirs(root: Path, errors: list[str]) -> list[Path]:
    """Every ``local_*`` session directory under ``root`` (not entering them)."""
    found: list[Path] = []
    stack = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"cannot list {directory}: {exc.strerror or exc}")
            continue
        for entry in entries:
            if entry.name.startswith("local_"):
                found.append(Path(entry.path))
            elif depth < WALK_DEPTH and entry.name not in _SKIP_DIRS:
                stack.append((Path(entry.path), depth + 1))
    return sorted(found)


class _Record(msgspec.Struct):
    userSelectedFolders: Any = None


def _selected_folder(session_dir: Path) -> str | None:
    """The first folder the user attached to the task, from ``local_<id>.json``."""
    try:
        raw = read_regular(session_dir.with_name(session_dir.name + ".json"), RECORD_MAX_BYTES)
        record = msgspec.json.decode(raw, type=_Record)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    folders = record.userSelectedFolders
    if isinstance(folders, list):
        for folder in folders:
            if isinstance(folder, str) and folder.strip():
                return folder.strip()
    return None


class CoworkReader(ClaudeCodeReader):
    """Reads Cowork's Claude Code transcripts, leaving those Claude Code's own roots also hold to that reader."""

    client = CLIENT
    fidelity: Fidelity = "exact"
    env = ("APPDATA", "LOCALAPPDATA", "CLAUDE_CONFIG_DIR")

    def roots(self) -> list[Path]:
        """``local-agent-mode-sessions`` under each of this platform's Claude app data dirs."""
        return [base / SESSIONS_DIR for base in app_data_dirs()]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every transcript under each session's ``.claude/projects`` (journals excluded)."""
        seen: set[Path] = set()
        found: list[Source] = []
        roots = self.roots()
        # a session dir that CLAUDE_CONFIG_DIR names is Claude Code's to read
        claude_roots: set[Path] = set()
        for root in ClaudeCodeReader().roots():
            with contextlib.suppress(OSError):  # an unreachable Claude Code root is that reader's to report
                first_sight(root, claude_roots)
        for root in roots:
            if not root.is_dir() or not first_sight(root, seen):
                continue
            for session in session_dirs(root, errors):
                projects = session / ".claude" / "projects"
                try:
                    if projects.resolve() in claude_roots:
                        continue
                except (OSError, RuntimeError):  # a symlink loop: nothing to read there
                    continue
                for path in iter_files(projects, ".jsonl", errors):
                    if path.name == "audit.jsonl" or (path.name == "journal.jsonl" and "subagents" in path.parts):
                        continue
                    found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Claude Code rows of the transcript, labelled ``cowork``; none when Claude Code's roots hold it too."""
        if state.get("twin") or (not state and _twin(source.path) is not None):
            _data, new_offset = read_new_chunk(source.path, offset)
            return ReadResult(offset=new_offset, state={"twin": True})
        if not state:
            state = _file_context(source.path)
            folder = _selected_folder(_session_dir(source.path))
            if folder:  # a real host folder: the lines' cwd is the VM's
                state["workspace"] = folder
                state["workspace_exact"] = True
        result = super().read(source, offset, state)
        replace = msgspec.structs.replace
        result.rows = [replace(r, client=CLIENT) for r in result.rows]
        return result


def _session_dir(path: Path) -> Path:
    """``…/local_<id>`` of a transcript ``…/local_<id>/.claude/projects/…``."""
    parts = path.parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == ".claude" and parts[i + 1] == "projects":
            return Path(*parts[:i])
    return path.parent


def _twin(path: Path) -> Path | None:
    """The same transcript under one of Claude Code's roots (any project directory), if there is one."""
    parts = path.parts
    rel: tuple[str, ...] | None = None
    for i in range(len(parts) - 3, 0, -1):
        if parts[i] == ".claude" and parts[i + 1] == "projects":
            rel = parts[i + 3 :]  # below projects/<slug>/
            break
    if not rel:
        return None
    pattern = str(Path("*", *(glob.escape(p) for p in rel)))
    for root in ClaudeCodeReader().roots():
        with contextlib.suppress(OSError):
            for hit in root.glob(pattern):
                return hit
    return None


READERS = (CoworkReader(),)
