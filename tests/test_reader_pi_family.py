"""The rest of the Pi-format family on ``readers/pi.py``: Gajae-Code, Senpi, Kimchi, Prime Agent (clients.md §3.8)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tests.test_reader_pi import header, write_jsonl
from tokscope.scan import frame_of
from tokscope.scan_worker import best_per_key


def gjc_message(eid: str, ms: int, usage: dict, model: str = "claude-sonnet-4", provider: str = "anthropic") -> dict:
    """A Gajae-Code assistant entry: ISO entry time, unix-ms message time, Pi usage with cost."""
    return {
        "type": "message",
        "id": eid,
        "parentId": None,
        "timestamp": datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": {
            "role": "assistant",
            "model": model,
            "provider": provider,
            "api": "anthropic",
            "timestamp": ms,
            "usage": usage,
        },
    }


G1 = gjc_message(
    "m0000001", 1767225601000, {"input": 100, "output": 50, "cacheRead": 10, "cacheWrite": 5, "cost": {"total": 0.3}}
)
G2 = gjc_message("m0000002", 1767225605000, {"input": 20, "output": 7, "cost": {"total": 0.01}})
SUB = gjc_message("m0000003", 1767225603000, {"input": 300, "output": 30, "cacheRead": 1000}, "gpt-5", "openai")


def gjc_tree(home: Path) -> None:
    project = home / ".gjc/agent/sessions/--work-pi--"
    write_jsonl(
        project / "2026-01-01T00-00-00-000Z_gjc_ses_001.jsonl",
        [
            header("gjc_ses_001", "/work/pi"),
            {"type": "service_tier_change", "id": "x0000001", "timestamp": "2026-01-01T00:00:00.500Z"},
            G1,
            SUB,  # the depth-1 file replays the sub-agent's message
            G2,
            '{"type":"message","id":"m0000009","message":{"role":"assistant","usage":{"input":',
        ],
    )
    write_jsonl(
        project / "2026-01-01T00-00-00-000Z_gjc_ses_001" / "0-explore.jsonl",
        [header("gjc_sub_001", "/work/pi"), SUB],
    )


def test_gjc_depth2_replays_count_once_with_the_subagent_copy(home: Path) -> None:
    gjc_tree(home)
    reader = get_reader("gjc")
    assert sum(reader.read(s, 0, {}).skipped for s in reader.discover([])) == 1  # the truncated line
    frame = frame_of([reader]).sort("ts")
    assert frame.select("event_key", "session_id", "agent", "model", "provider").rows() == [
        (frame["event_key"][0], "gjc_ses_001", None, "claude-sonnet-4", "anthropic"),
        (frame["event_key"][1], "gjc_ses_001", "subagent", "gpt-5", "openai"),
        (frame["event_key"][2], "gjc_ses_001", None, "claude-sonnet-4", "anthropic"),
    ]
    assert frame.select("input", "output", "cache_read", "cache_write_5m").rows() == [
        (100, 50, 10, 5),
        (300, 30, 1000, 0),
        (20, 7, 0, 0),
    ]
    assert frame["source_cost"].to_list() == [pytest.approx(0.3), None, pytest.approx(0.01)]
    assert frame["ts"].dt.epoch("ms").to_list() == [1767225601000, 1767225603000, 1767225605000]
    assert frame["workspace"].unique().to_list() == ["/work/pi"]
    # whichever file is read first, the subagent copy wins
    sources = reader.discover([])
    for order in (sources, sources[::-1]):
        rows = best_per_key([r for s in order for r in reader.read(s, 0, {}).rows])
        assert [r.agent for r in rows if r.input == 300] == ["subagent"]


SENPI_USAGE = {
    "input": 2,
    "output": 49,
    "cacheRead": 40625,
    "cacheWrite": 332,
    "totalTokens": 41008,
    "cacheWrite1h": 300,
    "reasoning": 16,
    "cost": {"total": 0.0236225},
}


def senpi_session(directory: Path, sid: str, ts: str = "2026-07-29T15:20:01.000Z") -> Path:
    return write_jsonl(
        directory / "--tmp-workspace--" / f"2026-07-29T15-19-53-436Z_{sid}.jsonl",
        [
            header(sid, "/tmp/workspace"),
            {"type": "model_change", "id": "a1", "provider": "anthropic", "modelId": "claude-opus-5"},
            {"type": "session_info", "id": "c3", "name": "Investigate Senpi text streaming rendering"},
            {
                "type": "message",
                "id": "b2",
                "timestamp": ts,
                "message": {
                    "role": "assistant",
                    "model": "claude-opus-5",
                    "provider": "anthropic",
                    "usage": SENPI_USAGE,
                },
            },
        ],
    )


def test_senpi_roots_cache_ttl_split_and_titles(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    senpi_session(home / ".senpi/agent/sessions", "s-senpi")
    senpi_session(home / ".omo/agent/sessions", "s-omo", "2026-07-30T09:00:00.000Z")
    frame = frame_of([get_reader("senpi")]).sort("session_id")
    assert frame.select("session_id", "agent", "input", "output", "reasoning", "cache_read").rows() == [
        ("s-omo", None, 2, 49, 16, 40625),  # a session title is no subagent name; reasoning is inside output
        ("s-senpi", None, 2, 49, 16, 40625),
    ]
    assert frame.select("cache_write_5m", "cache_write_1h").rows() == [(32, 300), (32, 300)]
    monkeypatch.setenv("SENPI_CODING_AGENT_SESSION_DIR", str(home / "only"))
    senpi_session(home / "only", "s-only")
    assert frame_of([get_reader("senpi")])["session_id"].to_list() == ["s-only"]


def test_kimchi_keeps_the_logged_provider(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usage = {"input": 9441, "output": 131, "cacheRead": 50, "cacheWrite": 0, "totalTokens": 9622}
    entry = {
        "type": "message",
        "id": "msg_001",
        "timestamp": "2026-08-01T00:00:01.000Z",
        "message": {"role": "assistant", "model": "kimi-k2.6", "provider": "kimchi-dev", "usage": usage},
    }
    write_jsonl(
        home / ".config/kimchi/harness/sessions/--tmp-kimchi-project--/a_kimchi_ses_001.jsonl",
        [header("kimchi_ses_001", "/tmp/kimchi-project"), entry],
    )
    frame = frame_of([get_reader("kimchi")])
    assert frame.select("session_id", "model", "provider", "input", "output", "cache_read").rows() == [
        ("kimchi_ses_001", "kimi-k2.6", "kimchi-dev", 9441, 131, 50)
    ]
    monkeypatch.setenv("KIMCHI_CODING_AGENT_DIR", str(home / "k"))
    assert get_reader("kimchi").roots() == [home / "k/sessions"]


def test_prime_agent_rlm_children_belong_to_the_parent(home: Path) -> None:
    agent = home / ".prime/agent"
    parent = write_jsonl(
        agent / "sessions/2026-09-01T10-00-00-000Z_prime_root.jsonl",
        [
            header("prime_root", "/home/ann/proj"),
            {
                "type": "message",
                "id": "r0000001",
                "timestamp": "2026-09-01T10:00:05.000Z",
                "message": {"role": "assistant", "model": "gpt-5.5", "usage": {"input": 50, "output": 5}},
            },
            {
                "type": "child_usage_attributed",
                "id": "u0000001",
                "targetId": "r0000001",
                "childUsage": {"input": 400, "output": 40},
                "aggregateUsage": {"input": 450, "output": 45},
            },
        ],
    )
    write_jsonl(
        agent / "session-artifacts/prime_root/children/child-1.jsonl",
        [
            header("prime_child_1", "/home/ann/proj", parentSession=str(parent), rlmDepth=1),
            {
                "type": "message",
                "id": "c0000001",
                "timestamp": "2026-09-01T10:00:03.000Z",
                "message": {"role": "assistant", "model": "gpt-5.5-mini", "usage": {"input": 400, "output": 40}},
            },
        ],
    )
    frame = frame_of([get_reader("prime-agent")]).sort("ts")
    assert frame.select("session_id", "agent", "model", "provider", "input", "output").rows() == [
        ("prime_root", "rlm", "gpt-5.5-mini", "openai", 400, 40),
        ("prime_root", None, "gpt-5.5", "openai", 50, 5),
    ]


@pytest.mark.parametrize(
    ("client", "name", "expected"),
    [
        ("gjc", "GJC_CODING_AGENT_DIR", ["sessions"]),
        ("senpi", "SENPI_CODING_AGENT_DIR", ["sessions"]),
        ("kimchi", "KIMCHI_CODING_AGENT_DIR", ["sessions"]),
        ("prime-agent", "PRIME_AGENT_CODING_AGENT_DIR", ["sessions", "session-artifacts"]),
    ],
)
def test_agent_dir_variables_replace_the_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch, client: str, name: str, expected: list[str]
) -> None:
    monkeypatch.setenv(name, str(home / "custom"))
    assert get_reader(client).roots() == [home / "custom" / e for e in expected]


def test_default_roots(home: Path) -> None:
    assert get_reader("gjc").roots() == [home / ".gjc/agent/sessions"]
    assert get_reader("senpi").roots() == [home / ".senpi/agent/sessions", home / ".omo/agent/sessions"]
    assert get_reader("kimchi").roots() == [home / ".config/kimchi/harness/sessions"]
    assert get_reader("prime-agent").roots() == [
        home / ".prime/agent/sessions",
        home / ".prime/agent/session-artifacts",
    ]


def test_family_rows_carry_their_own_client(home: Path) -> None:
    gjc_tree(home)
    assert set(frame_of([get_reader("gjc")])["client"].cast(pl.String)) == {"gjc"}
