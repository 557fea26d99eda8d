"""``wavecross fuse``: one pair (``--ir A.png --vis B.png -o F.png``), two folders of pairs or a data-set root
(``--data ROOT``) to a folder (``-o DIR``); under ``torchrun``, the pairs of a folder shared among processes.

The work, and every check before it, is :func:`wavecross.fuse_files.fuse_files`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (
    add_device,
    add_max_pixels,
    add_pair_root,
    add_precision,
    add_progress,
    max_pixels,
    pair_inputs,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ir", help="IR image, or a folder of IR images")
    parser.add_argument("--vis", help="visible image, or a folder with the same file names")
    add_pair_root(parser, "instead of --ir/--vis: a data-set folder holding an IR and a visible folder")
    parser.add_argument("-o", "--output", required=True, help="output image (one pair) or output folder")
    parser.add_argument(
        "--method",
        default="wavecross",
        help="wavecross (default) or a classical baseline: mean, max, dwt, laplacian, gff",
    )
    parser.add_argument("--model", default="wavecross", help="name of a bundled model (see wavecross models)")
    parser.add_argument("--weights", default=None, help="a model.safetensors from `wavecross train` instead")
    add_device(parser)
    add_precision(parser, "auto", "auto (default), fp32, bf16 or fp16")
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="largest tile side in pixels (0: never tile; default: tiles of up to 512 px for images over 640×512)",
    )
    parser.add_argument("--gray", action="store_true", help="write grey output even for colour visible input")
    parser.add_argument("--side-by-side", action="store_true", help="also write a labelled IR | VIS | fused panel")
    parser.add_argument(
        "--register",
        choices=("translation", "affine", "homography"),
        default=None,
        help="first warp each visible image onto its IR image by a global transform of this kind, estimated from "
        "the pair (slightly misaligned pairs; needs OpenCV; see docs/registration.md); default: off",
    )
    parser.add_argument(
        "--save-transform",
        action="store_true",
        help="with --register: also write each estimated transform as NAME.transform.json next to its output",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="continue an interrupted run: pairs whose outputs exist are skipped (and counted)",
    )
    add_max_pixels(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="pairs of equal size fused per forward pass (default: %(default)s)",
    )
    add_progress(parser)


def run(args: argparse.Namespace) -> int:
    from ..fuse_files import fuse_files

    limit = max_pixels(args)
    ir, vis = pair_inputs(args)
    report = fuse_files(
        ir,
        vis,
        Path(args.output),
        method=args.method,
        model=args.model,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        tile=args.tile,
        gray=args.gray,
        side_by_side_panels=args.side_by_side,
        overwrite=args.overwrite,
        skip_existing=args.skip_existing,
        max_pixels=limit,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        register=args.register,
        save_transform=args.save_transform,
        threads=args.threads,
    )
    if report.rank != 0:  # under torchrun, rank 0 reports for every process
        return 0
    notes = [f"{report.processes} processes"] if report.processes > 1 else []
    notes += [f"skipped {report.skipped} already fused"] if report.skipped else []
    notes += [f"removed {report.stale} stale temporary file{'s' * (report.stale != 1)}"] if report.stale else []
    print(
        f"fused {report.fused} pair{'s' * (report.fused != 1)} in {report.seconds:.1f} s → {report.target}"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    return 0
