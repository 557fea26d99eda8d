"""``wavecross demo``: fuse a generated synthetic scene with the shipped model — works with no data at all."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import WavecrossError

FILES = ("ir.png", "vis.png", "fused.png", "panel.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic scene")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the scene (default 640x480)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files in the output folder")


def run(args: argparse.Namespace) -> int:
    import time

    from .data import synthetic_pair, write_image
    from .data.io import check_writable
    from .fuse_cli import _panel
    from .hub import load_model
    from .inference import fuse

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise WavecrossError(f"--size {args.size!r}: use WIDTHxHEIGHT, e.g. 640x480.") from None
    if min(width, height) < 16:
        raise WavecrossError(f"--size {args.size}: both sides must be at least 16 pixels.")
    out = Path(args.output)
    check_writable(out)
    for name in FILES:
        if (out / name).exists() and not args.overwrite:
            raise WavecrossError(f"{out / name}: already exists; choose another -o folder or pass --overwrite.")
    ir, vis = synthetic_pair(height, width, args.seed)
    model = load_model(device=args.device)
    started = time.perf_counter()
    fused = fuse(ir, vis, model)
    elapsed = time.perf_counter() - started
    for name, image in zip(FILES, (ir, vis, fused, _panel(ir, vis, fused)), strict=True):
        write_image(out / name, image, overwrite=args.overwrite)
    print(f"fused a {width}×{height} synthetic scene in {elapsed:.2f} s; wrote {', '.join(FILES)} to {out}/")
    return 0
