"""``tokscope invoices``: every documented export shape read from its content, bad files refused whole,
imports idempotent, and the importer fuzzed so garbage never tracebacks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import invoice_samples as s
from tests.cli_helpers import cli
from tokscope import invoices
from tokscope.invoices import InvoiceError, canonical_model, line_item_model, parse_bytes


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("Claude Sonnet 4.5", "claude-sonnet-4-5"),  # the Console cost export's display name
        ("claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-opus-4-6[1m]", "claude-opus-4-6"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("Claude Haiku 4.5", "claude-haiku-4-5"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("Claude 3.5 Sonnet 2024-10-22", "claude-3-5-sonnet"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5", "gpt-5"),
        ("gpt-5.1", "gpt-5.1"),  # OpenAI ids keep their dots
        ("GPT-5.4", "gpt-5.4"),
        ("openai/gpt-5.1-codex", "gpt-5.1-codex"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("o3-2025-04-16", "o3"),
    ],
)
def test_model_names_meet_on_one_spelling(raw: str, canonical: str) -> None:
    assert canonical_model(raw) == canonical


def test_openai_line_items() -> None:
    assert line_item_model("gpt-4o-2024-08-06, input") == "gpt-4o-2024-08-06"
    assert line_item_model("GPT-5.4") == "GPT-5.4"
    assert line_item_model(None) == ""  # not grouped by line item: the day as a whole
    assert line_item_model("Web search tool calls") is None  # not a model's tokens


def test_anthropic_cost_report_two_pages_in_cents() -> None:
    parsed = parse_bytes(s.anthropic_cost_report().encode())
    assert parsed.format == "anthropic-cost-json"
    got = {(r.day, r.model): round(r.cost_usd or 0, 9) for r in parsed.rows}
    # cents: Sonnet 0.36 + 4.5 + 3.75 + 12 + 3.75 = 24.36 -> $0.2436; Haiku 10 + 5 -> $0.15; 15 + 45 -> $0.60
    assert got == {
        ("2026-11-20", s.SONNET): 0.2436,
        ("2026-11-20", s.HAIKU): 0.15,
        ("2026-11-21", s.SONNET): 0.6,
    }
    assert parsed.notes == ["1 cost row not for model tokens (web search, tools …) left out"]  # last page: no more


def test_one_page_of_several_says_so() -> None:
    first = json.loads(s.anthropic_cost_report())[0]
    parsed = parse_bytes(json.dumps(first).encode())
    assert any("has_more" in n for n in parsed.notes)
    assert {r.day for r in parsed.rows} == {"2026-11-20"}


def test_anthropic_usage_report_hourly_buckets_and_cache_ttls() -> None:
    (row,) = parse_bytes(s.anthropic_usage_report().encode()).rows
    # 09:00 + 10:00 buckets: uncached 1,000 + 200; 5m writes 10,000; 1h writes 20,000; reads 150,000; out 2,500
    assert (row.input, row.cache_write_5m, row.cache_write_1h, row.cache_read, row.output) == (
        1_200,
        10_000,
        20_000,
        150_000,
        2_500,
    )
    assert (row.provider, row.day, row.model, row.kind) == ("anthropic", "2026-11-20", s.SONNET, "usage")


def test_openai_usage_cached_inside_input() -> None:
    (row,) = parse_bytes(s.openai_usage_report().encode()).rows
    # input 30,000 + 18,000 = 48,000 incl. cached 25,000 + 15,960 = 40,960 -> uncached 7,040
    assert (row.input, row.cache_read, row.output, row.day) == (7_040, 40_960, 1_800, "2026-11-20")


def test_openai_costs_line_items_in_dollars() -> None:
    parsed = parse_bytes(s.openai_costs_report().encode())
    (row,) = parsed.rows
    assert (row.model, round(row.cost_usd or 0, 9), row.kind) == ("gpt-5-2025-08-07", 0.03192, "cost")
    assert parsed.notes == ["1 cost row not for model tokens (web search, tools …) left out"]


def test_console_csv_exports() -> None:
    usage = parse_bytes(s.ANTHROPIC_USAGE_CSV.encode())
    assert usage.format == "anthropic-usage-csv"
    sonnet = next(r for r in usage.rows if r.model == s.SONNET)
    assert (sonnet.input, sonnet.cache_write_5m, sonnet.cache_write_1h, sonnet.cache_read, sonnet.output) == (
        1_200,
        10_000,
        20_000,
        150_000,
        2_500,
    )
    cost = parse_bytes(("\ufeff" + s.ANTHROPIC_COST_CSV).encode())  # Excel's BOM changes nothing
    assert cost.format == "anthropic-cost-csv"
    assert {r.model: round(r.cost_usd or 0, 9) for r in cost.rows} == {
        "Claude Sonnet 4.5": 0.0411,
        "Claude Haiku 4.5": 0.05,  # the quoted "Team, Inc" workspace shifts no column
    }


def test_openai_dashboard_exports_csv_and_tsv_with_empty_days() -> None:
    usage = parse_bytes(s.OPENAI_USAGE_CSV.encode())
    assert usage.format == "openai-usage-csv"
    (row,) = usage.rows  # the empty 21st is no row and no skip
    assert (row.input, row.cache_read, row.output, usage.skipped) == (7_040, 40_960, 1_800, 0)
    costs = parse_bytes(s.OPENAI_COSTS_TSV.encode())
    assert costs.format == "openai-cost-csv"
    (row,) = costs.rows
    assert (row.model, row.cost_usd, row.day) == ("", 0.895874, "2026-11-20")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty file"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"foo": 1}', "data[] list"),
        (b'{"data": []}', "no buckets"),
        (b'{"data": [{"starting_at": "2026-11-20T00:00:00Z", "results": [{"x": 1}]}]}', "no single known report"),
        (b"name,age\nbob,3\n", "no CSV export I know"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_unknown_files_are_refused_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(InvoiceError, match=re.escape(why)) as info:
        parse_bytes(data, "bill.dat")
    assert str(info.value).startswith("bill.dat: ")


def test_import_is_idempotent_and_listed(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = home / "cost.json"
    path.write_text(s.anthropic_cost_report())
    code, out, err = cli("invoices", "import", str(path))
    assert code == 0, err
    assert "anthropic-cost-json, 3 rows, 2026-11-20 … 2026-11-21" in out
    assert "web search" in err  # the left-out row is said
    code, out, _ = cli("invoices", "import", str(path))
    assert code == 0 and "already imported" in out
    assert len(invoices.load().rows) == 3  # nothing added the second time
    code, out, _ = cli("invoices", "--format", "json")
    (record,) = json.loads(out)["imports"]
    assert (record["format"], record["rows"], record["first_day"], record["last_day"]) == (
        "anthropic-cost-json",
        3,
        "2026-11-20",
        "2026-11-21",
    )
    assert record["digest"] == invoices.digest_of(path.read_bytes())
    code, out, _ = cli("invoices")
    assert code == 0 and "anthropic-cost-json" in out


def test_a_bad_file_stores_nothing_and_exits_1(home: Path) -> None:
    good = home / "usage.csv"
    good.write_text(s.ANTHROPIC_USAGE_CSV)
    assert cli("invoices", "import", str(good))[0] == 0
    before = invoices.store_path().read_bytes()
    bad = home / "usage-report.json"
    bad.write_text('{"data": [{"starting_at": 3, "results": "no"}]}')
    code, out, err = cli("invoices", "import", str(bad))
    assert code == 1 and out == ""
    assert str(bad) in err and "nothing imported" in err and "Traceback" not in err
    code, _, err = cli("invoices", "import", str(home / "missing.csv"))
    assert code == 1 and "missing.csv: cannot read" in err
    code, _, err = cli("invoices", "import", str(home))
    assert code == 1 and "nothing imported" in err
    assert invoices.store_path().read_bytes() == before


def test_a_newer_export_of_the_same_days_replaces_the_older(home: Path) -> None:
    old = home / "old.csv"
    old.write_text(s.ANTHROPIC_USAGE_CSV)
    newer = home / "new.csv"
    newer.write_text(s.ANTHROPIC_USAGE_CSV.replace(",100000,0,0,0,10000,", ",100000,0,0,0,12000,"))
    assert cli("invoices", "import", str(old))[0] == 0
    assert cli("invoices", "import", str(newer))[0] == 0
    rows = invoices.effective_rows()
    assert len(rows) == 2  # one per day, not four
    assert next(r for r in rows if r.day == "2026-11-21").output == 12_000


def test_pages_that_split_a_day_of_hourly_buckets_add_up(home: Path) -> None:
    first, second = s.anthropic_hourly_pages()
    one = parse_bytes(first.encode())
    assert (one.partial_days, one.rows[0].input) == (["2026-11-22"], 1_100)  # 11 hours with usage, 04:00 empty
    for name, text in (("p1.json", first), ("p2.json", second)):
        (home / name).write_text(text)
        assert cli("invoices", "import", str(home / name))[0] == 0
    (row_a, row_b) = invoices.effective_rows()
    assert row_a.input + row_b.input == 2_300  # 23 hours × 100: both pages count
    whole = home / "whole.json"  # a later export of the whole day replaces both pages
    whole.write_text(json.dumps(s.anthropic_page([s.a_bucket("2026-11-22", [s.a_usage(s.SONNET, 2_400, 240)])])))
    assert cli("invoices", "import", str(whole))[0] == 0
    (row,) = invoices.effective_rows()
    assert (row.input, row.output) == (2_400, 240)


def test_big_numbers_are_bad_rows_not_crashes(home: Path) -> None:
    data = json.dumps(s.o_page([s.o_bucket(10**400, [s.o_usage("gpt-5", 10**30, 0, 1)])]))
    parsed = parse_bytes(data.encode())
    assert (parsed.rows, parsed.skipped) == ([], 1)
    path = home / "huge.json"
    path.write_text(data)
    code, _, err = cli("invoices", "import", str(path))
    assert code == 1 and "nothing to import" in err and "1 unreadable rows" in err
    assert not invoices.store_path().exists()


def test_a_damaged_store_is_reported_not_overwritten(home: Path) -> None:
    store = invoices.store_path()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"{broken")
    path = home / "usage.csv"
    path.write_text(s.ANTHROPIC_USAGE_CSV)
    code, _, err = cli("invoices", "import", str(path))
    assert code == 1 and "damaged" in err
    assert store.read_bytes() == b"{broken"
    code, _, err = cli("invoices")
    assert code == 1 and "damaged" in err


# --- fuzz -------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
_keys = st.sampled_from(
    [
        "data",
        "results",
        "starting_at",
        "start_time",
        "amount",
        "currency",
        "value",
        "model",
        "uncached_input_tokens",
        "input_tokens",
        "input_cached_tokens",
        "output_tokens",
        "cache_creation",
        "ephemeral_5m_input_tokens",
        "cost_type",
        "line_item",
        "object",
        "has_more",
    ]
)
_shaped = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=25),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=40,
)


def _must_not_crash(data: bytes) -> None:
    try:
        parsed = parse_bytes(data, "fuzz")
    except InvoiceError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    for row in parsed.rows:
        assert row.provider in ("anthropic", "openai")
        assert len(row.day) == 10
        for value in (row.input, row.output, row.cache_read, row.cache_write_5m, row.cache_write_1h):
            assert value is None or value >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_bytes(data: bytes) -> None:
    _must_not_crash(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, _shaped))
def test_fuzz_json_shapes(value: object) -> None:
    _must_not_crash(json.dumps(value).encode())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [s.ANTHROPIC_USAGE_CSV, s.ANTHROPIC_COST_CSV, s.OPENAI_USAGE_CSV, s.OPENAI_COSTS_TSV, s.openai_usage_report()]
    ),
    st.lists(st.tuples(st.integers(0, 2000), st.text(max_size=6)), max_size=4),
)
def test_fuzz_damaged_real_exports(text: str, edits: list[tuple[int, str]]) -> None:
    for at, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + len(insert) :]
    _must_not_crash(text.encode())
