"""The ``wavecross`` command: one sub-command per module of this package, imported only when it is used.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and nothing else but flag parsing
and printing; the work is done by the library (:mod:`wavecross.fuse_files`, :mod:`wavecross.evaluate`, ...), which
never imports argparse. Helpers shared by several commands are in :mod:`._common`; the dispatcher gives every
command that runs torch ``--threads N`` itself. A :class:`WavecrossError` raised anywhere becomes one line on stderr
and exit status 2 — users never see a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from ..errors import WavecrossError
from ._common import add_threads, apply_threads

COMMANDS: dict[str, str] = {
    "fuse": "fuse one IR/visible pair, two folders of pairs or a data-set root",
    "demo": "fuse a generated synthetic scene with the shipped model (no data needed)",
    "evaluate": "compute fusion metrics for one or more folders of fused images",
    "train": "train Wave-Cross from a recipe or a YAML config (pretrain, fusion or both stages)",
    "export": "export a model to ONNX with dynamic height and width",
    "benchmark": "run methods on test sets and write an HTML/Markdown report",
    "models": "list the bundled models and the shipped training recipes",
}
NO_TORCH = {"models"}  # commands without --threads: they run nothing in torch


def _module(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{command}")


def _build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavecross", description="Infrared-visible image fusion with Wave-Cross.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"wavecross {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == command:  # only the chosen command's module is imported (torch is slow to import)
            _module(name).add_arguments(p)
            if name not in NO_TORCH:
                add_threads(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = _build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        if args.command not in NO_TORCH:
            apply_threads(args)
        return int(_module(args.command).run(args) or 0)
    except WavecrossError as exc:
        if not exc.quiet:  # quiet: another process of a torchrun job prints it
            print(f"wavecross {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wavecross {args.command}: interrupted", file=sys.stderr)
        return 130
