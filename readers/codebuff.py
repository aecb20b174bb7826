"""Codebuff (formerly Manicode): ``chat-messages.json`` per chat (clients.md §3.2).

Roots: ``$CODEBUFF_DATA_DIR``, else ``~/.config/manicode`` and the dev and staging channels
``~/.config/manicode-dev``, ``~/.config/manicode-staging``. Files:
``<root>/projects/<project>/chats/<chatId>/chat-messages.json``, a JSON array of ChatMessage,
rewritten whole as the chat grows (read in ``whole`` mode; keys are stable).

Assistant messages (``variant`` or ``role`` in ``ai | agent | assistant``) carry usage, first
found of: ``metadata.usage``, ``metadata.codebuff.usage``, the last assistant entry of
``metadata.runState.sessionState.mainAgentState.messageHistory[]`` (its
``providerOptions.usage`` or ``providerOptions.codebuff.usage``); a field missing from one is
taken from the next (as tokscale merges them).

Traps handled:

* Three usage shapes, both casings: ``inputTokens | input_tokens | promptTokens |
  prompt_tokens``, ``outputTokens | output_tokens | completionTokens | completion_tokens``,
  ``cacheReadInputTokens | cache_read_input_tokens``, else ``promptTokensDetails.cachedTokens
  | prompt_tokens_details.cached_tokens``, ``cacheCreationInputTokens |
  cache_creation_input_tokens | cacheCreationTokens | cachedTokensCreated``.
* OpenRouter-routed calls use the OpenAI shape, where the prompt includes the cached tokens
  (Codebuff's own backend subtracts them before billing): when the input is a
  ``promptTokens`` / ``prompt_tokens`` count, the cache reads are taken out of it. The
  Anthropic shape (``inputTokens``) is already uncached.
* ``credits`` are not kept as a source cost: their unit (credits or USD) is unverified.
* The file is rewritten whole: keys are the message ``id`` (so a chat seen in two channels
  counts once), else a hash of the chat, time, model and counts.
* Timestamp: the message's ``timestamp``, ``createdAt`` or ``metadata.timestamp``, else the
  chat id (an ISO time with ``:`` written as ``-``), else the file's mtime.
* Model: ``metadata.model``, the usage's ``model``, ``providerOptions.codebuff.model``; the
  provider is inferred from it.
* Session: the chat id; workspace: the project directory name (Codebuff records no path).
* Freebuff writes this same tree (told apart by a ``base2-free*`` root agent id) but keeps no
  token usage; its chats give rows here only if they ever carry usage.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, home, iter_files, read_regular
from .coerce import count, iso_us, text, time_us
from .providers import infer_provider

CLIENT = "codebuff"
FILE = "chat-messages.json"
MAX_BYTES = 256 << 20
CHANNELS = (".config/manicode", ".config/manicode-dev", ".config/manicode-staging")
_ASSISTANT = frozenset({"ai", "agent", "assistant"})

_INPUT = ("inputTokens", "input_tokens")
_PROMPT = ("promptTokens", "prompt_tokens")
_OUTPUT = ("outputTokens", "output_tokens", "completionTokens", "completion_tokens")
_READ = ("cacheReadInputTokens", "cache_read_input_tokens")
_WRITE = (
    "cacheCreationInputTokens",
    "cache_creation_input_tokens",
    "cacheCreationTokens",
    "cache_creation_tokens",
    "cachedTokensCreated",
    "cached_tokens_created",
)


def _first(usage: dict[str, Any], keys: tuple[str, ...]) -> int:
    for key in keys:
        value = count(usage.get(key))
        if value:
            return value
    return 0


class _Counts:
    """A usage merged from several places: each field from the first place that has it."""

    __slots__ = ("inp", "model", "out", "prompt", "read", "write")

    def __init__(self) -> None:
        self.inp = self.prompt = self.out = self.read = self.write = 0
        self.model: str | None = None

    def merge(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        self.inp = self.inp or _first(usage, _INPUT)
        self.prompt = self.prompt or _first(usage, _PROMPT)
        self.out = self.out or _first(usage, _OUTPUT)
        if not self.read:
            self.read = _first(usage, _READ)
            details = usage.get("promptTokensDetails") or usage.get("prompt_tokens_details")
            if not self.read and isinstance(details, dict):
                self.read = count(details.get("cachedTokens") or details.get("cached_tokens"))
        self.write = self.write or _first(usage, _WRITE)
        self.model = self.model or text(usage.get("model"))

    def tokens(self) -> tuple[int, int, int, int]:
        """(uncached input, output, cache read, cache write)."""
        if self.inp:
            return self.inp, self.out, self.read, self.write
        return max(self.prompt - self.read, 0), self.out, self.read, self.write  # OpenAI shape: cache inside


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _usage(message: dict[str, Any]) -> _Counts:
    counts = _Counts()
    meta = message.get("metadata")
    if not isinstance(meta, dict):
        return counts
    counts.model = text(meta.get("model"))
    counts.merge(meta.get("usage"))
    counts.merge(_get(meta, "codebuff", "usage"))
    history = _get(meta, "runState", "sessionState", "mainAgentState", "messageHistory")
    if isinstance(history, list):
        for entry in reversed(history):
            if not isinstance(entry, dict) or entry.get("role") != "assistant":
                continue
            options = entry.get("providerOptions")
            if not isinstance(options, dict):
                break
            counts.merge(options.get("usage"))
            counts.merge(_get(options, "codebuff", "usage"))
            counts.model = counts.model or text(_get(options, "codebuff", "model"))
            break
    return counts


def chat_time(chat_id: str) -> int | None:
    """The chat id ``2025-12-14T10-00-00.000Z`` as epoch µs (only the time's two ``-`` are ``:``)."""
    date, sep, clock = chat_id.partition("T")
    if not sep:
        return None
    return iso_us(f"{date}T{clock.replace('-', ':', 2)}")


def _message_time(message: dict[str, Any]) -> int | None:
    for value in (message.get("timestamp"), message.get("createdAt"), _get(message, "metadata", "timestamp")):
        ts = time_us(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        if ts is not None:
            return ts
    return None


class CodebuffReader:
    """Reads Codebuff chat histories."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("CODEBUFF_DATA_DIR",)

    def roots(self) -> list[Path]:
        """``$CODEBUFF_DATA_DIR/projects``, else the projects dir of each channel."""
        value = os.environ.get("CODEBUFF_DATA_DIR", "").strip()
        if value:
            return [Path(value).expanduser() / "projects"]
        return [home() / channel / "projects" for channel in CHANNELS]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``chat-messages.json`` (re-read whole when it changes)."""
        return [
            Source(CLIENT, path, "whole")
            for root in self.roots()
            for path in iter_files(root, FILE, errors)
            if path.name == FILE
        ]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Every assistant message with usage in the chat."""
        path = source.path
        try:
            data = read_regular(path, MAX_BYTES)
        except OSError as exc:
            return ReadResult(errors=[f"{path}: {exc.strerror or exc}"])
        result = ReadResult(offset=len(data))
        try:
            messages = msgspec.json.decode(data)
        except (msgspec.DecodeError, RecursionError):
            result.skip("unreadable chat (caught mid-rewrite or damaged)")
            return result
        if not isinstance(messages, list):
            result.skip("unreadable chat (not a message list)")
            return result
        chat = path.parent.name
        project = path.parent.parent.parent.name
        fallback = chat_time(chat)
        if fallback is None:
            try:
                fallback = path.stat().st_mtime_ns // 1000
            except OSError:
                fallback = None
        for message in messages:
            if not isinstance(message, dict):
                result.skip("malformed message")
                continue
            role = message.get("variant") or message.get("role")
            if role not in _ASSISTANT:
                continue
            counts = _usage(message)
            inp, out, read, write = counts.tokens()
            if inp + out + read + write == 0:
                continue
            ts = _message_time(message) or fallback
            if ts is None:
                result.skip("no timestamp")
                continue
            model = counts.model or "unknown"
            key = text(message.get("id"))
            if key is None:
                digest = hashlib.blake2b(f"{chat}:{ts}:{model}:{inp}:{out}:{read}:{write}".encode(), digest_size=10)
                key = f"{chat}:{digest.hexdigest()}"
            result.rows.append(
                Row(
                    client=CLIENT,
                    provider=infer_provider(model),
                    model=model,
                    workspace=project,
                    session_id=chat,
                    agent=None,
                    event_key=key,
                    ts=ts,
                    input=inp,
                    output=out,
                    cache_read=read,
                    cache_write_5m=write,
                )
            )
        return result


READERS = (CodebuffReader(),)
