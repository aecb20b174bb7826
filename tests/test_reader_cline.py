"""Cline / Roo Code / Kilo Code reader: task files and the ~/.cline store, totals worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tokscope.readers.cline import CLINE_EXT, KILO_EXT, READERS, ROO_EXT, VSCodeTaskReader, split_input

from tokscope.events import frame_from_rows
from tokscope.ledger import dedupe
from tokscope.scan import frame_of


@pytest.fixture(autouse=True)
def _no_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own overrides, if set in the developer's shell, must not leak into the tests."""
    for name in ("CLINE_DIR", "CLINE_DATA_DIR", "CLINE_SESSION_DATA_DIR", "VSCODE_PORTABLE", "APPDATA"):
        monkeypatch.delenv(name, raising=False)


CLINE, ROO, KILO = READERS


def _api_req(ts: int, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "type": "say", "say": "api_req_started", "text": json.dumps({"request": "…", **fields})}


def _write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def _task_dir(user_dir: Path, extension: str, task: str) -> Path:
    return user_dir / "User" / "globalStorage" / extension / "tasks" / task


# Roo Code: three finished requests, one still running, one damaged.
ROO_A = _api_req(  # current Roo: tokensIn = 14 + 2210 + 30120 (cache inside)
    1772446500123,
    apiProtocol="anthropic",
    tokensIn=32344,
    tokensOut=512,
    cacheWrites=2210,
    cacheReads=30120,
    cost=0.0241,
)
ROO_B = _api_req(  # old Roo/Cline, Anthropic protocol: tokensIn is the uncached part only
    1772446600000, apiProtocol="anthropic", tokensIn=9, tokensOut=100, cacheWrites=500, cacheReads=32000, cost=0.02
)
ROO_C = _api_req(  # OpenAI protocol: prompt tokens include the cached 4000
    1772446700000, apiProtocol="openai", tokensIn=5000, tokensOut=50, cacheWrites=0, cacheReads=4000
)
ROO_RUNNING = _api_req(1772446800000, apiProtocol="anthropic")
ROO_DAMAGED = {"ts": 1772446900000, "type": "say", "say": "api_req_started", "text": "not-json"}
HISTORY = [
    {"role": "user", "content": [{"type": "text", "text": "<environment_details>\n<model>claude-sonnet-4-5</model>"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<environment_details>\n<slug>code</slug>\n<name>Code</name>\n"
                "<model>claude-opus-4-1</model>\n</environment_details>",
            }
        ],
    },
]


def _fixtures(home: Path) -> None:
    roo = _task_dir(home / ".config" / "Code", ROO_EXT, "task-roo")
    _write(
        roo / "ui_messages.json",
        [
            {"ts": 1772446400000, "type": "say", "say": "text", "text": "hi"},
            ROO_A,
            ROO_B,
            ROO_C,
            ROO_RUNNING,
            ROO_DAMAGED,
        ],
    )
    _write(roo / "api_conversation_history.json", HISTORY)
    _write(roo / "history_item.json", {"id": "task-roo", "workspace": "/home/u/proj", "mode": "architect"})
    (roo / "checkpoints").mkdir()  # not a task: never walked into
    # Kilo Code over VS Code remote: no history -> model unknown.
    kilo = _task_dir(home / ".vscode-server" / "data", KILO_EXT, "task-kilo")
    _write(kilo / "ui_messages.json", [_api_req(1772447000000, tokensIn=100, tokensOut=10, cacheReads=0)])
    # Cline in Cursor: model on the row itself, workspace from state/taskHistory.json.
    cline = _task_dir(home / ".config" / "Cursor", CLINE_EXT, "task-cline")
    row = _api_req(1772447100000, tokensIn=20, tokensOut=30, cacheReads=1000, cacheWrites=0, cost=0.001)
    row["modelInfo"] = {"modelId": "claude-sonnet-4-5", "providerId": "anthropic", "mode": "act"}
    _write(cline / "ui_messages.json", [row])
    _write(cline.parent.parent / "state" / "taskHistory.json", [{"id": "task-cline", "cwdOnTaskInitialization": "/c"}])
    # The ~/.cline store: a session, its subagent, and a fork that copies two messages.
    sessions = home / ".cline" / "data" / "sessions"
    msg_a = {
        "id": "msg_a",
        "role": "assistant",
        "ts": 1785320475705,
        "modelInfo": {"id": "claude-sonnet-4-5", "provider": "anthropic"},
        "metrics": {
            "inputTokens": 7507,
            "outputTokens": 131,
            "cacheReadTokens": 50,
            "cacheWriteTokens": 0,
            "cost": 0.011,
        },
    }
    msg_b = {
        "id": "msg_b",
        "role": "assistant",
        "ts": 1785320500000,
        "metrics": {"inputTokens": 1200, "outputTokens": 20, "cacheReadTokens": 1000, "cacheWriteTokens": 100},
    }
    empty = {"id": "msg_z", "role": "assistant", "ts": 1785320510000, "metrics": {"inputTokens": 0, "outputTokens": 0}}
    user = {"id": "u1", "role": "user", "ts": 1785320464923}
    _write(
        sessions / "sess-1" / "sess-1.messages.json", {"sessionId": "sess-1", "messages": [user, msg_a, msg_b, empty]}
    )
    _write(sessions / "sess-1" / "sess-1.json", {"model": "m0", "provider": "p0", "workspace_root": "/home/u/app"})
    msg_c = {
        "id": "msg_c",
        "role": "assistant",
        "ts": 1785320520000,
        "metrics": {"inputTokens": 300, "outputTokens": 7},
    }
    _write(sessions / "sess-1" / "agent_sub1.messages.json", {"agent": "researcher", "messages": [msg_c]})
    msg_d = {"id": "msg_d", "role": "assistant", "ts": 1785320600000, "metrics": {"inputTokens": 40, "outputTokens": 4}}
    _write(
        sessions / "sess-2" / "sess-2.messages.json", {"sessionId": "sess-2", "messages": [user, msg_a, msg_b, msg_d]}
    )


def test_split_input() -> None:
    assert split_input(32344, 30120, 2210) == 14  # cache inside tokensIn
    assert split_input(9, 32000, 500) == 9  # tokensIn smaller than its cache: the uncached part
    assert split_input(100, 0, 0) == 100


def test_roo_code_tasks(home: Path) -> None:
    _fixtures(home)
    result = ROO.read(ROO.discover([])[0], 0, {})
    assert result.skipped == 1  # the damaged row
    frame = frame_of([ROO])
    rows = sorted(frame.to_dicts(), key=lambda r: r["ts"])
    # A: 32344 - 30120 - 2210 = 14; B: 9 (old, exclusive); C: 5000 - 4000 = 1000. The running request: nothing.
    assert [(r["input"], r["output"], r["cache_read"], r["cache_write_5m"]) for r in rows] == [
        (14, 512, 30120, 2210),
        (9, 100, 32000, 500),
        (1000, 50, 4000, 0),
    ]
    # input 14 + 9 + 1000 = 1023; output 512 + 100 + 50 = 662; cache read 30120 + 32000 + 4000 = 66120.
    assert (frame["input"].sum(), frame["output"].sum(), frame["cache_read"].sum()) == (1023, 662, 66120)
    assert frame["cache_write_5m"].sum() == 2710  # 2210 + 500
    assert {r["model"] for r in rows} == {"claude-opus-4-1"}  # the LAST <model> tag
    assert {r["agent"] for r in rows} == {"code"}  # <slug> before history_item's mode
    assert {r["workspace"] for r in rows} == {"/home/u/proj"}
    assert {r["session_id"] for r in rows} == {"task-roo"}
    assert [r["provider"] for r in rows] == ["anthropic", "anthropic", "openai"]
    assert rows[0]["source_cost"] == pytest.approx(0.0241)
    assert rows[2]["source_cost"] is None
    assert rows[0]["event_key"] == "task-roo:1772446500123"
    assert int(rows[0]["ts"].timestamp() * 1000) == 1772446500123


def test_kilo_code_remote_server(home: Path) -> None:
    _fixtures(home)
    frame = frame_of([KILO])
    assert frame.select("input", "output", "model", "workspace").rows() == [(100, 10, "unknown", "")]


def test_cline_tasks_and_store(home: Path) -> None:
    _fixtures(home)
    names = sorted(s.path.name for s in CLINE.discover([]))
    assert names == ["agent_sub1.messages.json", "sess-1.messages.json", "sess-2.messages.json", "ui_messages.json"]
    frame = frame_of([CLINE])
    by_key = {r["event_key"]: r for r in frame.to_dicts()}
    # msg_a and msg_b appear in sess-1 and in its fork sess-2: one event each.
    assert sorted(by_key) == ["cline:msg_a", "cline:msg_b", "cline:msg_c", "cline:msg_d", "task-cline:1772447100000"]
    legacy = by_key["task-cline:1772447100000"]
    assert (legacy["input"], legacy["cache_read"], legacy["model"], legacy["agent"]) == (
        20,
        1000,
        "claude-sonnet-4-5",
        "act",
    )
    assert legacy["workspace"] == "/c"
    # msg_a: 7507 - 50 = 7457; msg_b: 1200 - 1000 - 100 = 100.
    assert (by_key["cline:msg_a"]["input"], by_key["cline:msg_b"]["input"]) == (7457, 100)
    assert by_key["cline:msg_a"]["model"] == "claude-sonnet-4-5"
    assert by_key["cline:msg_c"]["session_id"] == "sess-1" and by_key["cline:msg_c"]["agent"] == "researcher"
    assert by_key["cline:msg_c"]["model"] == "m0"  # the manifest's model (the subagent file has none)
    assert by_key["cline:msg_c"]["workspace"] == "/home/u/app"  # from the session manifest
    # input 20 + 7457 + 100 + 300 + 40 = 7917; output 30 + 131 + 20 + 7 + 4 = 192;
    # cache read 1000 + 50 + 1000 = 2050; cache write 100.
    assert frame["input"].sum() == 7917
    assert frame["output"].sum() == 192
    assert frame["cache_read"].sum() == 2050
    assert frame["cache_write_5m"].sum() == 100


def test_cline_env_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixtures(home)
    moved = home / "cline-elsewhere"
    (home / ".cline" / "data").rename(moved)
    monkeypatch.setenv("CLINE_DATA_DIR", str(moved))
    assert len(CLINE.discover([])) == 4
    monkeypatch.setenv("CLINE_SESSION_DATA_DIR", str(moved / "nothing-here"))
    assert len(CLINE.discover([])) == 1
    monkeypatch.delenv("CLINE_SESSION_DATA_DIR")
    monkeypatch.delenv("CLINE_DATA_DIR")
    monkeypatch.setenv("CLINE_DIR", str(home / "cdir"))
    (home / "cdir").mkdir()
    moved.rename(home / "cdir" / "data")
    assert len(CLINE.discover([])) == 4
    # XDG_CONFIG_HOME moves the VS Code user dirs.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "cfg"))
    assert [s.path.name for s in ROO.discover([])] == []
    (home / ".config").rename(home / "cfg")
    assert [s.path.parent.name for s in ROO.discover([])] == ["task-roo"]


def test_portable_vscode(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    portable = home / "VSCode-linux-x64" / "data"
    _write(_task_dir(portable / "user-data", ROO_EXT, "t1") / "ui_messages.json", [_api_req(1772447000000, tokensIn=5)])
    monkeypatch.setenv("VSCODE_PORTABLE", str(portable))
    assert frame_of([ROO])["input"].to_list() == [5]


class _Scanner:
    """What the scan does with whole-mode files: re-read each changed file entirely, pile rows, de-duplicate."""

    def __init__(self, reader: VSCodeTaskReader) -> None:
        self.reader, self.rows = reader, []

    def scan(self, *paths: Path) -> pl.DataFrame:
        for source in self.reader.discover([]):
            if source.path in paths:
                self.rows.extend(self.reader.read(source, 0, {}).rows)
        return dedupe(frame_from_rows(self.rows).lazy()).collect()


def test_task_file_rewritten_in_place(home: Path) -> None:
    task = _task_dir(home / ".config" / "Code", ROO_EXT, "t")
    path = task / "ui_messages.json"
    scanner = _Scanner(ROO)
    _write(path, [ROO_C, ROO_RUNNING])
    frame = scanner.scan(path)
    assert frame.height == 1 and frame["input"].sum() == 1000  # only C has finished
    # The extension rewrites the file: the running request got its tokens, C unchanged.
    done = _api_req(ROO_RUNNING["ts"], apiProtocol="anthropic", tokensIn=10, tokensOut=5, cacheReads=0, cacheWrites=0)
    _write(path, [ROO_C, done])
    frame = scanner.scan(path)
    # C once (1000), the finished request 10: 1010.
    assert frame.height == 2 and frame["input"].sum() == 1010
    # Rewritten again (a later request appended): nothing counted twice.
    _write(path, [ROO_C, done, ROO_B])
    frame = scanner.scan(path)
    assert frame.height == 3 and frame["input"].sum() == 1019  # + 9
    # A damaged rewrite (caught mid-write): no rows, no crash; the ledger keeps what it had.
    path.write_text('[{"ts": 1, "type": "say"')
    result = ROO.read(ROO.discover([])[0], 0, {})
    assert result.rows == [] and result.skipped == 1


def test_fork_copies_counted_once_in_any_order(home: Path) -> None:
    _fixtures(home)
    sessions = home / ".cline" / "data" / "sessions"
    scanner = _Scanner(CLINE)
    # The fork is seen first, the original later: msg_a/msg_b still count once.
    fork = sessions / "sess-2" / "sess-2.messages.json"
    frame = scanner.scan(fork)
    assert frame.height == 3  # msg_a, msg_b, msg_d
    frame = scanner.scan(sessions / "sess-1" / "sess-1.messages.json")
    assert frame.height == 3
    # 7457 + 100 + 40 = 7597
    assert frame["input"].sum() == 7597


def test_migrated_cline_task_counted_once(home: Path) -> None:
    # Newer Cline copies the extension's tasks into ~/.cline/data/tasks: same task id, same ts.
    rows = [_api_req(1772447100000, tokensIn=20, tokensOut=30, cacheReads=1000)]
    _write(_task_dir(home / ".config" / "Code", CLINE_EXT, "t-1") / "ui_messages.json", rows)
    tasks = home / ".cline" / "data" / "tasks"
    _write(tasks / "t-1" / "ui_messages.json", rows)
    _write(tasks / "taskHistory.json", [{"id": "t-1", "cwdOnTaskInitialization": "/w"}])
    assert len(CLINE.discover([])) == 2
    frame = frame_of([CLINE])
    # One event: input 20 (below its 1000 cache read: the uncached part), output 30.
    assert frame.select("event_key", "input", "output").rows() == [("t-1:1772447100000", 20, 30)]
    assert set(CLINE.read(s, 0, {}).rows[0].workspace for s in CLINE.discover([])) == {"/w", ""}


def test_mistyped_ui_message_costs_itself(home: Path) -> None:
    task = _task_dir(home / ".config" / "Code", ROO_EXT, "t-bad")
    good = _api_req(1772447000000, tokensIn=50, tokensOut=5, cacheReads=0)
    mistyped = {**_api_req(1772447000001, tokensIn=9), "modelInfo": "not an object"}
    _write(task / "ui_messages.json", ["not a message", mistyped, good])
    result = ROO.read(ROO.discover([])[0], 0, {})
    assert [(r.input, r.output) for r in result.rows] == [(50, 5)]
    assert result.skipped == 2 and result.reasons == {"malformed message": 2}


def test_mistyped_session_message_costs_itself(home: Path) -> None:
    sessions = home / ".cline" / "data" / "sessions"
    good = {"id": "m-ok", "role": "assistant", "ts": 1772447000000, "metrics": {"inputTokens": 70, "outputTokens": 7}}
    _write(sessions / "s1" / "s1.messages.json", {"sessionId": "s1", "messages": [{"metrics": [1]}, good]})
    result = CLINE.read(next(s for s in CLINE.discover([]) if s.path.name == "s1.messages.json"), 0, {})
    assert [(r.event_key, r.input, r.output) for r in result.rows] == [("cline:m-ok", 70, 7)]
    assert result.skipped == 1


def test_declared_env() -> None:
    assert set(CLINE.env) == {"APPDATA", "VSCODE_PORTABLE", "CLINE_DATA_DIR", "CLINE_DIR", "CLINE_SESSION_DATA_DIR"}
    assert set(ROO.env) == set(KILO.env) == {"APPDATA", "VSCODE_PORTABLE"}


def test_task_file_nested_too_deep_is_a_counted_skip(home: Path) -> None:
    # msgspec cannot even skip over a value nested this deep, so the file is the unit here: no traceback, one skip
    task = _task_dir(home / ".config" / "Code", ROO_EXT, "t-deep")
    path = _write(task / "ui_messages.json", ["PLACEHOLDER", _api_req(1772447000000, tokensIn=50, tokensOut=5)])
    path.write_text(path.read_text().replace('"PLACEHOLDER"', "[" * 5000 + "]" * 5000))
    result = ROO.read(ROO.discover([])[0], 0, {})
    assert result.rows == [] and result.reasons == {"malformed task file": 1} and result.errors == []
