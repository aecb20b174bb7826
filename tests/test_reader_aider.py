"""Aider reader: message_send events of the opt-in analytics log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokscope.readers import get_reader
from tokscope.readers.aider import AiderReader, model_of
from tokscope.readers.base import Source

from tests.session_totals_helpers import check_declared_env, ledger_scan, pick, totals

LOG = ".aider/analytics.jsonl"
USER = "5f1b3c2e-aaaa-4bbb-8ccc-000000000001"
T0 = 1_763_632_800  # 2025-11-20T10:00:00Z


def event(name: str, t: int, **props: object) -> str:
    """One analytics line as Aider writes it (json.dump defaults, system info in every event)."""
    properties = {"python_version": "3.12.3", "os_platform": "Linux", "aider_version": "0.86.1", **props}
    return json.dumps({"event": name, "properties": properties, "user_id": USER, "time": t})


def send(
    t: int, model: object, prompt: object, completion: object, cost: object, total: float, mode: str = "diff"
) -> str:
    return event(
        "message_send",
        t,
        main_model=model,
        weak_model="None",
        editor_model="None",
        edit_format=mode,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=0,
        cost=cost,
        total_cost=total,
    )


LINES = [
    event("launched", T0),
    event("repo", T0 + 1, num_files=42),
    event("message_send_starting", T0 + 2),
    send(T0 + 10, "anthropic/claude-sonnet-4-20250514", 12_400, 560, 0.0456, 0.0456),
    send(T0 + 10, "anthropic/claude-sonnet-4-20250514", 900, 40, 0.003, 0.0486, mode="ask"),  # same second
    send(T0 + 20, "openrouter/REDACTED", 100, 10, 0.0, 0.0486),
    '{"event": "message_send", "properties": {"prompt_tokens": 5',  # torn line mid-file: counted
    event("launched", T0 + 3600),
    send(T0 + 3700, "None", "300", "30", "0.001", 0.001, mode="whole"),
    send(T0 + 3800, "gpt-4o", 0, 0, 0.0, 0.001),  # nothing counted: skipped
]


def aider_log(home: Path) -> Path:
    path = home / LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(LINES) + "\n")
    return path


def read(path: Path, offset: int = 0, state: dict | None = None):
    return AiderReader().read(Source("aider", path, "append"), offset, state or {})


def test_registered() -> None:
    assert isinstance(get_reader("aider"), AiderReader)
    check_declared_env(AiderReader())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gpt-4o", ("gpt-4o", None)),
        ("openrouter/REDACTED", ("unknown", "openrouter")),
        ("None", ("unknown", None)),
        (None, ("unknown", None)),
    ],
)
def test_model_of(value: object, expected: tuple) -> None:
    assert model_of(value) == expected


def test_rows(home: Path) -> None:
    path = aider_log(home)
    result = read(path)
    assert result.reasons == {"malformed line": 1}
    rows = result.rows
    assert [pick(r, "model", "provider", "input", "output", "agent") for r in rows] == [
        ("anthropic/claude-sonnet-4-20250514", "anthropic", 12_400, 560, "diff"),
        ("anthropic/claude-sonnet-4-20250514", "anthropic", 900, 40, "ask"),
        ("unknown", "openrouter", 100, 10, "diff"),
        ("unknown", "unknown", 300, 30, "whole"),
    ]
    # per-message cost, never the running total; 0 means Aider knew no price
    assert [r.source_cost for r in rows] == [0.0456, 0.003, None, 0.001]
    assert [r.ts for r in rows] == [(T0 + 10) * 10**6, (T0 + 10) * 10**6, (T0 + 20) * 10**6, (T0 + 3700) * 10**6]
    # sessions from launched to launched; keys distinct within one second
    assert [r.session_id for r in rows] == [f"{USER}:{T0}"] * 3 + [f"{USER}:{T0 + 3600}"]
    assert len({r.event_key for r in rows}) == 4
    assert all(r.cache_read == 0 and r.reasoning == 0 for r in rows)  # no cache split, no reasoning


def test_incremental_read_keeps_the_session(home: Path) -> None:
    path = aider_log(home)
    whole = read(path).rows
    cut = len("\n".join(LINES[:4])) + 1
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    first = read(path)
    path.write_bytes(data)
    second = read(path, first.offset, json.loads(json.dumps(first.state)))
    assert first.rows + second.rows == whole


def test_env_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = home / "logs" / "aider.jsonl"
    other.parent.mkdir()
    other.write_text(send(T0, "gpt-4o", 1, 1, 0.0, 0.0) + "\n")
    aider_log(home)
    monkeypatch.setenv("AIDER_ANALYTICS_LOG", str(other))
    assert [s.path.name for s in AiderReader().discover([])] == ["aider.jsonl", "analytics.jsonl"]


def test_scan_appends_without_double_counting(home: Path) -> None:
    path = aider_log(home)
    ledger_scan(home, AiderReader())
    with path.open("a") as fh:
        fh.write(send(T0 + 3900, "gpt-4o", 1000, 100, 0.01, 0.011) + "\n")
    _, frame = ledger_scan(home, AiderReader())
    assert frame.height == 5
    assert totals(frame)["input"] == 12_400 + 900 + 100 + 300 + 1000
