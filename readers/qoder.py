"""Qoder (Alibaba): the IDE's ``local.db`` and the CLI's JSONL logs (clients.md §3.17).

Two clients:

* ``qoder`` (IDE): ``<user data>/SharedClientCache/cache/db/local.db``, where the user-data dir is
  ``Qoder`` or ``QoderCN`` under ``~/Library/Application Support`` (macOS), ``%APPDATA%``
  (Windows), ``${XDG_DATA_HOME:-~/.local/share}`` or ``~/.config`` (Linux, unverified);
  ``QODER_IDE_DATA_DIR`` replaces them (the user-data dir itself). Table ``chat_message(id,
  session_id, request_id, role, token_info, model_info, gmt_create)``; every row with a
  ``token_info`` is one model call, whatever its role (Tokdash matched them 1:1 against the ACP
  ``context_usage`` log). ``token_info`` is ``{prompt_tokens, completion_tokens, cached_tokens,
  max_input_tokens}`` and ``prompt_tokens`` INCLUDES ``cached_tokens``: input = prompt - cached.
  ``model_info.model_key`` is ``auto`` or a pinned model; the CN build leaves it empty (``auto``).
  Rows are keyed by ``chat_message.id``, so a reinstall's copy of the database counts once.
* ``qoder-cli``: roots ``QODER_CONFIG_DIR``, ``~/.qoder`` (international) and ``~/.qoder-cn``
  (CN). ``logs/sessions/<project>/<session>/segments/*.jsonl`` lines of type
  ``model.response.completed`` carry the tokens (``data.{input_tokens, output_tokens,
  cache_read_input_tokens, cache_creation_input_tokens, model}``, Anthropic style: input excludes
  the cache) and ``request_id``; the transcripts ``projects/<project>/<session>.jsonl`` carry
  ``message.usage`` with the same fields plus ``credits`` and ``request_id``. Both are read and
  keyed by ``request_id``: the segment line ranks above the transcript's copy of one request.

Traps handled:

* The international CLI (v1.1.28) zero-fills every token field (only ``credits`` and
  ``context_usage_ratio`` are set): such requests give no row. They are not estimated from the
  ratio, and credits are Qoder's billing unit, not USD, so they are not kept.
* Qoder Work zeroes all token usage: nothing to read either.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    Fidelity,
    ReadResult,
    Row,
    Source,
    decode_line,
    first_sight,
    home,
    iter_files,
    lines_containing,
    read_new_chunk,
    xdg,
)
from .coerce import count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_source, read_totals

IDE = "qoder"
CLI = "qoder-cli"
_DB = Path("SharedClientCache") / "cache" / "db" / "local.db"
_BRANDS = ("Qoder", "QoderCN")
_decode_json = msgspec.json.Decoder().decode


def _json_object(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    if not isinstance(raw, bytes) or len(raw) < 2:
        return None
    value = decode_line(_decode_json, raw)
    return value if isinstance(value, dict) else None


class QoderIdeReader:
    """Reads the Qoder IDE's ``local.db``."""

    client = IDE
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("QODER_IDE_DATA_DIR", "APPDATA")

    def roots(self) -> list[Path]:
        """The candidate ``local.db`` files."""
        override = os.environ.get("QODER_IDE_DATA_DIR", "").strip()
        if override:
            return [Path(override).expanduser() / _DB]
        if sys.platform == "darwin":
            bases = [home() / "Library" / "Application Support"]
        elif sys.platform == "win32":
            appdata = os.environ.get("APPDATA", "").strip()
            bases = [Path(appdata) if appdata else home() / "AppData" / "Roaming"]
        else:
            bases = [xdg("XDG_DATA_HOME", ".local/share"), xdg("XDG_CONFIG_HOME", ".config")]
        return [base / brand / _DB for base in bases for brand in _BRANDS]

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases that exist."""
        seen: set[Path] = set()
        return [database_source(IDE, p) for p in self.roots() if p.is_file() and first_sight(p, seen)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One row per ``chat_message`` with token usage."""
        return read_totals(source.path, _ide_rows)


def _ide_rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    present = columns(conn, "chat_message")
    if not {"id", "token_info"} <= present:
        return
    sql = (
        f"SELECT id, {col(present, 'session_id')}, {col(present, 'model_info')}, token_info,"
        f" {col(present, 'gmt_create')} FROM chat_message WHERE length(token_info) > 2"
    )
    for mid, session, model_info, token_info, created in conn.execute(sql):
        info = _json_object(token_info)
        if info is None:
            result.skip("malformed token_info")
            continue
        prompt = count(info.get("prompt_tokens"))
        cached = min(count(info.get("cached_tokens")), prompt)
        output = count(info.get("completion_tokens"))
        if prompt + output == 0 or not isinstance(mid, str) or not mid:
            continue
        ts = time_us(created)
        if ts is None:
            result.skip("no timestamp")
            continue
        model_data = _json_object(model_info)
        model = (text(model_data.get("model_key")) if model_data else None) or "auto"
        result.rows.append(
            Row(
                client=IDE,
                provider=infer_provider(model, "qoder" if model == "auto" else None),
                model=model,
                workspace="",
                session_id=text(session) or "unknown",
                agent=None,
                event_key=mid,
                ts=ts,
                input=prompt - cached,
                output=output,
                cache_read=cached,
            )
        )


# --- CLI ---------------------------------------------------------------------------------------


class _Usage(msgspec.Struct):
    input_tokens: Any = None
    output_tokens: Any = None
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    request_id: Any = None
    model: Any = None


class _Message(msgspec.Struct):
    model: Any = None
    usage: _Usage | None = None


class _Line(msgspec.Struct):
    type: Any = None
    ts: Any = None
    timestamp: Any = None
    request_id: Any = None
    sessionId: Any = None
    cwd: Any = None
    uuid: Any = None
    data: _Usage | None = None
    message: _Message | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
#: Segment rows (the token log) win over transcript rows of the same request.
SEGMENT_RANK = 1


class QoderCliReader:
    """Reads the Qoder CLI's segment logs and transcripts."""

    client = CLI
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("QODER_CONFIG_DIR",)

    def roots(self) -> list[Path]:
        """The data roots (the override first; the defaults are always scanned too)."""
        found = [home() / ".qoder", home() / ".qoder-cn"]
        override = os.environ.get("QODER_CONFIG_DIR", "").strip()
        if override:
            found.insert(0, Path(override).expanduser())
        return found

    def discover(self, errors: list[str]) -> list[Source]:
        """Every transcript and segment log."""
        seen: set[Path] = set()
        found: list[Source] = []
        for root in self.roots():
            if not root.is_dir() or not first_sight(root, seen):
                continue
            for path in iter_files(root / "projects", ".jsonl", errors):
                if path.parent.parent == root / "projects":  # projects/<project>/<session>.jsonl only
                    found.append(Source(CLI, path))
            for path in iter_files(root / "logs" / "sessions", ".jsonl", errors):
                if path.parent.name == "segments":
                    found.append(Source(CLI, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Usage lines from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        result = ReadResult(offset=new_offset)
        segment = source.path.parent.name == "segments"
        marker = b'"model.response.completed"' if segment else b'"usage"'
        session = source.path.parent.parent.name if segment else source.path.stem
        for raw in lines_containing(data, marker):
            line = decode_line(_decode_line, raw)
            if line is None:
                result.skip("malformed line")
                continue
            row = _segment_row(line, session) if segment else _transcript_row(line, session)
            if row is not None:
                result.rows.append(row)
        return result


def _cli_row(usage: _Usage, model: Any, key: Any, ts: Any, session: str, workspace: Any, rank: int) -> Row | None:
    inp, out = count(usage.input_tokens), count(usage.output_tokens)
    read, write = count(usage.cache_read_input_tokens), count(usage.cache_creation_input_tokens)
    if inp + out + read + write == 0:
        return None  # the international build's zero-filled usage: nothing known
    key, stamp = text(key), time_us(ts)
    if key is None or stamp is None:
        return None
    name = text(model) or "auto"
    return Row(
        client=CLI,
        provider=infer_provider(name, "qoder" if name == "auto" else None),
        model=name,
        workspace=text(workspace) or "",
        session_id=session,
        agent=None,
        event_key=key,
        ts=stamp,
        input=inp,
        output=out,
        cache_read=read,
        cache_write_5m=write,
        rank=rank,
    )


def _segment_row(line: _Line, session: str) -> Row | None:
    if line.type != "model.response.completed" or line.data is None:
        return None
    key = line.request_id or line.data.request_id
    return _cli_row(line.data, line.data.model, key, line.ts, session, None, SEGMENT_RANK)


def _transcript_row(line: _Line, session: str) -> Row | None:
    if line.type != "assistant" or line.message is None or line.message.usage is None:
        return None
    usage = line.message.usage
    key = usage.request_id or line.uuid
    return _cli_row(usage, line.message.model, key, line.timestamp, text(line.sessionId) or session, line.cwd, 0)


READERS = (QoderIdeReader(), QoderCliReader())
