"""GitHub Copilot CLI: OpenTelemetry file-exporter JSONL, else its session store (formats.md §12).

Roots: ``${COPILOT_HOME:-~/.copilot}/otel/**/*.jsonl`` plus the single file
named by ``COPILOT_OTEL_FILE_EXPORTER_PATH`` (any name). Both exist only when
the user turned on OTel export with the file exporter (opt-in); the session
store below is the fallback. The OTel files only grow: append mode.

One JSON object per line, as the OpenTelemetry JS SDK serialises a finished
span or log record: ``traceId``/``spanId`` at the top or under ``spanContext``,
``name``, ``kind``, ``startTime``/``endTime``/``hrTime``, ``attributes`` with the
GenAI semantic-convention keys. Lines without usage attributes are read only
for their trace's model and session id.

Traps handled:

* The same model call appears up to three times: as a ``chat`` span, as a
  ``gen_ai.client.inference.operation.details`` log record, and summed into the
  ``invoke_agent`` span (and VS Code's ``copilot_chat.agent.turn`` log) that
  wraps the turn. Chat spans are counted; an inference log only when no chat
  span of its trace is known; agent-turn logs and ``invoke_agent`` aggregates
  only when no chat span or inference log of their trace is known. "Known"
  covers the whole batch being read (so a log written before its span still
  loses) and every earlier read of the file (the reader state keeps the traces
  already covered). A chat span and its inference log share the event key
  (``gen_ai.response.id``, else trace + span id), rank 3 > 2, so even a log
  read in an earlier scan than its span collapses with it in the ledger.
  The aggregate span ends after its children, so it is written after them.
* ``gen_ai.usage.input_tokens`` includes cache reads (OTel GenAI convention:
  it "SHOULD include all types of input tokens, including cached tokens"):
  ``input = input_tokens - cache_read``. Cache writes
  (``cache_write.input_tokens``, alias ``cache_creation.input_tokens``) are
  subtracted too when ``input_tokens >= cache_read + cache_write`` (the same
  convention, and Copilot's own ``session-store.db`` counts writes inside
  input: 21343 in = 20974 written + 369 fresh in tokscale's fixture);
  otherwise only the cache read is (tokscale and tokdash subtract the read
  only; a count smaller than read + write cannot contain both).
* Reasoning (``reasoning.output_tokens``, alias ``reasoning_tokens``) is taken
  as part of ``output_tokens`` (OpenAI convention): reported, never added.
* A record with only ``gen_ai.usage.total_tokens`` (alias
  ``total.token_count``; no split) counts the total as output, as ccusage's
  copilot adapter and the Pi and Amp readers do with a bare total. Counts go
  through ``coerce.count`` (an absurd one reaches the scan, which rejects the
  row with a reason).
* Timestamps in several encodings: ``[seconds, nanos]`` arrays, scalars in s,
  ms, µs or ns (scaled by magnitude), ``timeUnixNano``, ISO strings. Spans use
  ``endTime`` (when the usage was known), logs ``hrTime``/``timestamp``, then
  ``observedTimestamp``. No timestamp at all: the file's mtime.
* Session: ``gen_ai.conversation.id`` (or the ``copilot_chat``/``session.id``
  aliases), else the session id seen elsewhere in the same trace, else
  ``github.copilot.interaction_id`` / the response id, else the trace id.
  Model: ``gen_ai.response.model``, else ``gen_ai.request.model``, else the
  trace's model, else ``unknown``.
* Provider is ``github-copilot`` (the user pays Copilot, by premium request);
  no source cost.

**Fallback: ``${COPILOT_HOME:-~/.copilot}/session-store.db``** (no opt-in
needed). Copilot CLI keeps one row per model call in ``assistant_usage_events``
(``session_id``, ``model``/``copilot_usage_model``, ``input_tokens``,
``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens``,
``reasoning_tokens``, ``total_nano_aiu``, ``created_at``) joined to
``sessions(id, cwd, created_at)`` (schema as tokscale reads it). Read-only,
mode ``whole`` (its ``-wal`` a companion), locked -> retried, then reported.
``input_tokens`` includes cache reads and writes (split as above). Key
``store:<session>:<row id>``; workspace = ``sessions.cwd``; ``total_nano_aiu``
(premium-request units, not USD) is not kept as a cost.

The store and the OTel export describe the same calls with no shared id, so a
store row counts only outside the times the OTel files cover (each file from
its first record to its mtime; assumption: the exporter writes a file per
process, so the gaps between files are times OTel was off). A row newer
than the last OTel write is held back (not emitted) until ``OTEL_GRACE``
(10 min) has passed without an OTel write covering it: the export is flushed in
batches, so its spans may land seconds after the store row; once the grace is
over, OTel was evidently off and the row counts (on the next read of the
store, i.e. the next Copilot call). Known gap: calls made while OTel was on,
but from a shell without it, are not counted; with one shared exporter file
(``COPILOT_OTEL_FILE_EXPORTER_PATH``) a pause inside its time span is counted
only by a scan made during the pause. The ``session-state/*/events.jsonl``
logs are not read (per tokdash they carry output tokens only).

Not read (assumption, left for later): OTLP-JSON batches
(``resourceSpans``/``scopeSpans``).
"""

from __future__ import annotations

import os
import time
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
    open_regular,
    read_new_lines,
)
from .coerce import count, epoch_us, text, time_us
from .database import columns, companions, read_db

CLIENT = "copilot"
PROVIDER = "github-copilot"

#: Candidate kinds, best first; the value is the row rank.
CHAT, INFERENCE, TURN, AGGREGATE = 3, 2, 1, 0

#: How many traces the state remembers (a trace is one user turn).
MAX_TRACES = 4096

STORE = "session-store.db"
#: How long a store row newer than the last OTel write waits for its spans (µs).
OTEL_GRACE = 10 * 60 * 1_000_000

_SESSION_PRIORITY = 3
_INTERACTION_PRIORITY = 2
_RESPONSE_PRIORITY = 1


class _Attrs(msgspec.Struct):
    op: Any = msgspec.field(default=None, name="gen_ai.operation.name")
    event: Any = msgspec.field(default=None, name="event.name")
    response_model: Any = msgspec.field(default=None, name="gen_ai.response.model")
    request_model: Any = msgspec.field(default=None, name="gen_ai.request.model")
    response_id: Any = msgspec.field(default=None, name="gen_ai.response.id")
    conversation: Any = msgspec.field(default=None, name="gen_ai.conversation.id")
    chat_session: Any = msgspec.field(default=None, name="copilot_chat.session_id")
    chat_session2: Any = msgspec.field(default=None, name="copilot_chat.chat_session_id")
    session: Any = msgspec.field(default=None, name="session.id")
    interaction: Any = msgspec.field(default=None, name="github.copilot.interaction_id")
    turn_index: Any = msgspec.field(default=None, name="turn.index")
    turn_index2: Any = msgspec.field(default=None, name="copilot_chat.turn.index")
    input_tokens: Any = msgspec.field(default=None, name="gen_ai.usage.input_tokens")
    output_tokens: Any = msgspec.field(default=None, name="gen_ai.usage.output_tokens")
    cache_read: Any = msgspec.field(default=None, name="gen_ai.usage.cache_read.input_tokens")
    cache_read2: Any = msgspec.field(default=None, name="gen_ai.usage.cache_read_input_tokens")
    cache_write: Any = msgspec.field(default=None, name="gen_ai.usage.cache_write.input_tokens")
    cache_write2: Any = msgspec.field(default=None, name="gen_ai.usage.cache_creation.input_tokens")
    reasoning: Any = msgspec.field(default=None, name="gen_ai.usage.reasoning.output_tokens")
    reasoning2: Any = msgspec.field(default=None, name="gen_ai.usage.reasoning_tokens")
    total_tokens: Any = msgspec.field(default=None, name="gen_ai.usage.total_tokens")
    total_tokens2: Any = msgspec.field(default=None, name="gen_ai.usage.total.token_count")


class _SpanContext(msgspec.Struct):
    traceId: Any = None
    spanId: Any = None


class _Record(msgspec.Struct):
    type: Any = None
    name: Any = None
    kind: Any = None
    traceId: Any = None
    spanId: Any = None
    spanContext: _SpanContext | None = None
    startTime: Any = None
    endTime: Any = None
    duration: Any = None
    hrTime: Any = None
    hrTime2: Any = msgspec.field(default=None, name="_hrTime")
    time: Any = None
    timestamp: Any = None
    observedTimestamp: Any = None
    timeUnixNano: Any = None
    body: Any = None
    body2: Any = msgspec.field(default=None, name="_body")
    attributes: _Attrs | None = None


_decode = msgspec.json.Decoder(_Record).decode


def otel_us(value: Any) -> int | None:
    """An OTel time as epoch µs: a ``[seconds, nanos]`` pair, a nanosecond scalar (≥ 1e17, OTel's unit),
    or any form ``coerce.time_us`` knows (s, ms, µs, numeric string, ISO)."""
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            us = int(value[0]) * 1_000_000 + int(value[1]) // 1000
            return us if us > 0 else None
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and 1e17 <= value < 1e20:
        return epoch_us(value // 1000)
    return time_us(value)


def _timestamp(record: _Record) -> int | None:
    end = record.endTime
    if type(end) is list and len(end) == 2 and type(end[0]) is int and type(end[1]) is int and end[0] > 0:
        return end[0] * 1_000_000 + end[1] // 1000  # the common case: a span's [seconds, nanos]
    for value in (record.endTime, record.startTime, record.hrTime, record.hrTime2, record.time, record.timestamp):
        if value is not None:
            ts = otel_us(value)
            if ts is not None:
                return ts
    if record.observedTimestamp is not None:
        ts = otel_us(record.observedTimestamp)
        if ts is not None:
            return ts
    return otel_us(record.timeUnixNano) if record.timeUnixNano is not None else None


def _is_span(record: _Record) -> bool:
    if isinstance(record.type, str):
        return record.type == "span"
    if not isinstance(record.name, str):
        return False
    return (
        isinstance(record.spanId, str)
        or isinstance(record.traceId, str)
        or record.startTime is not None
        or record.endTime is not None
        or record.duration is not None
        or record.kind is not None
    )


def _kind(record: _Record, attrs: _Attrs) -> int | None:
    name = record.name if isinstance(record.name, str) else ""
    if _is_span(record):
        if attrs.op == "chat" or name.startswith("chat "):
            return CHAT
        if attrs.op == "invoke_agent" or name.startswith("invoke_agent"):
            return AGGREGATE
        return None
    body = record.body if isinstance(record.body, str) else (record.body2 if isinstance(record.body2, str) else "")
    if attrs.event == "gen_ai.client.inference.operation.details" or body.startswith("GenAI inference:"):
        return INFERENCE
    if attrs.event == "copilot_chat.agent.turn" or body.startswith("copilot_chat.agent.turn"):
        return TURN
    return None


def _session(attrs: _Attrs) -> tuple[str | None, int]:
    for value in (attrs.conversation, attrs.chat_session, attrs.chat_session2, attrs.session):
        if value is not None and text(value):
            return value, _SESSION_PRIORITY
    if text(attrs.interaction):
        return attrs.interaction, _INTERACTION_PRIORITY
    if text(attrs.response_id):
        return attrs.response_id, _RESPONSE_PRIORITY
    return None, 0


def _ids(record: _Record) -> tuple[str | None, str | None]:
    trace, span = text(record.traceId), text(record.spanId)
    if record.spanContext is not None:
        trace = trace or text(record.spanContext.traceId)
        span = span or text(record.spanContext.spanId)
    return trace, span


class CopilotReader:
    """Reads Copilot CLI OpenTelemetry JSONL exports."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("COPILOT_HOME", "COPILOT_OTEL_FILE_EXPORTER_PATH")

    def home_dir(self) -> Path:
        """``COPILOT_HOME`` or ``~/.copilot``."""
        value = text(os.environ.get("COPILOT_HOME"))
        return Path(value).expanduser() if value else home() / ".copilot"

    def exporter_file(self) -> Path | None:
        """The file named by ``COPILOT_OTEL_FILE_EXPORTER_PATH``, if set."""
        value = text(os.environ.get("COPILOT_OTEL_FILE_EXPORTER_PATH"))
        return Path(value).expanduser() if value else None

    def roots(self) -> list[Path]:
        """The ``otel`` directory, the exporter file and the session store."""
        found = [self.home_dir() / "otel", self.home_dir() / STORE]
        extra = self.exporter_file()
        if extra is not None:
            found.append(extra)
        return found

    def discover(self, errors: list[str]) -> list[Source]:
        """Every OTel ``.jsonl`` (the exporter file once, even if inside ``otel/``) and the session store."""
        found = [Source(CLIENT, path) for path in self.otel_files(errors)]
        store = self.home_dir() / STORE
        if store.is_file():
            found.append(Source(CLIENT, store, "whole", companions(store)))
        return found

    def otel_files(self, errors: list[str] | None = None) -> list[Path]:
        """The OTel export files present now."""
        seen: set[Path] = set()
        found: list[Path] = []
        paths = list(iter_files(self.home_dir() / "otel", ".jsonl", errors))
        extra = self.exporter_file()
        if extra is not None and extra.is_file():
            paths.append(extra)
        for path in paths:
            if first_sight(path, seen):
                found.append(path)
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read OTel records from ``offset`` on (usage rows for the best record of each call), or the store."""
        if source.mode == "whole" and source.path.name == STORE:
            return self._read_store(source.path)
        lines, new_offset = read_new_lines(source.path, offset)
        if not state:
            state = {"ctx": {}, "covered": {}}
        contexts: dict[str, list[Any]] = state["ctx"]
        covered: dict[str, int] = state["covered"]  # trace -> best kind counted so far
        fallback_ts: int | None = None
        result = ReadResult(offset=new_offset, state=state)
        skipped = 0
        candidates: list[tuple[int, str | None, str | None, _Record, _Attrs]] = []
        deferred: list[bytes] = []
        for raw in lines:
            if b"gen_ai.usage." not in raw and b"session" not in raw and b"conversation.id" not in raw:
                continue  # neither usage nor a session id: nothing to learn
            if b"inference.operation.details" in raw:
                deferred.append(raw)  # usually a copy of a chat span: decoded only if needed
                continue
            skipped += self._take(raw, contexts, candidates)
        if deferred:
            chat = {trace for kind, trace, *_ in candidates if kind == CHAT}
            chat.update(trace for trace, kind in covered.items() if kind == CHAT)
            for raw in deferred:
                trace = _quick_trace(raw)
                if trace is None or trace not in chat:
                    skipped += self._take(raw, contexts, candidates)
        # The best kind per trace over this batch and what earlier reads counted.
        best = dict(covered)
        for kind, trace, *_ in candidates:
            if trace is not None and kind > best.get(trace, -1):
                best[trace] = kind
        rows = result.rows
        for kind, trace, span, record, attrs in candidates:
            if trace is not None and kind < best[trace]:
                continue  # a better record of this trace's calls is counted
            ts = _timestamp(record)
            if ts is None:
                if fallback_ts is None:
                    fallback_ts = source.path.stat().st_mtime_ns // 1000
                ts = fallback_ts
            row = _row(kind, trace, span, attrs, contexts, ts)
            if row is not None:
                rows.append(row)
                if trace is not None:
                    covered[trace] = max(covered.get(trace, -1), kind)
        _trim(covered)
        _trim(contexts)
        if skipped:
            result.skip("malformed line", skipped)
        return result

    def otel_spans(self) -> list[tuple[int, int]]:
        """For each OTel file, the time it covers: (its first record, its mtime) in epoch µs."""
        spans = []
        for path in self.otel_files():
            try:
                st = path.stat()
            except OSError:
                continue
            mtime = st.st_mtime_ns // 1000
            first = _first_record_us(path, st.st_size, st.st_mtime_ns)
            spans.append((min(first, mtime) if first is not None else mtime, mtime))
        return spans

    def _read_store(self, path: Path) -> ReadResult:
        spans = self.otel_spans()

        def work(conn: Any) -> list[Row]:
            have = columns(conn, "assistant_usage_events")
            if not {"session_id", "input_tokens"} <= have:
                return []
            sessions = columns(conn, "sessions")
            joined = "id" in sessions
            s_cwd = "s.cwd" if joined and "cwd" in sessions else "NULL"
            s_created = "s.created_at" if joined and "created_at" in sessions else "NULL"
            fields = ", ".join(
                "e." + c if c in have else "NULL"
                for c in (
                    "id",
                    "session_id",
                    "model",
                    "copilot_usage_model",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_write_tokens",
                    "reasoning_tokens",
                    "created_at",
                )
            )
            join = "LEFT JOIN sessions s ON s.id = e.session_id" if joined else ""
            sql = f"SELECT {fields}, {s_cwd}, {s_created}, e.rowid FROM assistant_usage_events e {join}"
            now = time.time_ns() // 1000
            return [row for r in conn.execute(sql) if (row := _store_row(r, spans, now)) is not None]

        return read_db(path, work)

    @staticmethod
    def _take(raw: bytes, contexts: dict[str, list[Any]], candidates: list[tuple]) -> int:
        """Decode one line: learn its trace's model/session, keep it if it carries usage; 1 if undecodable."""
        record = decode_line(_decode, raw)
        if record is None:
            return 1
        attrs = record.attributes
        if attrs is None:
            return 0
        trace, span = _ids(record)
        if trace is not None:
            ctx = contexts.get(trace)
            if ctx is None or ctx[2] != _SESSION_PRIORITY or ctx[0] is None:
                _remember(contexts, trace, attrs)
        if _has_usage(attrs):
            kind = _kind(record, attrs)
            if kind is not None:
                candidates.append((kind, trace, span, record, attrs))
        return 0


_FIRST: dict[str, tuple[int, int, int | None]] = {}


def _first_record_us(path: Path, size: int, mtime: int) -> int | None:
    """The timestamp of the first record in an OTel file (cached per size and mtime)."""
    key = str(path)
    cached = _FIRST.get(key)
    if cached is not None and cached[0] <= size and cached[2] is not None:
        return cached[2]  # the first record of a growing file does not change
    if cached is not None and cached[:2] == (size, mtime):
        return cached[2]
    first = None
    try:
        with open_regular(path) as fh:
            head = fh.read(1 << 20)
    except OSError:
        head = b""
    for raw in head.split(b"\n")[:200]:
        record = decode_line(_decode, raw)
        if record is None:
            continue
        first = _timestamp(record)
        if first is not None:
            break
    _FIRST[key] = (size, mtime, first)
    return first


def _store_row(r: tuple, spans: list[tuple[int, int]], now: int) -> Row | None:
    """One ``assistant_usage_events`` row as a usage row; None when empty, undated, covered by OTel or held."""
    rid, session, model, usage_model, inp, out, cread, cwrite, reasoning, created, cwd, s_created, rowid = r
    ts = time_us(created) or time_us(s_created)
    if ts is None or not isinstance(session, str) or not session:
        return None
    if spans:
        if any(start <= ts <= end for start, end in spans):
            return None  # an OTel file covers this time: its records count instead
        if ts > max(end for _, end in spans) and now - ts < OTEL_GRACE:
            return None  # newer than the last OTel write: its spans may still come; decide later
    cache_read, cache_write, output = count(cread), count(cwrite), count(out)
    uncached = split_input(count(inp), cache_read, cache_write)
    if uncached + output + cache_read + cache_write == 0:
        return None
    name = text(usage_model) or text(model) or "unknown"
    return Row(
        client=CLIENT,
        provider=PROVIDER,
        model=name,
        workspace=cwd if isinstance(cwd, str) else "",
        session_id=session,
        agent=None,
        event_key=f"store:{session}:{rid if rid is not None else rowid}",
        ts=ts,
        input=uncached,
        output=output,
        reasoning=min(count(reasoning), output),
        cache_read=cache_read,
        cache_write_5m=cache_write,
    )


def _quick_trace(raw: bytes) -> str | None:
    """The first ``traceId`` string of a JSON line without decoding it (None if not found plainly)."""
    key = raw.find(b'"traceId"')
    if key < 0:
        return None
    start = raw.find(b'"', key + 9)
    if start < 0 or raw[key + 9 : start].strip(b" :") or b":" not in raw[key + 9 : start]:
        return None
    end = raw.find(b'"', start + 1)
    return raw[start + 1 : end].decode("ascii", "replace") if end > start + 1 else None


def split_input(total_in: int, cache_read: int, cache_write: int) -> int:
    """Fresh input from a cache-inclusive input count (see the module docstring)."""
    if total_in >= cache_read + cache_write:
        return total_in - cache_read - cache_write
    return total_in - min(cache_read, total_in)


def _has_usage(attrs: _Attrs) -> bool:
    return (
        attrs.input_tokens is not None
        or attrs.output_tokens is not None
        or attrs.cache_read is not None
        or attrs.cache_read2 is not None
        or attrs.cache_write is not None
        or attrs.cache_write2 is not None
        or attrs.total_tokens is not None
        or attrs.total_tokens2 is not None
    )


def _remember(contexts: dict[str, list[Any]], trace: str, attrs: _Attrs) -> None:
    """Keep the trace's model and its best session id (for records that lack them)."""
    ctx = contexts.get(trace)
    if ctx is None:
        ctx = contexts[trace] = [None, None, 0]
    elif ctx[2] == _SESSION_PRIORITY and ctx[0] is not None:
        return  # nothing better to learn
    if ctx[0] is None:
        ctx[0] = text(attrs.response_model) or text(attrs.request_model)
    session, priority = _session(attrs)
    if session is not None and priority > ctx[2]:
        ctx[1], ctx[2] = session, priority


def _trim(table: dict[str, Any]) -> None:
    """Forget the oldest traces beyond ``MAX_TRACES`` (dicts keep insertion order)."""
    extra = len(table) - MAX_TRACES
    if extra > 0:
        for key in list(table)[:extra]:
            del table[key]


def _row(
    kind: int,
    trace: str | None,
    span: str | None,
    attrs: _Attrs,
    contexts: dict[str, list[Any]],
    ts: int,
) -> Row | None:
    raw_input = count(attrs.input_tokens)
    output = count(attrs.output_tokens)
    cache_read = count(attrs.cache_read) or count(attrs.cache_read2)
    cache_write = count(attrs.cache_write) or count(attrs.cache_write2)
    reasoning = count(attrs.reasoning) or count(attrs.reasoning2)
    if raw_input + output + cache_read + cache_write == 0:
        output = count(attrs.total_tokens) or count(attrs.total_tokens2)  # only a total: count it as output
    uncached = split_input(raw_input, cache_read, cache_write)
    if uncached + output + cache_read + cache_write == 0:
        return None
    ctx = contexts.get(trace) if trace is not None else None
    model = text(attrs.response_model) or text(attrs.request_model) or (ctx[0] if ctx else None) or "unknown"
    session, priority = _session(attrs)
    if ctx is not None and ctx[1] is not None and ctx[2] > priority:
        session = ctx[1]
    session = session or trace or ""
    response = text(attrs.response_id)
    if kind in (CHAT, INFERENCE):
        if response is not None:
            key = "resp:" + response
        elif trace is not None and span is not None:
            key = f"span:{trace}:{span}"
        else:
            key = f"{kind}:{session}:{ts}:{raw_input}:{output}"
    elif kind == TURN:
        turn = attrs.turn_index if attrs.turn_index is not None else attrs.turn_index2
        key = f"turn:{trace or session}:{turn}" if turn is not None else f"turn:{trace or session}:{ts}"
    else:
        key = f"agent:{trace}:{span}" if trace and span else f"agent:{session}:{ts}:{raw_input}:{output}"
    return Row(
        client=CLIENT,
        provider=PROVIDER,
        model=model,
        workspace="",
        session_id=session,
        agent=None,
        event_key=key,
        ts=ts,
        input=uncached,
        output=output,
        reasoning=min(reasoning, output),
        cache_read=cache_read,
        cache_write_5m=cache_write,
        rank=kind,
    )


READERS = (CopilotReader(),)
