"""The ``uclab`` command line.

Each group of subcommands lives in its own module exposing ``register(subparsers)``; a handler is
a function ``(argparse.Namespace) -> int`` stored as ``func`` on the parser. Handler modules import
heavy things (pyroute2, rich tables, protocol stacks) inside the handler, so ``uclab --help`` and
daemon start-up stay fast.

Exit codes: 0 ok, 1 failure, 2 usage or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from lab.base.errors import UclabError

# Modules that add subcommands. Each exposes ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "lab.cli.lab_cmds",
    "lab.cli.turn_cmds",
    "lab.cli.run_cmds",
    "lab.cli.firewall_cmds",
    "lab.cli.serve_cmds",
    "lab.cli.mininet_cmds",
)


def wrote(what: str, path: object) -> None:
    """Every file-writing option says where it wrote (stdout, one line each)."""
    print(f"wrote {what}: {path}")


def progress(text: str) -> None:
    """A long wait, told on stderr (a line each time: readable in a CI log)."""
    print(f"  ... {text}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="uclab",
        description="A network-namespace lab that replays Cisco tech note 212580: a Skype for "
        "Business screen share into a CMS meeting through Expressway-E TCP TURN, with real "
        "protocol daemons. Start with: uclab run screen-share",
        epilog="Exit codes: 0 ok, 1 failure, 2 usage or bad input. Docs: README.md, docs/.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("--version", action="version", version=f"uclab {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that group is not written yet
                continue
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("uclab")
    except PackageNotFoundError:
        return "(not installed: run ./setup)"


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The options in the same place for every command: everything before a ``--`` is parsed
    as options and arguments (``uclab exec cms --name nc1 -- ip -br a`` reads ``--name``),
    everything after it is the command ``exec`` runs."""
    words = list(sys.argv[1:] if argv is None else argv)
    head, tail = (words[:words.index("--")], words[words.index("--") + 1:]) \
        if "--" in words else (words, [])
    args, extra = parser.parse_known_args(head)
    if getattr(args, "command", None) == "exec":
        args.cmd = [*args.cmd, *extra, *tail]
        return args
    return parser.parse_args(words)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except UclabError as exc:
        print(f"uclab: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        logging.getLogger(__name__).debug("interrupted", exc_info=True)
        print("uclab: interrupted", file=sys.stderr)
        return 130
    return code
