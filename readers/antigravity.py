"""Google Antigravity: the ``agy`` CLI (and its ACP server) and the IDE extensions (clients.md §3.4).

Sources: one SQLite database per conversation, ``<gemini>/antigravity-cli/conversations/<uuid>.db``,
``<gemini>/antigravity-acp/conversations/<uuid>.db`` (the ACP server ``agy`` spawns) and
``<gemini>/antigravity/conversations/<uuid>.db`` (the VS Code / JetBrains / Zed extensions), where
``<gemini>`` is ``~/.gemini``, or ``$GEMINI_CLI_HOME/.gemini`` (and ``$GEMINI_CLI_HOME`` itself
when it holds those folders) as for Gemini CLI. WAL mode: read whole with the ``-wal`` as
companion through ``database.query``. Legacy encrypted ``*.pb`` conversations are not read, nor
is the Antigravity IDE app, whose usage only its running language server serves.

Table ``gen_metadata(idx, data BLOB, size)``: one protobuf ``GeneratorMetadata`` per model
generation, decoded by the small wire walker below (no generated code). The field map read
(Tokdash's descriptor-pinned notes and a second adapter that recovered the schema from the
descriptors in the ``agy`` binary agree; tokscale's reverse-engineered map differs on #1 and on
which of #9 / #10 is thinking):

* ``1`` chat model: ``1.4`` ``ModelUsageStats``, ``1.9.4`` ``{1: seconds, 2: nanos}`` (when the
  generation finished), ``1.19`` model id (``gemini-3-flash-a``, ``claude-opus-4-6-thinking``),
  ``1.21`` display label.
* ``ModelUsageStats``: ``1`` model enum (a constant per model, e.g. 1132: NOT a token count, so not
  added to input as tokscale does), ``2`` input (uncached), ``3`` output including thinking, ``4``
  cache write, ``5`` cache read, ``6`` API provider enum, ``9`` thinking output, ``10`` visible
  response output (``9 + 10 == 3``), ``11`` response id.

Output is ``#3`` (else ``#9 + #10``): the #9/#10 dispute only decides which part is called
reasoning, never the billed total. Reasoning is ``#9``.

Traps handled:

* ``#19`` is missing on some continuation turns: the model is recovered from another row of the
  same conversation with the same ``#21`` label (a label seen with two different ids recovers
  nothing); the router label ``gemini-default`` counts as missing. Labels are never the model
  (they get renamed: ``Gemini 3 Flash`` -> ``Gemini 3.5 Flash (High)``).
* The event key is the response id ``#11`` (a ``/fork`` copy of a conversation repeats it), else
  ``<conversation>:<idx>``.
* A row without ``1.9.4`` (agy 1.1.18 dropped it) is stamped at the conversation's created-at
  (``trajectory_metadata_blob`` ``#2``), else at the database's mtime. The workspace is
  ``trajectory_metadata_blob`` ``#1.#1`` (a ``file://`` URI).
* A blob that is not a well-formed message costs only its row (counted skip).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .base import Fidelity, ReadResult, Row, Source, first_sight, home
from .database import columns
from .providers import infer_provider
from .session_totals import database_source, read_totals

CLIENT = "antigravity"
SURFACES = ("antigravity-cli", "antigravity-acp", "antigravity")
ROUTER_LABELS = frozenset({"gemini-default"})

Message = dict[int, list[Any]]


class Malformed(ValueError):
    """A blob that is not a well-formed protobuf message."""


def parse(buf: bytes) -> Message:
    """One protobuf message's fields: number -> values (ints for varints and fixed, bytes for
    length-delimited ones), in wire order. Raises ``Malformed`` on a truncated or invalid blob.

    One-byte varints (most tags, sizes and small counts) are read inline: this runs a few times
    per generation row."""
    fields: Message = {}
    pos, end = 0, len(buf)
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise Malformed("field number 0")
        if wire == 0 or wire == 2:
            if pos >= end:
                raise Malformed("truncated varint")
            value = buf[pos]
            if value < 0x80:
                pos += 1
            else:
                value, pos = _varint(buf, pos)
            if wire == 2:
                if pos + value > end:
                    raise Malformed("length past the end")
                value, pos = buf[pos : pos + value], pos + value
        elif wire == 1:
            if pos + 8 > end:
                raise Malformed("fixed64 past the end")
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise Malformed("fixed32 past the end")
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise Malformed(f"wire type {wire}")
        known = fields.get(number)
        if known is None:
            fields[number] = [value]
        else:
            known.append(value)
    return fields


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise Malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise Malformed("varint over 64 bits")


def last(message: Message, number: int) -> Any:
    """The last value of field ``number`` (proto3: the last one wins), else None."""
    values = message.get(number)
    return values[-1] if values else None


def sub(message: Message, number: int) -> Message | None:
    """Field ``number`` parsed as a sub-message, else None (absent or not length-delimited)."""
    value = last(message, number)
    return parse(value) if isinstance(value, bytes) else None


def uint(message: Message, number: int) -> int:
    """Field ``number`` as a non-negative count (0 when absent or not a varint)."""
    value = last(message, number)
    return value if isinstance(value, int) and value < 1 << 63 else 0


def string(message: Message, number: int) -> str | None:
    """Field ``number`` as non-empty UTF-8 text, else None."""
    value = last(message, number)
    if not isinstance(value, bytes):
        return None
    try:
        text = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text or None


def timestamp_us(message: Message | None) -> int | None:
    """A ``google.protobuf.Timestamp`` ``{1: seconds, 2: nanos}`` as epoch µs, else None."""
    if message is None:
        return None
    seconds = uint(message, 1)
    if seconds <= 0 or seconds > 10**11:
        return None
    return seconds * 1_000_000 + min(uint(message, 2), 999_999_999) // 1000


class _Generation:
    """The facts of one ``gen_metadata`` row."""

    __slots__ = (
        "cache_read", "cache_write", "idx", "input", "label", "model", "output", "reasoning", "response", "ts",
    )  # fmt: skip

    def __init__(self, idx: Any, chat: Message, usage: Message) -> None:
        self.idx = idx
        self.input = uint(usage, 2)
        thinking, visible = uint(usage, 9), uint(usage, 10)
        self.output = uint(usage, 3) or thinking + visible
        self.reasoning = min(thinking, self.output)
        self.cache_write = uint(usage, 4)
        self.cache_read = uint(usage, 5)
        self.response = string(usage, 11)
        model = string(chat, 19)
        self.model = None if model is None or model.lower() in ROUTER_LABELS else model
        self.label = string(chat, 21)
        timing = sub(chat, 9)
        self.ts = timestamp_us(sub(timing, 4)) if timing is not None else None


def _decode(idx: Any, blob: Any) -> _Generation | None:
    if not isinstance(blob, bytes):
        raise Malformed("not a blob")
    chat = sub(parse(blob), 1)
    if chat is None:
        return None
    usage = sub(chat, 4)
    if usage is None:
        return None
    return _Generation(idx, chat, usage)


def _labels(generations: list[_Generation]) -> dict[str, str]:
    """Display label -> the one model id seen with it in this conversation (ambiguous labels left out)."""
    seen: dict[str, str | None] = {}
    for g in generations:
        if g.label is None or g.model is None:
            continue
        known = seen.get(g.label, g.model)
        seen[g.label] = g.model if known == g.model else None
    return {label: model for label, model in seen.items() if model is not None}


def _file_path(uri: str) -> str:
    if uri.startswith("file://"):
        path = unquote(urlparse(uri).path)
        if len(path) > 2 and path[0] == "/" and path[2] == ":":  # file:///C:/... on Windows
            path = path[1:]
        return path
    return uri


def _trajectory(conn: sqlite3.Connection) -> tuple[int | None, str]:
    """The conversation's created-at (µs) and workspace from ``trajectory_metadata_blob``."""
    if "data" not in columns(conn, "trajectory_metadata_blob"):
        return None, ""
    row = conn.execute("SELECT data FROM trajectory_metadata_blob LIMIT 1").fetchone()
    if row is None or not isinstance(row[0], bytes):
        return None, ""
    try:
        meta = parse(row[0])
        created = timestamp_us(sub(meta, 2))
        folder = sub(meta, 1)
        uri = string(folder, 1) if folder is not None else None
    except Malformed:
        return None, ""
    return created, _file_path(uri) if uri else ""


class AntigravityReader:
    """Reads Antigravity conversation databases."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("GEMINI_CLI_HOME",)

    def gemini_dirs(self) -> list[Path]:
        """The ``.gemini`` directories."""
        override = os.environ.get("GEMINI_CLI_HOME", "").strip()
        if override:
            base = Path(override).expanduser()
            return [base / ".gemini", base]
        return [home() / ".gemini"]

    def roots(self) -> list[Path]:
        """Every ``conversations`` directory."""
        return [g / surface / "conversations" for g in self.gemini_dirs() for surface in SURFACES]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every conversation database."""
        found: list[Source] = []
        seen: set[Path] = set()
        for root in self.roots():
            try:
                names = sorted(e.name for e in os.scandir(root) if e.name.endswith(".db") and e.is_file())
            except FileNotFoundError:
                continue
            except OSError as exc:
                errors.append(f"cannot list {root}: {exc.strerror or exc}")
                continue
            for name in names:
                path = root / name
                if first_sight(path, seen):
                    found.append(database_source(CLIENT, path))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """One row per generation with usage."""
        path = source.path
        conversation = path.stem

        def rows(conn: sqlite3.Connection, result: ReadResult) -> None:
            if not {"idx", "data"} <= columns(conn, "gen_metadata"):
                return
            conn.execute("BEGIN")
            records = conn.execute("SELECT idx, data FROM gen_metadata ORDER BY idx").fetchall()
            created, workspace = _trajectory(conn)
            conn.execute("COMMIT")
            generations: list[_Generation] = []
            for idx, blob in records:
                try:
                    generation = _decode(idx, blob)
                except (Malformed, RecursionError):
                    result.skip("malformed generation blob")
                    continue
                if generation is not None:
                    generations.append(generation)
            labels = _labels(generations)
            fallback = created if created is not None else _mtime_us(path)
            for g in generations:
                if g.input + g.output + g.cache_read + g.cache_write == 0:
                    continue
                model = g.model or (labels.get(g.label) if g.label else None) or "unknown"
                key = g.response or f"{conversation}:{g.idx}"
                result.rows.append(
                    Row(
                        client=CLIENT,
                        provider=infer_provider(model),
                        model=model,
                        workspace=workspace,
                        session_id=conversation,
                        agent=None,
                        event_key=key,
                        ts=g.ts or fallback,
                        input=g.input,
                        output=g.output,
                        reasoning=g.reasoning,
                        cache_read=g.cache_read,
                        cache_write_5m=g.cache_write,
                    )
                )

        return read_totals(path, rows)


def _mtime_us(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns // 1000
    except OSError:
        return 1


READERS = (AntigravityReader(),)
