"""Amp (Sourcegraph / ampcode): thread JSON files (formats.md §6).

Root: ``<amp dir>/threads/T-*.json``, the amp dir being each entry of
``AMP_DATA_DIR`` (comma list, as ccusage reads it), else
``${XDG_DATA_HOME:-~/.local/share}/amp`` and ``~/.local/share/amp`` (where
ccusage looks whatever XDG says). Each file is
one thread, rewritten whole as it grows, so sources are read in ``whole``
mode and every event key is stable across rewrites.

A thread holds two overlapping descriptions of the same inferences:

* ``usageLedger.events[]``: ``{id, timestamp (ISO), model, credits,
  tokens: {input, output, total?, cacheReadInputTokens?,
  cacheCreationInputTokens?}, operationType, fromMessageId, toMessageId}``;
* ``messages[]`` (``role:"assistant"``): ``{messageId, usage: {model,
  timestamp?, inputTokens, outputTokens, cacheCreationInputTokens,
  cacheReadInputTokens, totalTokens, credits?}}``.

Pairing (never count both): a ledger event belongs to the assistant message
named by its ``toMessageId``; an event without one is paired with the first
unpaired message of equal output whose input matches (with or without its
cache tokens). A paired inference takes its token split from the message
usage (input there is uncached, cache read/creation separate, Anthropic
style), its timestamp and model from the ledger event, and its credits from
the event (else the message). An unpaired ledger event counts from its own
``tokens``; when it carries cache fields and ``total == input + output`` its
input is a legacy prompt total and the cache tokens are taken out of it. An
unpaired message counts from its usage. A usage with only a total counts it
as output.

Keys: ``<thread>:<messageId>`` for anything tied to a message (so a message
first seen alone and later joined by its ledger event stays one event; the
rank prefers the paired form), else ``<thread>:ledger:<event id>``. A message
without ``messageId`` (older threads) still counts, keyed ``<thread>:#<its
position in messages[]>`` (a thread only grows, so the position is stable);
it pairs with a ledger event only by its counts.

Timestamps: the ledger event's, else the message usage's, else (as tokscale)
``thread.created + messageId`` seconds (``created`` alone without a
messageId), else the file's mtime. Counts go through ``coerce.count`` (an
absurd one reaches the scan, which rejects that row with a reason).

``credits``: Amp logs the cost of each inference in credits; they become
``source_cost`` on the assumption that one credit is one US dollar (Amp shows
balances in dollars, and tokscale reads ledger credits as USD). This is NOT
confirmed upstream; pricing still computes the list-price ``cost`` from the
tokens. A negative or non-numeric value is dropped.

A damaged thread (caught mid-rewrite) counts nothing and is reported once; a
mistyped message or ledger event inside a readable thread costs only itself
(counted as skipped).

Workspace: the first ``env.initial.trees[].uri`` (``file://`` URI) when the
thread records one, else empty. Provider: inferred from the model name
(``anthropic`` when unknown: Amp's default models are Claude).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import msgspec

from .base import Fidelity, ReadResult, Row, Source, env_paths, first_sight, home, read_regular, xdg
from .coerce import cost, count, iso_us
from .providers import infer_provider

CLIENT = "amp"
T = TypeVar("T", bound=msgspec.Struct)
PAIRED_RANK = 2
LEDGER_RANK = 1
MESSAGE_RANK = 0


class _Tokens(msgspec.Struct):
    input: Any = None
    output: Any = None
    total: Any = None
    cacheReadInputTokens: Any = None
    cacheCreationInputTokens: Any = None


class _Event(msgspec.Struct):
    id: Any = None
    timestamp: Any = None
    model: Any = None
    credits: Any = None
    tokens: _Tokens | None = None
    toMessageId: Any = None


class _Ledger(msgspec.Struct):
    events: list[_Event] | None = None


class _Usage(msgspec.Struct):
    model: Any = None
    timestamp: Any = None
    inputTokens: Any = None
    outputTokens: Any = None
    cacheCreationInputTokens: Any = None
    cacheReadInputTokens: Any = None
    totalTokens: Any = None
    credits: Any = None


class _Message(msgspec.Struct):
    role: Any = None
    messageId: Any = None
    usage: _Usage | None = None
    timestamp: Any = None


class _Thread(msgspec.Struct):
    id: Any = None
    created: Any = None
    messages: list[_Message] | None = None
    usageLedger: _Ledger | None = None
    env: Any = None


_decode = msgspec.json.Decoder(_Thread).decode

Tokens = tuple[int, int, int, int]
"""(input, output, cache_read, cache_write)."""


def _message_tokens(usage: _Usage) -> Tokens:
    inp = count(usage.inputTokens)
    out = count(usage.outputTokens)
    read = count(usage.cacheReadInputTokens)
    write = count(usage.cacheCreationInputTokens)
    if inp + out + read + write == 0:
        out = count(usage.totalTokens)
    return inp, out, read, write


def _ledger_tokens(tokens: _Tokens) -> Tokens:
    inp = count(tokens.input)
    out = count(tokens.output)
    read = count(tokens.cacheReadInputTokens)
    write = count(tokens.cacheCreationInputTokens)
    if inp + out + read + write == 0:
        return 0, count(tokens.total), 0, 0
    total = tokens.total
    if read + write and isinstance(total, int) and total == inp + out and inp >= read + write:
        inp -= read + write  # legacy: input was the whole prompt
    return inp, out, read, write


def _id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def _workspace(env: Any) -> str:
    try:
        trees = env["initial"]["trees"]
    except (TypeError, KeyError):
        return ""
    for tree in trees if isinstance(trees, list) else ():
        uri = tree.get("uri") if isinstance(tree, dict) else None
        if isinstance(uri, str) and uri.startswith("file:"):
            return unquote(urlparse(uri).path)
    return ""


class AmpReader:
    """Reads Amp thread files."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("AMP_DATA_DIR",)

    def roots(self) -> list[Path]:
        """Amp's ``threads/`` directories."""
        configured = env_paths("AMP_DATA_DIR")
        if configured is not None:
            return [p / "threads" for p in configured]
        found = [xdg("XDG_DATA_HOME", ".local/share") / "amp" / "threads"]
        fixed = home() / ".local" / "share" / "amp" / "threads"
        return found if fixed in found else [*found, fixed]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``T-*.json`` thread file."""
        found = []
        seen: set[Path] = set()
        for root in self.roots():
            if not root.is_dir() or not first_sight(root, seen):
                continue
            try:
                paths = sorted(root.glob("T-*.json"))
            except OSError as exc:
                errors.append(f"cannot list {root}: {exc.strerror or exc}")
                continue
            found.extend(Source(CLIENT, p, mode="whole") for p in paths if p.is_file())
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read the whole thread (``offset`` and ``state`` are ignored: whole mode)."""
        path = source.path
        data = read_regular(path)
        result = ReadResult(offset=len(data))
        try:
            try:
                thread = _decode(data)
            except msgspec.ValidationError:  # a mistyped part, or a number msgspec refuses (1e400)
                thread = _lenient(json.loads(data), result)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
            # A thread caught mid-rewrite or damaged: nothing counted, said once.
            result.errors.append(f"{path}: not a readable Amp thread ({exc})")
            result.skip("unreadable thread")
            return result
        thread_id = thread.id if isinstance(thread.id, str) and thread.id else path.stem
        created = thread.created if isinstance(thread.created, int) and thread.created > 0 else None
        try:
            mtime_us = path.stat().st_mtime_ns // 1000
        except OSError:
            mtime_us = 0
        workspace = _workspace(thread.env)
        result.rows = _rows(thread, thread_id, created, mtime_us, workspace)
        return result


def _lenient(raw: Any, result: ReadResult) -> _Thread:
    """A thread whose typed decode failed, converted piece by piece: a mistyped message or ledger event
    becomes an empty placeholder (so message positions stay put) and is counted; the rest still counts."""
    if not isinstance(raw, dict):
        raise msgspec.ValidationError("a thread is a JSON object")
    messages = raw.pop("messages", None)
    ledger = raw.pop("usageLedger", None)
    thread = msgspec.convert(raw, _Thread, strict=False)
    thread.messages = _each(messages, _Message, result, "mistyped message")
    events = ledger.get("events") if isinstance(ledger, dict) else None
    thread.usageLedger = _Ledger(events=_each(events, _Event, result, "mistyped ledger event"))
    return thread


def _each(items: Any, kind: type[T], result: ReadResult, reason: str) -> list[T]:
    out = []
    for item in items if isinstance(items, list) else ():
        try:
            out.append(msgspec.convert(item, kind, strict=False))
        except msgspec.ValidationError:
            result.skip(reason)
            out.append(kind())
    return out


def _rows(thread: _Thread, thread_id: str, created: int | None, mtime_us: int, workspace: str) -> list[Row]:
    # assistant messages with usage, in order: id -> (message, tokens)
    messages: dict[str, tuple[_Message, Tokens]] = {}
    for position, message in enumerate(thread.messages or ()):
        if message.role != "assistant" or message.usage is None:
            continue
        mid = _id(message.messageId) or f"#{position}"
        tokens = _message_tokens(message.usage)
        if sum(tokens) == 0:
            continue
        messages.setdefault(mid, (message, tokens))

    def message_ts(message: _Message, mid: str) -> int:
        ts = iso_us(message.usage.timestamp if message.usage else None) or iso_us(message.timestamp)
        if ts is not None:
            return ts
        if created is not None:
            return (created + (int(mid) * 1000 if mid.isdigit() else 0)) * 1000
        return mtime_us

    def row(model: Any, key: str, ts: int, tokens: Tokens, credits: float | None, rank: int) -> Row:
        model = model if isinstance(model, str) and model else "unknown"
        provider = infer_provider(model)
        inp, out, read, write = tokens
        return Row(
            client=CLIENT,
            provider="anthropic" if provider == "unknown" else provider,
            model=model,
            workspace=workspace,
            session_id=thread_id,
            agent=None,
            event_key=key,
            ts=ts,
            input=inp,
            output=out,
            cache_read=read,
            cache_write_5m=write,
            source_cost=credits,
            rank=rank,
        )

    rows: list[Row] = []
    paired: set[str] = set()
    events = thread.usageLedger.events if thread.usageLedger is not None else None
    for event in events or ():
        ledger = _ledger_tokens(event.tokens) if event.tokens is not None else (0, 0, 0, 0)
        target = _id(event.toMessageId)
        mid = target if target is not None and target in messages and target not in paired else None
        if mid is None and target is None:
            mid = _match(messages, paired, event.tokens)
        credits = cost(event.credits)
        ts = iso_us(event.timestamp)
        if mid is not None:
            paired.add(mid)
            message, tokens = messages[mid]
            usage = message.usage
            assert usage is not None
            model = event.model if isinstance(event.model, str) and event.model else usage.model
            if credits is None:
                credits = cost(usage.credits)
            rows.append(row(model, f"{thread_id}:{mid}", ts or message_ts(message, mid), tokens, credits, PAIRED_RANK))
            continue
        if sum(ledger) == 0:
            continue
        if target is not None:
            key = f"{thread_id}:{target}"
        else:
            key = f"{thread_id}:ledger:{_id(event.id) or event.timestamp}"
        rows.append(
            row(event.model, key, ts or (created * 1000 if created else mtime_us), ledger, credits, LEDGER_RANK)
        )
    for mid, (message, tokens) in messages.items():
        if mid in paired:
            continue
        usage = message.usage
        assert usage is not None
        key = f"{thread_id}:{mid}"
        rows.append(row(usage.model, key, message_ts(message, mid), tokens, cost(usage.credits), MESSAGE_RANK))
    return rows


def _match(messages: dict[str, tuple[_Message, Tokens]], paired: set[str], raw: _Tokens | None) -> str | None:
    """The first unpaired message whose usage is the same inference as a ledger event without ``toMessageId``."""
    if raw is None:
        return None
    inp, out = count(raw.input), count(raw.output)
    for mid, (_message, (m_inp, m_out, m_read, m_write)) in messages.items():
        if mid in paired or m_out != out:
            continue
        if inp in (m_inp, m_inp + m_read + m_write):
            return mid
    return None


READERS = (AmpReader(),)
