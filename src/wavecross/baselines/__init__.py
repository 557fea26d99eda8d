"""Classical fusion baselines behind the network's interface: ``fuse(ir, vis) -> fused``.

Each function takes IR and visible luminance as (H, W) float32 arrays in [0, 1] and returns the fused (H, W)
float32 image in [0, 1] of the same size. :data:`BASELINES` is the registry that
``wavecross.inference.get_fuser`` looks up, so ``wavecross fuse --method gff`` and
``wavecross benchmark --methods gff`` use exactly these functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .classical import dwt_fusion, laplacian_fusion, max_fusion, mean_fusion
from .gff import box_mean, gff_fusion, guided_filter

Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]

BASELINES: dict[str, Fuser] = {
    "mean": mean_fusion,
    "max": max_fusion,
    "dwt": dwt_fusion,
    "laplacian": laplacian_fusion,
    "gff": gff_fusion,
}

__all__ = [
    "BASELINES",
    "box_mean",
    "dwt_fusion",
    "gff_fusion",
    "guided_filter",
    "laplacian_fusion",
    "max_fusion",
    "mean_fusion",
]
