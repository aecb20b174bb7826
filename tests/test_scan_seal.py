"""The scan seal (``tokscope.scan_seal``): a rescan answers from it only while nothing a full scan
would look at changed, for every reader; anything else (a new file, an append, another process's
scan, another setting, a damaged seal) means a full scan."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokscope.readers import all_readers, get_reader

from tests import test_reader_claude_code as claude
from tests.reader_samples import write_sample
from tokscope import ledger as ledger_mod
from tokscope import ledger_journal, paths, scan_seal, scan_state
from tokscope.cli.common import run_scan
from tokscope.ledger import Ledger
from tokscope.scan import frame_of

CLIENTS = [r.client for r in all_readers()]


@pytest.fixture(autouse=True)
def no_racy_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files here are minutes old in real life, milliseconds old in a test."""
    monkeypatch.setattr(scan_seal, "RACY_NS", 0)


def settle() -> None:
    """Let the file-system clock tick, so a change after this gets a new mtime."""
    time.sleep(0.03)


def sealed_scan() -> None:
    """Scan until sealed (a first scan in a fresh HOME makes tokscope's own folders there)."""
    for _ in range(2):
        run_scan(check_ledger=False)
        settle()
    assert scan_seal.check() is not None, "a complete scan should leave a seal"
    settle()


def test_state_file_name_is_the_scan_states() -> None:
    assert scan_seal.STATE_NAME == scan_state.FILE_NAME


def test_unchanged_rescan_answers_from_the_seal(home: Path) -> None:
    write_sample("claude-code", home)
    write_sample("codex", home)
    settle()
    sealed_scan()
    full = run_scan(check_ledger=False)
    seal = scan_seal.check()
    assert seal is not None
    again = run_scan(check_ledger=False)
    assert (again.files, again.events, again.read, again.per_client) == (full.files, full.events, 0, full.per_client)
    assert full.events > 0 and full.per_client["claude-code"] > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_a_new_clients_files_break_the_seal(client: str, home: Path) -> None:
    """Sealed on an empty HOME, each reader's sample appearing is seen (its roots or folders changed)."""
    sealed_scan()
    write_sample(client, home)
    assert scan_seal.check() is None
    assert run_scan(check_ledger=False).per_client[client] > 0


@pytest.mark.parametrize("client", CLIENTS)
def test_an_append_or_a_new_file_breaks_the_seal(client: str, home: Path) -> None:
    write_sample(client, home)
    settle()
    sealed_scan()
    seal = scan_seal.load(paths.ledger_dir())
    assert seal is not None and seal.sources
    first = Path(seal.sources[0][0])
    with first.open("ab") as f:
        f.write(b"\n")
    assert scan_seal.check() is None
    sealed_scan()
    copy = first.with_name("copy-" + first.name)  # found by the reader's pattern, or not
    copy.write_bytes(first.read_bytes())
    held = scan_seal.check()
    assert held is None or sorted(s[0] for s in held.sources) == discovered()


def discovered() -> list[str]:
    """Every source a full discovery finds now."""
    errors: list[str] = []
    return sorted(str(s.path) for r in all_readers() for s in r.discover(errors))


def test_an_appended_turn_is_read_without_discovery(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the grown file changed: the rescan reads it alone (no reader discovers anything), the
    ledger ends as a full scan leaves it, and the new seal answers the next rescan."""
    write_sample("claude-code", home)
    write_sample("codex", home)
    settle()
    sealed_scan()
    session = home / ".claude" / "projects" / claude.PROJECT / "s-main.jsonl"
    with session.open("a") as f:
        f.write(claude.assistant("msg_9", "req_9", inp=7, out=70, read=10, ts="2026-11-20T10:09:00.000Z") + "\n")
        f.write(claude.assistant("msg_1", "req_1", inp=12, out=421, read=1000, write=300) + "\n")  # a later copy
    found = scan_seal.verify()
    assert found is not None and [found[0].sources[i][0] for i in found[1]] == [str(session)]

    def no_discovery(self: object, errors: list[str]) -> list:
        raise AssertionError("a rescan of changed files must not discover")

    before = Ledger().frame().height
    with monkeypatch.context() as patched:
        for reader in all_readers():
            patched.setattr(type(reader), "discover", no_discovery)
        summary = run_scan(check_ledger=False)
    assert (summary.read, summary.new_events, summary.events) == (1, None, None)  # journaled, counted later
    assert [p.suffix for p in Ledger().segments()] == [".parquet", ".msgpack"]
    assert scan_seal.check() is not None
    rescanned = Ledger().frame().sort("client", "event_key")
    assert 421 in rescanned["output"].to_list() and 420 not in rescanned["output"].to_list()  # the later copy won
    fresh = frame_of(all_readers()).sort("client", "event_key")
    assert rescanned.equals(fresh)
    assert Ledger().count() == before + 1


def test_an_appended_turn_appends_to_the_state_log(home: Path) -> None:
    """The journaled rescan leaves the state's table byte for byte as it was and appends its changes
    to the log; a scan that writes the whole state again folds the log in (and drops it)."""
    write_sample("claude-code", home)
    settle()
    sealed_scan()
    root = paths.ledger_dir()
    table = (root / scan_state.FILE_NAME).read_bytes()
    session = home / ".claude" / "projects" / claude.PROJECT / "s-main.jsonl"
    for i in range(2):
        with session.open("a") as f:
            f.write(claude.assistant(f"msg_l{i}", f"req_l{i}", inp=1, out=5, ts="2026-11-20T11:00:00Z") + "\n")
        assert run_scan(check_ledger=False).read == 1
        assert (root / scan_state.FILE_NAME).read_bytes() == table
    state = scan_state.load(root, lambda: 1)
    assert state["sources"][str(session)].size == session.stat().st_size  # the log's record won
    assert scan_seal.check() is not None  # the seal marks the log too
    run_scan(check_ledger=False)
    assert (root / scan_state.FILE_NAME).read_bytes() == table  # nothing new: nothing written
    Ledger().save_state(state)
    assert not (root / scan_state.LOG_NAME).exists()
    assert scan_state.load(root, lambda: 1)["sources"][str(session)].size == session.stat().st_size
    assert Ledger().frame().sort("client", "event_key").equals(frame_of(all_readers()).sort("client", "event_key"))


def test_journal_segments_are_compacted_before_they_pile_up(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_journal, "MAX_LIVE_DELTAS", 2)
    monkeypatch.setattr(ledger_mod, "MAX_DELTAS", 3)
    write_sample("claude-code", home)
    settle()
    sealed_scan()
    session = home / ".claude" / "projects" / claude.PROJECT / "s-main.jsonl"
    kinds = []
    for i in range(5):
        with session.open("a") as f:
            f.write(claude.assistant(f"msg_x{i}", f"req_x{i}", inp=1, out=i + 1, ts="2026-11-20T11:00:00Z") + "\n")
        run_scan(check_ledger=False)
        kinds.append("".join("j" if p.suffix == ".msgpack" else "p" for p in Ledger().segments()))
    assert kinds == ["pj", "pjj", "p", "pj", "pjj"]  # the third rescan took the Polars path and compacted
    assert Ledger().frame().sort("client", "event_key").equals(frame_of(all_readers()).sort("client", "event_key"))


def test_another_setting_or_scan_breaks_the_seal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_sample("claude-code", home)
    settle()
    sealed_scan()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / "elsewhere"))
    assert scan_seal.check() is None
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert scan_seal.check() is not None
    monkeypatch.setenv("TOKSCOPE_SOMETHING_NEW", "1")
    assert scan_seal.check() is None
    monkeypatch.delenv("TOKSCOPE_SOMETHING_NEW")
    config = paths.config_dir() / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('readers = "codex"\n')
    assert scan_seal.check() is None
    config.unlink()
    sealed_scan()
    os.utime(paths.ledger_dir() / scan_state.FILE_NAME)  # another process saved the scan state
    assert scan_seal.check() is None


def test_a_racy_folder_writes_no_seal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_seal, "RACY_NS", 60 * 10**9)
    write_sample("claude-code", home)
    run_scan(check_ledger=False)
    assert not scan_seal.seal_path(paths.ledger_dir()).exists()


def test_a_scan_with_problems_writes_no_seal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder that could not be listed (say) may hide files: the next rescan is a full one."""
    write_sample("claude-code", home)
    settle()
    sealed_scan()
    reader = get_reader("claude-code")
    real = reader.discover

    def failing(errors: list[str]) -> list:
        errors.append("cannot list /somewhere: Permission denied")
        return real(errors)

    monkeypatch.setattr(reader, "discover", failing)
    assert run_scan(check_ledger=False).errors == []  # answered from the seal: nothing changed
    os.utime(home / ".claude" / "projects")
    assert run_scan(check_ledger=False).errors
    assert not scan_seal.seal_path(paths.ledger_dir()).exists()


@pytest.fixture
def seal_bytes(home: Path) -> bytes:
    write_sample("claude-code", home)
    settle()
    sealed_scan()
    return scan_seal.seal_path(paths.ledger_dir()).read_bytes()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), cut=st.floats(min_value=0, max_value=0.999), flip=st.integers(0, 10**6))
def test_a_damaged_seal_is_only_a_full_scan(seal_bytes: bytes, data: bytes, cut: float, flip: int) -> None:
    """Random bytes, a cut seal or a flipped byte are no seal (its checksum is checked before it is
    unmarshalled: marshal may crash on damaged input), and the next scan is a full one."""
    path = scan_seal.seal_path(paths.ledger_dir())
    for body in (data, seal_bytes[: int(len(seal_bytes) * cut)]):
        path.write_bytes(body)
        assert scan_seal.check() is None
    flipped = bytearray(seal_bytes)
    flipped[flip % len(flipped)] ^= 0xFF
    path.write_bytes(bytes(flipped))
    assert scan_seal.check() is None
    summary = run_scan(check_ledger=False)
    assert summary.errors == [] and summary.events > 0
