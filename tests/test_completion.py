"""Shell completion scripts, generated from the CLI parser: every command and choice completes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tokscope.cli import build_parser
from tokscope.cli.completion import command_tree, script


def _bash_complete(words: list[str]) -> list[str]:
    code = (
        script("bash", build_parser())
        + f"\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; _tokscope;"
        + ' printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_bash_completes_commands_subcommands_flags_and_choices() -> None:
    assert _bash_complete(["tokscope", "rep"]) == ["report"]
    assert _bash_complete(["tokscope", "report", "--period", ""]) == ["today", "yesterday", "7d", "30d", "month", "all"]
    assert _bash_complete(["tokscope", "devices", "t"]) == ["trust"]
    assert "--format" in _bash_complete(["tokscope", "sources", "--"])
    assert _bash_complete(["tokscope", "completion", ""])[:3] == ["bash", "zsh", "fish"]


def test_every_command_is_in_every_script() -> None:
    tree = command_tree(build_parser())
    for shell in ("bash", "zsh", "fish"):
        text = script(shell, build_parser())
        for name in tree.subcommands:
            assert name in text, (shell, name)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_script_parses(tmp_path) -> None:
    path = tmp_path / "_tokscope"
    path.write_text(script("zsh", build_parser()))
    subprocess.run(["zsh", "-n", str(path)], check=True)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_completes_choices(tmp_path) -> None:
    path = tmp_path / "tokscope.fish"
    path.write_text(script("fish", build_parser()))
    out = subprocess.run(
        ["fish", "-c", f"source {path}; complete -C 'tokscope report --period '"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(out) == sorted(["today", "yesterday", "7d", "30d", "month", "all"])
