"""Fusing image files: one pair to one file, or two folders of pairs to a folder (the work of ``wavecross fuse``).

Every input is read and checked before anything is written, and each output is written atomically, so bad input
never leaves a half-fused folder behind. Existing outputs are an error without ``overwrite``; nothing lets an
output replace an input or another output. ``skip_existing`` continues an interrupted folder run. With
``register``, every pair is registered (:mod:`wavecross.registration`) before the first file is written too, so a
pair that cannot be registered stops the run with nothing written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data.io import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_writable,
    read_image,
    remove_stale_temp_files,
    write_image,
    write_text,
)
from .data.pairs import Pair, find_pairs
from .errors import WavecrossError
from .progress import progress_bar

if TYPE_CHECKING:
    from .registration import RegistrationResult

Job = tuple[Pair, Path]  # a pair and its fused output file


@dataclass(frozen=True)
class FuseReport:
    """What :func:`fuse_files` did: pairs fused and skipped, stale temporary files removed, seconds spent, and the
    output (the file for one pair, else the folder)."""

    fused: int
    skipped: int
    stale: int
    seconds: float
    target: Path


def _font(height: int) -> Any:
    """Pillow's default font, about 1/32 of the image height (at least 10 px) where FreeType can scale it."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(max(10, height // 32))
    except (ImportError, OSError, TypeError):  # no FreeType, or Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _labelled(tile: np.ndarray, label: str) -> np.ndarray:
    """``tile`` with ``label`` in white on a black box in its top-left corner, so a panel says which image is
    which; the size is unchanged. A tile too small to hold the label readably is left as it is."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(tile)
    draw = ImageDraw.Draw(image)
    font = _font(tile.shape[0])
    margin = max(3, tile.shape[0] // 160)
    right, bottom = draw.textbbox((margin, margin), label, font=font)[2:]
    if bottom + margin > tile.shape[0] // 4 or right + margin > tile.shape[1] // 2:
        return tile
    draw.rectangle((0, 0, right + margin, bottom + margin), fill=(0, 0, 0))
    draw.text((margin, margin), label, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def side_by_side(ir: np.ndarray, vis: np.ndarray, fused: np.ndarray, labels: bool = True) -> np.ndarray:
    """IR | visible | fused as one uint8 RGB image with 8-pixel white gutters, each labelled unless ``labels`` is
    false. Inputs are images as read (uint8, uint16 or float32 in [0, 1]; grey or RGB) of one size."""
    from .data.io import to_unit

    def rgb(a: np.ndarray) -> np.ndarray:
        a = to_unit(a) if a.dtype != np.float32 else a
        a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
        return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)

    tiles = [rgb(a) for a in (ir, vis, fused)]
    if labels:
        tiles = [_labelled(t, name) for t, name in zip(tiles, ("IR", "visible", "fused"), strict=True)]
    gutter = np.full((ir.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate((tiles[0], gutter, tiles[1], gutter, tiles[2]), axis=1)


def plan_jobs(ir: Path, vis: Path, output: Path) -> list[Job]:
    """The pairs to fuse and their output files: one pair to an image file, or the pairs of two folders (matched
    by file name) to ``output/<stem>.png``. Refuses missing inputs, a file with a folder, a folder output that is
    an input folder or is named like an image file (it would become a folder called ``fused.jpg``)."""
    for flag, path in (("--ir", ir), ("--vis", vis)):
        if not path.exists():
            raise WavecrossError(f"{flag} {path}: no such file or folder; check the path.")
    if ir.is_dir() != vis.is_dir():
        raise WavecrossError(f"--ir {ir} and --vis {vis} must both be files or both be folders.")
    if ir.is_dir():
        if output.exists() and not output.is_dir():
            raise WavecrossError(f"{output}: is a file, but folder input needs an output folder.")
        if output.resolve() in (ir.resolve(), vis.resolve()):
            raise WavecrossError(f"-o {output}: is an input folder; write the fused images to a folder of their own.")
        if output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir():
            raise WavecrossError(
                f"-o {output}: folder input writes a folder of images, but this is an image file name; "
                f"give a folder, e.g. -o {output.with_suffix('')}/."
            )
        return [(p, output / (Path(p.name).stem + ".png")) for p in find_pairs(ir, vis)]
    if output.suffix.lower() not in IMAGE_EXTENSIONS:
        raise WavecrossError(f"{output}: output must be an image file name (.png, .jpg, .bmp, .tif) for one pair.")
    return [(Pair(ir.name, ir, vis), output)]


def panel_path(out: Path) -> Path:
    """Where the side-by-side panel of the fused image ``out`` goes."""
    return out.with_name(out.stem + "_panel.png")


def transform_path(out: Path) -> Path:
    """Where the registration transform of the fused image ``out`` goes (``save_transform``)."""
    return out.with_name(out.stem + ".transform.json")


def _targets(out: Path, panels: bool, transforms: bool = False) -> dict[Path, str]:
    """The files a pair writes, with what each is (for messages)."""
    targets = {out: "fused image"}
    if panels:
        targets[panel_path(out)] = "side-by-side panel"
    if transforms:
        targets[transform_path(out)] = "registration transform"
    return targets


def check_outputs(
    jobs: list[Job], panels: bool, overwrite: bool, skip_existing: bool, transforms: bool = False
) -> set[Path]:
    """Refuse, before anything is written, an output that would replace an input or another output, or an existing
    one without ``overwrite``/``skip_existing``; returns the existing outputs to keep (``skip_existing``)."""
    inputs = {p.resolve(): p for pair, _ in jobs for p in (pair.ir, pair.vis)}
    planned: dict[Path, tuple[str, Pair]] = {}
    keep = set()
    for pair, out in jobs:
        for target, role in _targets(out, panels, transforms).items():
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
            if target.exists() and skip_existing:
                keep.add(target)
            elif target.exists() and not overwrite:
                raise WavecrossError(
                    f"{target}: already exists; choose another output, pass --overwrite, or --skip-existing to "
                    "continue an interrupted run."
                )
    return keep


def check_inputs(jobs: list[Job], max_pixels: int | None) -> None:
    """Every input readable, within the pixel limit, of its partner's size and at least 16 pixels a side."""
    for pair, _ in jobs:
        a, b = read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels)
        if a.shape[:2] != b.shape[:2]:
            raise WavecrossError(
                f"{pair.ir} is {a.shape[1]}×{a.shape[0]} but {pair.vis} is {b.shape[1]}×{b.shape[0]}; "
                "a pair must have the same size (register/resize them first)."
            )
        if min(a.shape[:2]) < 16:
            raise WavecrossError(f"{pair.ir}: {a.shape[1]}×{a.shape[0]} is too small; both sides must be ≥ 16.")


def register_jobs(
    jobs: list[Job], model: str, max_pixels: int | None, progress: bool = True
) -> dict[Path, RegistrationResult]:
    """The registration of every pair (by output file), estimated before anything is written; the first pair that
    cannot be registered raises its :class:`WavecrossError`."""
    from .registration import estimate_transform

    results = {}
    for pair, out in progress_bar(jobs, desc="registering", unit="pair", enabled=progress and len(jobs) > 1):
        ir, vis = read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels)
        results[out] = estimate_transform(ir, vis, model, str(pair.ir))
    return results


def _transform_json(pair: Pair, ir: np.ndarray, result: RegistrationResult) -> str:
    """The text of ``NAME.transform.json``: the pair, the IR grid's size and the transform."""
    record = {"ir": str(pair.ir), "vis": str(pair.vis), "width": ir.shape[1], "height": ir.shape[0]}
    return json.dumps({**record, **result.to_json()}, indent=2) + "\n"


def _write(
    out: Path,
    ir: np.ndarray,
    vis: np.ndarray,
    fused: np.ndarray,
    keep: set[Path],
    panels: bool,
    overwrite: bool,
    transform: str | None = None,
) -> None:
    """The pair's outputs, but those kept by ``skip_existing``; ``transform`` is the text of its transform file."""
    if fused.dtype == np.uint16 and out.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        fused = (fused // 257).astype(np.uint8)  # these formats hold 8 bits only
    if out not in keep:
        write_image(out, fused, overwrite=overwrite)
    if panels and panel_path(out) not in keep:
        write_image(panel_path(out), side_by_side(ir, vis, fused), overwrite=overwrite)
    if transform is not None and transform_path(out) not in keep:
        if transform_path(out).exists() and not overwrite:
            raise WavecrossError(f"{transform_path(out)}: already exists; choose another output or pass --overwrite.")
        write_text(transform_path(out), transform)


def fuse_files(
    ir: str | Path,
    vis: str | Path,
    output: str | Path,
    *,
    method: str = "wavecross",
    model: str = "wavecross",
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "fp32",
    tile: int | None = None,
    gray: bool = False,
    side_by_side_panels: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    max_pixels: int | None = MAX_PIXELS,
    batch_size: int = 1,
    progress: bool = True,
    register: str | None = None,
    save_transform: bool = False,
) -> FuseReport:
    """Fuse the pair ``ir``/``vis`` (files) into the image ``output``, or the pairs of two folders into the folder
    ``output``; with ``side_by_side_panels`` also an IR | visible | fused panel per pair (``<stem>_panel.png``).

    ``register`` (``translation``, ``affine`` or ``homography``) warps each visible image onto its IR image's grid
    first (the panel then shows the registered visible image); ``save_transform`` also writes each transform as
    ``<stem>.transform.json`` (:func:`transform_path`). Other options are those of
    :func:`wavecross.inference.fuse_batch` plus ``model`` (a bundled model name) and the file handling above;
    every check, registration included, runs before the first file is written.
    """
    from .inference import fuse_batch

    if batch_size < 1:
        raise WavecrossError("--batch-size must be at least 1.")
    if overwrite and skip_existing:
        raise WavecrossError("--overwrite and --skip-existing contradict each other; pass one of them.")
    if register is not None:
        from .registration import MODELS, require_opencv

        if register not in MODELS:
            raise WavecrossError(f"--register {register}: unknown model; choose one of {', '.join(MODELS)}.")
        require_opencv()
    elif save_transform:
        raise WavecrossError("--save-transform writes the transform of --register; pass --register MODEL too.")
    ir, vis, output = Path(ir), Path(vis), Path(output)
    jobs = plan_jobs(ir, vis, output)
    folder = output if ir.is_dir() else output.parent
    # Check everything first, so that bad input never leaves a half-fused folder behind.
    check_writable(folder)
    keep = check_outputs(jobs, side_by_side_panels, overwrite, skip_existing, save_transform)
    check_inputs(jobs, max_pixels)
    todo = [
        (pair, out)
        for pair, out in jobs
        if not all(t in keep for t in _targets(out, side_by_side_panels, save_transform))
    ]
    registered = register_jobs(todo, register, max_pixels, progress) if register is not None else {}
    stale = remove_stale_temp_files(folder) if folder.is_dir() else 0
    net = None
    if method == "wavecross" and todo:
        from .hub import load_model

        net = load_model(model, device=device, weights=weights)
    started = time.perf_counter()
    with progress_bar(total=len(todo), desc="fusing", unit="pair", enabled=progress and len(todo) > 1) as bar:
        for k in range(0, len(todo), batch_size):
            chunk = todo[k : k + batch_size]
            inputs = [(read_image(pair.ir, max_pixels), read_image(pair.vis, max_pixels)) for pair, _ in chunk]
            if registered:
                from .registration import warp_to

                inputs = [
                    (a, warp_to(a.shape, b, registered[out].matrix))
                    for (a, b), (_, out) in zip(inputs, chunk, strict=True)
                ]
            outputs = fuse_batch(
                [a for a, _ in inputs],
                [b for _, b in inputs],
                net,
                method=method,
                device=device,
                precision=precision,
                tile=tile,
                gray=gray,
                batch_size=batch_size,
                names=[str(pair.ir) for pair, _ in chunk],
            )
            for (pair, out), (a, b), fused in zip(chunk, inputs, outputs, strict=True):
                transform = _transform_json(pair, a, registered[out]) if save_transform else None
                _write(out, a, b, fused, keep, side_by_side_panels, overwrite, transform)
            bar.update(len(chunk))
    target = jobs[0][1] if len(jobs) == 1 else output
    return FuseReport(len(todo), len(jobs) - len(todo), stale, time.perf_counter() - started, target)
