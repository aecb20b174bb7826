"""Aider: its opt-in analytics log (clients.md §3.23).

Aider writes nothing tokscope can read unless it is started with ``--analytics-log FILE`` (or
``AIDER_ANALYTICS_LOG=FILE``, or ``analytics-log:`` in ``.aider.conf.yml``). Roots: the files named
by ``AIDER_ANALYTICS_LOG`` (a comma list here) and the conventional ``~/.aider/analytics.jsonl``.
The chat-history markdown (``.aider.chat.history.md``, counts rounded to "1.2k") is not read.

Format (Aider ``aider/analytics.py``): one JSON object a line, appended,
``{"event", "properties", "user_id", "time" (epoch s)}``. ``message_send`` (``base_coder.py``
``show_usage_report``) carries ``main_model``, ``weak_model``, ``editor_model``, ``edit_format``,
``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``cost`` and ``total_cost``.

Traps handled:

* One row per ``message_send``: one user message and every model call it took (Aider adds the
  calls' tokens and cost up before logging; they cannot be told apart).
* No cache split: ``prompt_tokens`` is what Aider counted as sent (the provider's prompt tokens,
  plus cache writes where the provider reports them separately), all priced as uncached input.
* ``cost`` is Aider's own estimate for the message (litellm prices), kept as source cost when > 0;
  ``total_cost`` is the session's running total and is not summed.
* ``main_model``: Aider writes ``<provider>/REDACTED`` for a model it has no metadata for, and the
  text ``None`` when there is not even a provider: both become model ``unknown`` (left unpriced),
  the provider kept where named.
* Every non-number property is written as text: counts and costs go through ``coerce``.
* No session id: a session runs from one ``launched`` event to the next (kept in the read state,
  so an incremental read agrees with a full one); ``agent`` = ``edit_format`` (the chat mode).
* No message id: the key is ``<user_id>:<time>:<byte offset of the line>`` (the log only grows; the
  time keeps a truncated and rewritten log from replacing old rows).
* Only lines naming ``message_send`` or ``launched`` are decoded; malformed ones are counted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from .base import Fidelity, ReadResult, Row, Source, decode_line, env_paths, first_sight, home, read_new_chunk
from .coerce import cost, count, epoch_us, text
from .providers import infer_provider

CLIENT = "aider"
_EVENTS = re.compile(rb'"event":\s*"(message_send|launched)"')


class _Props(msgspec.Struct):
    main_model: Any = None
    edit_format: Any = None
    prompt_tokens: Any = None
    completion_tokens: Any = None
    cost: Any = None


class _Line(msgspec.Struct):
    event: Any = None
    properties: _Props | None = None
    user_id: Any = None
    time: Any = None


_decode = msgspec.json.Decoder(_Line).decode


def model_of(value: Any) -> tuple[str, str | None]:
    """(model, provider or None) from Aider's ``main_model`` property."""
    name = text(value)
    if name is None or name == "None":
        return "unknown", None
    if name.endswith("/REDACTED"):
        return "unknown", name[: -len("/REDACTED")] or None
    return name, None


class AiderReader:
    """Reads Aider's analytics log."""

    client = CLIENT
    session_totals = False
    fidelity: Fidelity = "exact"
    env = ("AIDER_ANALYTICS_LOG",)

    def roots(self) -> list[Path]:
        """The analytics logs named by ``AIDER_ANALYTICS_LOG`` and ``~/.aider/analytics.jsonl``."""
        return [*(env_paths("AIDER_ANALYTICS_LOG") or []), home() / ".aider" / "analytics.jsonl"]

    def discover(self, errors: list[str]) -> list[Source]:
        """The logs that exist (one reached under two names once)."""
        seen: set[Path] = set()
        found: list[Source] = []
        for path in self.roots():
            try:
                if path.is_file() and first_sight(path, seen):
                    found.append(Source(CLIENT, path, "append"))
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
        return found

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """The ``message_send`` events appended since ``offset``."""
        data, new_offset = read_new_chunk(source.path, offset)
        result = ReadResult(offset=new_offset)
        session = state.get("session") if isinstance(state.get("session"), str) else None
        rows = result.rows
        pos = 0
        for match in _EVENTS.finditer(data):
            if match.start() < pos:
                continue
            start = data.rfind(b"\n", 0, match.start()) + 1
            end = data.find(b"\n", match.end())
            end = len(data) if end < 0 else end
            pos = end + 1
            line = decode_line(_decode, data[start:end])
            if line is None or line.properties is None:
                result.skip("malformed line")
                continue
            ts = epoch_us(line.time)
            user = text(line.user_id) or "anonymous"
            if match.group(1) == b"launched":
                session = f"{user}:{line.time}" if ts is not None else session
                continue
            if ts is None:
                result.skip("event without a time")
                continue
            props = line.properties
            inp = count(props.prompt_tokens)
            out = count(props.completion_tokens)
            if inp + out == 0:
                continue
            model, provider = model_of(props.main_model)
            rows.append(
                Row(
                    client=CLIENT,
                    provider=infer_provider(model, provider),
                    model=model,
                    workspace="",
                    session_id=session or user,
                    agent=text(props.edit_format),
                    event_key=f"{user}:{line.time}:{offset + start}",
                    ts=ts,
                    input=inp,
                    output=out,
                    source_cost=cost(props.cost) or None,
                )
            )
        if session is not None:
            result.state = {"session": session}
        return result


READERS = (AiderReader(),)
