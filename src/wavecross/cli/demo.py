"""``wavecross demo``: fuse a generated synthetic scene with the shipped model — works with no data at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WavecrossError
from ._common import add_device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic scene")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the scene (default 640x480)")
    add_device(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in the output folder")


def run(args: argparse.Namespace) -> int:
    from ..demo import FILES, run_demo

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise WavecrossError(f"--size {args.size!r}: use WIDTHxHEIGHT, e.g. 640x480.") from None
    if min(width, height) < 16:
        raise WavecrossError(f"--size {args.size}: both sides must be at least 16 pixels.")
    elapsed = run_demo(args.output, (width, height), args.seed, args.device, args.overwrite)
    out = Path(args.output)
    print(f"fused a {width}×{height} synthetic scene in {elapsed:.2f} s; wrote {', '.join(FILES)} to {out}/")
    return 0
