"""Zed Agent panel: SQLite ``threads.db``, one running total per thread (formats.md §17).

Roots: ``${XDG_DATA_HOME:-~/.local/share}/zed/threads/threads.db`` (Linux; also
``~/.local/share/zed`` when ``XDG_DATA_HOME`` points elsewhere) and
``~/Library/Application Support/Zed/threads/threads.db`` (macOS);
``ZED_THREADS_DB`` (comma list of files) replaces them.

Schema read (Zed ``crates/agent`` thread store, tokscale ``sessions/zed.rs``):
``threads(id, summary, updated_at, created_at?, folder_paths?,
folder_paths_order?, data_type, data)``; ``data`` is the thread JSON, zstd
compressed when ``data_type = 'zstd'`` (the default of current Zed), with
``model.{provider, model}``, ``cumulative_token_usage`` and
``request_token_usage`` (``{input_tokens, output_tokens,
cache_creation_input_tokens, cache_read_input_tokens}``), ``imported``.

Traps handled:

* Every thread with a provider counts, Zed-hosted (``zed.dev``) and the
  user's own keys alike: ``threads.db`` holds only Zed's built-in agent, whose
  requests no other log records (external ACP agents such as Claude Code keep
  their threads in ``sidebar_threads`` of Zed's ``db.sqlite`` and log their own
  usage; tokscale ``sessions/zed.rs``). tokscale skips ``lmstudio``, whose
  server logs it reads; tokscope reads none, so it counts it.
* ``cumulative_token_usage`` adds every request of the thread;
  ``request_token_usage`` keeps only the last request of each turn's agent
  loop, so the per-request sum is used only when the cumulative total is
  missing or zero (tokscale's current rule; formats.md had it the other way).
* Anthropic-style disjoint buckets: input excludes cache; cache writes count
  as 5-minute writes (no TTL is recorded).
* ``imported`` threads (copies from elsewhere) are skipped.
* One row per thread keyed by the thread id with a tied rank: a re-read
  replaces the thread's numbers.
* zstd blobs are decoded with ``zstandard``; a blob that fails to decode or
  parse, or expands beyond ``MAX_THREAD_BYTES``, is skipped and counted.
* Timestamp: ``updated_at`` (the last save of the totals), floored at
  ``created_at``.
* Workspace: the first of ``folder_paths`` (newline separated) in
  ``folder_paths_order``.
* Subagent threads (``parent_id`` set, newer Zed) are their own threads with
  their own totals, counted with ``agent = "subagent"`` (assumption: a
  parent's cumulative usage does not include its subagents').
* Speed: Zed writes ``model`` and the usage after the large ``messages``, so
  the object from the last ``,"cumulative_token_usage":`` on is decoded first
  (a full decode when that fails); zstd blobs are decompressed a few ahead in
  a small thread pool (zstd releases the GIL) while JSON is decoded.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, xdg
from .coerce import count, text, time_us
from .database import col, columns
from .providers import infer_provider
from .session_totals import database_sources, read_totals, usage_time

CLIENT = "zed"
#: Threads decompressed ahead of JSON decoding (bounded memory), by this many workers.
WINDOW = 8
DECOMPRESS_WORKERS = 2
#: A thread that decompresses to more than this is skipped (a real one is a few MB; a zstd bomb is endless).
MAX_THREAD_BYTES = 64 << 20
PARALLEL_MIN_THREADS = 8


class _Usage(msgspec.Struct):
    input_tokens: Any = None
    output_tokens: Any = None
    cache_creation_input_tokens: Any = None
    cache_read_input_tokens: Any = None


class _Model(msgspec.Struct):
    provider: Any = None
    model: Any = None


class _Thread(msgspec.Struct):
    model: _Model | None = None
    cumulative_token_usage: _Usage | None = None
    request_token_usage: dict[str, _Usage] | list[_Usage] | None = None
    imported: Any = None
    updated_at: Any = None


_decode = msgspec.json.Decoder(_Thread).decode


def _counted(thread: _Thread) -> bool:
    """True when the thread's cumulative total counts anything."""
    return any(_vector(thread.cumulative_token_usage))


def _vector(usage: _Usage | None) -> tuple[int, int, int, int]:
    if usage is None:
        return (0, 0, 0, 0)
    return (
        count(usage.input_tokens),
        count(usage.output_tokens),
        count(usage.cache_read_input_tokens),
        count(usage.cache_creation_input_tokens),
    )


class ZedReader:
    """Reads Zed's agent thread database."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("ZED_THREADS_DB",)

    def roots(self) -> list[Path]:
        """The candidate ``threads.db`` files."""
        value = os.environ.get("ZED_THREADS_DB", "").strip()
        if value:
            return [Path(p.strip()).expanduser() for p in value.split(",") if p.strip()]
        candidates = [
            xdg("XDG_DATA_HOME", ".local/share") / "zed" / "threads" / "threads.db",
            home() / ".local" / "share" / "zed" / "threads" / "threads.db",
            home() / "Library" / "Application Support" / "Zed" / "threads" / "threads.db",
        ]
        return list(dict.fromkeys(candidates))

    def discover(self, errors: list[str]) -> list[Source]:
        """The databases that exist."""
        return database_sources(CLIENT, self.roots())

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every counted thread with usage, as one running-total row each."""
        return read_totals(source.path, _rows)


def _rows(conn: sqlite3.Connection, result: ReadResult) -> None:
    raw = _fetch(conn)
    for (tid, updated, created, folders, order, _kind, _data, parent), data in zip(raw, _payloads(raw), strict=True):
        if data is None:
            result.skip("thread data not decodable (corrupt zstd, unknown encoding or over the size limit)")
            continue
        thread = _decode_thread(data)
        if thread is None:
            result.skip("thread JSON malformed or nested too deeply")
            continue
        row = _row(tid, updated, created, folders, order, thread, parent)
        if row is not None:
            result.rows.append(row)


_TAIL_KEY = b',"cumulative_token_usage":'


def _decode_thread(data: bytes) -> _Thread | None:
    """The thread's usage fields, or None when the JSON is malformed (or nested too deeply to decode).

    Zed writes ``cumulative_token_usage``, ``request_token_usage``, ``model`` and
    ``imported`` after the (large) ``messages``. A key with an unescaped quote
    can only be a real key, so the object from its last occurrence on is decoded
    first; if that is not valid JSON (the key was nested), lacks the model, or has
    no cumulative total and no per-request usage (written earlier, in another key
    order), the whole thread is decoded.
    """
    at = data.rfind(_TAIL_KEY)
    if at > 0:
        try:
            thread = _decode(b"{" + data[at + 1 :])
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            thread = None
        if thread is not None and thread.model is not None and (_counted(thread) or thread.request_token_usage):
            return thread  # else the per-request usage may sit before the tail: decode it all
    return decode_line(_decode, data)  # invalid UTF-8 replaced; malformed or too deep: None


_local = threading.local()


def _payload(kind: Any, data: Any) -> bytes | None:
    """A thread's JSON bytes (decompressed when zstd); None when undecodable, of an unknown encoding or too large."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        return None
    kind = kind.strip().lower() if isinstance(kind, str) and kind.strip() else "json"
    if kind == "json":
        return data
    if kind != "zstd":
        return None
    dctx = getattr(_local, "dctx", None)
    if dctx is None:
        import zstandard  # imported on first use: a scan without Zed never loads it

        dctx = _local.dctx = zstandard.ZstdDecompressor()  # one per thread: not thread-safe
    # Zed's frames carry no content size, so one-shot decompress() cannot size its output; reading the
    # stream in 1 MiB pieces is as fast as a decompressobj (measured) and stops a zstd bomb at the limit
    parts: list[bytes] = []
    size = 0
    try:
        with dctx.stream_reader(data, read_size=len(data) or 1) as reader:
            while piece := reader.read(1 << 20):
                size += len(piece)
                if size > MAX_THREAD_BYTES:
                    return None
                parts.append(piece)
    except Exception:  # zstandard.ZstdError: corrupt or truncated frame
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _payloads(raw: list[tuple]) -> Iterator[bytes | None]:
    """``_payload`` of every fetched row, in order.

    zstd decompression releases the GIL, so with many threads a small pool
    decompresses ahead while this thread decodes JSON (msgspec holds the GIL);
    a bounded window keeps only a few decompressed threads in memory.
    """
    work = [(row[5], row[6]) if isinstance(row[0], str) and row[0] else (None, None) for row in raw]
    if len(work) < PARALLEL_MIN_THREADS:
        for kind, data in work:
            yield _payload(kind, data)
        return
    with ThreadPoolExecutor(max_workers=DECOMPRESS_WORKERS) as pool:
        pending: deque = deque()
        items = iter(work)
        for kind, data in islice(items, WINDOW):
            pending.append(pool.submit(_payload, kind, data))
        while pending:
            done = pending.popleft().result()
            following = next(items, None)
            if following is not None:
                pending.append(pool.submit(_payload, *following))
            yield done


def _fetch(conn: sqlite3.Connection) -> list[tuple]:
    present = columns(conn, "threads")
    if not {"id", "data"} <= present:
        return []
    return conn.execute(
        f"""
        SELECT id, {col(present, "updated_at")}, {col(present, "created_at")}, {col(present, "folder_paths")},
               {col(present, "folder_paths_order")}, {col(present, "data_type")}, data, {col(present, "parent_id")}
        FROM threads
        """
    ).fetchall()


def _workspace(folders: Any, order: Any) -> str:
    if not isinstance(folders, str):
        return ""
    paths = [p.strip() for p in folders.splitlines() if p.strip()]
    if not paths:
        return ""
    if isinstance(order, str) and order.strip():
        ranks = []
        for index, rank in enumerate(order.split(",")):
            if index < len(paths) and rank.strip().isdigit():
                ranks.append((int(rank), index))
        if ranks:
            return paths[min(ranks)[1]]
    return paths[0]


def _row(tid: str, updated: Any, created: Any, folders: Any, order: Any, thread: _Thread, parent: Any) -> Row | None:
    if thread.imported is True or thread.model is None:
        return None
    provider, model = text(thread.model.provider), text(thread.model.model)
    if provider is None or model is None:
        return None
    inp, out, cache_read, cache_write = _vector(thread.cumulative_token_usage)
    if inp + out + cache_read + cache_write == 0:
        requests = thread.request_token_usage
        values = requests.values() if isinstance(requests, dict) else (requests or [])
        for usage in values:
            a, b, c, d = _vector(usage)
            inp, out, cache_read, cache_write = inp + a, out + b, cache_read + c, cache_write + d
    if inp + out + cache_read + cache_write == 0:
        return None
    ts = usage_time(time_us(created), time_us(updated) or time_us(thread.updated_at))
    if ts is None:
        return None
    return Row(
        client=CLIENT,
        provider=provider if provider == "zed.dev" else infer_provider(model, provider),
        model=model,
        workspace=_workspace(folders, order),
        session_id=tid,
        agent="subagent" if isinstance(parent, str) and parent else None,
        event_key=tid,
        ts=ts,
        input=inp,
        output=out,
        cache_read=cache_read,
        cache_write_5m=cache_write,
    )


READERS = (ZedReader(),)
