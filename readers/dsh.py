"""DeepSeek Harness (``dsh``): zstd-framed JSONL session logs (clients.md §3.13).

Roots: ``${DSH_HOME:-~/.dsh}/sessions/<encoded cwd>/<session id>/session.jsonl.zstd``, or a plain
``session.jsonl`` where the backend runs with ``compression: none``. The encoding is told by the
zstd frame magic, not by the name.

An append-only event log, one JSON row per line: ``session`` (``id``, ``createdAt``, ``cwd``,
``seedLength``), ``request/header`` (``data.header.config.{provider, model}``),
``assistant/message`` (``seq``, ``time`` ms, ``data.{turn, step, usage, message.source}``),
``assistant/attempt`` (a failed attempt whose usage sits in its ``data.stream``),
``llm/retry-started`` and ``compaction/summary`` (the summarising call, real spend).

Traps handled:

* A live writer appends one zstd frame per flush, so the last frame may be torn: the file is
  decoded as a stream and whatever decodes is kept (a last line without its newline waits for
  the next read). The file is re-read whole when it changes (frames hold no line offsets);
  keys are stable, so a re-read counts nothing twice.
* Forks copy the parent's events verbatim (same ``seq``, time, usage, message id) and the
  header's ``seedLength`` says how many: rows with ``seq < seedLength`` are the parent's and not
  counted again.
* ``usage.{inputTokens (uncached), outputTokens, cacheReadTokens, cacheWriteTokens,
  reasoningTokens}``: reasoning is part of output (reported, never added). A message without
  ``data.usage``, and an attempt, are charged from the last ``usage`` chunk of ``data.stream``
  (earlier chunks are running samples).
* DSH's own meter replaces a settlement with a later sample for the same (turn, step) until
  a retry starts for that step: the key is the (turn, step, retry) slot and the rank the row's
  ``seq``, so the latest sample wins and a retry adds a call.
* Compaction summaries are calls of their own (keyed by ``compactionId``, else ``seq``).
* Model: ``source.replayState.response.responseModel`` (what the provider served), else
  ``source.model``, else the last request header's; provider likewise (as logged: it may be a
  user's provider label). No cost is embedded.
* A decoded log over ``MAX_DECODED`` bytes is cut there (the rest counted as one skip); a zstd
  bomb cannot fill memory.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, iter_files, lenient_decoder, read_regular
from .coerce import count, epoch_us, text
from .providers import infer_provider

CLIENT = "dsh"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
NAMES = ("session.jsonl.zstd", "session.jsonl")
MAX_FILE = 256 << 20
"""A session file larger than this on disk is not read."""
MAX_DECODED = 256 << 20
"""What one session may decode to; the rest is left out (counted)."""
CHUNK = 1 << 20

_KINDS = (b'"assistant/', b'"compaction/summary"', b'"request/header"', b'"llm/retry-started"', b'"session"')


def dsh_home() -> Path:
    """``${DSH_HOME:-~/.dsh}``."""
    value = os.environ.get("DSH_HOME", "").strip()
    return Path(value).expanduser() if value else home() / ".dsh"


class _Usage(msgspec.Struct):
    inputTokens: Any = None
    outputTokens: Any = None
    cacheReadTokens: Any = None
    cacheWriteTokens: Any = None
    reasoningTokens: Any = None


class _Response(msgspec.Struct):
    responseModel: Any = None


class _Replay(msgspec.Struct):
    response: _Response | None = None


class _Source(msgspec.Struct):
    provider: Any = None
    model: Any = None
    replayState: _Replay | None = None


class _Message(msgspec.Struct):
    id: Any = None
    source: _Source | None = None


class _Config(msgspec.Struct):
    provider: Any = None
    model: Any = None


class _Header(msgspec.Struct):
    config: _Config | None = None


class _Data(msgspec.Struct):
    turn: Any = None
    step: Any = None
    usage: _Usage | None = None
    message: _Message | None = None
    stream: Any = None
    header: _Header | None = None
    compactionId: Any = None
    attemptId: Any = None


class _Event(msgspec.Struct):
    type: Any = None
    seq: Any = None
    time: Any = None
    id: Any = None
    cwd: Any = None
    seedLength: Any = None
    data: _Data | None = None


_decode = lenient_decoder(_Event)


def decoded_lines(raw: bytes, result: ReadResult) -> bytes:
    """The complete lines of a session file: zstd frames decoded as a stream (a torn last frame
    gives what decodes), or the bytes as they are; a last line without its newline is left out."""
    if raw[:4] == ZSTD_MAGIC:
        import zstandard  # imported on first use: a scan without dsh never loads it

        dctx = zstandard.ZstdDecompressor()
        reader = dctx.stream_reader(io.BytesIO(raw), read_across_frames=True)
        out = bytearray()
        try:
            while len(out) <= MAX_DECODED:
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                out += chunk
        except zstandard.ZstdError:
            # a damaged frame (not a torn last one, which just ends the stream): keep the frames before it
            result.skip("corrupt zstd frame")
            out = _frames_before_damage(dctx, raw, zstandard.ZstdError)
        data = bytes(out)
    else:
        data = raw
    if len(data) > MAX_DECODED:
        data = data[:MAX_DECODED]
        result.skip("over the size limit")
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _frames_before_damage(dctx: Any, raw: bytes, error: type[Exception]) -> bytearray:
    """The decoded frames of ``raw`` up to the first one that does not decode (slow: the damaged case only)."""
    view = memoryview(raw)
    out = bytearray()
    pos = 0
    while pos < len(raw) and len(out) <= MAX_DECODED:
        obj = dctx.decompressobj()
        try:
            chunk = obj.decompress(view[pos:])
        except error:
            break
        out += chunk
        if not obj.eof:
            break
        pos = len(raw) - len(obj.unused_data)
    return out


def _slot(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _stream_usage(stream: Any) -> _Usage | None:
    """The last ``usage`` chunk of an Assistant stream (the earlier ones are running samples)."""
    if not isinstance(stream, list):
        return None
    for record in reversed(stream):
        chunk = record.get("chunk") if isinstance(record, dict) else None
        if isinstance(chunk, dict) and record.get("type") == "chunk" and chunk.get("type") == "usage":
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                try:
                    return msgspec.convert(usage, _Usage, strict=False)
                except msgspec.ValidationError:
                    return None
    return None


class DshReader:
    """Reads DeepSeek Harness session logs."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("DSH_HOME",)

    def roots(self) -> list[Path]:
        """``$DSH_HOME/sessions``."""
        return [dsh_home() / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``session.jsonl.zstd`` / ``session.jsonl`` (re-read whole when it changes)."""
        found = []
        for path in iter_files(self.roots()[0], "", errors):
            if path.name in NAMES:
                found.append(Source(CLIENT, path, "whole"))
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every call in the session log."""
        path = source.path
        try:
            raw = read_regular(path, MAX_FILE)
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        result = ReadResult(offset=len(raw))
        data = decoded_lines(raw, result)
        ctx: dict[str, Any] = {
            "session": path.parent.name,
            "workspace": "",
            "seed": 0,
            "provider": None,
            "model": None,
            "retries": {},
        }
        find = data.find
        pos = 0
        size = len(data)
        while pos < size:
            end = find(b"\n", pos)
            end = size if end < 0 else end
            raw_line = data[pos:end]
            pos = end + 1
            if not raw_line.strip() or not any(kind in raw_line for kind in _KINDS):
                continue
            event = decode_line(_decode, raw_line)
            if event is None:
                result.skip("malformed line")
                continue
            row = _event(event, ctx)
            if row is not None:
                result.rows.append(row)
        return result


def _event(event: _Event, ctx: dict[str, Any]) -> Row | None:
    """Note what a row says about the session; the usage row of a call, if it is one."""
    kind = event.type
    data = event.data
    if kind == "session":
        ctx["session"] = text(event.id) or ctx["session"]
        ctx["workspace"] = text(event.cwd) or ctx["workspace"]
        seed = event.seedLength
        ctx["seed"] = seed if isinstance(seed, int) and not isinstance(seed, bool) and seed > 0 else 0
        return None
    if data is None:
        return None
    if kind == "request/header":
        config = data.header.config if data.header is not None else None
        if config is not None:
            ctx["provider"] = text(config.provider)
            ctx["model"] = text(config.model)
        return None
    turn, step = _slot(data.turn), _slot(data.step)
    if kind == "llm/retry-started":
        if turn is not None and step is not None:
            slot = f"{turn}:{step}"
            ctx["retries"][slot] = ctx["retries"].get(slot, 0) + 1
        return None
    if kind not in ("assistant/message", "assistant/attempt", "compaction/summary"):
        return None
    seq = _slot(event.seq)
    if ctx["seed"] and seq is not None and seq < ctx["seed"]:
        return None  # inherited from the parent session: counted there
    usage = data.usage if kind != "assistant/attempt" else None
    if usage is None and kind != "compaction/summary":
        usage = _stream_usage(data.stream)
    if usage is None:
        return None
    inp, out = count(usage.inputTokens), count(usage.outputTokens)
    read, write = count(usage.cacheReadTokens), count(usage.cacheWriteTokens)
    if inp + out + read + write == 0:
        return None
    ts = epoch_us(event.time)
    if ts is None:
        return None
    source = data.message.source if data.message is not None else None
    model = provider = None
    if source is not None:
        replay = source.replayState
        served = replay.response.responseModel if replay is not None and replay.response is not None else None
        model = text(served) or text(source.model)
        provider = text(source.provider)
    model = model or ctx["model"] or "unknown"
    provider = provider or ctx["provider"] or infer_provider(model)
    sid = ctx["session"]
    if kind == "compaction/summary":
        key = f"{sid}:summary:{text(data.compactionId) or seq}"
    elif turn is not None and step is not None:
        slot = f"{turn}:{step}"
        key = f"{sid}:{slot}:{ctx['retries'].get(slot, 0)}"
        if kind == "assistant/attempt":
            key += f":attempt:{text(data.attemptId) or seq}"
    else:
        message_id = text(data.message.id) if data.message is not None else None
        key = f"{sid}:msg:{message_id}" if message_id else f"{sid}:seq:{seq}:{ts}"
    return Row(
        client=CLIENT,
        provider=provider,
        model=model,
        workspace=ctx["workspace"],
        session_id=sid,
        agent=None,
        event_key=key,
        ts=ts,
        input=inp,
        output=out,
        reasoning=min(count(usage.reasoningTokens), out),
        cache_read=read,
        cache_write_5m=write,
        rank=seq or 0,  # a later sample of one slot replaces the earlier
    )


READERS = (DshReader(),)
