"""Claude Cowork reader: Claude Code JSONL under the desktop app's local-agent-mode-sessions (clients.md §3.26)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from tokscope.readers import get_reader

from tests import test_reader_claude_code as claude
from tokscope.ledger import Ledger
from tokscope.scan import frame_of, scan

ORG, ACCOUNT = "0b1e6a52-org", "7c4d1f00-acct"
LOCAL = "local_3f2a9c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
CLI_SESSION = "9d8c7b6a-1111-4222-8333-944455556666"
SLUG = "-sessions-happy-otter"  # the VM's cwd /sessions/happy-otter, encoded


def cowork_root(home: Path) -> Path:
    return home / ".config/Claude/local-agent-mode-sessions"


def session_dir(home: Path) -> Path:
    return cowork_root(home) / ORG / ACCOUNT / LOCAL


def record(home: Path, **extra: object) -> None:
    body = {
        "sessionId": LOCAL,
        "processName": "happy-otter",
        "cwd": "/sessions/happy-otter",
        "createdAt": 1795600000000,
        "lastActivityAt": 1795600600000,
        "model": "claude-sonnet-4-5",
        "cliSessionId": CLI_SESSION,
        **extra,
    }
    path = session_dir(home).with_name(LOCAL + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def line(msg: str, req: str, **kw: object) -> str:
    kw.setdefault("session", CLI_SESSION)
    kw.setdefault("cwd", "/sessions/happy-otter")
    return claude.assistant(msg, req, **kw)  # type: ignore[arg-type]


def transcript(home: Path, *lines: str, rel: str | None = None) -> Path:
    rel = rel or f"{SLUG}/{CLI_SESSION}.jsonl"
    return claude.write(home, rel, *lines, root=str(session_dir(home).relative_to(home) / ".claude/projects"))


def audit(home: Path, where: str = "") -> Path:
    path = session_dir(home) / where / "audit.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    # the Agent SDK stream: a partial snapshot of the same turn (10 output tokens instead of 900)
    path.write_text(
        json.dumps(
            {
                "type": "assistant",
                "message": {"id": "msg_c1", "model": claude.SONNET, "usage": {"input_tokens": 3, "output_tokens": 10}},
                "hmac": "ab12",
            }
        )
        + "\n"
    )
    return path


def sample(home: Path) -> None:
    """The contract sample: a record, a transcript with a streaming copy, a subagent file and audit.jsonl."""
    record(home, userSelectedFolders=["/home/alice/reports"])
    transcript(
        home,
        claude.user(session=CLI_SESSION),
        line("msg_c1", "req_c1", inp=3, out=40, read=9000, write=1200, w5m=1200),
        line("msg_c1", "req_c1", inp=3, out=900, read=9000, write=1200, w5m=1200),
        line("msg_c2", "req_c2", inp=8, out=120, read=10200, ts="2026-11-20T10:01:00.000Z"),
    )
    transcript(
        home,
        line("msg_c3", "req_c3", inp=4, out=60, ts="2026-11-20T10:02:00.000Z", isSidechain=True),
        rel=f"{SLUG}/{CLI_SESSION}/subagents/agent-a9.jsonl",
    )
    audit(home)


def read_all() -> pl.DataFrame:
    return frame_of([get_reader("cowork")]).sort("ts", "event_key")


def test_sample_counts_each_turn_once_and_labels_cowork(home: Path) -> None:
    sample(home)
    frame = read_all()
    assert frame["event_key"].to_list() == ["msg_c1", "msg_c2", "msg_c3"]
    assert frame["client"].cast(pl.String).unique().to_list() == ["cowork"]
    assert claude.sums(frame) == {
        "input": 15,
        "output": 1080,  # the complete streaming copy (900), not the partial one (40)
        "cache_read": 19200,
        "cache_write_5m": 1200,
        "cache_write_1h": 0,
        "turns": 3,
    }
    assert frame["session_id"].cast(pl.String).unique().to_list() == [CLI_SESSION]
    assert frame["agent"].to_list() == [None, None, "subagent"]
    # the record's attached folder, not the VM's /sessions/... cwd
    assert frame["workspace"].cast(pl.String).unique().to_list() == ["/home/alice/reports"]


def test_audit_jsonl_is_never_read(home: Path) -> None:
    record(home)
    audit(home)
    audit(home, f".claude/projects/{SLUG}")  # even where a transcript would be
    assert get_reader("cowork").discover([]) == []
    transcript(home, line("msg_c1", "req_c1", inp=3, out=900))
    sources = get_reader("cowork").discover([])
    assert [s.path.name for s in sources] == [f"{CLI_SESSION}.jsonl"]
    assert read_all()["output"].to_list() == [900]


def test_without_a_record_the_vm_cwd_is_the_workspace(home: Path) -> None:
    transcript(home, line("msg_c1", "req_c1", inp=3, out=900))
    assert read_all()["workspace"].to_list() == ["/sessions/happy-otter"]


def test_a_transcript_also_under_claude_projects_counts_once_as_claude_code(home: Path) -> None:
    """Irrlicht#971: the same cliSessionId.jsonl under ~/.claude/projects (another slug)."""
    sample(home)
    claude.write(
        home,
        f"-Users-alice-reports/{CLI_SESSION}.jsonl",
        line("msg_c1", "req_c1", inp=3, out=900, read=9000, write=1200, w5m=1200),
        line("msg_c2", "req_c2", inp=8, out=120, read=10200, ts="2026-11-20T10:01:00.000Z"),
    )
    claude.write(
        home,
        f"-Users-alice-reports/{CLI_SESSION}/subagents/agent-a9.jsonl",
        line("msg_c3", "req_c3", inp=4, out=60, ts="2026-11-20T10:02:00.000Z", isSidechain=True),
    )
    scan()
    frame = Ledger().frame()
    assert sorted(frame["event_key"].to_list()) == ["msg_c1", "msg_c2", "msg_c3"]  # once each
    assert frame["client"].cast(pl.String).unique().to_list() == ["claude-code"]
    assert int(frame["output"].sum()) == 1080


def test_the_decision_sticks_when_the_claude_code_twin_is_cleaned_up(home: Path) -> None:
    sample(home)
    twin = claude.write(home, f"-Users-alice-reports/{CLI_SESSION}.jsonl", line("msg_c1", "req_c1", inp=3, out=900))
    reader = get_reader("cowork")
    main = next(s for s in reader.discover([]) if s.path.name == f"{CLI_SESSION}.jsonl")
    first = reader.read(main, 0, {})
    assert first.rows == [] and first.state == {"twin": True}
    assert first.offset == main.path.stat().st_size
    twin.unlink()  # Claude Code's cleanupPeriodDays removes the old transcript
    with main.path.open("a") as fh:
        fh.write(line("msg_c4", "req_c4", inp=1, out=5) + "\n")
    later = reader.read(main, first.offset, json.loads(json.dumps(first.state)))
    assert later.rows == [] and later.offset == main.path.stat().st_size


def test_a_twin_only_for_the_subagent_leaves_the_main_transcript_to_cowork(home: Path) -> None:
    sample(home)
    claude.write(
        home,
        f"-Users-alice-reports/{CLI_SESSION}/subagents/agent-a9.jsonl",
        line("msg_c3", "req_c3", inp=4, out=60, ts="2026-11-20T10:02:00.000Z", isSidechain=True),
    )
    frame = read_all()
    assert frame["event_key"].to_list() == ["msg_c1", "msg_c2"]


def test_a_session_dir_named_by_claude_config_dir_is_left_to_claude_code(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample(home)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(session_dir(home) / ".claude"))
    assert get_reader("cowork").discover([]) == []
    assert len(frame_of([get_reader("claude-code")])) == 3


def test_claude_config_dir_moves_the_twin_lookup(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample(home)
    claude.write(home, f"x/{CLI_SESSION}.jsonl", line("msg_c1", "req_c1", inp=3, out=900), root="work-claude/projects")
    assert len(read_all()) == 3  # ~/work-claude is not a Claude Code root by default
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / "work-claude"))
    assert read_all()["event_key"].to_list() == ["msg_c3"]


def test_the_walk_stops_at_session_dirs(home: Path) -> None:
    """Only ``.claude/projects`` of a session dir is read: a task's outputs full of .jsonl are not transcripts."""
    sample(home)
    outputs = session_dir(home) / "outputs"
    outputs.mkdir()
    (outputs / "data.jsonl").write_text(line("msg_x", "req_x", inp=1, out=1) + "\n")
    nested = cowork_root(home) / ORG / ACCOUNT / "agent" / "local_ditto_1" / ".claude/projects" / SLUG
    nested.mkdir(parents=True)
    (nested / "s2.jsonl").write_text(line("msg_d", "req_d", inp=2, out=2, session="s2") + "\n")
    names = sorted(s.path.name for s in get_reader("cowork").discover([]))
    assert names == [f"{CLI_SESSION}.jsonl", "agent-a9.jsonl", "s2.jsonl"]


def test_malformed_line_costs_only_itself(home: Path) -> None:
    path = transcript(home, line("msg_c1", "req_c1", inp=3, out=900), '{"type":"assistant","message":{"usage":{')
    result = get_reader("cowork").read(get_reader("cowork").discover([])[0], 0, {})
    assert result.skipped == 1 and [r.output for r in result.rows] == [900]
    assert result.offset == path.stat().st_size


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("darwin", {}, ["Library/Application Support/Claude/local-agent-mode-sessions"]),
        ("linux", {}, [".config/Claude/local-agent-mode-sessions"]),
        (
            "win32",
            {"APPDATA": "R", "LOCALAPPDATA": "L"},
            [
                "R/Claude/local-agent-mode-sessions",
                "L/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/local-agent-mode-sessions",
            ],
        ),
    ],
)
def test_roots_per_platform(
    home: Path, monkeypatch: pytest.MonkeyPatch, platform: str, env: dict[str, str], expected: list[str]
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    for name, value in env.items():
        monkeypatch.setenv(name, str(home / value))
    assert get_reader("cowork").roots() == [home / e for e in expected]
