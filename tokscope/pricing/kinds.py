"""Five kinds of the same dollar, per turn: what it would cost at list prices and how it is paid.

Columns added to priced events (``cost`` / ``price_state`` already there, ``account`` as shown):

* ``api_equivalent``: the list price (today's ``cost``), null when unknown.
* ``cost_kind``: exactly one of ``metered``, ``subscription``, ``estimated``, ``unknown``, decided in
  this order:

  1. ``unknown``: no price (``cost`` null); never counted as $0.
  2. ``subscription``: covered by a ``[[plan]]`` (its account, client and provider lists and
     ``since``; the first plan listed wins, named in ``plan``), or logged by the client at $0 for a
     turn with tokens (a subscription or free route, pricing.md §4.D). Its marginal cost is $0; the
     amount is the API-equivalent value the plan covered, and the plan's fee is shown per period.
  3. ``estimated``: the amount is an estimate: the client's reader only knows session totals or
     its own guessed counts (``readers.fidelity_of``), or only the client's logged cost or
     converted credits are known (``price_state == "source"``), or the model is inferred from the
     turn's date (a pseudo-model such as ``codex-auto-review``: ``pricing.DATED_ALIASES``).
  4. ``metered``: paid per token (API-key usage): the client's logged cost where it logs a charge
     (> 0), else the list price.

* ``metered``, ``subscription``, ``estimated``: the turn's amount in the column of its kind, 0.0
  in the others; ``unknown``: 1 for a turn without a price, else 0 (a count, never dollars).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from tokscope.plans import Plan

KINDS: tuple[str, ...] = ("metered", "subscription", "estimated", "unknown")
KIND_ENUM = pl.Enum(list(KINDS))
#: The report's counters for them, in output order (README contract).
COUNTERS: tuple[str, ...] = ("api_equivalent", "metered", "subscription", "estimated", "unknown")


def estimated_clients(clients: Iterable[str]) -> list[str]:
    """The clients among ``clients`` whose readers only estimate (session totals, guessed counts)."""
    from tokscope.readers import fidelity_of

    return [c for c in clients if fidelity_of(c) in ("session_totals", "estimated")]


def plan_covers(plan: Plan) -> pl.Expr:
    """Whether a turn is ``plan``'s (every list the plan gives matches)."""
    cond = pl.lit(True)
    if plan.accounts:
        cond = cond & pl.col("account").is_in(list(plan.accounts))
    if plan.clients:
        cond = cond & pl.col("client").is_in(list(plan.clients))
    if plan.providers:
        cond = cond & pl.col("provider").is_in(list(plan.providers))
    if plan.since is not None:
        cond = cond & (pl.col("ts") >= pl.lit(plan.since).cast(pl.Datetime("us", "UTC")))
    return cond


def with_cost_kinds(events: pl.LazyFrame, plans: Sequence[Plan], estimated: Sequence[str] = ()) -> pl.LazyFrame:
    """``events`` (priced, with ``account``) plus ``api_equivalent``, ``plan``, ``cost_kind`` and the
    kinds' amounts (module doc). ``estimated``: clients whose readers only estimate."""
    schema = events.collect_schema()
    cost = pl.col("cost")
    source = pl.col("source_cost") if "source_cost" in schema else pl.lit(None, pl.Float64)
    state = pl.col("price_state") if "price_state" in schema else pl.lit("priced")
    plan_enum = pl.Enum(list(dict.fromkeys(p.name for p in plans)))
    plan: pl.Expr = pl.lit(None, plan_enum)
    for p in reversed(plans):  # the first listed wins
        plan = pl.when(plan_covers(p)).then(pl.lit(p.name, plan_enum)).otherwise(plan)
    frame = events.with_columns(plan.alias("plan"))
    tokens = pl.col("input") + pl.col("output") + pl.col("cache_read") + pl.col("cache_write_5m") + pl.col(
        "cache_write_1h"
    )
    free_route = (source == 0) & (tokens > 0) & (state == "priced")
    from tokscope.pricing import DATED_ALIASES

    inferred = pl.col("model").is_in(list(DATED_ALIASES))  # the model is inferred from the turn's date
    guessed = pl.col("client").is_in(list(estimated)) | (state == "source") | inferred

    def lit(kind: str) -> pl.Expr:
        return pl.lit(kind, KIND_ENUM)

    kind = (
        pl.when(cost.is_null())
        .then(lit("unknown"))
        .when(pl.col("plan").is_not_null() | free_route)
        .then(lit("subscription"))
        .when(guessed)
        .then(lit("estimated"))
        .otherwise(lit("metered"))
    )
    frame = frame.with_columns(api_equivalent=cost, cost_kind=kind)
    k = pl.col("cost_kind")
    paid = pl.when(source > 0).then(source).otherwise(cost)
    return frame.with_columns(
        metered=pl.when(k == "metered").then(paid).otherwise(0.0),
        subscription=pl.when(k == "subscription").then(cost).otherwise(0.0),
        estimated=pl.when(k == "estimated").then(cost).otherwise(0.0),
        unknown=(k == "unknown").cast(pl.UInt32),
    )
