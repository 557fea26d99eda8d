"""Finding IR/visible pairs: files with identical names in an ``ir/`` and a ``vi/`` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import WavecrossError
from .io import is_image_file


@dataclass(frozen=True)
class Pair:
    """One IR/visible pair; ``name`` is the shared file name."""

    name: str
    ir: Path
    vis: Path


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise WavecrossError(f"{folder}: no such folder; check the path.")
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_file() and is_image_file(p)}


def find_pairs(ir_dir: str | Path, vis_dir: str | Path, allow_unpaired: bool = False) -> list[Pair]:
    """Pairs of same-named image files in ``ir_dir`` and ``vis_dir``, sorted by name.

    Raises :class:`WavecrossError` when a folder is missing or has no images, and, unless ``allow_unpaired``,
    when a name is present in only one folder (the message lists them).
    """
    ir_dir, vis_dir = Path(ir_dir), Path(vis_dir)
    irs, viss = _images(ir_dir), _images(vis_dir)
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
