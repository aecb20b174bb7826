"""Subscription plans: ``[[plan]]`` in config.toml over the built-in entries of ``data/plans.toml``.

A plan covers the turns of its accounts, clients and providers (every list given must match; an
empty one matches all) from ``since`` on. Its fee is charged per billing period starting on
``billing_day``; a report period is charged the share of each billing period it overlaps
(``fee_for``), so a month-long report of a $200 plan shows $200 and a week about $46.
A built-in plan covers nothing until config.toml names it: ``[[plan]] name = "Claude Max 20x"``
with ``accounts = ["~/.claude"]`` uses the built-in price, windows and clients.
"""

from __future__ import annotations

import calendar
import math
import tomllib
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from tokscope.config import names_of, tables_of

DATA = Path(__file__).parent / "data" / "plans.toml"
WINDOWS = ("five_hour", "weekly")


@dataclass(frozen=True, slots=True)
class Plan:
    """One subscription: what it costs, when it renews and which turns it covers."""

    name: str
    price_per_month: float
    billing_day: int = 1
    accounts: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    since: date | None = None
    """The first day it covers (None: always)."""
    source: str | None = None
    """Where the built-in price was read."""
    as_of: str | None = None
    """When it was read (YYYY-MM-DD)."""


@cache
def builtin() -> dict[str, Plan]:
    """The built-in plans by name (``data/plans.toml``)."""
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    plans, errors = _parse(data.get("plan"), {}, str(DATA), builtin_file=True)
    assert not errors, errors
    return {p.name: p for p in plans}


def parse(tables: Any, where: str = "config.toml") -> tuple[list[Plan], list[str]]:
    """The ``plan`` array of config.toml: each a built-in plan by name (fields given override it) or a
    new plan with its price; a bad entry is named (file, plan, key, cause) and left out."""
    return _parse(tables, builtin(), where, builtin_file=False)


_KNOWN = {"name", "price_per_month", "billing_day", "accounts", "clients", "providers", "windows", "since"}


def _parse(tables: Any, base: dict[str, Plan], where: str, *, builtin_file: bool) -> tuple[list[Plan], list[str]]:
    plans: list[Plan] = []
    errors: list[str] = []
    seen: set[str] = set()
    for i, table in tables_of(tables, "plan", errors, where):
        at = f"{where}: plan {i}"
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{at}: name must be a non-empty string; ignored")
            continue
        name = name.strip()
        at = f"{where}: plan {name!r}"
        if name in seen:
            errors.append(f"{at}: named twice; the later one ignored")
            continue
        unknown = sorted(set(table) - _KNOWN - ({"source", "as_of"} if builtin_file else set()))
        if unknown:
            errors.append(f"{at}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(_KNOWN))}); ignored")
            continue
        problem, plan = _one(table, base.get(name), name)
        if problem:
            errors.append(f"{at}: {problem}; ignored")
            continue
        assert plan is not None
        seen.add(name)
        plans.append(plan)
    return plans, errors


def _one(table: dict[str, Any], template: Plan | None, name: str) -> tuple[str | None, Plan | None]:
    price = table.get("price_per_month", template.price_per_month if template else None)
    if price is None:
        return "price_per_month is missing (a plan tokscope has no built-in entry for needs one)", None
    if not isinstance(price, int | float) or isinstance(price, bool) or not (0 <= price < math.inf):
        return f"price_per_month = {price!r}: expected a finite number of USD >= 0", None
    day = table.get("billing_day", template.billing_day if template else 1)
    if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31:
        return f"billing_day = {day!r}: expected a day of the month 1-31", None
    fields: dict[str, Any] = {}
    for key in ("accounts", "clients", "providers", "windows"):
        if key in table:
            names = names_of(table[key], allow_empty=True)
            if names is None:
                return f"{key} must be a name or a list of names", None
            fields[key] = names
    from tokscope.events import CLIENTS

    strange = [c for c in fields.get("clients", ()) if c not in CLIENTS]
    if strange:
        return f"clients: {', '.join(strange)} is not a client tokscope reads", None
    odd = [w for w in fields.get("windows", ()) if w not in WINDOWS]
    if odd:
        return f"windows: {', '.join(odd)} is not one of {', '.join(WINDOWS)}", None
    since = table.get("since")
    if since is not None:
        if isinstance(since, str):
            try:
                since = date.fromisoformat(since)
            except ValueError:
                return f"since = {since!r}: expected a date (YYYY-MM-DD)", None
        if not isinstance(since, date):
            return f"since = {since!r}: expected a date (YYYY-MM-DD)", None
        fields["since"] = since
    for key in ("source", "as_of"):
        if isinstance(table.get(key), str):
            fields[key] = table[key]
    if template is not None:
        return None, replace(template, price_per_month=float(price), billing_day=day, **fields)
    return None, Plan(name=name, price_per_month=float(price), billing_day=day, **fields)


def _cycle_start(day: date, billing_day: int) -> date:
    """The first day of the billing period holding ``day`` (a billing day past a month's end is its last)."""

    def on(year: int, month: int) -> date:
        return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))

    start = on(day.year, day.month)
    if start <= day:
        return start
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return on(year, month)


def _next_cycle(start: date, billing_day: int) -> date:
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))


def fee_for(plan: Plan, first: date, last: date) -> float:
    """What ``plan`` costs over the days ``first``..``last`` (inclusive): each billing period's fee
    times the share of its days inside them (days before ``plan.since`` cost nothing)."""
    if plan.since is not None and plan.since > first:
        first = plan.since
    if last < first:
        return 0.0
    total = 0.0
    start = _cycle_start(first, plan.billing_day)
    while start <= last:
        after = _next_cycle(start, plan.billing_day)
        days = (after - start).days
        inside = (min(after - timedelta(days=1), last) - max(start, first)).days + 1
        total += plan.price_per_month * inside / days
        start = after
    return total
