"""The side-by-side panel (IR | visible | fused, labelled) that ``wavecross fuse --side-by-side`` writes beside
each fused image and ``wavecross demo`` shows: a look at what the fusion kept from each source without opening three
files. Pillow only, no plotting library."""

from __future__ import annotations

from typing import Any

import numpy as np

from .data.io import to_unit


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

    def rgb(a: np.ndarray) -> np.ndarray:
        a = to_unit(a) if a.dtype != np.float32 else a
        a = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a
        return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)

    tiles = [rgb(a) for a in (ir, vis, fused)]
    if labels:
        tiles = [_labelled(t, name) for t, name in zip(tiles, ("IR", "visible", "fused"), strict=True)]
    gutter = np.full((ir.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate((tiles[0], gutter, tiles[1], gutter, tiles[2]), axis=1)
