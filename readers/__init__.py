"""Readers: one module per agent client, turning its logs into usage rows.

Every reader module exposes ``READERS``: a tuple of ``Reader`` objects (one
module may serve several clients, e.g. Codex and Every Code). A reader

* knows its source roots (env overrides included) and discovers its files;
* reads a file incrementally: ``read(source, offset, state)`` returns the rows
  found from ``offset`` on, the new offset and an opaque JSON-able state that the
  ledger keeps for the next call;
* never writes anything, never imports Textual or Polars, never prices.

Rows are plain tuples in ``tokscope.readers.base.ROW_FIELDS`` order.
"""

from __future__ import annotations

import importlib
from functools import cache

from .base import Reader, ReadResult, Source

__all__ = ["READER_MODULES", "ReadResult", "Reader", "Source", "all_readers", "get_reader"]

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
)


@cache
def all_readers() -> tuple[Reader, ...]:
    """Every registered reader, in display order."""
    found: list[Reader] = []
    for name in READER_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.extend(module.READERS)
    return tuple(found)


def get_reader(client: str) -> Reader:
    """The reader for ``client`` (e.g. ``"claude-code"``)."""
    for reader in all_readers():
        if reader.client == client:
            return reader
    raise KeyError(f"no reader for client {client!r}")
