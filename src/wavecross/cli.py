"""The ``wavecross`` command: one sub-command per module, imported only when it is used.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``. A :class:`WavecrossError` raised
anywhere becomes one line on stderr and exit status 2 — users never see a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import WavecrossError

COMMANDS: dict[str, tuple[str, str]] = {
    "fuse": ("wavecross.fuse_cli", "fuse one IR/visible pair or two folders of pairs"),
    "demo": ("wavecross.demo", "fuse a generated synthetic scene with the shipped model (no data needed)"),
    "evaluate": ("wavecross.evaluate", "compute fusion metrics for one or more folders of fused images"),
    "train": ("wavecross.train.cli", "train Wave-Cross from a YAML config (pretrain, fusion or both stages)"),
    "export": ("wavecross.export", "export a model to ONNX with dynamic height and width"),
    "benchmark": ("wavecross.report.benchmark", "run methods on test sets and write an HTML/Markdown report"),
}


def _build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavecross", description="Infrared-visible image fusion with Wave-Cross.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"wavecross {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name == command:  # only the chosen command's module is imported (torch is slow to import)
            importlib.import_module(module).add_arguments(p)
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
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except WavecrossError as exc:
        print(f"wavecross {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wavecross {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
