"""Codex CLI and Every Code: rollout JSONL files (formats.md §2).

Roots: ``${CODEX_HOME:-~/.codex}`` (comma list allowed) ``sessions/`` and
``archived_sessions/``; Every Code (client ``every-code``, same format) at
``${CODE_HOME:-~/.code}``.

Traps handled:

* Usage comes from ``event_msg`` / ``token_count``: ``info.last_token_usage`` is
  the call's delta, ``info.total_token_usage`` the thread's running total. The
  delta is checked against the change in the total; when it does not explain
  it (a zero estimate, a missing ``last``), ``total - previous total`` is used.
  The first event of a file uses ``last`` (a resumed thread starts with a large
  carried-over total).
* A repeated ``token_count`` (same total) adds nothing; ``info: null`` (rate
  limits only) is skipped; a total a little below the previous one is a stale,
  out-of-order snapshot and is skipped, a much lower one a reset.
* Official limits: ``payload.rate_limits`` on every ``token_count`` (``info: null``
  rows included) becomes ``QuotaSample``s in ``ReadResult.quota``: ``primary`` /
  ``secondary`` windows named by ``window_minutes`` (300 five_hour, 10080 weekly);
  without a length, a lone window is the weekly one. ``limit_id`` (``codex``, a
  per-model ``codex_…``) keeps separate limits apart; a snapshot without windows
  (credits only, depleted) gives none. The account is the home the rollout lies under.
* Child rollouts (subagents ``source.subagent``, forks ``forked_from_id``): the
  FIRST ``session_meta`` is the file's identity; later ones are copies of its
  ancestors and only record the ancestry. The parent's copied items follow:
  its ``token_count`` events and its ``turn_context`` lines, re-stamped with
  the child's creation time (or keeping their own, older one). They are the
  replay: they seed the running total and are not counted. The replay ends at
  the child's own ``turn_context`` (a UUIDv7 ``turn_id`` minted at or after the
  child, or, without one, a line more than a second after the child's
  ``session_meta``) or at the first ``token_count`` after that second (a child
  without any ``turn_context``). Until a total moves past the inherited
  baseline (Codex seeds a fork's running total from the replayed history),
  snapshots within it are replay too; one whose total equals its ``last`` is
  the child's own count starting from zero and counts.
* Sessions: a subagent's turns carry the session of the interactive thread
  that spawned it (design.md: subagent turns carry the parent's), through nested
  subagents, with its role in ``agent``; a fork is a thread of its own. Keys use
  the thread's own id, so two subagents of one parent never merge.
* OpenAI conventions: cached (and ``cache_write_input_tokens``) are inside
  ``input_tokens`` and are subtracted; reasoning is inside ``output_tokens``
  and is reported, never added again.
* Model from the latest own ``turn_context`` (``model``, else
  ``model_info.slug``), then ``info.model``, then a replayed parent
  ``turn_context``; events before any model are ``unknown`` (left unpriced).
  The pseudo-model ``codex-auto-review`` is kept as logged; pricing maps it to
  the model current on the turn's date.
* The same thread in ``sessions/`` and ``archived_sessions/`` (or a resumed
  copy) gives the same keys: hash of (thread id, total, last); the earliest
  timestamp wins so a replay returns to its original day. A file without any
  ``session_meta`` keys on (time, total, last), so a branch file's byte-copied
  parent lines meet the parent's own rows.
* Service tier: ``event_msg`` ``thread_settings_applied`` (``thread_settings.service_tier``) holds
  for the thread until the next snapshot; a ``turn_context`` tier overrides it for its turn.
* Timestamps: ISO strings or epoch numbers (ms in some builds); each event
  keeps its own (sessions crossing midnight split by event day).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec

from .base import (
    Fidelity,
    QuotaSample,
    ReadResult,
    Row,
    Source,
    decode_line,
    env_paths,
    home,
    iter_files,
    lines_containing,
    read_new_chunk,
    same_reset,
)
from .coerce import count, epoch_us, iso_us, text, time_us
from .providers import provider_name

#: Replayed items are written in one burst when the child is created: within this of its session_meta.
_BURST_US = 1_000_000

Vector = tuple[int, int, int, int, int]
"""(input, cached, output, reasoning, cache_write) of one usage object."""


class _Usage(msgspec.Struct):
    # ints checked by msgspec in C; a float or numeric string goes through the lenient decoder
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    cache_write_input_tokens: int | None = None


class _Info(msgspec.Struct):
    total_token_usage: _Usage | None = None
    last_token_usage: _Usage | None = None
    model: Any = None
    model_name: Any = None


#: ``rate_limits`` absent or null.
_NULL = msgspec.Raw(b"null")


class _Payload(msgspec.Struct):
    type: Any = None
    info: _Info | None = None
    # session_meta
    id: Any = None
    timestamp: Any = None
    cwd: Any = None
    model_provider: Any = None
    source: Any = None
    forked_from_id: Any = None
    parent_thread_id: Any = None
    agent_role: Any = None
    # turn_context
    model: Any = None
    model_info: Any = None
    turn_id: Any = None
    service_tier: Any = None
    # event_msg thread_settings_applied
    thread_settings: Any = None
    # event_msg token_count: the account's official usage-limit windows, kept as raw JSON (decoded
    # only when they differ from the line before; a junk value costs only the quota reading)
    rate_limits: msgspec.Raw = _NULL


class _Line(msgspec.Struct):
    timestamp: Any = None
    type: Any = None
    payload: _Payload | None = None


_typed = msgspec.json.Decoder(_Line).decode


def _decode(raw: bytes | str) -> _Line:
    """A line; values of an unexpected type (a count as a float or a string) are converted leniently,
    ``rate_limits`` kept raw either way (``msgspec.convert`` cannot make a ``Raw``)."""
    try:
        return _typed(raw)
    except msgspec.ValidationError:
        obj = msgspec.json.decode(raw)
        limits = None
        if isinstance(obj, dict) and isinstance(payload := obj.get("payload"), dict):
            limits = payload.pop("rate_limits", None)
        line = msgspec.convert(obj, _Line, strict=False)
        if limits is not None and line.payload is not None:
            line.payload.rate_limits = msgspec.Raw(msgspec.json.encode(limits))
        return line


#: The line kinds that matter; transcript lines (the bulk) carry no usage.
_MARKERS = re.compile(rb'"(?:token_count|turn_context|session_meta|thread_settings_applied)"')

_UUID7 = re.compile(r"^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def _uuid7_ms(value: Any) -> int | None:
    """The creation time (epoch ms) a UUIDv7 carries, else None."""
    match = _UUID7.match(value) if isinstance(value, str) else None
    return int(match.group(1) + match.group(2), 16) if match else None


def _vector(usage: _Usage | None) -> Vector | None:
    if usage is None:
        return None
    cached = usage.cached_input_tokens if usage.cached_input_tokens is not None else usage.cache_read_input_tokens
    values = (
        usage.input_tokens or 0,
        cached or 0,
        usage.output_tokens or 0,
        usage.reasoning_output_tokens or 0,
        usage.cache_write_input_tokens or 0,
    )
    return values if min(values) >= 0 else tuple(map(count, values))  # type: ignore[return-value]


def _spawn(payload: _Payload) -> dict[str, Any] | None:
    """``source.subagent`` of a session_meta (``{}`` when it is not an object), None if not a subagent."""
    source = payload.source
    if isinstance(source, dict) and "subagent" in source:
        subagent = source["subagent"]
        spawn = subagent.get("thread_spawn") if isinstance(subagent, dict) else None
        return spawn if isinstance(spawn, dict) else {}
    return None


def _parent_of(payload: _Payload) -> str | None:
    """The thread this one was spawned or forked from (``""``: a subagent without a named parent)."""
    spawn = _spawn(payload)
    for value in (spawn.get("parent_thread_id") if spawn else None, payload.forked_from_id, payload.parent_thread_id):
        if parent := text(value):
            return parent
    return "" if spawn is not None else None


def _agent_of(payload: _Payload) -> str | None:
    """A subagent's role, else the kind of thread Codex started (``guardian``, ``review``), else ``subagent``;
    ``agent_nickname`` is a random per-thread alias, not a role."""
    spawn = _spawn(payload)
    if spawn is None:
        return text(payload.agent_role)
    subagent = payload.source["subagent"]
    kind = text(subagent) or (text(subagent.get("other")) if isinstance(subagent, dict) else None)
    return text(payload.agent_role) or text(spawn.get("agent_role")) or kind or "subagent"


def _session_of(thread: str, ancestry: dict[str, list[Any]]) -> str:
    """The session a thread's turns carry: up through subagent links to the thread that spawned them."""
    node, seen = thread, {thread}
    while (link := ancestry.get(node)) is not None and link[1] and link[0] and link[0] not in seen:
        node = link[0]
        seen.add(node)
    return node


def _new_state(source: Source) -> dict[str, Any]:
    return {
        "thread": None,  # the first session_meta's id
        "session": source.path.stem.removeprefix("rollout-"),
        "cwd": "",
        "provider": "openai",
        "agent": None,
        "ancestry": {},  # thread id -> [parent id, is a subagent]
        "model": None,
        "replay_model": None,
        "tier": None,  # the turn's own (turn_context)
        "thread_tier": None,  # the thread's, from thread_settings_applied, until the next one
        "prev": None,
        "phase": 0,  # 0 own usage, 1 replay, 2 own turns begun (totals within the baseline still replay)
        "start_us": None,
        "start_ms7": None,
    }


class CodexReader:
    """Reads Codex-format rollouts for one client (codex or every-code)."""

    session_totals = False
    fidelity: Fidelity = "exact"

    def __init__(self, client: str, env: str, default: str) -> None:
        self.client = client
        self.env = (env,)
        self._default = default

    def homes(self) -> list[Path]:
        """The client's home directories."""
        return env_paths(self.env[0]) or [home() / self._default]

    def roots(self) -> list[Path]:
        """``sessions/`` and ``archived_sessions/`` of every home."""
        return [h / sub for h in self.homes() for sub in ("sessions", "archived_sessions")]

    def discover(self, errors: list[str]) -> list[Source]:
        """Every rollout file under the roots."""
        return [Source(self.client, p) for root in self.roots() for p in iter_files(root, ".jsonl", errors)]

    def read(self, source: Source, offset: int, state: dict[str, Any]) -> ReadResult:
        """Read token_count events from ``offset`` on."""
        data, new_offset = read_new_chunk(source.path, offset)
        if "phase" not in state:  # a first read, or a state saved by an older version of this reader
            state = {**_new_state(source), **state, "thread": state.get("session")}
        result = ReadResult(offset=new_offset, state=state)
        account: str | None = None
        runs = _Runs()
        for raw in lines_containing(data, _MARKERS):
            line = decode_line(_decode, raw)
            if line is None:
                result.skip("malformed line")
                continue
            payload = line.payload
            if payload is None:
                continue
            kind = line.type
            if kind == "session_meta":
                _meta(state, line, payload)
            elif kind == "turn_context":
                _turn(state, line, payload)
            elif kind == "event_msg" and payload.type == "thread_settings_applied":
                _settings(state, payload)
            elif kind == "event_msg" and payload.type == "token_count":
                info, limits = payload.info, payload.rate_limits
                if limits == _NULL:
                    limits = None
                    if info is None:
                        continue
                stamp = line.timestamp
                ts = iso_us(stamp) if type(stamp) is str else None  # the common case first
                if ts is None and (ts := time_us(stamp)) is None:
                    if info is not None:
                        result.skip("no timestamp")
                    continue
                if limits is not None:
                    if runs.last == limits:  # the same snapshot as the line before (most lines): note when
                        runs.pending = ts
                    else:
                        if account is None:
                            account = self.account_of(source.path)
                        _rate_limits(result, runs, self.client, account, limits, ts)
                if info is not None:
                    row = self._token_count(state, line, info, ts)
                    if row is not None:
                        result.rows.append(row)
        _flush(result, runs)
        return result

    def account_of(self, path: Path) -> str:
        """The home a rollout lies under (its account key until account rules map it), else its folder."""
        text_path = str(path)
        for candidate in self.homes():
            prefix = str(candidate).rstrip("/") + "/"
            if text_path.startswith(prefix):
                return str(candidate)
        return str(path.parent)

    def _token_count(self, state: dict[str, Any], line: _Line, info: _Info, ts: int) -> Row | None:
        total = _vector(info.total_token_usage)
        last = _vector(info.last_token_usage)
        prev = tuple(state["prev"]) if state["prev"] is not None else None
        if total is not None:
            if sum(total) == 0:
                return None  # a zero snapshot: keep the baseline
            if prev is not None:
                if total == prev:
                    return None  # the same token_count written again
                grown = total[0] + total[2]
                before = prev[0] + prev[2]
                if grown < before and grown >= before * 0.98:
                    return None  # stale out-of-order snapshot
        if state["phase"] == 1:
            if ts < state["start_us"] + _BURST_US:
                if total is not None:
                    state["prev"] = list(total)
                return None  # the parent's replayed history
            state["phase"] = 2  # the child's first own call, with no turn_context of its own
        leaving_replay = False
        if state["phase"] == 2 and total is not None:
            if prev is not None and total != last and all(t <= p for t, p in zip(total, prev, strict=True)):
                return None  # a snapshot within the inherited baseline: still the parent's (keep the baseline)
            state["phase"] = 0  # past the baseline, or a count of its own starting from zero
            leaving_replay = True
        if leaving_replay and last is not None and any(last):
            usage = last  # the replayed totals are no sure baseline: the first own call is its last
        elif total is not None and prev is not None and all(t >= p for t, p in zip(total, prev, strict=True)):
            delta = tuple(t - p for t, p in zip(total, prev, strict=True))
            usage = last if last is not None and last == delta else delta
        else:
            usage = last if last is not None else total
        if total is not None:
            state["prev"] = list(total)
        if usage is None:
            return None
        inp, cached, out, reasoning, cache_write = usage
        cached = min(cached, inp)
        cache_write = min(cache_write, inp - cached)
        uncached = inp - cached - cache_write
        if uncached + cached + cache_write + out == 0:
            return None
        if not state["model"] and (logged := text(info.model) or text(info.model_name)):
            state["model"] = logged
        model = state["model"] or state["replay_model"] or "unknown"
        thread = state["thread"]
        if thread is None:
            key_src = f"|{ts}|{total}|{last}"  # no identity: a copied line must meet its original
        elif total is not None:
            key_src = f"{thread}|{total}|{last}"
        else:
            key_src = f"{thread}|{line.timestamp}|{last}"
        return Row(
            client=self.client,
            provider=state["provider"],
            model=model,
            workspace=state["cwd"],
            session_id=state["session"],
            agent=state["agent"],
            event_key=hashlib.blake2b(key_src.encode(), digest_size=12).hexdigest(),
            ts=ts,
            input=uncached,
            output=out,
            reasoning=min(reasoning, out),
            cache_read=cached,
            cache_write_5m=cache_write,
            service_tier=state["tier"] or state["thread_tier"],
            rank=-ts,
        )


#: Window lengths Codex reports (minutes) and their names.
_WINDOW_NAMES = {300: "five_hour", 10080: "weekly"}
#: A used percentage past this is no reading (Codex reports 0-100, a little over when overdrawn).
_MAX_PERCENT = 1000.0


def _window_name(minutes: int | None, slot: str, single: bool) -> str:
    """``five_hour`` / ``weekly`` by the window's length; without one, a lone window is the weekly one
    (Codex omits a disabled 5-hour window), else primary is the 5-hour and secondary the weekly."""
    if minutes is not None:
        return _WINDOW_NAMES.get(minutes) or f"{minutes}m"
    if single:
        return "weekly"
    return "five_hour" if slot == "primary" else "weekly"


def _number(value: Any) -> float | None:
    if value.__class__ is int or value.__class__ is float:
        return float(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if parsed == parsed and abs(parsed) != float("inf") else None
    return None


class _Runs:
    """What a read remembers of the readings so far: per (limit, window) the index of its last sample
    and how long its run of equal readings is, and the last snapshot with the time it was last seen."""

    __slots__ = ("last", "pending", "samples", "window")

    def __init__(self) -> None:
        self.window: dict[tuple[str, str], list[int]] = {}
        self.last: msgspec.Raw | None = None
        """The last ``rate_limits`` read whole, raw (None: none, or one that had a bad window)."""
        self.samples: list[QuotaSample] = []
        """Its samples."""
        self.pending: int | None = None
        """When it was last seen again (its samples not yet re-observed then)."""


def _rate_limits(result: ReadResult, runs: _Runs, client: str, account: str, limits: msgspec.Raw, ts: int) -> None:
    """Quota samples from one ``payload.rate_limits``. Within a read, a run of equal readings of a
    window keeps its first and its latest observation only (every token_count repeats them); a
    snapshot equal to the one before (one dict compare, in C) only notes the time it was seen."""
    if runs.last == limits:
        runs.pending = ts
        return
    _flush(result, runs)
    runs.last, runs.samples = None, []
    raw = limits
    try:
        limits = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        limits = raw
    if limits is None:
        return
    if not isinstance(limits, dict):
        result.skip("rate_limits not an object")
        return
    windows = [(slot, w) for slot in ("primary", "secondary") if isinstance(w := limits.get(slot), dict)]
    if not windows:
        return  # credits-only or depleted snapshot: no window to read (earlier readings stand)
    limit = text(limits.get("limit_id")) or "codex"  # builds before limit_id had only this one
    plan = text(limits.get("plan_type"))
    credits = limits.get("credits")
    balance = has_credits = unlimited = None
    if isinstance(credits, dict):
        balance = _number(credits.get("balance"))
        has_credits = credits.get("has_credits") if type(credits.get("has_credits")) is bool else None
        unlimited = credits.get("unlimited") if type(credits.get("unlimited")) is bool else None
    single = len(windows) == 1
    whole = True
    made: list[QuotaSample] = []
    for slot, window in windows:
        used = _number(window.get("used_percent"))
        if used is None or not 0 <= used <= _MAX_PERCENT:
            result.skip("rate limit without a plausible used_percent")
            whole = False
            continue
        minutes_raw = _number(window.get("window_minutes"))
        minutes = int(minutes_raw) if minutes_raw is not None and minutes_raw > 0 else None
        resets = epoch_us(window.get("resets_at"))
        if resets is None and (seconds := _number(window.get("resets_in_seconds"))) is not None and seconds >= 0:
            resets = ts + int(seconds * 1_000_000)  # older builds: relative to the observation
        sample = QuotaSample(
            client=client,
            account=account,
            window=_window_name(minutes, slot, single),
            used_percent=used,
            observed_at=ts,
            resets_at=resets,
            limit=limit,
            window_minutes=minutes,
            plan_type=plan,
            credits_balance=balance,
            has_credits=has_credits,
            unlimited=unlimited,
        )
        _add(result, runs, sample)
        made.append(sample)
    if whole:  # a snapshot with a bad window is read (and its skip counted) each time
        runs.last, runs.samples = raw, made


def _flush(result: ReadResult, runs: _Runs) -> None:
    """The last snapshot's samples observed again at the time it was last seen."""
    if runs.pending is not None:
        for sample in runs.samples:
            _add(result, runs, msgspec.structs.replace(sample, observed_at=runs.pending))
        runs.pending = None


def _add(result: ReadResult, runs: _Runs, sample: QuotaSample) -> None:
    """Append ``sample``, or, when it repeats its window's last reading, keep only the run's first
    and latest observation."""
    key = (sample.limit, sample.window)
    run = runs.window.get(key)
    if run is not None:
        last: QuotaSample = result.quota[run[0]]
        if (
            last.used_percent == sample.used_percent
            and same_reset(last.resets_at, sample.resets_at)
            and last.plan_type == sample.plan_type
        ):
            if run[1] >= 2:
                result.quota[run[0]] = sample  # the run's latest observation replaces its previous one
            else:
                run[0] = len(result.quota)
                result.quota.append(sample)
            run[1] += 1
            return
    runs.window[key] = [len(result.quota), 1]
    result.quota.append(sample)


def _meta(state: dict[str, Any], line: _Line, payload: _Payload) -> None:
    """The first session_meta is the file's identity; later ones only record the ancestry."""
    thread = text(payload.id)
    parent = _parent_of(payload)
    ancestry = state["ancestry"]
    if thread is not None and thread not in ancestry:
        ancestry[thread] = [parent, _spawn(payload) is not None]
    if state["thread"] is not None:
        if state["thread"] != thread:
            state["session"] = _session_of(state["thread"], ancestry)
        return
    if thread is None:
        return
    state["thread"] = thread
    if cwd := text(payload.cwd):
        state["cwd"] = cwd
    if provider := text(payload.model_provider):
        state["provider"] = provider_name(provider)
    state["agent"] = _agent_of(payload)
    state["session"] = _session_of(thread, ancestry)
    if parent is not None:
        start = time_us(line.timestamp)
        start = start if start is not None else time_us(payload.timestamp)
        if start is not None:
            state["phase"] = 1
            state["start_us"] = start
            state["start_ms7"] = _uuid7_ms(thread)


def _turn(state: dict[str, Any], line: _Line, payload: _Payload) -> None:
    model = payload.model
    if not (type(model) is str and model):
        info = payload.model_info
        model = text(info.get("slug")) if isinstance(info, dict) else None
    if state["phase"] == 1 and not _own_turn(state, line, payload):
        state["replay_model"] = model or state["replay_model"]
        return
    if state["phase"] == 1:
        state["phase"] = 2
    if model:
        state["model"] = model
    state["tier"] = _tier(payload.service_tier)


def _tier(value: Any) -> str | None:
    return value if value in ("fast", "priority") else None


def _settings(state: dict[str, Any], payload: _Payload) -> None:
    """A thread settings snapshot: its service tier holds for every later turn until the next one."""
    if state["phase"] != 1:  # the parent's replayed settings are not the child's
        settings = payload.thread_settings
        tier = settings.get("service_tier") if isinstance(settings, dict) else payload.service_tier
        state["thread_tier"] = _tier(tier)


def _own_turn(state: dict[str, Any], line: _Line, payload: _Payload) -> bool:
    """Whether a child's turn_context is its own, not one of the parent's replayed ones."""
    minted = _uuid7_ms(payload.turn_id)
    if minted is not None:
        child = state["start_ms7"] if state["start_ms7"] is not None else state["start_us"] // 1000
        return minted >= child
    ts = time_us(line.timestamp)
    return ts is not None and ts >= state["start_us"] + _BURST_US


READERS = (
    CodexReader("codex", "CODEX_HOME", ".codex"),
    CodexReader("every-code", "CODE_HOME", ".code"),
)
