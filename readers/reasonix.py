"""Reasonix: the append-only request statistics ``stats/YYYY-MM-DD.jsonl`` (clients.md §3.14).

Root: ``$REASONIX_STATE_HOME``, else ``$REASONIX_HOME``, else ``~/.reasonix`` (Windows
``%APPDATA%\\reasonix``); a ``~``, ``$VAR``, ``${VAR}`` or ``${VAR:-default}`` in the value is
expanded, as Reasonix does. Files: ``<root>/stats/YYYY-MM-DD.jsonl``, one row per provider
request: ``{ts (RFC 3339 with offset), model: "<provider label>/<model>", prompt, completion,
reasoning?, cache_hit, cache_miss, total, requests, turn?}``.

Traps handled:

* ``turn: true`` rows are per-turn aggregates of the request rows before them: skipped.
* ``prompt`` includes the cache hits (``prompt == cache_hit + cache_miss``): input is
  ``cache_miss`` when the row has a non-zero one, else ``prompt - cache_hit``.
* ``reasoning`` is part of ``completion`` (``total = prompt + completion``): reported, not added.
* The provider half of ``model`` is a label the user chose (``deepseek``, ``openrouter``, or
  any name): it is kept as the logged provider (spellings folded), as tokscale does; the model
  is the rest (``openrouter/google/gemini-2.5-pro`` is model ``google/gemini-2.5-pro``). A
  reference without a label gets the provider its model name implies.
* The session transcripts are not read: they overlap the stats and are not authoritative. The
  stats carry no session or workspace: the session id is the stats file's day
  (``stats-2026-08-04``), the workspace unknown.
* A row is keyed by its file and byte offset (the files only grow), so a re-read counts
  nothing twice; malformed lines are skipped and counted.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, home, iter_files, read_new_chunk
from .coerce import count, text, time_us
from .providers import infer_provider, provider_name

CLIENT = "reasonix"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}")


def expand(value: str) -> str:
    """``~``, ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` expanded."""
    value = _DEFAULTED.sub(lambda m: os.environ.get(m.group(1)) or m.group(2), value)
    return os.path.expanduser(os.path.expandvars(value))  # noqa: PTH111


def reasonix_home() -> Path:
    """``$REASONIX_STATE_HOME`` > ``$REASONIX_HOME`` > ``~/.reasonix`` (``%APPDATA%\\reasonix`` on Windows)."""
    for name in ("REASONIX_STATE_HOME", "REASONIX_HOME"):
        value = os.environ.get(name, "").strip()
        if value:
            return Path(expand(value))
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        if appdata:
            return Path(appdata) / "reasonix"
    return home() / ".reasonix"


class _Stat(msgspec.Struct):
    """A stats row, typed so the common row decodes entirely in C (the rows are small and many)."""

    ts: datetime | int | float | None = None
    model: str | None = None
    prompt: int = 0
    completion: int = 0
    reasoning: int = 0
    cache_hit: int = 0
    cache_miss: int = 0
    turn: bool | None = None


class _LooseStat(msgspec.Struct):
    """The same row with any value types, for a row the typed decoder refuses."""

    ts: Any = None
    model: Any = None
    prompt: Any = None
    completion: Any = None
    reasoning: Any = None
    cache_hit: Any = None
    cache_miss: Any = None
    turn: Any = None


_typed = msgspec.json.Decoder(_Stat).decode
_loose = msgspec.json.Decoder(_LooseStat).decode


def _decode(raw: bytes | str) -> _Stat | _LooseStat:
    try:
        return _typed(raw)
    except msgspec.ValidationError:
        return _loose(raw)


_SPLIT: dict[str, tuple[str, str]] = {}


def split_model(ref: str) -> tuple[str, str]:
    """(provider, model) of a ``<provider label>/<model>`` reference."""
    cached = _SPLIT.get(ref)
    if cached is not None:
        return cached
    label, sep, model = ref.partition("/")
    if not sep or not model:
        label, model = "", ref
    provider = provider_name(label) if label else infer_provider(model)
    _SPLIT[ref] = (provider, model)
    return provider, model


class ReasonixReader:
    """Reads Reasonix's per-day request statistics."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("REASONIX_STATE_HOME", "REASONIX_HOME", "APPDATA")

    def roots(self) -> list[Path]:
        """``<reasonix home>/stats``."""
        return [reasonix_home() / "stats"]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every ``stats/*.jsonl``."""
        return [Source(CLIENT, p) for p in iter_files(self.roots()[0], ".jsonl", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Request rows from ``offset`` on (turn aggregates left out)."""
        data, new_offset = read_new_chunk(source.path, offset)
        result = ReadResult(offset=new_offset, state=state)
        stem = source.path.stem
        pos = 0
        size = len(data)
        while pos < size:
            end = data.find(b"\n", pos)
            raw = data[pos:end]
            at = offset + pos
            pos = end + 1
            if not raw.strip() or b'"turn": true' in raw or b'"turn":true' in raw:
                continue  # a turn's aggregate of the request rows (skipped undecoded: they are many)
            stat = decode_line(_decode, raw)
            if stat is None:
                result.skip("malformed line")
                continue
            if stat.turn is True:  # with other spacing than the raw check above
                continue  # a turn's aggregate of the request rows already counted
            row = _row(stat, f"{stem}@{at}", stem)
            if row is not None:
                result.rows.append(row)
        return result


def _n(value: Any) -> int:
    """``coerce.count`` with the common case (a plain non-negative int) first: this runs per row."""
    return value if type(value) is int and value >= 0 else count(value)


def _row(stat: _Stat | _LooseStat, key: str, day: str) -> Row | None:
    ref = stat.model
    ref = ref if type(ref) is str and ref else text(ref)
    when = stat.ts
    if type(when) is datetime:
        ts = ((when if when.tzinfo is not None else when.replace(tzinfo=UTC)) - _EPOCH) // _US
    else:
        ts = time_us(when)
    if ref is None or ts is None:
        return None
    prompt, hit, miss = _n(stat.prompt), _n(stat.cache_hit), _n(stat.cache_miss)
    completion = _n(stat.completion)
    inp = miss if miss else max(prompt - hit, 0)
    if inp + hit + completion == 0:
        return None
    provider, model = split_model(ref)
    reasoning = _n(stat.reasoning)
    # positional, in ROW_FIELDS order (as readers/claude_code.py does): a keyword build costs ~1 µs more per row
    return Row(
        CLIENT,
        provider,
        model,
        "",
        f"stats-{day}",
        None,
        key,
        ts,
        inp,
        completion,
        reasoning if reasoning <= completion else completion,
        hit,
    )


READERS = (ReasonixReader(),)
