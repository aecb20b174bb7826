"""Conformance: real-world log shapes (from the peers' public test suites and the agents' own files),
each a HOME tree and the numbers ``tokscope report`` must give for it.

A case is a folder ``tests/conformance/<client>/<case>/`` holding

* ``home/``: files at their real paths relative to HOME (``home/.codex/sessions/2026/01/02/rollout-….jsonl``);
* ``case.json``::

    {"source": "where the shape comes from (peer repo, file, test name)",
     "env": {"CODEX_HOME": "$HOME/.codex-alt"},          # optional; $HOME is the case's HOME
     "by": ["session"],                                  # optional --by keys, default ["client"]
     "totals": {"turns": 2, "input": 100, "cost": null}, # a subset of the report's totals
     "rows": [{"session": "s1", "turns": 1}],            # optional: every row, compared on the keys given
     "peer": "ccusage counts 3 turns here; we count 2 because …"}  # optional: where we disagree, and why

The report runs end to end (scan into a private ledger, ``report --period all --format json --tz UTC``);
the sources must come out byte-identical, with no file added beside them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tokscope.cli import main

CASES = Path(__file__).parent / "conformance"


def _cases() -> list[Path]:
    return sorted(p.parent for p in CASES.glob("*/*/case.json"))


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def run_case(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    spec: dict[str, Any] = json.loads((case / "case.json").read_text())
    assert spec.get("source"), f"{case}: case.json needs a 'source' line"
    home = tmp_path / "case-home"
    if (case / "home").is_dir():
        shutil.copytree(case / "home", home, symlinks=True)
    else:
        home.mkdir()
    own = tmp_path / "tokscope-dirs"
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(own / name.lower()))
    for name, value in spec.get("env", {}).items():
        monkeypatch.setenv(name, value.replace("$HOME", str(home)))
    before = _tree(home)
    by = ",".join(spec.get("by", ["client"]))
    capsys.readouterr()
    code = main(["report", "--period", "all", "--format", "json", "--tz", "UTC", "--by", by])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert _tree(home) == before, f"{case.name}: sources changed or files appeared beside them"
    for key, want in spec.get("totals", {}).items():
        got = report["totals"].get(key)
        if isinstance(want, float) and got is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), f"totals[{key!r}]"
        else:
            assert got == want, f"totals[{key!r}]: got {got!r}, want {want!r}"
    if "rows" in spec:
        want_rows = spec["rows"]
        assert len(report["rows"]) == len(want_rows), json.dumps(report["rows"], indent=1)
        keys = spec.get("by", ["client"])
        got_by = {tuple(r.get(k) for k in keys): r for r in report["rows"]}
        for want in want_rows:
            ident = tuple(want.get(k) for k in keys)
            assert ident in got_by, f"no row {ident}; rows: {list(got_by)}"
            got = got_by[ident]
            for key, value in want.items():
                if isinstance(value, float) and got.get(key) is not None:
                    assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), f"{ident}[{key!r}]"
                else:
                    assert got.get(key) == value, f"{ident}[{key!r}]: got {got.get(key)!r}, want {value!r}"


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    run_case(case, tmp_path, monkeypatch, capsys)


def test_every_case_names_its_source() -> None:
    for case in _cases():
        spec = json.loads((case / "case.json").read_text())
        assert isinstance(spec.get("source"), str) and spec["source"].strip(), case
