"""Finding IR/visible pairs: files with identical names in an ``ir/`` and a ``vi/`` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WavecrossError
from .io import is_image_file, luminance_u8, missing_file_error, read_image


@dataclass(frozen=True)
class Pair:
    """One IR/visible pair; ``name`` is the shared file name."""

    name: str
    ir: Path
    vis: Path


def _images(folder: Path, strict: bool) -> dict[str, Path]:
    if not folder.is_dir():
        raise WavecrossError(f"{folder}: no such folder; check the path.")
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_image_file(path):
            found[path.name] = path
        elif strict and path.is_symlink() and is_image_file(path):  # a broken link: say so, not "unpaired"
            raise missing_file_error(path)
    return found


def find_pairs(ir_dir: str | Path, vis_dir: str | Path, allow_unpaired: bool = False) -> list[Pair]:
    """Pairs of same-named image files in ``ir_dir`` and ``vis_dir``, sorted by name.

    Raises :class:`WavecrossError` when a folder is missing or has no images, and, unless ``allow_unpaired``,
    when a name is present in only one folder (the message lists them) or an image name is a broken link.
    """
    ir_dir, vis_dir = Path(ir_dir), Path(vis_dir)
    irs, viss = _images(ir_dir, not allow_unpaired), _images(vis_dir, not allow_unpaired)
    for folder, found in ((ir_dir, irs), (vis_dir, viss)):
        if not found:
            raise WavecrossError(f"{folder}: contains no images (png/jpg/bmp/tif); point to a folder of images.")
    only_ir = sorted(set(irs) - set(viss))
    only_vis = sorted(set(viss) - set(irs))
    if (only_ir or only_vis) and not allow_unpaired:
        parts = []
        if only_ir:
            parts.append(f"only in {ir_dir}: {_listing(only_ir)}")
        if only_vis:
            parts.append(f"only in {vis_dir}: {_listing(only_vis)}")
        raise WavecrossError(f"unpaired file names ({'; '.join(parts)}); IR and visible files must share their names.")
    common = sorted(set(irs) & set(viss))
    if not common:
        raise WavecrossError(f"{ir_dir} and {vis_dir} share no file names; IR and visible files must share names.")
    return [Pair(n, irs[n], viss[n]) for n in common]


def _listing(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def load_pair_set(
    set_dir: str | Path, progress: bool = False, label: str = "", max_pixels: int | None = None
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Names (file stems) and 0–255 luminance images (uint8) of the pairs in ``set_dir/ir`` and ``set_dir/vi``:
    IR grey and visible BT.601 Y, as the metric references see them. Sizes must match within each pair.
    ``max_pixels``: see :func:`~wavecross.data.io.read_image`."""
    from tqdm import tqdm

    set_dir = Path(set_dir)
    names, irs, viss = [], [], []
    for pair in tqdm(
        find_pairs(set_dir / "ir", set_dir / "vi"), desc=f"{label}: reading", disable=not progress, leave=False
    ):
        ir = luminance_u8(read_image(pair.ir, max_pixels))
        vis = luminance_u8(read_image(pair.vis, max_pixels))
        if ir.shape != vis.shape:
            raise WavecrossError(f"{pair.ir} and {pair.vis} differ in size; register/resize the pair first.")
        names.append(Path(pair.name).stem)
        irs.append(ir)
        viss.append(vis)
    return names, irs, viss
