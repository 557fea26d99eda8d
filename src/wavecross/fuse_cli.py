"""``wavecross fuse``: one pair (``--ir A.png --vis B.png -o F.png``) or two folders of pairs (``-o DIR``).

Every input is read and checked before anything is written, and each output is written atomically, so bad input
never leaves a half-fused folder behind. Existing outputs are an error without ``--overwrite``; no flag lets an
output replace an input or another output. ``--skip-existing`` continues an interrupted folder run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .data.io import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_writable,
    read_image,
    remove_stale_temp_files,
    write_image,
)
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
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="continue an interrupted run: pairs whose outputs exist are skipped (and counted)",
    )
    add_max_pixels(parser)
    parser.add_argument("--batch-size", type=int, default=1, help="pairs of equal size fused per forward pass")


def add_max_pixels(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N``, shared by the commands that read images (fuse, evaluate, benchmark)."""
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        metavar="N",
        help="refuse images over N pixels, checked from the header before decoding (default: %(default)s; 0: none)",
    )


def max_pixels(args: argparse.Namespace) -> int:
    if args.max_pixels < 0:
        raise WavecrossError(f"--max-pixels {args.max_pixels}: use a pixel count, or 0 for no limit.")
    return args.max_pixels


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
    for flag, path in (("--ir", ir), ("--vis", vis)):
        if not path.exists():
            raise WavecrossError(f"{flag} {path}: no such file or folder; check the path.")
    if ir.is_dir() != vis.is_dir():
        raise WavecrossError(f"--ir {ir} and --vis {vis} must both be files or both be folders.")
    if ir.is_dir():
        if out.exists() and not out.is_dir():
            raise WavecrossError(f"{out}: is a file, but folder input needs an output folder.")
        if out.resolve() in (ir.resolve(), vis.resolve()):
            raise WavecrossError(f"-o {out}: is an input folder; write the fused images to a folder of their own.")
        return [(p, out / (Path(p.name).stem + ".png")) for p in find_pairs(ir, vis)]
    if out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{out}: output must be an image file name (.png, .jpg, .bmp, .tif) for one pair.")
    return [(Pair(ir.name, ir, vis), out)]


def _panel_path(out: Path) -> Path:
    return out.with_name(out.stem + "_panel.png")


def _targets(out: Path, args: argparse.Namespace) -> dict[Path, str]:
    """The files a pair writes, with what each is (for messages)."""
    targets = {out: "fused image"}
    if args.side_by_side:
        targets[_panel_path(out)] = "side-by-side panel"
    return targets


def _check_outputs(jobs: list[tuple[Pair, Path]], args: argparse.Namespace) -> set[Path]:
    """Refuse, before anything is written, an output that would replace an input or another output, or an existing
    one without --overwrite/--skip-existing; returns the existing outputs to keep (--skip-existing)."""
    inputs = {p.resolve(): p for pair, _ in jobs for p in (pair.ir, pair.vis)}
    planned: dict[Path, tuple[str, Pair]] = {}
    keep = set()
    for pair, out in jobs:
        for target, role in _targets(out, args).items():
            key = target.resolve()
            if key in inputs:
                raise WavecrossError(f"{target}: would overwrite the input {inputs[key]}; choose another output.")
            if key in planned:
                other_role, other = planned[key]
                raise WavecrossError(
                    f"{target}: both the {other_role} of {other.ir} and the {role} of {pair.ir} would be written "
                    "there; rename one of the inputs."
                )
            planned[key] = (role, pair)
            if target.is_dir():
                raise WavecrossError(f"{target}: is a folder; remove it or choose another output.")
            if target.exists() and args.skip_existing:
                keep.add(target)
            elif target.exists() and not args.overwrite:
                raise WavecrossError(
                    f"{target}: already exists; choose another output, pass --overwrite, or --skip-existing to "
                    "continue an interrupted run."
                )
    return keep


def _check_inputs(jobs: list[tuple[Pair, Path]], max_pixels: int) -> None:
    for pair, _ in jobs:
        a, b = read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels)
        if a.shape[:2] != b.shape[:2]:
            raise WavecrossError(
                f"{pair.ir} is {a.shape[1]}×{a.shape[0]} but {pair.vis} is {b.shape[1]}×{b.shape[0]}; "
                "a pair must have the same size (register/resize them first)."
            )
        if min(a.shape[:2]) < 16:
            raise WavecrossError(f"{pair.ir}: {a.shape[1]}×{a.shape[0]} is too small; both sides must be ≥ 16.")


def _write(
    out: Path, ir: np.ndarray, vis: np.ndarray, fused: np.ndarray, keep: set[Path], args: argparse.Namespace
) -> None:
    """The pair's outputs, but those kept by --skip-existing."""
    if fused.dtype == np.uint16 and out.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        fused = (fused // 257).astype(np.uint8)  # these formats hold 8 bits only
    if out not in keep:
        write_image(out, fused, overwrite=args.overwrite)
    if args.side_by_side and _panel_path(out) not in keep:
        write_image(_panel_path(out), _panel(ir, vis, fused), overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .inference import fuse_batch

    if args.batch_size < 1:
        raise WavecrossError("--batch-size must be at least 1.")
    if args.overwrite and args.skip_existing:
        raise WavecrossError("--overwrite and --skip-existing contradict each other; pass one of them.")
    limit = max_pixels(args)
    jobs = _jobs(args)
    folder = Path(args.output) if Path(args.ir).is_dir() else Path(args.output).parent
    # Check everything first, so that bad input never leaves a half-fused folder behind.
    check_writable(folder)
    keep = _check_outputs(jobs, args)
    _check_inputs(jobs, limit)
    todo = [(pair, out) for pair, out in jobs if not all(t in keep for t in _targets(out, args))]
    stale = remove_stale_temp_files(folder) if folder.is_dir() else 0
    model = None
    if args.method == "wavecross" and todo:
        from .hub import load_model

        model = load_model(args.model, device=args.device, weights=args.weights)
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc="fusing", unit="pair", disable=len(todo) < 2)
    for k in range(0, len(todo), args.batch_size):
        chunk = todo[k : k + args.batch_size]
        inputs = [(read_image(pair.ir, limit), read_image(pair.vis, limit)) for pair, _ in chunk]
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
            names=[str(pair.ir) for pair, _ in chunk],
        )
        for (_, out), (ir, vis), fused in zip(chunk, inputs, outputs, strict=True):
            _write(out, ir, vis, fused, keep, args)
        bar.update(len(chunk))
    bar.close()
    elapsed = time.perf_counter() - started
    target = jobs[0][1] if len(jobs) == 1 else Path(args.output)
    notes = [f"skipped {len(jobs) - len(todo)} already fused"] if len(todo) < len(jobs) else []
    notes += [f"removed {stale} stale temporary file{'s' * (stale != 1)}"] if stale else []
    print(
        f"fused {len(todo)} pair{'s' * (len(todo) != 1)} in {elapsed:.1f} s → {target}"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    return 0
