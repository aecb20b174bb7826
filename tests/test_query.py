"""Query periods in a timezone: the UTC pre-cut must never change which events a period holds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from tokscope.query import Query, filtered
from tokscope.timezone import canonical_tz, local_tz


def events(n: int = 20_000) -> pl.LazyFrame:
    """Events every ~21 minutes over 300 days from 2026-01-01 UTC (DST changes included)."""
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    step = 300 * 86_400 * 10**6 // n
    return pl.select(ts=(pl.int_range(n) * step + start).cast(pl.Datetime("us", "UTC"))).lazy()


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin", "Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("period", ["today", "yesterday", "7d", "30d", "month", "all"])
def test_a_period_holds_exactly_the_events_of_its_local_days(tz: str, period: str) -> None:
    query, today = Query(by=["day"], period=period, tz=tz), date(2026, 3, 29)  # a DST change in Europe
    since, until = query.bounds(today)
    day = pl.col("ts").dt.convert_time_zone(tz).dt.date()
    keep = (day >= since if since else pl.lit(True)) & (day <= until if until else pl.lit(True))
    expected = events().filter(keep).collect()
    got = filtered(events(), query, today).select("ts").collect()
    assert got.height == expected.height > 0
    assert got.equals(expected)


def test_other_names_of_utc_become_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert canonical_tz("Etc/UTC") == canonical_tz("Zulu") == canonical_tz("Etc/GMT-0") == "UTC"
    assert canonical_tz("Europe/Berlin") == "Europe/Berlin"
    assert canonical_tz("Etc/GMT-1") == "Etc/GMT-1"  # one hour east: not UTC
    monkeypatch.setenv("TZ", "Etc/UTC")
    assert local_tz() == "UTC"
