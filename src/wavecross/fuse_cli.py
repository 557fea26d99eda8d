"""``wavecross fuse``: one pair (``--ir A.png --vis B.png -o F.png``) or two folders of pairs (``-o DIR``).

Every input is read and checked before anything is written, and each output is written atomically, so bad input
never leaves a half-fused folder behind. Existing outputs are an error without ``--overwrite``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .data.io import IMAGE_EXTENSIONS, read_image, write_image
from .data.pairs import Pair, find_pairs
from .errors import WavecrossError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ir", required=True, help="IR image, or a folder of IR images")
    parser.add_argument("--vis", required=True, help="visible image, or a folder with the same file names")
    parser.add_argument("-o", "--output", required=True, help="output image (one pair) or output folder")
    parser.add_argument(
        "--method",
        default="wavecross",
        help="wavecross (default) or a classical baseline: mean, max, dwt, laplacian, gff",
    )
    parser.add_argument("--model", default="wavecross", help="name of a bundled model (see wavecross.list_models)")
    parser.add_argument("--weights", default=None, help="a model.safetensors from `wavecross train` instead")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or mps")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in pixels (0: never tile; default: automatic for images over 1.3 MP)",
    )
    parser.add_argument("--gray", action="store_true", help="write grey output even for colour visible input")
    parser.add_argument("--side-by-side", action="store_true", help="also write an IR | VIS | fused panel")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--batch-size", type=int, default=1, help="pairs of equal size fused per forward pass")


def _panel(ir: np.ndarray, vis: np.ndarray, fused: np.ndarray) -> np.ndarray:
    """IR | VIS | fused side by side as uint8 RGB with 8-pixel white gutters."""
    from .data.io import to_unit

    def rgb(a: np.ndarray) -> np.ndarray:
        a = to_unit(a) if a.dtype != np.float32 else a
        a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
        return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)

    gutter = np.full((ir.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate((rgb(ir), gutter, rgb(vis), gutter, rgb(fused)), axis=1)


def _jobs(args: argparse.Namespace) -> list[tuple[Pair, Path]]:
    ir, vis, out = Path(args.ir), Path(args.vis), Path(args.output)
    if ir.is_dir() != vis.is_dir():
        raise WavecrossError(f"--ir {ir} and --vis {vis} must both be files or both be folders.")
    if ir.is_dir():
        if out.exists() and not out.is_dir():
            raise WavecrossError(f"{out}: is a file, but folder input needs an output folder.")
        return [(p, out / (Path(p.name).stem + ".png")) for p in find_pairs(ir, vis)]
    if out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{out}: output must be an image file name (.png, .jpg, .bmp, .tif) for one pair.")
    return [(Pair(ir.name, ir, vis), out)]


def _panel_path(out: Path) -> Path:
    return out.with_name(out.stem + "_panel.png")


def _write(out: Path, ir: np.ndarray, vis: np.ndarray, fused: np.ndarray, args: argparse.Namespace) -> None:
    if fused.dtype == np.uint16 and out.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        fused = (fused // 257).astype(np.uint8)  # these formats hold 8 bits only
    write_image(out, fused, overwrite=args.overwrite)
    if args.side_by_side:
        write_image(_panel_path(out), _panel(ir, vis, fused), overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .inference import fuse_batch

    if args.batch_size < 1:
        raise WavecrossError("--batch-size must be at least 1.")
    jobs = _jobs(args)
    # Check everything first: existing outputs, readable inputs, matching sizes.
    for _, out in jobs:
        for path in (out, _panel_path(out)) if args.side_by_side else (out,):
            if path.exists() and not args.overwrite:
                raise WavecrossError(f"{path}: already exists; choose another output or pass --overwrite.")
    for pair, _ in jobs:
        a, b = read_image(pair.ir), read_image(pair.vis)
        if a.shape[:2] != b.shape[:2]:
            raise WavecrossError(
                f"{pair.ir} is {a.shape[1]}×{a.shape[0]} but {pair.vis} is {b.shape[1]}×{b.shape[0]}; "
                "a pair must have the same size (register/resize them first)."
            )
        if min(a.shape[:2]) < 16:
            raise WavecrossError(f"{pair.ir}: {a.shape[1]}×{a.shape[0]} is too small; both sides must be ≥ 16.")
    model = None
    if args.method == "wavecross":
        from .hub import load_model

        model = load_model(args.model, device=args.device, weights=args.weights)
    started = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="fusing", unit="pair", disable=len(jobs) < 2)
    for k in range(0, len(jobs), args.batch_size):
        chunk = jobs[k : k + args.batch_size]
        inputs = [(read_image(pair.ir), read_image(pair.vis)) for pair, _ in chunk]
        outputs = fuse_batch(
            [a for a, _ in inputs],
            [b for _, b in inputs],
            model,
            method=args.method,
            device=args.device,
            precision=args.precision,
            tile=args.tile,
            gray=args.gray,
            batch_size=args.batch_size,
        )
        for (_, out), (ir, vis), fused in zip(chunk, inputs, outputs, strict=True):
            _write(out, ir, vis, fused, args)
        bar.update(len(chunk))
    bar.close()
    elapsed = time.perf_counter() - started
    target = jobs[0][1] if len(jobs) == 1 else Path(args.output)
    print(f"fused {len(jobs)} pair{'s' * (len(jobs) != 1)} in {elapsed:.1f} s → {target}")
    return 0
