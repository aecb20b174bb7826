"""Entry point of the ``tokscope`` console script."""

import sys


def main() -> None:
    """Run the CLI (and the TUI when no sub-command is given)."""
    from tokscope.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
