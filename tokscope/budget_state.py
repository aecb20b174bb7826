"""The budgets as last evaluated, kept for ``tokscope guard``: it decides in a few milliseconds from
this file, never from the ledger (no Polars, no scan on an agent's hook path).

Every process that evaluates the budgets with the merged ledger stores them here (``tokscope
budgets``, the statusline when it recomputes, the alerts, ``guard --`` while it watches), with the
statusline's fingerprint of what they were computed from. A guard that finds the fingerprint moved
still decides from the stored figures (within a period spend only grows, so an exhausted budget
stays exhausted) and asks for a refresh in the background.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tokscope import marshal_file, paths

if TYPE_CHECKING:
    from tokscope.budgets import Status

FILE_NAME = "budgets.msgpack"
#: The layout of the file (``tokscope.marshal_file``): (LAYOUT, Stored fields…).
LAYOUT = 1


class StoredBudget(NamedTuple):
    """One budget's state when it was evaluated (instants in epoch microseconds UTC)."""

    name: str
    period: str
    unit: str
    """``usd`` or ``tokens``."""
    limit: float
    spent: float
    start_us: int
    end_us: int | None
    """The period's end (None for ``session``): after it the spend starts again from 0."""
    scope: tuple[tuple[str, tuple[str, ...]], ...]
    """Scope key -> values, devices as ids."""
    sessions_over: tuple[tuple[str, float], ...] = ()
    """``session`` budgets: each session of the last 7 days at or over the limit, with its spend."""

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit > 0


class Stored(NamedTuple):
    computed_us: int
    fingerprint: list[Any]
    """``statusline.fingerprint`` before the figures were computed."""
    device_id: str
    """This device's id (``device`` scopes; the guard reads no identity file)."""
    budgets: tuple[StoredBudget, ...]


def state_path() -> Path:
    return paths.ledger_dir() / FILE_NAME


def from_statuses(statuses: list[Status], device_ids: dict[str, list[str]]) -> tuple[StoredBudget, ...]:
    """The evaluated budgets as stored entries (device names resolved to ids)."""
    out = []
    for s in statuses:
        b = s.budget
        scope = tuple(
            (key, tuple(i for v in values for i in device_ids.get(v, [v])) if key == "device" else tuple(values))
            for key, values in sorted(b.scope.items())
        )
        out.append(
            StoredBudget(
                name=b.name,
                period=b.period,
                unit=b.unit,
                limit=b.limit,
                spent=float(s.spent),
                start_us=_us(s.start),
                end_us=_us(s.end) if s.end is not None else None,
                scope=scope,
                sessions_over=tuple(s.over_sessions),
            )
        )
    return tuple(out)


def _us(when: Any) -> int:
    return int(when.timestamp() * 1_000_000)


def store(budgets: tuple[StoredBudget, ...], fingerprint: list[Any], device_id: str, now_us: int) -> bool:
    """Keep the evaluated budgets; False when the file could not be written (the guard then fails open)."""
    with contextlib.suppress(ValueError):
        plain = tuple(tuple(b) for b in budgets)  # marshal takes tuples, not their subclasses
        return marshal_file.dump(state_path(), (LAYOUT, now_us, fingerprint, device_id, plain))
    return False


def load() -> Stored | None:
    """The stored budgets, or None (never stored, unreadable, damaged, another layout)."""
    raw = marshal_file.load(state_path())
    if not isinstance(raw, tuple) or len(raw) != 5 or raw[0] != LAYOUT:
        return None
    _, computed, fingerprint, device_id, budgets = raw
    try:
        entries = tuple(StoredBudget(*b) for b in budgets)
        ok = isinstance(computed, int) and isinstance(fingerprint, list) and isinstance(device_id, str)
        ok = ok and all(isinstance(b.name, str) and isinstance(b.spent, float) for b in entries)
    except TypeError:
        return None
    return Stored(computed, fingerprint, device_id, entries) if ok else None


class Context(NamedTuple):
    """Where an agent's call happens, as far as its hook says."""

    client: str | None
    workspace: str | None
    device_id: str | None
    session_id: str | None
    model: str | None


class Verdict(NamedTuple):
    budget: StoredBudget
    spent: float
    """The figure that exhausts it (a session's own for ``session`` budgets)."""


def _applies(budget: StoredBudget, ctx: Context) -> bool:
    """Whether a call in ``ctx`` spends from ``budget`` (an unknown side of a scope never matches:
    the guard blocks only what it can tell is in scope)."""
    for key, values in budget.scope:
        if key == "client":
            ok = ctx.client in values
        elif key == "device":
            ok = ctx.device_id in values
        elif key == "model":
            ok = ctx.model is not None and any(ctx.model == v or ctx.model.startswith(f"{v}-") for v in values)
        elif key == "workspace":
            where = ctx.workspace
            ok = where is not None and any(where == v or where.startswith(v.rstrip("/") + "/") for v in values)
        else:  # a scope this guard does not know (a newer tokscope wrote the file): not provably in scope
            ok = False
        if not ok:
            return False
    return True


def exhausted(stored: Stored, ctx: Context, now_us: int) -> list[Verdict]:
    """The budgets in scope of ``ctx`` that are exhausted at ``now_us``."""
    found = []
    for b in stored.budgets:
        if not _applies(b, ctx):
            continue
        if b.period == "session":
            spent = dict(b.sessions_over).get(ctx.session_id or "")
            if spent is not None and spent >= b.limit > 0:
                found.append(Verdict(b, spent))
        elif (b.end_us is None or now_us < b.end_us) and b.start_us <= now_us and b.exhausted:
            found.append(Verdict(b, b.spent))
    return found
