"""The ``handlib`` command line (also ``python -m handlib``).

Each subcommand lives next to the code it drives: a module listed in ``COMMAND_MODULES`` has a
``register_cli(subparsers)`` function that adds its subcommands, each with ``func`` set to a
function of the parsed arguments returning an exit code. Errors a user can fix (a wrong path, a
bad value) are raised as ``UserError`` or ``ValueError``/``FileNotFoundError`` and printed without
a traceback, with exit status 2: the first line after the command's name, any further lines (a
dataset's expected layout) as they are.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES: tuple[str, ...] = (
    "handlib.papers",
    "handlib.depth_eval",
    "handlib.train_cli",
    "handlib.bench",
    "handlib.throughput",
    "handlib.data.datasets_cli",
    "handlib.data.synthetic_cli",
    "handlib.occlusion",
    "handlib.runqueue",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback (see the module doc)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handlib",
        description="handbook: models, data, metrics and training for five hand-pose papers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, FileNotFoundError) as error:
        # the problem on the first line; a message that describes more (a dataset's expected
        # layout) keeps its further lines, indentation included
        problem, *details = str(error).rstrip().splitlines() or [""]
        print(f"handlib {args.command}: error: {problem}", *details, sep="\n", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that closed early, e.g. `| head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
