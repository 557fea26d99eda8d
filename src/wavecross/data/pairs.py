"""Finding IR/visible pairs: files with identical names in an IR folder and a visible folder.

A data-set root holds the two folders under the names public data sets use (``ir/vi`` for MSRS, RoadScene and
TNO, ``Ir/Vis`` for M3FD, ``infrared/visible`` for LLVIP, ...); :func:`pair_folders` is the one place that
knows them, for every command and the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WavecrossError
from .io import is_image_file, luminance_u8, missing_file_error, read_image

IR_FOLDER_NAMES = ("ir", "IR", "Ir", "infrared", "Infrared", "thermal")
VIS_FOLDER_NAMES = ("vi", "VI", "Vis", "vis", "visible", "Visible", "rgb")


@dataclass(frozen=True)
class Pair:
    """One IR/visible pair; ``name`` is the shared file name."""

    name: str
    ir: Path
    vis: Path


def _candidates(root: Path, names: tuple[str, ...]) -> list[Path]:
    """Sub-folders of ``root`` whose name is one of ``names``, in that order. Names are compared with the folder
    names as listed, so ``ir`` and ``IR`` are one folder on a case-insensitive file system, not an ambiguity."""
    found = {p.name: p for p in root.iterdir() if p.is_dir()}
    return [found[n] for n in names if n in found]


def _pick(root: Path, kind: str, names: tuple[str, ...], chosen: str | None, flag: str) -> Path:
    if chosen is not None:
        folder = root / chosen
        if not folder.is_dir():
            raise WavecrossError(f"{folder}: no such folder ({flag} {chosen}); check the name.")
        return folder
    found = _candidates(root, names)
    if len(found) > 1:
        raise WavecrossError(
            f"{root}: holds {len(found)} {kind} folders ({', '.join(p.name for p in found)}); remove or rename "
            f"all but one, or choose one with {flag} NAME."
        )
    if not found:
        raise WavecrossError(
            f"{root}: no {kind} folder; expected one of {root / names[0]}, {', '.join(names[1:])} "
            f"(or name it with {flag} NAME)."
        )
    return found[0]


def pair_folders(root: str | Path, ir_dir: str | None = None, vis_dir: str | None = None) -> tuple[Path, Path]:
    """The IR and visible folders of a data-set root.

    Without ``ir_dir``/``vis_dir`` each is found among :data:`IR_FOLDER_NAMES` / :data:`VIS_FOLDER_NAMES`; with
    them, those sub-folders are used. A missing root, a root with none or two candidates of a kind (e.g. both
    ``ir/`` and ``infrared/``) is a :class:`WavecrossError` naming the root and the candidates.
    """
    root = Path(root)
    if not root.is_dir():
        raise WavecrossError(f"{root}: no such folder; check the path.")
    return (
        _pick(root, "infrared", IR_FOLDER_NAMES, ir_dir, "--ir-dir"),
        _pick(root, "visible", VIS_FOLDER_NAMES, vis_dir, "--vis-dir"),
    )


def is_pair_root(root: str | Path, ir_dir: str | None = None, vis_dir: str | None = None) -> bool:
    """Whether ``root`` has an IR and a visible folder (by the given names, else by the known ones), so a folder
    of data sets can tell its sets from other sub-folders; :func:`pair_folders` then checks for ambiguity."""
    root = Path(root)
    if not root.is_dir():
        return False
    has_ir = (root / ir_dir).is_dir() if ir_dir else bool(_candidates(root, IR_FOLDER_NAMES))
    has_vis = (root / vis_dir).is_dir() if vis_dir else bool(_candidates(root, VIS_FOLDER_NAMES))
    return has_ir and has_vis


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
    set_dir: str | Path,
    progress: bool = False,
    label: str = "",
    max_pixels: int | None = None,
    ir_dir: str | None = None,
    vis_dir: str | None = None,
) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Names (file stems) and 0–255 luminance images (uint8) of the pairs in the IR and visible folders of
    ``set_dir`` (see :func:`pair_folders`): IR grey and visible BT.601 Y, as the metric references see them.
    Sizes must match within each pair. ``max_pixels``: see :func:`~wavecross.data.io.read_image`."""
    from ..progress import progress_bar

    names, irs, viss = [], [], []
    pairs = find_pairs(*pair_folders(set_dir, ir_dir, vis_dir))
    for pair in progress_bar(pairs, desc=f"{label}: reading", unit="pair", enabled=progress, leave=False):
        ir = luminance_u8(read_image(pair.ir, max_pixels))
        vis = luminance_u8(read_image(pair.vis, max_pixels))
        if ir.shape != vis.shape:
            raise WavecrossError(f"{pair.ir} and {pair.vis} differ in size; register/resize the pair first.")
        names.append(Path(pair.name).stem)
        irs.append(ir)
        viss.append(vis)
    return names, irs, viss
