"""Entry point of the ``tokscope`` console script."""

import sys


def main() -> None:
    """Run the CLI (and the TUI when no sub-command is given)."""
    if sys.argv[1:] == ["guard"]:  # an agent's hook, on every tool call: decide before any parser is built
        from tokscope.guard import hook_main

        sys.exit(hook_main())
    from tokscope.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
