"""Factory Droid: ``~/.factory/sessions/**/<id>.settings.json`` (formats.md §11).

Roots: ``DROID_SESSIONS_DIR`` (comma list; ccusage's override, honoured here
too), else ``~/.factory/sessions``. Each ``<id>.settings.json`` sits beside the
session's ``<id>.jsonl`` transcript and is rewritten in place (mode "whole").

Record read: ``{"model", "providerLock", "providerLockTimestamp", "tokenUsage":
{"inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens",
"thinkingTokens", "totalTokens"}}`` (tokscale ``sessions/droid.rs``, ccusage
``adapter/droid``).

Traps handled:

* Cumulative session totals, no turns: one row per session keyed by the
  session id (the file name before ``.settings.json``), ranked by the
  session's token total: the counters only grow, so a re-read of a grown file
  replaces the session's numbers, and when one session id sits in two folders
  (an ``archive/`` copy beside the live file) the newest snapshot wins,
  whichever is read first. (ccusage keeps the copy with the later
  ``providerLockTimestamp``; the file mtime is no guide: ``cp``, sync tools
  and checkouts reset it.)
* Anthropic-style disjoint buckets (input excludes cache).
* Only ``totalTokens`` (no parts): the total is counted as output (as
  ccusage does).
* ``thinkingTokens``: when ``totalTokens`` equals input + output + cache
  (thinking already inside output) it is only reported as reasoning; otherwise
  (no total, or a total that includes it) it is added to output, as ccusage
  bills it. Assumption: Factory's own semantics are not documented.
* Model: ``model`` normalised from Droid's custom-model form
  (``custom:Claude-Opus-4.5-Thinking-[Anthropic]-0`` -> ``claude-opus-4.5-thinking``:
  prefix, ``[...]`` provider tags and the trailing config index dropped,
  lowercased; dots kept for the price resolver); when absent, the first
  ``Model: <name> [<Provider>]`` line in the first 256 KB of the transcript;
  else ``unknown`` (left unpriced).
* Provider: ``providerLock`` (lowercase), else the ``[Provider]`` tag, else
  inferred from the model.
* Timestamp: the file's mtime (when the totals were last written), floored at
  ``providerLockTimestamp`` (tokscale's current rule; ccusage uses the lock
  time, which puts a session's later days on its first day).
* Workspace: ``cwd`` of the transcript's first line when it has one
  (``session_start``; unverified), else empty.
* Unreadable or malformed files are skipped and counted; only regular files
  are opened (a FIFO cannot hang a scan); counts go through ``coerce.count``
  (an absurd one reaches the scan, which rejects the row with a reason).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, env_paths, home, iter_files, open_regular
from .coerce import count, iso_us
from .providers import infer_provider

CLIENT = "droid"
SUFFIX = ".settings.json"
MODEL_SCAN_BYTES = 256 << 10
SETTINGS_MAX_BYTES = 16 << 20
"""A settings file holds one small object; anything larger is not a Droid settings file."""

_TAG = re.compile(r"\[([^\]]*)\]")
_MODEL_LINE = re.compile(rb"Model:\s*([^\"\\\[\n]+?)\s*(?:\[([^\]\"\\]*)\])?(?:[\"\\\n]|$)")
_DASHES = re.compile(r"[\s\-]+")


class _Usage(msgspec.Struct):
    inputTokens: Any = None
    outputTokens: Any = None
    cacheCreationTokens: Any = None
    cacheReadTokens: Any = None
    thinkingTokens: Any = None
    totalTokens: Any = None


class _Settings(msgspec.Struct):
    model: Any = None
    providerLock: Any = None
    providerLockTimestamp: Any = None
    tokenUsage: _Usage | None = None
    cwd: Any = None


class _First(msgspec.Struct):
    cwd: Any = None


_decode = msgspec.json.Decoder(_Settings).decode
_decode_first = msgspec.json.Decoder(_First).decode


def normalize_model(raw: str) -> tuple[str, str | None]:
    """(model id, provider tag or None) from Droid's model string."""
    custom = raw.startswith("custom:")
    name = raw[len("custom:") :] if custom else raw
    tags = _TAG.findall(name)
    name = _TAG.sub("", name).strip()
    name = _DASHES.sub("-", name).strip("-").lower()
    if custom:
        name = re.sub(r"-\d+$", "", name)  # the custom-model config index
    provider = tags[0].strip().lower() if tags and tags[0].strip() else None
    return name, provider


class DroidReader:
    """Reads Factory Droid session settings files."""

    client = CLIENT
    session_totals = True
    fidelity: Fidelity = "session_totals"
    env = ("DROID_SESSIONS_DIR",)

    def roots(self) -> list[Path]:
        """``DROID_SESSIONS_DIR`` entries, else ``~/.factory/sessions``."""
        return env_paths("DROID_SESSIONS_DIR") or [home() / ".factory" / "sessions"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``*.settings.json`` under the roots."""
        return [Source(CLIENT, p, "whole") for root in self.roots() for p in iter_files(root, SUFFIX, errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """The session's running total as one row."""
        path = source.path
        with open_regular(path) as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read(SETTINGS_MAX_BYTES + 1)
            mtime = st.st_mtime_ns // 1000
        result = ReadResult()
        if len(raw) > SETTINGS_MAX_BYTES:
            result.skip("file too large")
            return result
        try:
            settings = _decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            result.skip("malformed file")
            return result
        usage = settings.tokenUsage
        if usage is None:
            return result
        inp = count(usage.inputTokens)
        out = count(usage.outputTokens)
        write = count(usage.cacheCreationTokens)
        read = count(usage.cacheReadTokens)
        thinking = count(usage.thinkingTokens)
        total = count(usage.totalTokens)
        if not (thinking and total and total == inp + out + write + read):
            out += thinking  # thinking outside output (ccusage bills it as output)
        if inp + out + write + read == 0:
            out = total  # only a total: count it as output (as ccusage)
            if not out:
                return result
        session = path.name[: -len(SUFFIX)]
        transcript = path.with_name(session + ".jsonl")
        tag = None
        if isinstance(settings.model, str) and settings.model.strip():
            model, tag = normalize_model(settings.model.strip())
        else:
            model, tag = _model_from_transcript(transcript)
        provider = settings.providerLock
        if isinstance(provider, str) and provider.strip():
            provider = provider.strip().lower()
        else:
            provider = tag or infer_provider(model)
        lock = iso_us(settings.providerLockTimestamp)
        ts = max(mtime, lock) if lock is not None else mtime
        workspace = settings.cwd if isinstance(settings.cwd, str) else _cwd_from_transcript(transcript)
        result.rows.append(
            Row(
                client=CLIENT,
                provider=provider,
                model=model or "unknown",
                workspace=workspace,
                session_id=session,
                agent=None,
                event_key=session,
                ts=ts,
                input=inp,
                output=out,
                reasoning=min(thinking, out),
                cache_read=read,
                cache_write_5m=write,
                rank=inp + out + read + write,
            )
        )
        return result


def _head(path: Path, size: int) -> bytes:
    try:
        with open_regular(path) as fh:
            return fh.read(size)
    except OSError:
        return b""


def _model_from_transcript(path: Path) -> tuple[str, str | None]:
    """The model named by the transcript's first ``Model: <name> [<Provider>]`` line."""
    match = _MODEL_LINE.search(_head(path, MODEL_SCAN_BYTES))
    if match is None:
        return "unknown", None
    name = match.group(1).decode("utf-8", "replace")
    model, _ = normalize_model(name)
    provider = match.group(2).decode("utf-8", "replace").strip().lower() if match.group(2) else None
    return model or "unknown", provider or None


def _cwd_from_transcript(path: Path) -> str:
    head = _head(path, 64 << 10)
    first = head.split(b"\n", 1)[0]
    if b'"cwd"' not in first:
        return ""
    try:
        cwd = _decode_first(first).cwd
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return ""
    return cwd if isinstance(cwd, str) else ""


READERS = (DroidReader(),)
