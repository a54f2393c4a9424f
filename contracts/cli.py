"""``evolink-mock``: the command line: ``serve`` (the emulator), ``contract`` and ``drift`` (the kit)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mock_server import __version__
from mock_server.cli import add_serve_parser, run

from . import contract_command
from .drift import cli as drift_command


def build_parser() -> argparse.ArgumentParser:
    """The ``evolink-mock`` argument parser."""
    parser = argparse.ArgumentParser(prog="evolink-mock",
                                     description="A local emulator of the EvoLink video API and its test kit.")
    parser.add_argument("--version", action="version", version=f"evolink-mock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_serve_parser(sub)
    contract_command.add_parser(sub)
    drift_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; ``serve`` when no command is given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(build_parser().parse_args(argv or ["serve"]))


if __name__ == "__main__":
    sys.exit(main())
