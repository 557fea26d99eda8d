"""``wavecross evaluate``: metrics of folders of fused images against their sources (:mod:`wavecross.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WavecrossError
from ._common import add_max_pixels, add_pair_root, add_progress, comma_list, max_pixels, pair_inputs, parse_fused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ir", metavar="DIR", help="folder of infrared source images")
    parser.add_argument("--vis", metavar="DIR", help="folder of visible source images")
    add_pair_root(parser, "instead of --ir/--vis: a test-set folder holding an IR and a visible folder")
    parser.add_argument(
        "--fused",
        required=True,
        action="append",
        metavar="[NAME=]DIR",
        help="folder of fused images (file stems as the sources); repeat to compare methods",
    )
    parser.add_argument(
        "--convention",
        default="cddfuse",
        choices=("cddfuse", "vifb", "tang"),
        help="reference code whose definitions to follow (default: cddfuse)",
    )
    parser.add_argument(
        "--metrics",
        metavar="M1,M2,...",
        help="metric names (default: the convention's preset), e.g. SD,AG,SCD,SF,CC,EN,Nabf,MS_SSIM,RankAgree",
    )
    parser.add_argument("--json", metavar="FILE", help="write the per-image and mean values as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write the per-image and mean values as CSV")
    parser.add_argument("--markdown", metavar="FILE", help="write mean and per-image tables as Markdown")
    add_progress(parser)
    add_max_pixels(parser)


def run(args: argparse.Namespace) -> int:
    from .. import evaluate
    from ..data.io import check_writable, write_text
    from ..metrics import retain_freed_memory

    limit = max_pixels(args)
    outputs = [Path(p) for p in (args.json, args.csv, args.markdown) if p]
    for path in outputs:  # before the long computation, not after it
        if path.is_dir():
            raise WavecrossError(f"{path}: is a folder; give a file name.")
        check_writable(path.parent, path)
    retain_freed_memory()  # a batch job over many images: keep freed arrays for reuse instead of re-faulting them
    metrics = None
    if args.metrics is not None:
        metrics = comma_list(args.metrics)
        if not metrics:
            raise WavecrossError(f"--metrics {args.metrics!r} names no metric; list names such as EN,SD,SF.")
    ir, vis = pair_inputs(args)
    results = evaluate.evaluate_folders(
        ir,
        vis,
        parse_fused(args.fused),
        convention=args.convention,
        metrics=metrics,
        progress=not args.no_progress,
        max_pixels=limit,
    )
    files = [
        (args.json, evaluate.to_json(results)),
        (args.csv, evaluate.to_csv(results)),
        (args.markdown, evaluate.to_markdown(results, args.convention)),
    ]
    for path, text in files:
        if path:  # atomically, so an interrupted or failed write leaves no truncated file
            write_text(path, text if text.endswith("\n") else text + "\n")
    print(evaluate.to_text(results))
    return 0
