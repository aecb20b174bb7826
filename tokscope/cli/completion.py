"""``tokscope completion bash|zsh|fish``: static shell completion scripts built from the CLI's own parser.

Static, so a TAB costs the shell nothing (no Python start per key press), and generated from
``build_parser()``, so a new command or flag completes without anyone editing a script.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh", "fish")


@dataclass
class Command:
    """One (sub)command: its words, options (and their choices) and sub-commands."""

    path: tuple[str, ...]
    help: str = ""
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """``--flag`` -> the values it takes (empty: free text or none)."""
    takes_value: set[str] = field(default_factory=set)
    positional: tuple[str, ...] = ()
    """The choices of its first positional argument (``completion bash|zsh|fish``)."""
    subcommands: dict[str, Command] = field(default_factory=dict)


def command_tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Command:
    """The completion-relevant shape of ``parser``."""
    node = Command(path, parser.description or "")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                child = command_tree(sub, (*path, name))
                child.help = helps.get(name, "")
                node.subcommands[name] = child
            continue
        if not action.option_strings and action.choices and not node.positional:
            node.positional = tuple(str(c) for c in action.choices)
        for flag in action.option_strings:
            if flag.startswith("--") or len(flag) == 2:
                node.options[flag] = tuple(str(c) for c in action.choices or ())
                if action.nargs != 0:
                    node.takes_value.add(flag)
    return node


def _walk(node: Command) -> list[Command]:
    out = [node]
    for child in node.subcommands.values():
        out.extend(_walk(child))
    return out


def bash(tree: Command) -> str:
    """A bash completion script (``complete -F``)."""
    cases = []
    for node in _walk(tree):
        words = " ".join([*node.subcommands, *node.positional, *node.options])
        values = "".join(
            f"            {shlex.quote(flag)}) COMPREPLY=($(compgen -W {shlex.quote(' '.join(choices))} -- \"$cur\"));"
            " return;;\n"
            for flag, choices in node.options.items()
            if choices
        )
        key = " ".join(node.path)
        cases.append(
            f"        {shlex.quote(key)})\n"
            f"            case \"$prev\" in\n{values}            esac\n"
            f"            COMPREPLY=($(compgen -W {shlex.quote(words)} -- \"$cur\"));;\n"
        )
    known = "|" + "|".join(sorted(" ".join(n.path) for n in _walk(tree) if n.path)) + "|"
    return (
        "# tokscope bash completion: eval \"$(tokscope completion bash)\"\n"
        "_tokscope() {\n"
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path='' w\n"
        f"    local known={shlex.quote(known)}\n"
        "    for w in \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"; do\n"
        "        [[ $w != -* && $known == *\"|${path:+$path }$w|\"* ]] && path=${path:+$path }$w\n"
        "    done\n"
        "    case \"$path\" in\n" + "".join(cases) + "    esac\n"
        "}\n"
        "complete -o default -F _tokscope tokscope\n"
    )


def _zsh_escape(text: str) -> str:
    """Text safe inside a single-quoted ``_arguments`` spec, in a double-quoted description."""
    for bad in ("'", '"', "\\", "(", ")", "[", "]", "`", "$"):
        text = text.replace(bad, "")
    return text.replace(":", "\\:")


def zsh(tree: Command) -> str:
    """A zsh completion script (``compdef``)."""
    funcs = []
    for node in _walk(tree):
        name = "_tokscope" + "".join(f"_{p.replace('-', '_')}" for p in node.path)
        specs = []
        for flag, choices in node.options.items():
            takes = ":value:_files" if flag in node.takes_value else ""
            action = f":value:({' '.join(choices)})" if choices else takes
            specs.append(f"'{flag}[]{action}'")
        if node.positional:
            specs.append(f"'1:value:({' '.join(node.positional)})'")
        if node.subcommands:
            described = " ".join(f'{sub}\\:"{_zsh_escape(child.help)}"' for sub, child in node.subcommands.items())
            specs.append(f"'1: :(({described}))'")
            specs.append("'*:: :->rest'")
            dispatch = (
                "    case $state in rest)\n        case $words[1] in\n"
                + "".join(
                    f"            {sub}) {name}_{sub.replace('-', '_')};;\n" for sub in node.subcommands
                )
                + "        esac;;\n    esac\n"
            )
        else:
            dispatch = ""
        funcs.append(
            f"{name}() {{\n    local curcontext=$curcontext state line\n"
            f"    _arguments -C -s {' '.join(specs)}\n{dispatch}}}\n"
        )
    return "#compdef tokscope\n# tokscope zsh completion: eval \"$(tokscope completion zsh)\"\n" + "".join(funcs) + (
        "compdef _tokscope tokscope\n"
    )


def fish(tree: Command) -> str:
    """A fish completion script (``complete -c tokscope``)."""
    lines = ["# tokscope fish completion: tokscope completion fish | source", "complete -c tokscope -f"]
    for node in _walk(tree):
        if node.path:
            parent = node.path[:-1]
            cond = _fish_condition(parent, tree)
            lines.append(f"complete -c tokscope -n {shlex.quote(cond)} -a {node.path[-1]} -d {shlex.quote(node.help)}")
        cond = _fish_condition(node.path, tree)
        if node.positional:
            lines.append(f"complete -c tokscope -n {shlex.quote(cond)} -a {shlex.quote(' '.join(node.positional))}")
        for flag, choices in node.options.items():
            opt = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            takes = " -r" if flag in node.takes_value else ""
            values = f" -x -a {shlex.quote(' '.join(choices))}" if choices else takes
            lines.append(f"complete -c tokscope -n {shlex.quote(cond)} {opt}{values}")
    return "\n".join(lines) + "\n"


def _fish_condition(path: tuple[str, ...], tree: Command) -> str:
    if not path:
        subs = " ".join(tree.subcommands)
        return f"not __fish_seen_subcommand_from {subs}"
    node = tree
    for part in path:
        node = node.subcommands[part]
    checks = [f"__fish_seen_subcommand_from {p}" for p in path]
    if node.subcommands:
        checks.append(f"not __fish_seen_subcommand_from {' '.join(node.subcommands)}")
    return "; and ".join(checks)


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell``."""
    tree = command_tree(parser)
    return {"bash": bash, "zsh": zsh, "fish": fish}[shell](tree)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``completion`` to the CLI."""
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(func=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the script."""
    from tokscope.cli import build_parser

    print(script(args.shell, build_parser()), end="")
    return 0
