"""LM Studio local server: ``server-logs/**/*.log`` (clients.md §3.21).

Roots: the LM Studio home named by ``~/.lmstudio-home-pointer`` (a text file holding a path; LM
Studio writes it when its home is moved), ``~/.lmstudio`` and the older ``~/.cache/lm-studio``;
each one's ``server-logs`` folder (one log a day, e.g. ``2026-11/2026-11-20.1.log``).

Format: the OpenAI-compatible server's log lines, ``[YYYY-MM-DD HH:MM:SS][LEVEL][model] text``,
some followed by a pretty-printed JSON body. Each final response carries its ``usage`` object
(Chat Completions ``prompt_tokens``/``completion_tokens``/``prompt_tokens_details``/
``completion_tokens_details``, or Responses ``input_tokens``/``output_tokens``/``*_details``);
the ``id``, ``model`` and ``created`` of that response come before it (tokscale
``sessions/lmstudio.rs``). Only ``usage`` objects and those few fields are decoded: prompts and
replies are never parsed.

Fidelity: exact: the local server's own token counts, per response.

Traps handled:

* The logs hold whole prompt and response bodies and never rotate: they are read as append-only
  logs from the saved offset (a record is consumed once its ``usage`` object and its line are
  complete), in windows of ``WINDOW`` bytes, so a huge log never sits in memory whole. Log text
  without a record for more than a window is passed over.
* Prompt includes cached tokens (``cached_tokens`` / ``cache_read_tokens``, and cache writes where
  given): taken out of input. ``total_tokens`` above prompt + completion is counted as prompt.
* Reasoning is part of the completion: reported, not added.
* Time: the response's ``created`` (epoch seconds, UTC); else the log line's stamp, which is
  **local time** (converted with this machine's time zone); else the file's mtime.
* ``"usage"`` inside a JSON string (escaped quotes) is not a record; nor is an ``id``/``model``
  written inside message content.
* Key: the response id (``chatcmpl-``, ``cmpl-``, ``resp_``), else ``<file>@<byte offset>`` (stable:
  the log only grows).
* Cost: $0, logged as source cost: the model ran on this machine (a local model whose name matches
  a cloud price would otherwise be priced as if the API had been paid).
* Session: none is logged; one per log file (a day). Provider ``lmstudio``; workspace empty.
* Only traffic through LM Studio's server is logged; its in-app chat is not (unverified).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Rewound, Row, Source, first_sight, home, iter_files, open_regular
from .coerce import count

CLIENT = "lmstudio"
WINDOW = 8 << 20
"""Bytes held at once: a record plus the log text before it."""
CHUNK = 4 << 20
POINTER = ".lmstudio-home-pointer"

_USAGE = b'"usage"'
_STAMP = re.compile(rb"\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\]")
_ID_PREFIXES = ("chatcmpl-", "cmpl-", "resp_")
_EPOCH_S = re.compile(rb"\d{9,11}(?![\d.])")
_WS = b" \t\r\n"
_MAX_OBJECT = 64 << 10


class _Details(msgspec.Struct):
    cached_tokens: Any = None
    cache_read_tokens: Any = None
    cache_creation_input_tokens: Any = None
    cache_write_tokens: Any = None
    reasoning_tokens: Any = None


class _Usage(msgspec.Struct):
    prompt_tokens: Any = None
    input_tokens: Any = None
    completion_tokens: Any = None
    output_tokens: Any = None
    total_tokens: Any = None
    cached_tokens: Any = None
    reasoning_tokens: Any = None
    prompt_tokens_details: _Details | None = None
    input_tokens_details: _Details | None = None
    completion_tokens_details: _Details | None = None
    output_tokens_details: _Details | None = None


_decode_usage = msgspec.json.Decoder(_Usage).decode
_decode_str = msgspec.json.Decoder(str).decode


class LMStudioReader:
    """Reads LM Studio's local server logs."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env: tuple[str, ...] = ()

    def roots(self) -> list[Path]:
        """The ``server-logs`` folders of the LM Studio homes."""
        base = home()
        homes: list[Path] = []
        try:
            with open_regular(base / POINTER) as fh:
                pointed = fh.read(4096).decode("utf-8", "replace").strip()
            if pointed:
                homes.append(Path(pointed).expanduser())
        except OSError:
            pass
        homes += [base / ".lmstudio", base / ".cache" / "lm-studio"]
        return [h / "server-logs" for h in homes]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``*.log`` under the roots (a file reached twice is read once)."""
        seen: set[Path] = set()
        found: list[Source] = []
        for root in self.roots():
            for path in iter_files(root, ".log", errors):
                try:
                    if first_sight(path, seen):
                        found.append(Source(CLIENT, path, "append"))
                except OSError as exc:
                    errors.append(f"{path}: {exc.strerror or exc}")
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """The responses logged from ``offset`` on."""
        path = source.path
        result = ReadResult(offset=offset)
        session = path.stem
        with open_regular(path) as fh:
            mtime = os.fstat(fh.fileno()).st_mtime_ns // 1000
            if offset:
                fh.seek(offset - 1)
                if fh.read(1) != b"\n":
                    raise Rewound(str(path))
            buf = b""
            base = offset  # file offset of buf[0], always just after a newline (or 0)
            scan = 0  # where in buf the next marker search starts
            while True:
                chunk = fh.read(CHUNK)
                buf += chunk
                meta = 0
                while True:
                    found = _next_usage(buf, scan)
                    if found is None:
                        scan = max(meta, len(buf) - len(_USAGE))
                        break
                    marker, brace = found
                    end = _object_end(buf, brace) if brace >= 0 else None
                    usage = _usage(buf[brace:end]) if end is not None else None
                    if end is not None and usage is None:  # a brace inside a string? match exactly
                        exact = _object_end_exact(buf, brace)
                        if exact != end:
                            end = exact
                            usage = _usage(buf[brace:end]) if end is not None else None
                    line_end = buf.find(b"\n", end) if end is not None else -1
                    if line_end < 0:  # the record is still being written (or cut by the window)
                        scan = marker
                        break
                    _record(result, usage, buf[meta:marker], path, base + marker, session, mtime)
                    meta = scan = line_end + 1
                if meta:
                    buf = buf[meta:]
                    base += meta
                    scan -= meta
                if len(buf) > WINDOW:  # no record for a whole window: pass over the oldest lines
                    cut = buf.find(b"\n", len(buf) - WINDOW)
                    cut = len(buf) - 1 if cut < 0 else cut
                    buf = buf[cut + 1 :]
                    base += cut + 1
                    scan = max(0, scan - (cut + 1))
                if not chunk:
                    break
        result.offset = base
        return result


def _next_usage(buf: bytes, start: int) -> tuple[int, int] | None:
    """(marker, opening brace) of the next ``"usage": {`` at or after ``start``; the brace is -1 when the
    buffer ends before it can be told whether the marker starts a record (read more, then look again)."""
    find = buf.find
    pos = start
    size = len(buf)
    while (marker := find(_USAGE, pos)) >= 0:
        pos = marker + len(_USAGE)
        if marker and buf[marker - 1] == 0x5C:  # \"usage\": inside a string
            continue
        i = pos
        while i < size and buf[i] in _WS:
            i += 1
        if i >= size:
            return marker, -1
        if buf[i] != 0x3A:  # ':' (else a value, not a key)
            continue
        i += 1
        while i < size and buf[i] in _WS:
            i += 1
        if i >= size:
            return marker, -1
        if buf[i] == 0x7B:  # '{'
            return marker, i
    return None


def _object_end(buf: bytes, start: int) -> int | None:
    """The offset just past the JSON object opening at ``start``, None when it is not complete.

    Braces are matched with C-level searches, ignoring strings: a usage object holds numbers and
    nested objects only. Should a string in it hold a brace, the decode fails and
    ``_object_end_exact`` tells the real end.
    """
    limit = min(len(buf), start + _MAX_OBJECT)  # a usage object is small: anything longer is not one
    opens = closes = 0
    pos = start
    find, tally = buf.find, buf.count
    while (close := find(b"}", pos, limit)) >= 0:
        opens += tally(b"{", pos, close)
        closes += 1
        if closes >= opens:
            return close + 1
        pos = close + 1
    return None


def _object_end_exact(buf: bytes, start: int) -> int | None:
    """Like ``_object_end``, aware of strings and escapes (byte by byte: only for odd objects)."""
    depth = 0
    in_string = escaped = False
    for i in range(start, min(len(buf), start + _MAX_OBJECT)):
        c = buf[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _usage(raw: bytes) -> _Usage | None:
    try:
        return _decode_usage(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


def _fields(meta: bytes, key: bytes) -> Iterator[bytes]:
    """The raw JSON values after each unescaped ``"key":`` in ``meta``, last first (256 bytes each)."""
    marker = b'"' + key + b'"'
    pos = len(meta)
    while (hit := meta.rfind(marker, 0, pos)) >= 0:
        pos = hit
        if hit and meta[hit - 1] == 0x5C:
            continue
        rest = meta[hit + len(marker) : hit + len(marker) + 256].lstrip()
        if rest[:1] == b":":
            yield rest[1:].lstrip()


def _string(raw: bytes) -> str | None:
    if raw[:1] != b'"':
        return None
    end = 1
    while (end := raw.find(b'"', end)) > 0 and raw[end - 1] == 0x5C:
        end += 1
    if end < 0:
        return None
    try:
        value = _decode_str(raw[: end + 1])
    except msgspec.DecodeError:
        return None
    return value.strip() or None


def _response_id(meta: bytes) -> str | None:
    """The last response id (a tool call's ``call_…`` id after it is not one)."""
    for raw in _fields(meta, b"id"):
        value = _string(raw)
        if value and value.startswith(_ID_PREFIXES):
            return value
    return None


def _model(meta: bytes) -> str | None:
    for raw in _fields(meta, b"model"):
        value = _string(raw)
        if value:
            return value
    return None


def _created(meta: bytes) -> int | None:
    for key in (b"created", b"created_at"):
        for raw in _fields(meta, key):
            digits = _EPOCH_S.match(raw)
            if digits:
                return int(digits.group()) * 1_000_000
            break
    return None


def _local_stamp(meta: bytes) -> int | None:
    """The last ``[YYYY-MM-DD HH:MM:SS]`` line stamp of ``meta``, read as local time."""
    start = meta.rfind(b"\n[")
    while True:
        match = _STAMP.match(meta, start + 1 if start >= 0 else 0)
        if match:
            try:
                return int(time.mktime(time.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S"))) * 1_000_000
            except (ValueError, OverflowError):
                return None
        if start < 0:
            return None
        start = meta.rfind(b"\n[", 0, start)


def _record(
    result: ReadResult, usage: _Usage | None, meta: bytes, path: Path, at: int, session: str, mtime: int
) -> None:
    if usage is None:
        result.skip("malformed usage")
        return
    prompt = count(usage.prompt_tokens if usage.prompt_tokens is not None else usage.input_tokens)
    completion = count(usage.completion_tokens if usage.completion_tokens is not None else usage.output_tokens)
    prompt = max(prompt, count(usage.total_tokens) - completion)
    details = usage.prompt_tokens_details or usage.input_tokens_details
    cached = count(usage.cached_tokens)
    written = 0
    if details is not None:
        cached = max(cached, count(details.cached_tokens), count(details.cache_read_tokens))
        written = max(count(details.cache_creation_input_tokens), count(details.cache_write_tokens))
    cached = min(cached, prompt)
    written = min(written, prompt - cached)
    out_details = usage.completion_tokens_details or usage.output_tokens_details
    reasoning = max(count(usage.reasoning_tokens), count(out_details.reasoning_tokens) if out_details else 0)
    if prompt + completion == 0:
        return
    key = _response_id(meta) or f"{path.name}@{at}"
    ts = _created(meta) or _local_stamp(meta) or mtime
    result.rows.append(
        Row(
            client=CLIENT,
            provider="lmstudio",
            model=_model(meta) or "unknown",
            workspace="",
            session_id=session,
            agent=None,
            event_key=key,
            ts=ts,
            input=prompt - cached - written,
            output=completion,
            reasoning=min(reasoning, completion),
            cache_read=cached,
            cache_write_5m=written,
            source_cost=0.0,
        )
    )


READERS = (LMStudioReader(),)
