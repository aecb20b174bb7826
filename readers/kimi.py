"""Kimi CLI and Kimi Code (MoonshotAI): ``wire.jsonl`` files (formats.md §8).

One client, ``kimi``, two generations, both read:

* Kimi Code (>= 0.26): ``${KIMI_CODE_HOME:-~/.kimi-code}/sessions/<slug>/
  <session>/agents/<agent>/wire.jsonl``. Usage on ``{"type":"usage.record",
  "model":..,"usageScope":"turn","time":<epoch ms>,"usage":{"inputOther",
  "output","inputCacheRead","inputCacheCreation"}}`` (snake_case spellings
  accepted too). Only ``usageScope == "turn"`` records are counted:
  ``"session"`` ones are bookkeeping (e.g. compaction) and Kimi Code treats a
  missing scope as session-scoped (tokscale ``sessions/kimi.rs``). ``step.end``
  lines repeat a turn's usage and are ignored. The model is the record's own
  when concrete (a ``kimi-code/`` prefix is dropped; symbolic ``__x__`` config
  references are not models), else the latest ``llm.request`` model. The
  workspace is the slug's ``root`` in ``<home>/workspaces.json``, else the
  session's ``workDir`` in ``<home>/session_index.jsonl``, else the slug.
* Kimi CLI (older): ``${KIMI_SHARE_DIR:-~/.kimi}/sessions/<md5(workdir)>/
  <session>/wire.jsonl``. Usage on ``{"timestamp":<epoch s float>,
  "message":{"type":"StatusUpdate","payload":{"message_id":..,
  "token_usage":{"input_other","output","input_cache_read",
  "input_cache_creation","total"?}}}}``. Lines carry no model: it comes from
  the share dir's ``config.toml`` / ``config.json`` (``default_model`` names
  an entry of ``models`` whose ``model`` is the API name; a plain ``model``
  key is accepted too), else ``kimi-for-coding``. The workspace is the
  ``work_dirs[].path`` of ``kimi.json`` whose md5 is the directory name, else
  that hash.

Traps handled:

* ``input_other`` is already the uncached input; cache read/creation are
  separate: added, never subtracted. Cache creation counts as 5-minute
  writes. A usage with only ``total`` counts it as output (ccusage).
* Kimi CLI repeats a ``StatusUpdate`` for one ``message_id`` as the response
  grows: the key is (session, message_id) and the rank keeps the copy with
  the most tokens (a real timestamp beats a missing one on a tie).
  Updates without an id are keyed by (session, timestamp, counts).
* Kimi Code records have no id: the key is (session, agent, time, counts),
  stable across re-reads; the files only grow.
* Zero-token records are skipped; malformed lines are skipped and counted.
* Subagents: the ``agents/<agent>`` directory; ``main`` is the main agent
  (left empty), any other name becomes the agent and keeps the session id.
* Provider: ``moonshot``, unless the model name says otherwise.

Assumed (not confirmed upstream): an absent/invalid timestamp falls back to
the file's mtime (as tokscale does); the Kimi Code workspace index formats are
as tokscale reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
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
from .providers import infer_provider

CLIENT = "kimi"
DEFAULT_MODEL = "kimi-for-coding"
DEFAULT_PROVIDER = "moonshot"
REAL_TS_RANK = 1
"""Rank bonus of a copy with its own timestamp (ranks are otherwise 2x the token total)."""
#: The largest config or index file read beside the sessions.
MAX_SIDE_FILE = 16 << 20


class _Usage(msgspec.Struct):
    input_other: Any = None
    inputOther: Any = None
    output: Any = None
    input_cache_read: Any = None
    inputCacheRead: Any = None
    input_cache_creation: Any = None
    inputCacheCreation: Any = None
    total: Any = None


class _Payload(msgspec.Struct):
    token_usage: _Usage | None = None
    message_id: Any = None


class _WireMessage(msgspec.Struct):
    type: Any = None
    payload: Any = None


class _Line(msgspec.Struct):
    type: Any = None
    timestamp: Any = None
    message: _WireMessage | None = None
    model: Any = None
    usage: _Usage | None = None
    usageScope: Any = None
    time: Any = None


_decode = msgspec.json.Decoder(_Line).decode
_payload = msgspec.convert


def _tokens(usage: _Usage) -> tuple[int, int, int, int]:
    """(input, output, cache_read, cache_write)."""
    count = coerce.count
    inp = count(usage.input_other if usage.input_other is not None else usage.inputOther)
    out = count(usage.output)
    read = count(usage.input_cache_read if usage.input_cache_read is not None else usage.inputCacheRead)
    write = count(usage.input_cache_creation if usage.input_cache_creation is not None else usage.inputCacheCreation)
    if inp + out + read + write == 0:
        out = count(usage.total)
    return inp, out, read, write


def _concrete_model(value: Any) -> str | None:
    """A Kimi Code model name without its ``kimi-code/`` prefix; None for symbolic references."""
    if not isinstance(value, str):
        return None
    name = value.strip().removeprefix("kimi-code/").strip()
    if not name or (len(name) >= 4 and name.startswith("__") and name.endswith("__")):
        return None
    return name


def _provider(model: str) -> str:
    guess = infer_provider(model)
    return DEFAULT_PROVIDER if guess == "unknown" else guess


def _load_config(share: Path) -> dict[str, Any]:
    for name in ("config.toml", "config.json"):
        path = share / name
        try:
            raw = read_regular(path, MAX_SIDE_FILE)
        except OSError:
            continue
        try:
            value = tomllib.loads(raw.decode()) if name.endswith(".toml") else json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return {}


def cli_model(share: Path) -> str:
    """The model the old Kimi CLI was configured with (its wire lines carry none)."""
    config = _load_config(share)
    alias = config.get("default_model")
    models = config.get("models")
    if isinstance(alias, str) and alias:
        entry = models.get(alias) if isinstance(models, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("model"), str) and entry["model"]:
            return entry["model"]
        return alias
    model = config.get("model")
    return model if isinstance(model, str) and model else DEFAULT_MODEL


def _cli_workspace(share: Path, workdir_hash: str) -> str:
    try:
        meta = json.loads(read_regular(share / "kimi.json", MAX_SIDE_FILE))
    except (OSError, ValueError, RecursionError):
        return workdir_hash
    dirs = meta.get("work_dirs") if isinstance(meta, dict) else None
    for item in dirs if isinstance(dirs, list) else ():
        path = item.get("path") if isinstance(item, dict) else None
        if isinstance(path, str) and hashlib.md5(path.encode()).hexdigest() == workdir_hash:
            return path
    return workdir_hash


def _code_workspace(root: Path, slug: str, session: str) -> str:
    try:
        index = json.loads(read_regular(root / "workspaces.json", MAX_SIDE_FILE))
        entry = index.get("workspaces", {}).get(slug)
        if isinstance(entry, dict) and isinstance(entry.get("root"), str) and entry["root"]:
            return entry["root"]
    except (OSError, ValueError, AttributeError, RecursionError):
        pass
    try:
        lines = read_regular(root / "session_index.jsonl", MAX_SIDE_FILE).splitlines()
    except OSError:
        return slug
    for raw in lines:
        try:
            item = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if not isinstance(item, dict) or not isinstance(item.get("workDir"), str):
            continue
        session_dir = item.get("sessionDir")
        if item.get("sessionId") == session or (isinstance(session_dir, str) and Path(session_dir).name == session):
            return item["workDir"]
    return slug


def _file_context(path: Path) -> dict[str, Any]:
    parts = path.parts
    try:
        mtime_us = path.stat().st_mtime_ns // 1000
    except OSError:
        mtime_us = 0
    if len(parts) >= 6 and parts[-3] == "agents":  # Kimi Code
        agent = parts[-2]
        session = parts[-4]
        slug = parts[-5]
        root = path.parents[5]
        return {
            "code": True,
            "session": session,
            "agent": None if agent == "main" else agent,
            "agent_dir": agent,
            "workspace": _code_workspace(root, slug, session),
            "model": None,
            "mtime": mtime_us,
        }
    session = path.parent.name
    workdir_hash = path.parent.parent.name
    share = path.parents[3] if len(parts) >= 4 else path.parent
    model = cli_model(share)
    return {
        "code": False,
        "session": session,
        "agent": None,
        "agent_dir": "",
        "workspace": _cli_workspace(share, workdir_hash),
        "model": model,
        "mtime": mtime_us,
    }


class KimiReader:
    """Reads Kimi CLI and Kimi Code wire logs."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("KIMI_CODE_HOME", "KIMI_SHARE_DIR")

    def roots(self) -> list[Path]:
        """Kimi Code's and Kimi CLI's ``sessions/`` directories."""
        code = os.environ.get("KIMI_CODE_HOME", "").strip()
        share = os.environ.get("KIMI_SHARE_DIR", "").strip()
        return [
            (Path(code).expanduser() if code else home() / ".kimi-code") / "sessions",
            (Path(share).expanduser() if share else home() / ".kimi") / "sessions",
        ]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``wire.jsonl`` under the roots."""
        found = []
        seen: set[Path] = set()
        for root in self.roots():
            for path in iter_files(root, "wire.jsonl", errors):
                if path.name != "wire.jsonl":
                    continue
                if first_sight(path, seen):
                    found.append(Source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read usage records from ``offset`` on."""
        lines, new_offset = read_new_lines(source.path, offset)
        if not state:
            state = _file_context(source.path)
        result = ReadResult(offset=new_offset, state=state)
        rows = result.rows
        for raw in lines:
            if b'"StatusUpdate"' not in raw and b'"usage.record"' not in raw and b'"llm.request"' not in raw:
                continue
            line = decode_line(_decode, raw)
            if line is None:
                result.skip("malformed line")
                continue
            if line.type == "llm.request":
                model = _concrete_model(line.model)
                if model:
                    state["model"] = model
            elif line.type == "usage.record":
                row = self._code_row(line, state)
                if row is not None:
                    rows.append(row)
            elif line.message is not None and line.message.type == "StatusUpdate":
                try:
                    payload = _payload(line.message.payload, _Payload)
                except (msgspec.ValidationError, TypeError, RecursionError):
                    result.skip("malformed status update")
                    continue
                row = self._cli_row(line, payload, state)
                if row is not None:
                    rows.append(row)
        return result

    def _code_row(self, line: _Line, state: dict[str, Any]) -> Row | None:
        if line.usageScope != "turn" or line.usage is None:
            return None
        inp, out, read, write = _tokens(line.usage)
        if inp + out + read + write == 0:
            return None
        model = _concrete_model(line.model) or state["model"] or DEFAULT_MODEL
        time = line.time
        logged = coerce.epoch_us(time) if isinstance(time, int) else None
        real = logged is not None
        ts = logged if logged is not None else state["mtime"]
        key = f"{state['session']}:{state['agent_dir']}:{time if real else '-'}:{inp}:{out}:{read}:{write}"
        return self._row(model, key, ts, inp, out, read, write, state, 0)

    def _cli_row(self, line: _Line, payload: _Payload, state: dict[str, Any]) -> Row | None:
        if payload.token_usage is None:
            return None
        inp, out, read, write = _tokens(payload.token_usage)
        total = inp + out + read + write
        if total == 0:
            return None
        seconds = line.timestamp
        logged = coerce.epoch_us(seconds)
        real = logged is not None
        ts = logged if logged is not None else state["mtime"]
        message_id = payload.message_id
        if isinstance(message_id, str) and message_id:
            key = f"{state['session']}:{message_id}"
        else:
            key = f"{state['session']}::{seconds if real else '-'}:{inp}:{out}:{read}:{write}"
        rank = 2 * total + (REAL_TS_RANK if real else 0)
        return self._row(state["model"] or DEFAULT_MODEL, key, ts, inp, out, read, write, state, rank)

    @staticmethod
    def _row(
        model: str, key: str, ts: int, inp: int, out: int, read: int, write: int, state: dict[str, Any], rank: int
    ) -> Row:
        return Row(
            client=CLIENT,
            provider=_provider(model),
            model=model,
            workspace=state["workspace"],
            session_id=state["session"],
            agent=state["agent"],
            event_key=key,
            ts=ts,
            input=inp,
            output=out,
            cache_read=read,
            cache_write_5m=write,
            rank=rank,
        )


READERS = (KimiReader(),)
