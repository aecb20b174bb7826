"""Reader fuzz (issue 12): every reader's sample source, mutated the ways real damage and hostile
input look, run through ``scan_worker.read_job`` (what the scan runs).

Mutations: a flipped byte, a truncation, invalid UTF-8, a BOM, one JSON value replaced by a hostile
one (huge, negative, float, string, infinite numbers, year-9999 ISO and epoch-ms times, null,
containers) or nested thousands deep, one SQLite cell set to such a value, and a FIFO in place of a
file or as a database's ``-wal``/``-journal``.

Each read must return (no exception, no hang), name no reader bug among its errors, leave every
file byte-identical with nothing added, and still count what the mutation did not touch: every other
source keeps its rows, and in a line log one bad line costs at most one of the rows that the log gives
without that line too.
``test_no_value_outside_the_limits_is_counted`` holds ``read_job`` to ``tokscope.limits``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tokscope.readers import ReadResult, Source, all_readers, get_reader
from tokscope.readers.base import COUNT_FIELDS, Row

from tests.reader_samples import write_sample
from tokscope import limits
from tokscope.scan_worker import read_job

CLIENTS = [r.client for r in all_readers()]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: a mutation is already small, and a hang costs seconds
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Raw JSON tokens put in place of one value.
HOSTILE = (
    "1e30",
    "9223372036854775807",
    "18446744073709551616",
    "-5",
    "3.7",
    '"12"',
    "1e400",
    "-1e400",
    '"9999-12-31T23:59:59Z"',
    "253402300799000",
    "1795168800000",
    "253402300799000000",
    "null",
    '""',
    "[]",
    "{}",
    "true",
)
DEEP = "[" * 5000 + "]" * 5000
KINDS = ("flip", "truncate", "utf8", "bom", "value", "nest", "fifo", "companion")
SQLITE_MAGIC = b"SQLite format 3\0"
#: What ``read_job`` writes when a reader raised instead of reporting (``TypeError: …``).
READER_BUG = re.compile(r": [A-Z]\w*(Error|Exception|Iteration|Interrupt): ")


@dataclass(frozen=True)
class Mutation:
    """One damage: its kind, which file (index into the sorted files, modulo), where in it (0-1) and which
    hostile value (index, modulo)."""

    kind: str
    file: int
    at: float
    value: int


mutations = st.builds(
    Mutation,
    kind=st.sampled_from(KINDS),
    file=st.integers(0, 1_000),
    at=st.floats(0, 1, allow_nan=False),
    value=st.integers(0, 1_000),
)


# --- set-up -------------------------------------------------------------------------------------------------


@contextmanager
def at_home(home: Path) -> Iterator[None]:
    """HOME is ``home`` inside (Hypothesis examples cannot use the function-scoped monkeypatch)."""
    old = os.environ["HOME"]
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        os.environ["HOME"] = old


@contextmanager
def unhang(home: Path, seconds: float) -> Iterator[list[str]]:
    """Yield a list that names the FIFOs a read blocked on for over ``seconds``.

    A blocking open of a FIFO waits in C (SQLite even retries it on EINTR), so no signal can end
    it; a watchdog thread opens the FIFO's other end instead, the read goes on, and the test fails.
    """
    hung: list[str] = []
    done = threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        while not done.wait(0.05):
            for fifo in (p for p in home.rglob("*") if p.is_fifo()):
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    continue  # nobody is waiting on this one
                if fifo.name not in hung:
                    hung.append(fifo.name)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield hung
    finally:
        done.set()
        watcher.join()


def read(source: Source) -> ReadResult:
    return read_job(source.client, str(source.path), source.mode, tuple(map(str, source.companions)), 0, {})


def keys(result: ReadResult) -> set[str]:
    return {r.event_key for r in result.rows}


def snapshot(home: Path) -> dict[str, str | None]:
    """Every path under ``home`` (tokscope's own cache aside) -> sha256 (None: not a regular file)."""
    found: dict[str, str | None] = {}
    for path in sorted(home.rglob("*")):
        rel = str(path.relative_to(home))
        if rel == ".cache" or rel.startswith(".cache/tokscope"):  # tokscope's cache (private db copies)
            continue
        regular = path.is_file() and not path.is_symlink()
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if regular else None
    return found


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each client's sample, written once (every example works on a copy)."""
    root = tmp_path_factory.mktemp("samples")
    made = {}
    for client in CLIENTS:
        made[client] = root / client
        made[client].mkdir()
        with at_home(made[client]):
            write_sample(client, made[client])
    return made


def fresh(template: Path, scratch: Path) -> Path:
    home = scratch / f"h{time.monotonic_ns()}"
    shutil.copytree(template, home, symlinks=True)
    return home


def discovered(client: str) -> list[Source]:
    errors: list[str] = []
    return get_reader(client).discover(errors)


# --- mutations ------------------------------------------------------------------------------------------------


def _json_value_spans(text: str) -> list[tuple[int, int]]:
    """Where the scalar values of a JSON text are (numbers, strings that follow a ':' or sit in an array)."""
    pattern = r'(?<=[:\[,])\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)(?=\s*[,}\]])'
    return [m.span(1) for m in re.finditer(pattern, text)]


def _replace_value(data: bytes, m: Mutation, token: str) -> bytes | None:
    text = data.decode("utf-8", "replace")
    spans = _json_value_spans(text)
    if not spans:
        return None
    start, end = spans[int(m.at * (len(spans) - 1))]
    return (text[:start] + token + text[end:]).encode()


def _mutate_sqlite(path: Path, m: Mutation) -> bool:
    """Set one cell of one table to a hostile value (a JSON text cell gets the value inside it)."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'") if t != "sqlite_sequence"
        ]
        cells = []
        for table in tables:
            names = [c[1] for c in conn.execute(f"PRAGMA table_info('{table}')")]
            for (rowid,) in conn.execute(f"SELECT rowid FROM '{table}'"):
                cells.extend((table, rowid, name) for name in names)
        if not cells:
            return False
        table, rowid, name = cells[int(m.at * (len(cells) - 1))]
        (current,) = conn.execute(f"SELECT \"{name}\" FROM '{table}' WHERE rowid=?", (rowid,)).fetchone()
        token = HOSTILE[m.value % len(HOSTILE)]
        if isinstance(current, str) and current[:1] in "{[":
            value: object = (_replace_value(current.encode(), m, token) or b"").decode()
        elif m.value % 7 == 0:
            value = b"\xff\xfe\x80 invalid"
        elif m.value % 5 == 0:
            value = DEEP
        else:
            parsed = json.loads(token) if token not in ("1e400", "-1e400") else float(token)
            value = parsed if not isinstance(parsed, list | dict) else token
        conn.execute(f"UPDATE '{table}' SET \"{name}\"=? WHERE rowid=?", (value, rowid))
        conn.commit()
        return True
    except (sqlite3.Error, OverflowError):
        return False
    finally:
        conn.close()


def mutate(home: Path, m: Mutation) -> tuple[Path, int | None] | None:
    """Apply ``m`` to one file under ``home``: (the file, the line index it changed) or None if it does not apply."""
    files = sorted(p for p in home.rglob("*") if p.is_file() and not p.is_symlink())
    path = files[m.file % len(files)]
    data = path.read_bytes()
    pos = int(m.at * len(data))
    if m.kind == "fifo":
        path.unlink()
        os.mkfifo(path)
        return path, None
    if data.startswith(SQLITE_MAGIC):
        if m.kind == "companion":
            os.mkfifo(path.with_name(path.name + ("-wal" if m.value % 2 else "-journal")))
            return path, None
        if m.kind == "value":
            return (path, None) if _mutate_sqlite(path, m) else None
    if m.kind == "companion":
        return None
    line = data.count(b"\n", 0, pos) if path.suffix == ".jsonl" else None
    if m.kind == "flip":
        if not data:
            return None
        new = data[:pos] + bytes([data[min(pos, len(data) - 1)] ^ (1 + m.value % 255)]) + data[pos + 1 :]
    elif m.kind == "truncate":
        new, line = data[:pos], None
    elif m.kind == "utf8":
        new = data[:pos] + b"\xff\xfe\xc3" + data[pos:]
    elif m.kind == "bom":
        new, line = b"\xef\xbb\xbf" + data, 0
    elif m.kind in ("value", "nest"):
        if data.startswith(SQLITE_MAGIC):
            return None
        token = DEEP if m.kind == "nest" else HOSTILE[m.value % len(HOSTILE)]
        replaced = _replace_value(data, m, token)
        if replaced is None:
            return None
        start = next((i for i, (a, b) in enumerate(zip(data, replaced, strict=False)) if a != b), len(data))
        line = data.count(b"\n", 0, start) if line is not None else None
        new = replaced
    else:
        raise AssertionError(m.kind)
    path.write_bytes(new)
    return path, line


def _without_line(data: bytes, line: int) -> bytes:
    lines = data.split(b"\n")
    return b"\n".join(lines[:line] + lines[line + 1 :])


# --- the properties ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
@FUZZ
@given(m=mutations)
def test_a_mutation_costs_only_itself(client: str, m: Mutation, templates: dict[str, Path], tmp_path: Path) -> None:
    home = fresh(templates[client], tmp_path)
    with at_home(home), unhang(home, 3.0) as hung:
        sources = {s.path: s for s in discovered(client)}
        baseline = {path: keys(read(s)) for path, s in sources.items()}
        original = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
        done = mutate(home, m)
        if done is None:
            return
        target, line = done
        isolated: set[str] | None = None
        if line is not None and target in sources and target.suffix == ".jsonl":
            mutated = target.read_bytes()
            target.write_bytes(_without_line(original[target], line))
            isolated = baseline[target] & keys(read(sources[target]))
            target.write_bytes(mutated)
        before = snapshot(home)
        results = {s.path: read(s) for s in discovered(client)}
        after = snapshot(home)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k, "-") != after.get(k, "-"))
        assert not changed, f"{m}: a read changed or added {changed}"
    assert not hung, f"{m}: a read blocked on the FIFO {hung}"
    for path, result in results.items():
        bugs = [e for e in result.errors if READER_BUG.search(e)]
        assert not bugs, f"{m}: reader raised: {bugs}"
        assert all(isinstance(r, Row) for r in result.rows)
        if path != target and path in baseline:
            lost = baseline[path] - keys(result)
            assert not lost, f"{m} on {target.name}: {path.name} lost {sorted(lost)}"
    if isolated is not None and target in results:
        # One bad line costs at most its own turn. Not zero: a line can stand in for its neighbour (Codex
        # repeats a total; with the first copy deleted the repeat counts the turn, with it damaged not).
        lost = isolated - keys(results[target])
        assert len(lost) <= 1, f"{m}: {target.name} lost rows beside line {line}: {sorted(lost)}"


@pytest.mark.parametrize("client", CLIENTS)
@settings(FUZZ, max_examples=15)
@given(
    m=st.builds(
        Mutation, kind=st.just("value"), file=st.integers(0, 1_000), at=st.floats(0, 1), value=st.integers(0, 1_000)
    )
)
def test_no_value_outside_the_limits_is_counted(
    client: str, m: Mutation, templates: dict[str, Path], tmp_path: Path
) -> None:
    home = fresh(templates[client], tmp_path)
    session_totals = get_reader(client).session_totals
    most = limits.MAX_SESSION_TOKENS if session_totals else limits.MAX_TURN_TOKENS
    now = int(time.time() * 1_000_000)
    with at_home(home), unhang(home, 3.0):
        if mutate(home, m) is None:
            return
        rows = [r for s in discovered(client) for r in read(s).rows]
    for row in rows:
        for name in COUNT_FIELDS:
            assert 0 <= getattr(row, name) <= most, f"{m}: {name} = {getattr(row, name)} counted"
        assert limits.MIN_TS_US <= row.ts <= limits.max_ts_us(now), f"{m}: ts = {row.ts} counted"
        assert row.source_cost is None or 0 <= row.source_cost <= limits.MAX_COST, f"{m}: cost {row.source_cost}"
