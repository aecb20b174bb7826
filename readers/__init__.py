"""Readers: one module per agent client, turning its logs into usage rows.

Every reader module exposes ``READERS``: a tuple of ``Reader`` objects (one
module may serve several clients, e.g. Codex and Every Code). A reader

* knows its source roots (env overrides included) and discovers its files;
* reads a file incrementally: ``read(source, offset, state)`` returns the rows
  found from ``offset`` on, the new offset and an opaque JSON-able state that the
  ledger keeps for the next call;
* never writes anything, never imports Textual or Polars, never prices.

Rows are ``tokscope.readers.base.Row`` structs. Each reader declares the environment variables
it reads (``env``); ``reader_env`` is their union, and ``choose_readers`` picks the readers a
scan runs from the ``readers`` setting (``TOKSCOPE_READERS`` / config.toml).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from .base import Reader, ReadResult, Source

__all__ = [
    "READER_MODULES",
    "ReadResult",
    "Reader",
    "ReaderChoice",
    "Source",
    "all_readers",
    "choose_readers",
    "fidelity_of",
    "get_reader",
    "load_module",
    "reader_env",
]

#: Modules under ``tokscope.readers`` that define readers, in display order.
READER_MODULES: tuple[str, ...] = (
    "claude_code",
    "codex",
    "opencode",
    "gemini_cli",
    "qwen_code",
    "kimi",
    "pi",
    "openclaw",
    "amp",
    "copilot",
    "cline",
    "goose",
    "droid",
    "hermes",
    "crush",
    "zed",
    "vibe",
    "mux",
    "continue_dev",
    "lmstudio",
    "aider",
    "cursor",
    "mimo_code",
    "zcode",
    "workbuddy",
    "antigravity",
    "qoder",
    "augment",
    "junie",
    "devin",
    "claude_cowork",
    "grok",
    "dsh",
    "reasonix",
    "codebuff",
    "harnessbridge",
)


#: Readers by client, as their modules are imported (all of them, or one by ``load_module``).
_by_client: dict[str, Reader] = {}


def load_module(name: str) -> tuple[Reader, ...]:
    """The readers of module ``name`` (one of ``READER_MODULES``), importing no other reader module:
    a rescan of a few changed files needs only their readers."""
    module = importlib.import_module(f"{__name__}.{name}")
    for reader in module.READERS:
        _by_client.setdefault(reader.client, reader)
    return module.READERS


@cache
def all_readers() -> tuple[Reader, ...]:
    """Every registered reader, in display order."""
    return tuple(reader for name in READER_MODULES for reader in load_module(name))


def get_reader(client: str) -> Reader:
    """The reader for ``client`` (e.g. ``"claude-code"``)."""
    reader = _by_client.get(client)
    if reader is not None:
        return reader
    for reader in all_readers():
        if reader.client == client:
            return reader
    raise KeyError(f"no reader for client {client!r}")


def fidelity_of(client: str) -> str | None:
    """How exact ``client``'s numbers can be (``Reader.fidelity``), or None for a client this version
    does not read (another device's newer tokscope)."""
    try:
        return get_reader(client).fidelity
    except KeyError:
        return None


def reader_env() -> tuple[str, ...]:
    """Every environment variable some reader reads (sorted): what test isolation and the demo clear."""
    return tuple(sorted({name for reader in all_readers() for name in getattr(reader, "env", ())}))


class ReaderChoice(NamedTuple):
    """The readers a scan runs, and what was wrong with the setting that chose them."""

    readers: tuple[Reader, ...]
    problems: tuple[str, ...] = ()


def choose_readers(names: Iterable[str]) -> ReaderChoice:
    """The readers named by the ``readers`` setting (client names, e.g. ``claude-code,codex``), in display order.

    No names means every reader. An unknown name is reported with the known ones and costs
    only itself: the names that are known still choose their readers.
    """
    wanted = {name.strip().lower().replace("_", "-") for name in names if name.strip()}
    if not wanted:
        return ReaderChoice(all_readers())
    known = [reader.client for reader in all_readers()]
    unknown = sorted(wanted - set(known))
    problems = tuple(
        f"readers setting (TOKSCOPE_READERS or config.toml): unknown reader {name!r}; known: {', '.join(known)}"
        for name in unknown
    )
    return ReaderChoice(tuple(r for r in all_readers() if r.client in wanted), problems)
