"""Anomaly detection on planted data: each pattern raises exactly its finding, and nothing else does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tests.cli_helpers import cli
from tokscope.anomalies import Findings, Thresholds, detect, findings_json, thresholds_from

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RATES = {"m": 3e-6 + 15e-6, "cheap": 1e-6 + 5e-6, "pricey": 15e-6 + 75e-6}


def turn(device: str, session: str, ts: datetime, *, workspace: str = "/w/a", model: str = "m", **counters) -> dict:
    row = {
        "device_id": device,
        "client": "claude-code",
        "provider": "anthropic",
        "model": model,
        "workspace": workspace,
        "session_id": session,
        "ts": ts,
        "input": 1000,
        "output": 300,
        "reasoning": 0,
        "cache_read": 30_000,
        "cache_write_5m": 2000,
        "cache_write_1h": 0,
        "cost": 0.02,
    }
    row.update(counters)
    return row


def normal(device: str, session: str, workspace: str, n: int = 20, start: datetime = T0, cost: float = 0.02) -> list:
    """``n`` ordinary turns two minutes apart: varied outputs and cache writes, reads growing."""
    return [
        turn(
            device,
            session,
            start + timedelta(minutes=2 * i),
            workspace=workspace,
            output=100 + (i * 37) % 400,
            cache_read=30_000 + 1000 * i,
            cache_write_5m=2000 + (i * 311) % 1500,
            cost=cost,
        )
        for i in range(n)
    ]


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC"), "cost": pl.Float64})


def thrash(device: str, session: str, workspace: str, n: int = 8) -> list:
    """``n`` turns writing 74,000 cache tokens each and reading none (the issue's case)."""
    return [
        turn(
            device,
            session,
            T0 + timedelta(minutes=3 * i),
            workspace=workspace,
            cache_read=0,
            cache_write_5m=74_000,
            output=200 + 50 * i,
            cost=0.03,
        )
        for i in range(n)
    ]


def loop(device: str, session: str, workspace: str) -> list:
    """20 ordinary turns, then 40 identical turns 3 s apart (one 5-minute window from 12:00)."""
    burst = T0.replace(hour=12)
    return normal(device, session, workspace) + [
        turn(
            device,
            session,
            burst + timedelta(seconds=3 * i),
            workspace=workspace,
            input=5,
            output=120,
            cache_read=60_000 + 3000 * i,
            cache_write_5m=3000,
        )
        for i in range(40)
    ]


def planted() -> pl.DataFrame:
    """Three devices: d3 spends 25× the others per turn; d2 has a thrash session; d1 a runaway one."""
    return frame(
        normal("d1", "s1", "/w/a")
        + normal("d1", "s2", "/w/b")
        + loop("d1", "s6", "/w/e")
        + normal("d2", "s3", "/w/a")
        + normal("d2", "s4", "/w/c")
        + thrash("d2", "s5", "/w/d")
        + normal("d3", "s7", "/w/f", cost=0.5)
        + normal("d3", "s8", "/w/g", cost=0.5)
    )


def kinds(found) -> list[tuple[str, str, str]]:
    return sorted((a.kind, a.dimension, a.key) for a in found)


def test_planted_thrash_outlier_device_and_runaway_raise_exactly_those():
    found = detect(planted(), rates=RATES)
    assert kinds(found) == [
        ("cache_thrash", "session", "s5"),
        ("outlier", "device", "d3"),
        ("runaway", "session", "s6"),
    ]
    by_kind = {a.kind: a for a in found}
    thrash_ = by_kind["cache_thrash"]
    assert thrash_.rows_total == 8 and len(thrash_.rows) == 8
    assert dict(thrash_.figures)["cache_write_per_turn"] == 74_000
    assert dict(thrash_.figures)["cache_read"] == 0
    assert all(r.session_id == "s5" and r.cache_write == 74_000 for r in thrash_.rows)
    outlier = dict(by_kind["outlier"].figures)
    # d3: 40 turns at $0.50; d1: 80 at $0.02; d2: 40 at $0.02 and 8 thrash turns at $0.03 -> the median
    assert outlier["cost_per_turn"] == pytest.approx(0.5)
    assert outlier["peer_median_cost_per_turn"] == pytest.approx((40 * 0.02 + 8 * 0.03) / 48)
    runaway = by_kind["runaway"]
    figures = dict(runaway.figures)
    assert figures["peak_window_turns"] == 40 and figures["longest_repeat_run"] == 40
    assert runaway.rows_total == 40  # exactly the burst: every one of its turns, none of the ordinary ones
    assert min(r.ts for r in runaway.rows) == T0.replace(hour=12)


def test_thresholds_from_config_change_the_verdict():
    t, notes = thresholds_from({"thrash_min_turns": 9})
    assert notes == [] and t.thrash_min_turns == 9
    assert "cache_thrash" not in {a.kind for a in detect(planted(), t, rates=RATES)}
    t, _ = thresholds_from({"outlier_factor": 30})
    assert "outlier" not in {a.kind for a in detect(planted(), t, rates=RATES)}


@pytest.mark.parametrize(
    "table",
    [
        {"outlier_factor": "ten"},
        {"thrash_min_turns": 2.5},
        {"switch_factor": -1},
        {"nope": 1},
        {"runaway_similarity": True},
    ],
)
def test_bad_threshold_is_named_and_left_at_its_default(table):
    t, notes = thresholds_from(table)
    assert t == Thresholds()
    assert len(notes) == 1 and next(iter(table)) in notes[0]


def test_bad_anomalies_table_is_a_note():
    t, notes = thresholds_from([1, 2])
    assert t == Thresholds() and "[anomalies]" in notes[0]


def test_empty_events_have_no_anomalies():
    assert detect(planted().head(0), rates=RATES) == []


def test_one_ordinary_session_has_no_anomalies():
    assert detect(frame(normal("d1", "s1", "/w/a")), rates=RATES) == []


def test_unpriced_rows_raise_no_outlier_but_still_show_thrash():
    rows = planted().with_columns(cost=pl.lit(None, pl.Float64))
    found = detect(rows, rates=RATES)
    assert kinds(found) == [("cache_thrash", "session", "s5"), ("runaway", "session", "s6")]
    assert dict(found[0].figures)["cost"] is None


def test_turns_without_a_session_id_make_no_session_finding():
    rows = planted().with_columns(session_id=pl.lit(""))
    assert kinds(detect(rows, rates=RATES)) == [("outlier", "device", "d3")]


def test_findings_are_ordered_by_kind_then_cost():
    rows = thrash("d1", "cheap", "/w/a") + thrash("d1", "dear", "/w/b")
    for row in rows[8:]:
        row["cost"] = 0.09
    found = detect(frame(rows), rates=RATES)
    assert [(a.kind, a.key) for a in found] == [("cache_thrash", "dear"), ("cache_thrash", "cheap")]


def test_switch_to_a_pricier_model_for_a_run_of_turns():
    rows = normal("d1", "s1", "/w/a", n=6)
    for i, row in enumerate(rows):
        row["model"] = "cheap" if i < 3 else "pricey"
    found = detect(frame(rows), rates=RATES)
    assert kinds(found) == [("model_switch", "session", "s1")]
    figures = dict(found[0].figures)
    assert figures["ratio"] == pytest.approx(90 / 6)
    assert figures["turns_after"] == 3
    assert [r.model for r in found[0].rows] == ["cheap"] * 3 + ["pricey"] * 3


def test_a_3x_step_is_no_switch_by_default():
    rows = normal("d1", "s1", "/w/a", n=6)
    for i, row in enumerate(rows):
        row["model"] = "cheap" if i < 3 else "m"  # 3×: like Haiku 4.5 -> Sonnet 4.5
    assert detect(frame(rows), rates=RATES) == []
    assert kinds(detect(frame(rows), Thresholds(switch_factor=3.0), rates=RATES)) == [("model_switch", "session", "s1")]


def test_back_to_the_main_model_after_side_calls_is_no_switch():
    rows = normal("d1", "s1", "/w/a", n=12)
    for i, row in enumerate(rows):
        row["model"] = "cheap" if 4 <= i < 8 else "m"  # m ×4, cheap ×4 (background work), m ×4 (3× cheap's rate)
    assert detect(frame(rows), Thresholds(switch_factor=3.0), rates=RATES) == []


def test_a_lone_side_call_is_no_switch_and_neither_is_a_cheaper_model():
    rows = normal("d1", "s1", "/w/a", n=9)
    for i, row in enumerate(rows):
        row["model"] = "pricey" if i == 4 else ("cheap" if i < 4 else "m")  # cheap ×4, pricey ×1, m ×4 (3×)
    assert kinds(detect(frame(rows), Thresholds(switch_factor=3.0), rates=RATES)) == [("model_switch", "session", "s1")]
    assert detect(frame(rows), Thresholds(switch_factor=3.5), rates=RATES) == []
    rows = normal("d1", "s1", "/w/a", n=6)
    for i, row in enumerate(rows):
        row["model"] = "pricey" if i < 3 else "cheap"
    assert detect(frame(rows), rates=RATES) == []


def test_json_contract_shape():
    found = detect(planted(), rates=RATES)
    data = json.loads(json.dumps(findings_json(Findings(anomalies=found), "all")))
    assert data["counts"] == {"cache_thrash": 1, "outlier": 1, "runaway": 1, "model_switch": 0}
    assert data["tz"] == "UTC"
    assert data["thresholds"]["outlier_factor"] == 10.0
    first = data["anomalies"][0]
    assert set(first) == {
        "kind",
        "summary",
        "dimension",
        "key",
        "device_id",
        "client",
        "workspace",
        "session_id",
        "start",
        "end",
        "figures",
        "rows",
        "rows_total",
    }
    assert first["rows"][0]["ts"].endswith("Z")
    assert set(first["rows"][0]) == {
        "ts",
        "device_id",
        "client",
        "model",
        "workspace",
        "session_id",
        "input",
        "output",
        "cache_read",
        "cache_write",
        "cost",
    }


# --- end to end: Claude Code logs in a test HOME ----------------------------------------------------


def write_claude_session(home: Path, session: str, turns: list[dict], workspace: str = "/w/app") -> Path:
    """A Claude Code transcript at its real path (project dir named after ``workspace``), one assistant line
    per turn (each turn: ts, input, output, cache_read, cache_write)."""
    path = home / ".claude" / "projects" / workspace.replace("/", "-") / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, t in enumerate(turns):
        usage = {
            "input_tokens": t["input"],
            "output_tokens": t["output"],
            "cache_read_input_tokens": t["cache_read"],
            "cache_creation_input_tokens": t["cache_write"],
        }
        lines.append(
            json.dumps(
                {
                    "type": "assistant",
                    "sessionId": session,
                    "cwd": workspace,
                    "timestamp": t["ts"],
                    "requestId": f"req_{session}_{i}",
                    "message": {"id": f"msg_{session}_{i}", "model": "claude-sonnet-4-5-20250929", "usage": usage},
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_finds_a_planted_thrash_in_claude_code_logs(home):
    thrash_turns = [
        {"ts": f"2026-01-02T10:0{i}:00Z", "input": 10, "output": 100 + 40 * i, "cache_read": 0, "cache_write": 74_000}
        for i in range(6)
    ]
    ordinary = [
        {
            "ts": f"2026-01-02T11:0{i}:00Z",
            "input": 10,
            "output": 100 + 90 * i,
            "cache_read": 50_000 + 999 * i,
            "cache_write": 1000 + 450 * i,
        }
        for i in range(6)
    ]
    src = write_claude_session(home, "thrashy", thrash_turns)
    write_claude_session(home, "fine", ordinary)
    before = src.read_bytes()
    code, out, err = cli("anomalies", "--period", "all", "--format", "json", "--tz", "UTC")
    assert code == 0, err
    data = json.loads(out)
    assert data["counts"] == {"cache_thrash": 1, "outlier": 0, "runaway": 0, "model_switch": 0}
    (found,) = data["anomalies"]
    assert found["session_id"] == "thrashy" and found["workspace"] == "/w/app"
    assert found["figures"]["cache_write"] == 6 * 74_000 and found["rows_total"] == 6
    # sonnet 4.5: $3/M input, $15/M output, $3.75/M 5-minute cache write
    expected = (60 * 3 + sum(100 + 40 * i for i in range(6)) * 15 + 6 * 74_000 * 3.75) / 1e6
    assert found["figures"]["cost"] == pytest.approx(expected)
    assert src.read_bytes() == before
    assert data["tz"] == "UTC"
    code, out, _ = cli("anomalies", "--period", "all", "--no-scan", "--tz", "Asia/Tokyo")
    assert code == 0 and "cache_thrash" in out and "thrashy" in out
    assert "19:00 – 19:05" in out and "10:00" not in out  # 10:00-10:05 UTC in Tokyo (UTC+9)


def test_cli_reports_bad_thresholds_and_an_empty_home(home):
    config = home / ".config" / "tokscope" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[anomalies]\noutlier_factor = 'lots'\n")
    code, out, err = cli("anomalies", "--format", "json")
    assert code == 0
    assert json.loads(out)["anomalies"] == []
    assert "outlier_factor" in err
    code, out, _ = cli("anomalies")
    assert code == 0 and "no anomalies" in out


def test_cli_periods_are_the_query_periods():
    from tokscope.cli import build_parser
    from tokscope.query import PERIODS

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    period = next(a for a in sub.choices["anomalies"]._actions if a.dest == "period")
    assert tuple(period.choices) == PERIODS


# --- the case: three devices merged through the shared folder ------------------------------


def _ordinary(day_hour: int, n: int = 10) -> list[dict]:
    """``n`` ordinary Claude Code turns two minutes apart, prompts just over 200k tokens."""
    return [
        {
            "ts": f"2026-01-15T{day_hour:02d}:{2 * i:02d}:00Z",
            "input": 10,
            "output": 1000 + 137 * i,
            "cache_read": 200_000 + 3000 * i,
            "cache_write": 1000 + 450 * i,
        }
        for i in range(n)
    ]


def test_three_devices_a_thrash_an_outlier_device_and_a_runaway_session(tmp_path):
    from tests.devices_helpers import make_devices

    laptop, server, box = make_devices(tmp_path, "laptop", "server", "box")
    write_claude_session(laptop.home, "l1", _ordinary(8), workspace="/w/a")
    write_claude_session(laptop.home, "l2", _ordinary(9), workspace="/w/b")
    thrash_turns = [
        {"ts": f"2026-01-15T10:0{i}:00Z", "input": 10, "output": 100 + 40 * i, "cache_read": 0, "cache_write": 74_000}
        for i in range(6)
    ]
    write_claude_session(laptop.home, "thrash", thrash_turns, workspace="/w/c")
    write_claude_session(server.home, "s1", _ordinary(8), workspace="/w/a")
    burst = [
        {
            "ts": f"2026-01-15T12:0{i // 20}:{3 * (i % 20):02d}Z",
            "input": 10,
            "output": 1000,
            "cache_read": 200_000 + 3000 * i,
            "cache_write": 3000,
        }
        for i in range(30)
    ]
    write_claude_session(server.home, "loop", _ordinary(11, n=12) + burst, workspace="/w/d")
    # box: 150,000 output tokens a turn. Prompts over 200k tokens take Sonnet 4.5's long-context rates
    # ($22.50/M output): ~$3.52 a turn, against ~$0.21 for the median device (~17x)
    pricey = [{**t, "output": 150_000} for t in _ordinary(8, n=6)]
    write_claude_session(box.home, "b1", pricey, workspace="/w/e")
    write_claude_session(box.home, "b2", [{**t, "ts": t["ts"].replace("T08", "T09")} for t in pricey], workspace="/w/f")
    for dev in (laptop, server, box):
        dev.ok("export")
    for other in (server, box):
        laptop.ok("devices", "trust", other.label, "--fingerprint", other.json("devices", "show")["fingerprint"])
    data = laptop.json("anomalies", "--period", "all", "--tz", "UTC")
    found = sorted((a["kind"], a["dimension"], a["key"]) for a in data["anomalies"])
    assert found == [
        ("cache_thrash", "session", "thrash"),
        ("outlier", "device", box.id),
        ("runaway", "session", "loop"),
    ]
    by_kind = {a["kind"]: a for a in data["anomalies"]}
    assert by_kind["cache_thrash"]["device_id"] == laptop.id and by_kind["cache_thrash"]["rows_total"] == 6
    assert by_kind["runaway"]["device_id"] == server.id and by_kind["runaway"]["rows_total"] == 30
    outlier = by_kind["outlier"]["figures"]
    assert outlier["turns"] == 12
    assert 15 < outlier["cost_per_turn"] / outlier["peer_median_cost_per_turn"] < 20


def test_model_rates_come_from_the_price_table():
    from tokscope.anomalies import model_rates

    rates = model_rates(["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929", "no-such-model-x"])
    # list prices per token: Haiku 4.5 $1 + $5 per M, Sonnet 4.5 $3 + $15 per M; an unknown model has none
    assert rates == pytest.approx({"claude-haiku-4-5-20251001": 6e-6, "claude-sonnet-4-5-20250929": 18e-6})
