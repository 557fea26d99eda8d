"""Flags shared by several commands, defined once: ``--max-pixels``, ``--threads``, ``--device``, ``--precision``,
``--no-progress``, and ``--data ROOT`` with ``--ir-dir``/``--vis-dir`` for a data-set root."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..data.io import MAX_PIXELS
from ..errors import WavecrossError


def add_max_pixels(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N``, for the commands that read images (fuse, evaluate, benchmark)."""
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help="refuse images over N pixels, checked from the header before decoding (default: %(default)s; 0: none)",
    )


def max_pixels(args: argparse.Namespace) -> int:
    """The checked ``--max-pixels`` value."""
    if args.max_pixels < 0:
        raise WavecrossError(f"--max-pixels {args.max_pixels}: use a pixel count, or 0 for no limit.")
    return args.max_pixels


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N``, for the commands that run torch (all but ``models``; added by the dispatcher)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: the cores no other program keeps busy when the command starts, at most "
        "torch's choice; fuse under torchrun on the CPU: cores / local processes)",
    )


def apply_threads(args: argparse.Namespace) -> None:
    """torch's CPU threads: ``--threads`` when given; else torch's choice less the cores other programs keep busy
    (:func:`wavecross.hub.idle_cores`), except under ``torchrun``, whose processes share the cores themselves."""
    from ..distributed import torchrun_group
    from ..hub import idle_cores, set_threads

    if args.threads is not None:
        set_threads(args.threads)
    elif torchrun_group().world == 1:
        import torch

        if torch.get_num_threads() > 1:  # 50 ms of measuring, only where there is something to reduce
            set_threads(min(torch.get_num_threads(), idle_cores()))


def add_precision(parser: argparse.ArgumentParser, default: str, why: str) -> None:
    """``--precision``, the network's number format (:data:`wavecross.engine.PRECISIONS`); ``why`` explains the
    command's default."""
    parser.add_argument(
        "--precision",
        default=default,
        choices=("auto", "fp32", "bf16", "fp16"),
        help=f"number format of the network: {why}; auto: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32 "
        "(docs/speed.md); fp16 is GPU only",
    )


def add_device(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--device``, ``auto`` by default for every command: the GPU when there is one."""
    parser.add_argument(
        "--device", default="auto", help=f"device{' for ' + what if what else ''}: auto (default), cpu, cuda or mps"
    )


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress on stderr (a bar on a terminal, else a line every tenth of the work)",
    )


def add_pair_root(parser: argparse.ArgumentParser, root_help: str) -> None:
    """``--data ROOT`` (an alternative to ``--ir``/``--vis``) and the folder names inside it."""
    parser.add_argument("--data", metavar="ROOT", default=None, help=root_help)
    add_folder_names(parser)


def add_folder_names(parser: argparse.ArgumentParser) -> None:
    """``--ir-dir NAME`` and ``--vis-dir NAME``: the two folders of a root, when not named as data sets name them."""
    parser.add_argument(
        "--ir-dir",
        metavar="NAME",
        default=None,
        help="IR folder inside the root (default: found among ir, IR, Ir, infrared, Infrared, thermal)",
    )
    parser.add_argument(
        "--vis-dir",
        metavar="NAME",
        default=None,
        help="visible folder inside the root (default: found among vi, VI, Vis, vis, visible, Visible, rgb)",
    )


def pair_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The IR and visible inputs: ``--ir`` and ``--vis``, or the two folders of the ``--data`` root."""
    from ..data.pairs import pair_folders

    if args.data is not None:
        if args.ir is not None or args.vis is not None:
            raise WavecrossError("pass either --data ROOT or --ir and --vis, not both.")
        return pair_folders(args.data, args.ir_dir, args.vis_dir)
    if args.ir_dir is not None or args.vis_dir is not None:
        raise WavecrossError("--ir-dir and --vis-dir name the folders inside a --data ROOT; pass --data too.")
    if args.ir is None or args.vis is None:
        raise WavecrossError("pass --ir and --vis (images or folders of pairs), or --data ROOT (a data-set folder).")
    return Path(args.ir), Path(args.vis)


def comma_list(text: str) -> list[str]:
    """``a, b,c`` → ``["a", "b", "c"]``, empty items dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


#: Names of benchmarked methods become folder and file names of the report: plain words only.
_METHOD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def parse_fused(values: list[str], named: bool = False) -> dict[str, Path]:
    """``--fused`` values → {method name: folder}. ``DIR`` takes the folder's name, ``NAME=DIR`` names it; with
    ``named`` (benchmark, whose report files carry the names) only ``NAME=DIR`` with a file-name-like NAME."""
    fused: dict[str, Path] = {}
    for value in values:
        name, sep, folder = (part.strip() for part in value.partition("="))
        if not sep and not named:
            name, folder = Path(value).name or value, value
        if not name or not folder or (named and not _METHOD_NAME.match(name)):
            example = "--fused SeAFusion=peers/SeAFusion"
            raise WavecrossError(
                f"--fused {value!r} is not {'NAME=DIR' if named else 'DIR or NAME=DIR'}; write e.g. {example}."
            )
        if name in fused:
            raise WavecrossError(f"--fused: method name {name!r} given twice; give each folder its own NAME=DIR.")
        fused[name] = Path(folder)
    return fused
