"""The reader contract, held over every reader in ``all_readers()`` on its sample (``tests/reader_samples.py``).

* an empty HOME gives no source and no error;
* every row is a ``Row``, typed, non-negative, of the reader's client;
* reading a source twice gives the same rows; an incremental read in random chunks (append-mode
  sources, the state round-tripped through JSON as the ledger keeps it) gives what one full read gives;
* the reader declares every environment variable it reads, and each one it declares is honoured;
* sources are untouched: every file under HOME byte-identical, nothing added (no ``-wal``/``-shm``).

Also here: the ``readers`` setting (``TOKSCOPE_READERS`` / config.toml) chooses what the CLI and the
TUI scan, and ``tokscope demo`` reads none of the user's logs whatever the environment says.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import sys
from collections.abc import Iterator, MutableMapping
from datetime import date
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest
from tokscope.readers import Reader, all_readers, choose_readers, get_reader, reader_env
from tokscope.readers.base import COUNT_FIELDS, Fidelity, Row

from tests.reader_samples import write_sample
from tokscope import paths
from tokscope.scan_worker import best_per_key

READERS = all_readers()
CLIENTS = [r.client for r in READERS]

#: Variables a reader may read without declaring them: HOME and the XDG base dirs (moved by
#: every test and the demo), and the temp dir the database kit copies into.
UNDECLARED_OK = ("HOME", "TMPDIR", "TEMP", "TMP")


@pytest.fixture(params=CLIENTS)
def reader(request: pytest.FixtureRequest) -> Reader:
    return get_reader(request.param)


def as_row(row: Any) -> Row:
    """A reader row as a ``Row`` (positional tuples from readers not yet migrated, for the checks that
    are not about the row type itself)."""
    return row if isinstance(row, Row) else Row(*row)


def read_all(reader: Reader) -> dict[Path, list[Row]]:
    """Every source of ``reader`` read whole: path -> rows."""
    errors: list[str] = []
    found = {s.path: [as_row(r) for r in reader.read(s, 0, {}).rows] for s in reader.discover(errors)}
    assert not errors
    return found


def keyed(rows: list[Row]) -> list[tuple]:
    """Rows after the ledger's upsert rule, in key order, as comparable tuples."""
    return sorted((msgspec.structs.astuple(r) for r in best_per_key(rows)), key=lambda t: (t[0], t[6]))


def tree(home: Path) -> dict[str, str | None]:
    """Every path under ``home`` (tokscope's own cache aside) -> the sha256 of its bytes (None: a directory)."""
    own = paths.cache_dir()
    found: dict[str, str | None] = {}
    for path in sorted(home.rglob("*")):
        if path == own or own in path.parents or path in own.parents:  # tokscope's cache (private db copies)
            continue
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path.relative_to(home))] = None
    return found


# --- empty HOME, row types ----------------------------------------------------------------------------


def test_fidelity_is_declared(reader: Reader) -> None:
    """Every reader says how exact it can be, and a session-totals reader says so in both fields."""
    assert reader.fidelity in get_args(Fidelity)
    assert (reader.fidelity == "session_totals") == reader.session_totals


def test_empty_home_gives_nothing_and_no_error(reader: Reader, home: Path) -> None:
    errors: list[str] = []
    assert reader.discover(errors) == []
    assert errors == []
    assert all(isinstance(p, Path) for p in reader.roots())
    assert list(home.iterdir()) == []  # looking created nothing


def test_sample_gives_rows(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    assert sum(len(rows) for rows in read_all(reader).values()) > 0


def test_every_row_is_a_row(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    for source in reader.discover([]):
        kinds = {type(r).__name__ for r in reader.read(source, 0, {}).rows}
        assert kinds <= {"Row"}, f"{reader.client}: rows built as {sorted(kinds)}, not readers.base.Row"


def test_rows_are_typed_and_non_negative(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    for path, rows in read_all(reader).items():
        for row in rows:
            where = f"{reader.client} {path.name} {row.event_key!r}"
            assert row.client == reader.client, where
            for name in ("provider", "model", "session_id", "event_key"):
                value = getattr(row, name)
                assert isinstance(value, str) and value, f"{where}: {name} = {value!r}"
            assert isinstance(row.workspace, str), where  # "" when unknown
            assert row.agent is None or isinstance(row.agent, str), where
            assert row.service_tier is None or isinstance(row.service_tier, str), where
            assert type(row.ts) is int and row.ts > 0, f"{where}: ts = {row.ts!r}"
            for name in COUNT_FIELDS:
                value = getattr(row, name)
                assert type(value) is int and value >= 0, f"{where}: {name} = {value!r}"
            assert type(row.rank) is int, where
            cost = row.source_cost
            assert cost is None or (type(cost) is float and math.isfinite(cost) and cost >= 0), f"{where}: {cost!r}"


# --- the same rows however read ------------------------------------------------------------------------


def test_reading_twice_gives_the_same_rows(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    first, second = read_all(reader), read_all(reader)
    assert first.keys() == second.keys()
    for path, rows in first.items():
        assert [r.event_key for r in rows] == [r.event_key for r in second[path]], path.name
        assert keyed(rows) == keyed(second[path]), path.name


def _grow(path: Path, data: bytes, cuts: list[int], reader: Reader, source: Any) -> Iterator[Row]:
    """Write ``data`` in the pieces ``cuts`` gives, reading after each piece from the saved offset and state."""
    path.write_bytes(b"")
    offset, state, start = 0, {}, 0
    for end in [*cuts, len(data)]:
        with path.open("ab") as fh:
            fh.write(data[start:end])
        start = end
        result = reader.read(source, offset, state)
        offset, state = result.offset, json.loads(json.dumps(result.state))  # kept as JSON by the ledger
        yield from (as_row(r) for r in result.rows)


def test_incremental_read_in_random_chunks_equals_a_full_read(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    sources = [s for s in reader.discover([]) if s.mode == "append"]
    if not sources:
        pytest.skip(f"{reader.client} reads whole files only")
    rng = random.Random(f"chunks-{reader.client}")
    for source in sources:
        data = source.path.read_bytes()
        full = keyed([as_row(r) for r in reader.read(source, 0, {}).rows])
        for _trial in range(6):
            cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 5))))
            got = keyed(list(_grow(source.path, data, cuts, reader, source)))
            assert got == full, f"{reader.client} {source.path.name} cut at {cuts}"
        assert source.path.read_bytes() == data


# --- sources untouched -----------------------------------------------------------------------------------


def test_reading_leaves_sources_byte_identical_and_adds_nothing(reader: Reader, home: Path) -> None:
    write_sample(reader.client, home)
    before = tree(home)
    read_all(reader)
    read_all(reader)
    after = tree(home)
    assert after.keys() == before.keys(), f"added {sorted(after.keys() - before.keys())}"
    assert after == before


def test_a_database_held_open_by_its_client_is_read_and_left_untouched(reader: Reader, home: Path) -> None:
    """The client is running: its database in WAL mode with a live ``-wal`` and ``-shm``."""
    write_sample(reader.client, home)
    databases = [s.path for s in reader.discover([]) if s.path.read_bytes()[:16] == b"SQLite format 3\0"]
    if not databases:
        pytest.skip(f"{reader.client} reads no database")
    baseline = {path: keyed(rows) for path, rows in read_all(reader).items()}
    clients = []
    try:
        for path in databases:
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("CREATE TABLE contract_probe (x)")  # a write that stays in the -wal
            conn.commit()
            clients.append(conn)
        before = tree(home)
        assert all(f"{p.name}-wal" in {Path(k).name for k in before} for p in databases)
        got = {path: keyed(rows) for path, rows in read_all(reader).items()}
        after = tree(home)
    finally:
        for conn in clients:
            conn.close()
    assert after == before, (
        f"changed or added: {sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))}"
    )
    assert got == baseline


# --- environment variables ---------------------------------------------------------------------------------


class EnvSpy(MutableMapping[str, str]):
    """``os.environ`` that records every name looked up."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.values = dict(real)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        self.read.add(str(name))
        return name in self.values

    def __setitem__(self, name: str, value: str) -> None:
        self.values[name] = value

    def __delitem__(self, name: str) -> None:
        del self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def copy(self) -> dict[str, str]:
        return dict(self.values)


def _spy(monkeypatch: pytest.MonkeyPatch) -> EnvSpy:
    spy = EnvSpy(os.environ)
    monkeypatch.setattr(os, "environ", spy)
    return spy


def test_declares_its_environment(reader: Reader) -> None:
    env = getattr(reader, "env", None)
    assert isinstance(env, tuple), f"{reader.client}: no `env` tuple declared"
    assert all(isinstance(n, str) and n and n == n.upper() for n in env), env


def test_every_variable_it_reads_is_declared(reader: Reader, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_sample(reader.client, home)
    spy = _spy(monkeypatch)
    reader.roots()
    for source in reader.discover([]):
        reader.read(source, 0, {})
    read = {n for n in spy.read if n not in UNDECLARED_OK and not n.startswith("XDG_")}
    undeclared = read - set(getattr(reader, "env", ()))
    assert not undeclared, f"{reader.client} reads {sorted(undeclared)} without declaring them"


def test_every_declared_variable_is_honoured(reader: Reader, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting it moves where the reader looks, or at least the reader reads it, on some platform
    (``APPDATA`` only on Windows)."""
    for name in getattr(reader, "env", ()):
        honoured = False
        for platform in (sys.platform, "linux", "darwin", "win32"):
            with monkeypatch.context() as patch:
                patch.setattr(sys, "platform", platform)
                patch.delenv(name, raising=False)
                baseline = reader.roots()
                patch.setenv(name, str(home / f"moved-{name.lower()}"))
                spy = _spy(patch)
                moved = reader.roots()
                reader.discover([])
            honoured = honoured or moved != baseline or name in spy.read
        assert honoured, f"{reader.client}: {name} is declared but never read"


def test_the_union_of_declared_variables() -> None:
    union = reader_env()
    assert union == tuple(sorted(set(union)))
    for reader in READERS:
        assert set(getattr(reader, "env", ())) <= set(union)


def test_demo_reads_none_of_the_users_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ZED_THREADS_DB, CRUSH_PROJECTS and HERMES_HOME point at a user's databases (outside HOME): the demo
    ignores them."""
    import polars as pl

    from tokscope.demo import build_demo, demo_env
    from tokscope.ledger import Ledger

    user = tmp_path / "user"
    for client in ("zed", "crush", "hermes"):
        write_sample(client, user)
    monkeypatch.setenv("ZED_THREADS_DB", str(user / ".local/share/zed/threads/threads.db"))
    monkeypatch.setenv("CRUSH_PROJECTS", str(user / "src/app/.crush"))
    monkeypatch.setenv("HERMES_HOME", str(user / ".hermes"))
    for client in ("zed", "crush", "hermes"):  # the variables do reach the user's files
        assert get_reader(client).discover([]), client
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, os.environ.get(name, "/nonexistent"))  # restored after the test
    before = tree(user)
    demo_env(tmp_path / "demo")
    assert not set(reader_env()) & set(os.environ)
    demo = build_demo(tmp_path / "demo" / "home", tmp_path / "demo" / "shared", date(2026, 11, 20), days=2)
    clients = set(Ledger(demo.ledger_root).lazy().select(pl.col("client").cast(pl.String)).collect()["client"])
    assert clients and not clients & {"zed", "crush", "hermes"}, clients
    assert tree(user) == before


# --- the readers setting -------------------------------------------------------------------------------------


def test_choose_readers_by_client_name() -> None:
    assert choose_readers([]).readers == READERS
    assert choose_readers([" ", ""]).readers == READERS
    chosen = choose_readers(["codex", "Claude_Code"])
    assert [r.client for r in chosen.readers] == ["claude-code", "codex"]  # display order
    assert chosen.problems == ()


def test_unknown_reader_names_are_reported_with_the_known_ones() -> None:
    chosen = choose_readers(["codex", "codx"])
    assert [r.client for r in chosen.readers] == ["codex"]
    (problem,) = chosen.problems
    assert "'codx'" in problem and all(client in problem for client in CLIENTS)


def test_readers_setting_from_env_and_config(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tokscope import config

    path = home / "config.toml"
    path.write_text('readers = "codex"\n')
    assert config.load(path).readers == ("codex",)
    path.write_text('readers = ["codex", "kimi"]\n')
    assert config.load(path).readers == ("codex", "kimi")
    path.write_text("readers = 3\n")
    settings = config.load(path)
    assert settings.readers == () and any("readers" in e for e in settings.errors)
    monkeypatch.setenv("TOKSCOPE_READERS", " claude-code , codex,")
    assert config.load(path).readers == ("claude-code", "codex")


def _ledger_clients() -> set[str]:
    import polars as pl

    from tokscope.ledger import Ledger

    return set(Ledger().lazy().select(pl.col("client").cast(pl.String)).collect()["client"])


def test_cli_scans_only_the_chosen_readers(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tokscope.cli import main

    write_sample("claude-code", home)
    write_sample("codex", home)
    monkeypatch.setenv("TOKSCOPE_READERS", "codex,codx")
    assert main(["scan"]) == 0
    err = capsys.readouterr().err
    assert "unknown reader 'codx'" in err and "claude-code" in err
    assert _ledger_clients() == {"codex"}
    assert main(["sources", "--format", "json", "--no-scan"]) == 0
    assert [s["client"] for s in json.loads(capsys.readouterr().out)] == ["codex"]
    monkeypatch.delenv("TOKSCOPE_READERS")
    assert main(["scan"]) == 0
    assert _ledger_clients() == {"claude-code", "codex"}


async def test_tui_scans_only_the_chosen_readers(home: Path) -> None:
    from tests.tui_helpers import settle
    from tokscope.config import Config
    from tokscope.tui.app import make_app

    write_sample("claude-code", home)
    write_sample("codex", home)
    app = make_app(Config(readers=("codex", "codx")), live=False, tz="UTC")
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        assert any("codx" in e for e in app.loaded.scan_errors)
    assert _ledger_clients() == {"codex"}
