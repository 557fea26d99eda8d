"""``wavecross benchmark``: methods on test sets, one report folder.

The work is :func:`wavecross.report.benchmark.run_benchmark`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WavecrossError
from ..report.benchmark import DEFAULT_METHODS
from ._common import (
    add_device,
    add_folder_names,
    add_max_pixels,
    add_precision,
    add_progress,
    comma_list,
    max_pixels,
    parse_fused,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="folder of test sets, each holding an IR and a visible folder (<set>/ir and <set>/vi, Ir/Vis, ...)",
    )
    add_folder_names(parser)
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help="comma-separated methods to run here (default: %(default)s)",
    )
    parser.add_argument(
        "--fused",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="add a method from its fused outputs DIR/<set>/<name>.png (repeatable)",
    )
    parser.add_argument("--sets", default=None, help="comma-separated subset of the sets in --data (default: all)")
    parser.add_argument(
        "--convention", default="cddfuse", help="metric convention: cddfuse, vifb or tang (default: %(default)s)"
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="a preset, 'all' or comma-separated names (default: the convention's preset + thermal metrics)",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, help="report folder to create")
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty report folder")
    parser.add_argument("--weights", type=Path, default=None, help="network weights (default: the shipped model)")
    add_device(parser, "the network")
    add_precision(parser, "fp32", "fp32 by default, so that scores do not depend on the CPU")
    parser.add_argument("--grid-rows", type=int, default=4, help="images per set in the image grid")
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="SET/NAME",
        help="always put this pair in its set's image grid and zoom panel, e.g. TNO/01 (repeatable)",
    )
    add_progress(parser)
    add_max_pixels(parser)


def _metrics(text: str | None) -> str | list[str] | None:
    """``--metrics``: a preset name, ``all`` or one metric as a string; several names as a list."""
    if text is None:
        return None
    metrics = comma_list(text)
    if not metrics:
        raise WavecrossError(f"--metrics {text!r} names no metric; give a preset, all, or metric names.")
    return metrics if "," in text else metrics[0]


def run(args: argparse.Namespace) -> int:
    from ..metrics import retain_freed_memory
    from ..report.benchmark import run_benchmark

    retain_freed_memory()  # many images in one process: reuse freed arrays instead of re-faulting their pages
    limit = max_pixels(args)
    summary = run_benchmark(
        args.data,
        comma_list(args.methods),
        parse_fused(args.fused, named=True),
        args.convention,
        args.output,
        sets=comma_list(args.sets) if args.sets else None,
        metrics=_metrics(args.metrics),
        overwrite=args.overwrite,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        grid_rows=args.grid_rows,
        show=args.show,
        progress=not args.no_progress,
        max_pixels=limit,
        ir_dir=args.ir_dir,
        vis_dir=args.vis_dir,
    )
    print(f"report written to {Path(args.output) / 'index.html'} ({summary['elapsed_s']:.0f} s)")
    return 0
